//! `baker launch` and the commands on launched clusters: `status`, `login`, `logs`, `destroy`,
//! `clusters`. The library's [`baker::launch::run`] does the work; this file gets the build (from
//! `--from DIR`, or by building first), turns Ctrl-C into the launch's cancellation and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use baker::builder::{BuildError, build};
use baker::engine::Engine;
use baker::launch::LaunchError;
use baker::launch::node_image::ensure_node_image;
use baker::launch::run::{
    LaunchRequest, check_request, destroy_docker, launch_docker, role_log, status_docker,
};
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::{Plan, read_plan};
use baker::progress::{Reporter, Silent};

use super::Global;
use super::build::BuildFlags;
use super::output::emit_line;
use super::progress::TerminalReporter;
use super::select::Selection;
use super::signals::{interrupted, stopped};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderName {
    /// Nodes as containers on a network of their own (local, seconds).
    Docker,
    /// Nodes as VMs booted from the disk image (not yet: `baker image boot` boots one image).
    Qemu,
    /// Existing machines from an inventory (not yet).
    Ssh,
}

#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The cluster's name: letters, digits and `-`.
    pub name: String,
    #[arg(long, value_enum, default_value = "docker")]
    pub provider: ProviderName,
    #[command(flatten)]
    pub selection: Selection,
    /// A build's output directory (plan.json and the tarball) instead of building first.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub masters: usize,
    #[arg(long, default_value_t = 2)]
    pub slaves: usize,
    /// Publish the roles' ports on every interface, not only 127.0.0.1.
    #[arg(long)]
    pub publish_all: bool,
    /// Leave a cluster that failed its checks running, to look at it.
    #[arg(long)]
    pub keep_failed: bool,
    /// Once ready, run the recipe's smoke test (Mesos: the example framework; PostgreSQL: a row
    /// written on the primary and read on every standby).
    #[arg(long)]
    pub smoke: bool,
    #[command(flatten)]
    pub build: BuildFlags,
}

#[derive(Debug, Args)]
pub struct ClusterArg {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    pub name: String,
    /// The node (default: the master).
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub name: String,
    pub node: String,
    /// How many lines.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: usize,
}

fn states() -> StateDir {
    StateDir::new(StateDir::default_root())
}

fn reporter(quiet: bool) -> Arc<dyn Reporter> {
    if quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    }
}

