//! `baker build`: build a recipe in containers into a reproducible tarball and manifest. The library's
//! [`baker::builder::build`] does the work; this file turns flags into its request, Ctrl-C/SIGTERM
//! into its cancellation, and its outcome into a summary or JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use baker::builder::{
    BuildError, BuildOptions, BuildOutcome, BuildRequest, DEFAULT_OUT_DIR, PlanCheck, build,
};
use baker::image::build_output::{BuildOutput, read_build_dir};
use baker::progress::{Reporter, Silent};
use baker::recipe::Catalog;
use baker::source::mirror::{Mirror, mirrors_from_env};

use super::Global;
use super::headings;
use super::output::{emit_line, say};
use super::progress::TerminalReporter;
use super::select::Selection;
use super::signals::{INTERRUPTED, interrupted, stopped};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Print one JSON result at the end instead of progress.
    #[arg(long)]
    pub json: bool,
    #[command(flatten, next_help_heading = headings::BUILD)]
    pub selection: Selection,
    #[command(flatten, next_help_heading = headings::BUILD)]
    pub flags: BuildFlags,
}

/// How to build, shared by every command that builds first (`build`, `image`, `launch`). Their help
/// is what it is for `baker build`; `image` and `launch` say what `--out` and `--no-cache` do there
/// too (`mut_arg`).
#[derive(Debug, Args)]
pub struct BuildFlags {
    /// Parallel jobs for `make -j`, 1 to 1024 [default: the number of CPUs].
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Kill and fail any step that runs longer than this (e.g. 90m, 2h 30m); overrides the recipe's
    /// per-step `timeout`.
    #[arg(long, value_name = "DURATION", value_parser = parse_step_timeout)]
    pub step_timeout: Option<Duration>,
    /// Where the build's files go: the tarball, its .sha256, manifest.json, plan.json and the step
    /// logs [default: out].
    #[arg(long, value_name = "DIR", value_parser = super::folder_arg::folder)]
    pub out: Option<PathBuf>,
    /// Look for the files baker downloads itself (source archives, repository keys) here first: a
    /// base URL (`<URL>/<file name>`) or a directory; repeatable, tried in order, before the recipe's
    /// own URLs. Also read from $BAKER_MIRRORS (space- or comma-separated). Package repositories and
    /// what the build's steps download (Maven's) are not looked up here.
    #[arg(long, value_name = "URL|DIR")]
    pub mirror: Vec<String>,
    /// Use only the mirrors, never the recipe's own URLs (air-gapped machines, tests).
    #[arg(long)]
    pub no_upstream: bool,
    /// Run every step even when the step cache has it; with --incremental, build clean too, without
    /// the earlier build tree or tarball (the build tree it makes is kept for the next --incremental).
    #[arg(long)]
    pub no_cache: bool,
    /// Reuse the build tree of the previous `--incremental` build of this --source-dir: only changed
    /// files are sent and `make` recompiles only what they touch (the result is the same as clean).
    #[arg(long)]
    pub incremental: bool,
}

impl BuildFlags {
    /// `--out`, else the folder of the build `--from` names (so that its images lie beside it, never
    /// in an `out` holding another build), else `out`.
    pub fn out_dir(&self, from: Option<&Path>) -> PathBuf {
        self.out
            .clone()
            .or_else(|| from.map(Path::to_owned))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT_DIR))
    }

    /// The library's build request for `selection` with these flags.
    pub fn request<'a>(
        &self,
        global: &Global,
        catalog: &'a Catalog,
        selection: &Selection,
    ) -> anyhow::Result<BuildRequest<'a>> {
        let mut mirrors: Vec<Mirror> = self
            .mirror
            .iter()
            .map(|m| Mirror::parse(m))
            .collect::<Result<_, _>>()?;
        mirrors.extend(mirrors_from_env()?);
        let mut selection = selection.to_library()?;
        selection.stat_cache = Some(global.cache().stat());
        Ok(BuildRequest {
            catalog,
            selection,
            options: BuildOptions {
                cache: global.cache(),
                lock_file: global.lock_file(),
                out_dir: self.out_dir(None),
                jobs: self.jobs.map_or_else(
                    || std::thread::available_parallelism().map_or(2, |n| n.get().min(1024)),
                    usize::from,
                ),
                mirrors,
                upstream: !self.no_upstream,
                no_cache: self.no_cache,
                step_timeout: self.step_timeout,
                incremental: self.incremental,
            },
            plan_check: None,
        })
    }
}

