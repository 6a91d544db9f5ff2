//! `baker image`: make bootable disk images from a build — an existing build's folder (`--from`), or
//! the build run first (the library's [`baker::builder::build`], which answers from its caches when nothing
//! changed). `baker image boot` boots one (`image_boot.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use baker::engine::Engine;
use baker::image::{
    Format, ImageError, ImageOutcome, ImageRequest, check_plan, format, image_spec, make_image,
    size,
};
use baker::plan::Plan;
use baker::progress::{Reporter, Silent};

use super::Global;
use super::build::{BuildFlags, build_output, build_stopped};
use super::headings;
use super::image_boot::BootArgs;
use super::output::emit;
use super::progress::TerminalReporter;
use super::select::Selection;
use super::signals::{interrupted, stopped};

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

/// `--out` of `baker image`.
const OUT_HELP: &str = "Where the build's files and the disk images (image.json, each format with \
its .sha256) go [default: out; with --from, that build's folder]";

/// `--no-cache` of `baker image`.
const NO_CACHE_HELP: &str = "Make the OS layer again, and (without --from) run every build step \
even when the step cache has it";

#[derive(Debug, Args)]
#[command(
    mut_arg("out", |a| a.help(OUT_HELP)),
    mut_arg("no_cache", |a| a.help(NO_CACHE_HELP))
)]
pub struct MakeArgs {
    /// Formats to write, comma-separated: raw, ami, qcow2, vhd, gce.
    #[arg(long, default_value = "raw", value_name = "LIST", value_parser = format_list)]
    pub format: FormatList,
    /// Disk size, e.g. 4G, 4GiB or 1536M (powers of 1024; GB and MB are refused as ambiguous)
    /// [default: the tree plus headroom, in whole GiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = disk_size)]
    pub size: Option<u64>,
    /// An existing build's output folder (its plan.json, manifest.json and tarball) instead of building;
    /// its plan says the recipe, distro and version.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = super::select::CHOSEN_BY_THE_BUILD,
        conflicts_with_all = super::select::ONLY_WHEN_BUILDING
    )]
    pub from: Option<PathBuf>,
    /// Print one JSON result (image.json plus timings) at the end instead of progress.
    #[arg(long)]
    pub json: bool,
    #[command(flatten, next_help_heading = headings::BUILD_FIRST)]
    pub selection: Selection,
    // How to build first, unless --from names a build.
    #[command(flatten, next_help_heading = headings::BUILD_FIRST)]
    pub build: BuildFlags,
}

/// `--size`, read when the command line is. Hyphens are allowed so that `-1G` is refused as
/// negative rather than as an unknown option `-1`, and a forgotten size (`--size --json`) as an
/// option; clap still reads `--size --format raw`'s `raw` as a subcommand before this runs, which
/// [`forgotten_size`] puts right.
fn disk_size(given: &str) -> Result<u64, String> {
    size::parse_size(given).map_err(|refused| match refused {
        ImageError::Size { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// The refusal of `baker image --size` followed by an option instead of a size, on command line
/// `args` (`lenient`: read past its errors), whatever clap reported: given `--size --format raw`,
/// clap takes `--format` for the size and reports the stray `raw` as a subcommand that cannot be
/// used with `--size`, where the mistake is the size, as with `--size --json`.
pub(super) fn forgotten_size(
    command: &mut clap::Command,
    args: &[std::ffi::OsString],
    lenient: Option<&clap::ArgMatches>,
) -> Option<clap::Error> {
    let (_, image) = lenient?.subcommand().filter(|(name, _)| *name == "image")?;
    // Not `image boot`, which has no --size.
    image.subcommand().is_none().then_some(())?;
    let size = args.iter().position(|arg| arg == "--size")?;
    let given = args.get(size + 1)?.to_str()?;
    let refusal = disk_size(given).err()?;
    let image = command.find_subcommand_mut("image")?;
    Some(image.error(
        clap::error::ErrorKind::InvalidValue,
        format!("invalid value '{given}' for '--size <SIZE>': {refusal}"),
    ))
}

/// The formats `--format` names, each once, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatList(pub Vec<Format>);

/// `--format`, read when the command line is, so that a list naming an unknown format or holding
/// an empty item is a usage error (exit 2) as another bad value is, with the format it likely
/// means.
fn format_list(given: &str) -> Result<FormatList, String> {
    format::parse_list(given)
        .map(FormatList)
        .map_err(|refused| refused.to_string())
}

pub fn run(global: &Global, args: &ImageArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(ImageCommand::Boot(boot)) => super::image_boot::run(global, boot),
        None => make(global, &args.make),
    }
}

fn make(global: &Global, args: &MakeArgs) -> anyhow::Result<ExitCode> {
    let formats = args.format.0.clone();
    let size = args.size;
    let reporter: Arc<dyn Reporter> = if args.json || global.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    ImageError::unless_local_engine()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let check = |plan: &Plan| check_plan(plan, &formats, size).map_err(|e| e.to_string());
    let Some(built) = build_output(
        global,
        args.from.as_deref(),
        &args.build,
        &args.selection,
        &runtime,
        reporter.clone(),
        Some(&check),
    )?
    else {
        return Ok(build_stopped());
    };
    let request = ImageRequest {
        spec: image_spec(&built.plan)?,
        artifact: built.artifact,
        artifact_sha256: built.artifact_sha256,
        epoch: built.epoch,
        formats,
        size,
        out_dir: args.build.out_dir(args.from.as_deref()),
        cache: global.cache(),
        no_cache: args.build.no_cache,
    };
    let outcome = runtime.block_on(async {
        let engine = Engine::connect(reporter.as_ref()).await?;
        engine
            .run_until(make_image(&engine, &request, reporter), interrupted())
            .await
            .unwrap_or(Err(ImageError::Interrupted))
    });
    match outcome {
        Ok(outcome) => print_outcome(&outcome, args, global.quiet)?,
        Err(e @ ImageError::Interrupted) => return Ok(stopped(&e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(outcome: &ImageOutcome, args: &MakeArgs, quiet: bool) -> anyhow::Result<()> {
    let m = &outcome.manifest;
    if args.json {
        let result = json!({
            "image": m,
            "image_json": outcome.manifest_path,
            "unchanged": outcome.unchanged,
            "disk_reused": outcome.disk_reused,
            "os_layer_cached": outcome.os_layer_cached,
            "seconds": outcome.seconds,
            "warnings": outcome.warnings,
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&result)?))?;
    } else if !quiet {
        let mut text = String::new();
        for f in &m.formats {
            text.push_str(&format!(
                "image {}\n  sha256 {}\n",
                args.build
                    .out_dir(args.from.as_deref())
                    .join(&f.file)
                    .display(),
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
            } else if outcome.disk_reused {
                "formats added from its disk"
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
        emit(&text)?;
    }
    Ok(())
}