pub fn launch(global: &Global, args: &LaunchArgs) -> anyhow::Result<ExitCode> {
    if args.provider != ProviderName::Docker {
        anyhow::bail!(
            "the {:?} provider is not built yet; `--provider docker` launches clusters here",
            args.provider
        );
    }
    let reporter = reporter(global.quiet);
    let runtime = tokio::runtime::Runtime::new()?;
    let catalog = global.catalog()?;
    let (plan, tarball, sha256) = match &args.from {
        Some(dir) => from_build_dir(dir)?,
        None => {
            let request = args.build.request(global, &catalog, &args.selection)?;
            match runtime.block_on(build(&request, reporter.clone(), interrupted())) {
                Ok(outcome) => (outcome.plan, outcome.artifact.path, outcome.artifact.sha256),
                Err(e @ BuildError::Interrupted) => return Ok(stopped(&e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let outcome = runtime.block_on(async {
        let engine = Engine::connect().await?;
        let mut request = LaunchRequest {
            name: args.name.clone(),
            masters: args.masters,
            slaves: args.slaves,
            publish_all: args.publish_all,
            keep_failed: args.keep_failed,
            smoke: args.smoke,
            node_image: String::new(),
        };
        check_request(&plan, &request)?;
        request.node_image = ensure_node_image(
            &engine,
            &global.cache(),
            &plan,
            &tarball,
            &sha256,
            reporter.as_ref(),
        )
        .await?;
        launch_docker(&engine, &states(), &plan, &request, reporter, interrupted()).await
    });
    match outcome {
        Ok(state) => {
            if !global.quiet {
                print_cluster(&state, &plan)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ LaunchError::Interrupted(_)) => Ok(stopped(&e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The plan and tarball a build left in `dir`.
fn from_build_dir(dir: &std::path::Path) -> anyhow::Result<(Plan, PathBuf, String)> {
    let plan = read_plan(&dir.join(baker::plan::PLAN_FILE))?;
    let tarball = dir.join(&plan.artifact.file_name);
    let sha256 = baker::artifact::sha256_file(&tarball)
        .with_context(|| format!("reading the build's tarball {}", tarball.display()))?;
    Ok((plan, tarball, sha256))
}

fn print_cluster(state: &ClusterState, plan: &Plan) -> anyhow::Result<()> {
    emit_line(&format!(
        "cluster {} ready: {} {} for {}, {} nodes",
        state.name,
        state.recipe,
        state.version,
        state.distro,
        state.nodes.len()
    ))?;
    for node in &state.nodes {
        let published: Vec<String> = node
            .published
            .iter()
            .map(|(port, host)| format!("{port} at 127.0.0.1:{host}"))
            .collect();
        emit_line(&format!(
            "  {:<28} {:<7} {:<15} {}",
            node.name,
            node.kind.name(),
            node.address,
            published.join(", ")
        ))?;
    }
    if let Some((role, _)) = plan.master_role() {
        if role == "master" && plan.recipe.name == "mesos" {
            if let Some(m) = state.nodes.first().and_then(|n| n.published.get(&5050)) {
                emit_line(&format!("  Mesos web UI: http://127.0.0.1:{m}/"))?;
            }
        }
    }
    let timings: Vec<String> = state
        .timings
        .iter()
        .map(|(phase, s)| format!("{phase} {s:.1}s"))
        .collect();
    emit_line(&format!("  took: {}", timings.join(", ")))?;
    Ok(())
}

pub fn status(global: &Global, args: &ClusterArg) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let state = runtime.block_on(async {
        let engine = Engine::connect().await?;
        status_docker(&engine, &states(), &args.name).await
    })?;
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    emit_line(&format!(
        "cluster {} ({} {} for {}, provider {}): {:?}",
        state.name, state.recipe, state.version, state.distro, state.provider, state.phase
    ))?;
    for node in &state.nodes {
        let since = node
            .ready_since
            .map(|t| format!("ready since {t} (epoch seconds)"))
            .unwrap_or_else(|| "not ready".to_owned());
        emit_line(&format!(
            "  {:<28} {:<7} {:<15} {:<14} {since}",
            node.name,
            node.kind.name(),
            node.address,
            node.provider_id
                .as_deref()
                .map_or("-", |id| &id[..12.min(id.len())]),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn clusters(global: &Global) -> anyhow::Result<ExitCode> {
    let list = states().list()?;
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        emit_line("no clusters")?;
    }
    for state in list {
        emit_line(&format!(
            "{:<20} {:<8} {:<12} {} {} for {}, {} nodes",
            state.name,
            state.provider,
            format!("{:?}", state.phase).to_lowercase(),
            state.recipe,
            state.version,
            state.distro,
            state.nodes.len()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn destroy(global: &Global, args: &ClusterArg) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let removed = runtime.block_on(async {
        let engine = Engine::connect().await?;
        destroy_docker(&engine, &states(), &args.name).await
    })?;
    if !global.quiet {
        emit_line(&format!(
            "destroyed {}: {removed} containers and networks removed",
            args.name
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn node_id(state: &ClusterState, node: Option<&str>) -> anyhow::Result<(String, String)> {
    let found = match node {
        None => state.nodes.first(),
        Some(n) => state
            .nodes
            .iter()
            .find(|x| x.name == n || x.name.ends_with(&format!("-{n}"))),
    };
    let Some(found) = found else {
        let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
        anyhow::bail!(
            "cluster {} has no node {:?}; its nodes: {}",
            state.name,
            node.unwrap_or(""),
            names.join(", ")
        );
    };
    Ok((
        found.name.clone(),
        found.provider_id.clone().unwrap_or_default(),
    ))
}

pub fn logs(_global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let state = states().load(&args.name)?;
    let (_, id) = node_id(&state, Some(&args.node))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (log, task) = runtime.block_on(async {
        let engine = Engine::connect().await?;
        let log = role_log(&engine, &id, args.lines).await;
        // A Mesos slave's newest failed task: its sandbox's stderr.
        let script = "f=$(ls -t /var/lib/mesos/slaves/*/frameworks/*/executors/*/runs/latest/stderr 2>/dev/null | head -n 1); \
                      [ -n \"$f\" ] && { echo \"== $f\"; tail -n 40 \"$f\"; }";
        let task = engine.exec(&id, &["bash", "-c", script], None).await.map(|o| o.output).unwrap_or_default();
        anyhow::Ok((log, task))
    })?;
    for line in log {
        emit_line(&line)?;
    }
    if !task.trim().is_empty() {
        emit_line(task.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn login(_global: &Global, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let state = states().load(&args.name)?;
    let (name, id) = node_id(&state, args.node.as_deref())?;
    // An interactive shell needs a terminal: the engine's own client gives one.
    let status = std::process::Command::new("docker")
        .args(["exec", "-it", &id, "bash", "-l"])
        .status()
        .with_context(|| format!("running `docker exec -it {id} bash` for node {name}"))?;
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