fn parse_step_timeout(text: &str) -> Result<Duration, String> {
    baker::recipe::validate::parse_duration(text)
}

/// The build a later stage (`image`, `launch`) starts from: the folder `--from` names (its
/// `plan.json`, `manifest.json` and tarball, checked against each other), else the build run now.
/// `None` when Ctrl-C stopped that build: it has said so, and the caller exits with
/// [`build_stopped`]. `plan_check` is the stage's check of the plan, run before the build starts.
pub fn build_output(
    global: &Global,
    from: Option<&Path>,
    flags: &BuildFlags,
    selection: &Selection,
    runtime: &tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
    plan_check: Option<PlanCheck<'_>>,
) -> anyhow::Result<Option<BuildOutput>> {
    if let Some(dir) = from {
        return Ok(Some(read_build_dir(dir)?));
    }
    let catalog = global.catalog()?;
    let mut request = flags.request(global, &catalog, selection)?;
    request.plan_check = plan_check;
    match runtime.block_on(build(&request, reporter, interrupted())) {
        Ok(outcome) => Ok(Some(BuildOutput::of(&outcome))),
        Err(e @ BuildError::Interrupted { .. }) => {
            say(&e.to_string());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The exit status of a stage whose build Ctrl-C stopped ([`build_output`] has said so).
pub fn build_stopped() -> ExitCode {
    ExitCode::from(INTERRUPTED)
}

pub fn run(global: &Global, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let catalog = global.catalog()?;
    let request = args.flags.request(global, &catalog, &args.selection)?;
    let reporter: Arc<dyn Reporter> = if args.json || global.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    let runtime = tokio::runtime::Runtime::new()?;
    match runtime.block_on(build(&request, reporter, interrupted())) {
        Ok(outcome) => print_outcome(&outcome, args.json, global.quiet)?,
        Err(e @ BuildError::Interrupted { .. }) => return Ok(stopped(&e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(outcome: &BuildOutcome, json: bool, quiet: bool) -> anyhow::Result<()> {
    let hits = outcome.steps.iter().filter(|s| s.cache_hit).count();
    if json {
        let result = json!({
            "artifact": { "path": outcome.artifact.path, "sha256": outcome.artifact.sha256, "bytes": outcome.artifact.bytes },
            "manifest": outcome.manifest_path,
            "steps": outcome.steps,
            "cache_hits": hits,
            "compiler_cache": outcome.manifest.compiler_cache,
        });
        emit_line(&serde_json::to_string_pretty(&result)?)?;
    } else if !quiet {
        emit_line(&format!(
            "built {}\n  sha256 {}\n  manifest {}\n  steps: {} run, {} from cache",
            outcome.artifact.path.display(),
            outcome.artifact.sha256,
            outcome.manifest_path.display(),
            outcome.steps.len() - hits,
            hits
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        flags: BuildFlags,
    }

    #[test]
    fn the_output_folder_is_out_the_from_folder_or_what_out_names() {
        let flags = |args: &[&str]| Flags::parse_from([&["t"], args].concat()).flags;
        let from = Some(Path::new("/builds/pg"));
        assert_eq!(flags(&[]).out_dir(None), Path::new("out"));
        assert_eq!(flags(&[]).out_dir(from), Path::new("/builds/pg"));
        assert_eq!(flags(&["--out", "img"]).out_dir(from), Path::new("img"));
    }
}
