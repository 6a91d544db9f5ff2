//! What `baker launch --provider qemu` needs before the library's launch (which chooses where QEMU
//! runs, [`baker::launch::qemu_runner::QemuRunner::choose`]): the plan with the raw disk its nodes
//! boot — an image directory's (`--image DIR`, its image.json), or one made now through the same
//! library call as `baker image` (which answers from its caches when nothing changed), from
//! `--from BUILD_DIR` or a build run first.

use std::path::{Path, PathBuf};

use baker::engine::Engine;
use baker::image::boot::Accel;
use baker::image::{Format, ImageError, ImageManifest, ImageRequest, image_spec, make_image};
use baker::launch::qemu::QemuProvider;
use baker::launch::qemu_disk::check_image_plan;
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::{PLAN_FILE, Plan, read_plan};
use baker::progress::Reporter;
use std::sync::Arc;

use super::Global;
use super::build::build_output;
use super::launch::LaunchArgs;
use super::output::say;
use super::signals::interrupted;

/// Memory of each VM unless `--memory` says otherwise.
pub const DEFAULT_MEMORY_MIB: u32 = 768;

/// The plan and the raw disk of the image `--image` names, refused before baker looks for QEMU or
/// an engine when VMs cannot boot from it (see [`ImageManifest::vm_disk`]) or it was made from
/// another build than the plan (`--from`'s, the one beside it, or `--distro`/`--recipe`'s).
pub fn given_image(
    global: &Global,
    args: &LaunchArgs,
    dir: &Path,
) -> anyhow::Result<(Plan, PathBuf)> {
    let manifest = ImageManifest::read(&ImageManifest::path_in(dir))?;
    let disk = manifest.vm_disk(dir)?;
    let in_image = dir.join(PLAN_FILE);
    let (plan, plan_from) = match &args.from {
        Some(build_dir) => {
            let path = build_dir.join(PLAN_FILE);
            (read_plan(&path)?, path.display().to_string())
        }
        None if in_image.is_file() => (read_plan(&in_image)?, in_image.display().to_string()),
        None if args.selection.distro.is_none() && args.selection.recipe.is_none() => {
            anyhow::bail!(
                "the image in {} has no plan.json beside it: give the build it was made from with --from BUILD_DIR (its image.json says {} for {})",
                dir.display(),
                manifest.recipe.name,
                manifest.recipe.distro
            );
        }
        None => (
            args.selection.plan(global)?,
            "planned now from --distro/--recipe".to_owned(),
        ),
    };
    check_image_plan(dir, &manifest, &plan, &plan_from)?;
    Ok((plan, disk))
}

/// The plan and the raw disk to boot: `given` (the image `--image` names, see [`given_image`]),
/// else the image made now; `None` when Ctrl-C stopped the build or the image (which has been
/// said).
pub fn plan_and_disk(
    global: &Global,
    args: &LaunchArgs,
    given: Option<(Plan, PathBuf)>,
    runtime: &tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Option<(Plan, PathBuf)>> {
    if given.is_some() {
        return Ok(given);
    }
    let Some(built) = build_output(
        global,
        args.from.as_deref(),
        &args.build,
        &args.selection,
        runtime,
        reporter.clone(),
    )?
    else {
        return Ok(None);
    };
    let request = ImageRequest {
        spec: image_spec(&built.plan)?,
        artifact: built.artifact,
        artifact_sha256: built.artifact_sha256,
        epoch: built.epoch,
        formats: vec![Format::Raw],
        size: None,
        out_dir: args.build.out_dir(args.from.as_deref()),
        cache: global.cache(),
        no_cache: args.build.no_cache,
    };
    let outcome = runtime.block_on(async {
        let engine = Engine::connect(reporter.as_ref()).await?;
        let made = engine
            .run_until(
                make_image(&engine, &request, reporter.clone()),
                interrupted(),
            )
            .await;
        anyhow::Ok(made.transpose()?)
    })?;
    let Some(outcome) = outcome else {
        say(&ImageError::Interrupted.to_string());
        return Ok(None);
    };
    let disk = outcome
        .manifest
        .vm_disk(&args.build.out_dir(args.from.as_deref()))?;
    Ok(Some((built.plan, disk)))
}

/// The provider of cluster `state`, from what its launch recorded.
pub fn provider_of(states: &StateDir, state: &ClusterState) -> QemuProvider {
    let memory = state
        .resources
        .get("memory_mib")
        .and_then(|m| m.parse().ok())
        .unwrap_or(DEFAULT_MEMORY_MIB);
    QemuProvider::new(
        state
            .resources
            .get("disk")
            .cloned()
            .unwrap_or_default()
            .into(),
        states.cluster_dir(&state.name),
        memory,
        state.resources.get("accel").and_then(|a| Accel::parse(a)),
    )
}
