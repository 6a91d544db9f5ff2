//! `baker image`: make bootable disk images from a build (`baker image boot` boots one; see
//! `image_boot.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use baker::build::Janitor;
use baker::image::build_output::{self, BuildOutput};
use baker::image::{ImageError, ImageRequest, image_spec, make_image, parse_formats, size};
use baker::plan::{PLAN_FILE, Plan, PlanOptions, SourceOverride, read_plan, resolve};
use baker::progress::{Reporter, Silent};
use baker::source::lock::LockFile;

use super::Global;
use super::build::interrupted;
use super::image_boot::BootArgs;
use super::progress::TerminalReporter;
use super::select::Selection;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: Option<ImageCommand>,
    #[command(flatten)]
    pub make: MakeArgs,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Boot a disk image under QEMU until its first boot prints the ready line.
    Boot(BootArgs),
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Formats to write, comma-separated: raw, ami, qcow2, vhd, gce.
    #[arg(long, default_value = "raw", value_name = "LIST")]
    pub format: String,
    /// Disk size, e.g. 4G or 1536M (powers of 1024) [default: the tree plus headroom, in whole GiB].
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Where the disk files, their .sha256 and image.json go.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// An existing build's output folder (its manifest.json and tarball) instead of the cache.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Rebuild the OS layer (kernel, init, runtime packages) even when it is cached.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON result (image.json plus timings) at the end instead of progress.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(global: &Global, args: &ImageArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(ImageCommand::Boot(boot)) => super::image_boot::run(global, boot),
        None => make(global, &args.make),
    }
}

fn make(global: &Global, args: &MakeArgs) -> anyhow::Result<ExitCode> {
    let (plan, build) = plan_and_build(global, args)?;
    let spec = image_spec(&plan)?;
    let request = ImageRequest {
        spec,
        artifact: build.artifact,
        artifact_sha256: build.artifact_sha256,
        epoch: build.epoch,
        formats: parse_formats(&args.format)?,
        size: args.size.as_deref().map(size::parse_size).transpose()?,
        out_dir: args.out.clone(),
        cache: global.cache(),
        no_cache: args.no_cache,
    };
    let reporter: Arc<dyn Reporter> = if args.json || args.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let docker = baker::engine::connect().await?;
        let host = baker::engine::engine_host();
        if !host.starts_with("unix://") && !host.starts_with('/') {
            return Err(ImageError::RemoteEngine { host }.into());
        }
        let janitor = Janitor::default();
        let result = tokio::select! {
            result = make_image(&docker, &janitor, &request, reporter.clone()) => result,
            () = interrupted() => Err(ImageError::Interrupted),
        };
        janitor.sweep(&docker).await;
        anyhow::Ok(result?)
    });
    let outcome = match outcome {
        Err(e) if matches!(e.downcast_ref(), Some(ImageError::Interrupted)) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    let m = &outcome.manifest;
    if args.json {
        let result = json!({
            "image": m,
            "image_json": outcome.manifest_path,
            "unchanged": outcome.unchanged,
            "os_layer_cached": outcome.os_layer_cached,
            "seconds": outcome.seconds,
        });
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else if !args.quiet {
        let mut text = String::new();
        for f in &m.formats {
            text.push_str(&format!(
                "image {}\n  sha256 {}\n",
                args.out.join(&f.file).display(),
                f.sha256
            ));
        }
        text.push_str(&format!(
            "  {} disk, kernel {}, root UUID {}\n  image.json {}\n  {} in {:.1}s (OS layer {})\n",
            size::describe(m.disk.size),
            m.kernel.version,
            m.disk.root_uuid,
            outcome.manifest_path.display(),
            if outcome.unchanged {
                "unchanged"
            } else {
                "made"
            },
            outcome.seconds,
            if outcome.os_layer_cached {
                "from the cache"
            } else {
                "built"
            },
        ));
        super::emit(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan and the build's tarball: from `--from DIR`, or from the artifact cache.
fn plan_and_build(global: &Global, args: &MakeArgs) -> anyhow::Result<(Plan, BuildOutput)> {
    let Some(dir) = &args.from else {
        let plan = args.selection.plan(global)?;
        let build = build_output::from_cache(&global.cache(), &plan).with_context(|| {
            format!(
                "no finished build of {} {} ({}) in the cache {}: run `baker build` with the same options first, or pass --from <its --out folder>",
                plan.recipe.name,
                plan.version,
                plan.recipe.distro,
                global.cache().root().display()
            )
        })?;
        return Ok((plan, build));
    };
    let (build, hints) = build_output::read_build_dir(dir)?;
    // The plan the build wrote beside its tarball, when it did; else the recipe resolved again.
    let plan_file = dir.join(PLAN_FILE);
    if plan_file.exists() {
        let plan = read_plan(&plan_file)?;
        build_output::check_plan(&plan, &build, dir)?;
        return Ok((plan, build));
    }
    let sel = &args.selection;
    let catalog = global.catalog()?;
    let recipe = catalog.select(
        Some(sel.recipe.as_deref().unwrap_or(&hints.recipe)),
        Some(sel.distro.as_deref().unwrap_or(&hints.distro)),
    )?;
    let enable: Vec<String> = recipe
        .steps
        .iter()
        .filter(|s| s.optional && hints.steps.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    let locked = LockFile::load(&global.cache().lock_file())?.files;
    // The build's epoch came from $SOURCE_DATE_EPOCH or from the source; the key says which.
    let mut plan = None;
    for epoch in [None, Some(build.epoch)] {
        let candidate = resolve(
            &recipe,
            &PlanOptions {
                version: Some(sel.version.clone().unwrap_or_else(|| hints.version.clone())),
                enable: enable.clone(),
                source_override: hints
                    .source_tree
                    .clone()
                    .map(|(path, sha256)| SourceOverride {
                        path,
                        files: 0,
                        sha256,
                    }),
                locked: locked.clone(),
                source_date_epoch: epoch,
            },
        )?;
        let matches = candidate.install_step().key == build.plan_key;
        plan = Some(candidate);
        if matches {
            break;
        }
    }
    let plan = plan.expect("one candidate at least");
    build_output::check_plan(&plan, &build, dir)?;
    Ok((plan, build))
}
