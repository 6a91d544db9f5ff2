//! What `baker launch --provider qemu` needs before the library's launch (which chooses where QEMU
//! runs, [`baker::launch::qemu_runner::QemuRunner::choose`]): the plan with the raw disk its nodes
//! boot — an image directory's (`--image DIR`, its image.json), or one made now through the same
//! library call as `baker image` (which answers from its caches when nothing changed), from
//! `--from BUILD_DIR` or a build run first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use baker::engine::Engine;
use baker::image::boot::Accel;
use baker::image::{Format, ImageError, ImageRequest, check_plan, image_spec, make_image};
use baker::launch::qemu::{DISK_RESOURCE, QEMU_RESOURCE, QemuProvider};
use baker::launch::qemu_disk::{self, PlanForImage};
use baker::launch::qemu_runner::QemuRunner;
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::Plan;
use baker::progress::Reporter;
use std::sync::Arc;

use super::Global;
use super::build::build_output;
use super::launch::LaunchArgs;
use super::output::say;
use super::signals::interrupted;

/// Memory of each VM unless `--memory` says otherwise.
pub const DEFAULT_MEMORY_MIB: u32 = 768;

/// The plan and the raw disk of the image `--image` names (the library's [`qemu_disk::given_image`]), with the
/// plan the user chose: `--from`'s, else one made now from `--distro`/`--recipe`, else the one
/// beside the image.
pub fn given_image(
    global: &Global,
    args: &LaunchArgs,
    dir: &Path,
) -> anyhow::Result<(Plan, PathBuf)> {
    let chosen = &args.selection;
    let plan = match &args.from {
        Some(build_dir) => PlanForImage::Build(build_dir.clone()),
        None if chosen.distro.is_some() || chosen.recipe.is_some() => {
            PlanForImage::Planned(Box::new(chosen.plan(global)?))
        }
        None => PlanForImage::BesideTheImage,
    };
    Ok(qemu_disk::given_image(dir, plan)?)
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
    let check = |plan: &Plan| check_plan(plan, &[Format::Raw], None).map_err(|e| e.to_string());
    let Some(built) = build_output(
        global,
        args.from.as_deref(),
        &args.build,
        &args.selection,
        runtime,
        reporter.clone(),
        Some(&check),
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

/// What a qemu cluster's state records from its start, for `--resume`, `status` and `destroy`:
/// the VMs' memory and accelerator as asked, the image's raw `disk` (until the provider replaces it
/// with the cluster's own copy), and whose QEMU runs them. Recorded when the state is made, so
/// that a launch stopped before its first VM was placed (while the disk was copied, say) resumes
/// with the disk and QEMU it began with.
pub fn resources(args: &LaunchArgs, disk: &Path, runner: &QemuRunner) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("memory_mib".to_owned(), args.memory.to_string()),
        ("accel".to_owned(), args.accel.name().to_owned()),
        (DISK_RESOURCE.to_owned(), disk.display().to_string()),
        (QEMU_RESOURCE.to_owned(), runner.name().to_owned()),
    ])
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
            .get(DISK_RESOURCE)
            .cloned()
            .unwrap_or_default()
            .into(),
        states.cluster_dir(&state.name),
        memory,
        state.resources.get("accel").and_then(|a| Accel::parse(a)),
    )
}
