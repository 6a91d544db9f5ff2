//! `baker build`: build a recipe in containers into a reproducible tarball and manifest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use baker::build::{
    BuildError, BuildOptions, Builder, Janitor, ensure_base_image, has_unlocked_inputs,
    lock_unpinned,
};
use baker::progress::{Reporter, Silent};
use baker::source::mirror::{Mirror, mirrors_from_env};

use super::Global;
use super::progress::TerminalReporter;
use super::select::Selection;

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Parallel jobs for `make -j` [default: the number of CPUs].
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Where the tarball, its .sha256, manifest.json and the step logs go.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Look for source files here first: a base URL (`<URL>/<file name>`) or a directory; repeatable,
    /// tried in order, before the recipe's own URLs. Also read from $BAKER_MIRRORS (space- or comma-separated).
    #[arg(long, value_name = "URL|DIR")]
    pub mirror: Vec<String>,
    /// Use only the mirrors, never the recipe's own URLs (air-gapped machines, tests).
    #[arg(long)]
    pub no_upstream: bool,
    /// Run every step even when the step cache has it.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON result at the end instead of progress.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(global: &Global, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let mut plan = args.selection.plan(global)?;
    let reporter: Arc<dyn Reporter> = if args.json || args.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    let mut mirrors: Vec<Mirror> = args
        .mirror
        .iter()
        .map(|m| Mirror::parse(m))
        .collect::<Result<_, _>>()?;
    mirrors.extend(mirrors_from_env()?);
    let options = BuildOptions {
        cache: global.cache(),
        out_dir: args.out.clone(),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        mirrors,
        upstream: !args.no_upstream,
        no_cache: args.no_cache,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let docker = baker::engine::connect().await?;
        ensure_base_image(&docker, &plan.base, reporter.as_ref()).await?;
        if has_unlocked_inputs(&plan) {
            lock_unpinned(&plan, &options, reporter.clone()).await?;
            plan = args.selection.plan(global)?;
        }
        let janitor = Janitor::default();
        let builder = Builder::new(
            docker.clone(),
            &plan,
            &options,
            reporter.clone(),
            janitor.clone(),
        );
        let result = tokio::select! {
            result = builder.run() => result,
            () = interrupted() => Err(BuildError::Interrupted),
        };
        janitor.sweep(&docker).await;
        anyhow::Ok(result?)
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e)
            if matches!(
                e.downcast_ref::<BuildError>(),
                Some(BuildError::Interrupted)
            ) =>
        {
            eprintln!("{e}");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e),
    };

    let hits = outcome.steps.iter().filter(|s| s.cache_hit).count();
    if args.json {
        let result = json!({
            "artifact": { "path": outcome.artifact.path, "sha256": outcome.artifact.sha256, "bytes": outcome.artifact.bytes },
            "manifest": outcome.manifest_path,
            "steps": outcome.steps,
            "cache_hits": hits,
            "compiler_cache": outcome.manifest.compiler_cache,
        });
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else if !args.quiet {
        println!(
            "built {}\n  sha256 {}\n  manifest {}\n  steps: {} run, {} from cache",
            outcome.artifact.path.display(),
            outcome.artifact.sha256,
            outcome.manifest_path.display(),
            outcome.steps.len() - hits,
            hits
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
