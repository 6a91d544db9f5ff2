//! The commands on launched clusters: `status` (in [`mod@status`]), `login` (a shell, or a command, on a
//! node), `logs` (`-f`), `destroy` (in [`mod@destroy`]), `clusters`; `status` and `clusters` print
//! JSON too (`--json`, in [`json`]). Each reads the cluster's state file, rebuilds the provider it
//! was launched with (from the state, never from the recipe) and calls the library; [`pick_node`]
//! picks the node `login` and `logs` act on.

use super::Global;
use super::launch_qemu;
use super::output::{emit_line, say};
use anyhow::Context;
use baker::engine::Engine;
use baker::launch::docker::DockerProvider;
use baker::launch::launch_lock::{self, LaunchActivity, LaunchWork};
use baker::launch::node_pick::{PickedNode, pick_node};
use baker::launch::provider::{Provider, failed_task_script};
use baker::launch::readiness::NodeShell;
use baker::launch::ssh::SshProvider;
use baker::launch::state::{ClusterState, NodeState, Phase};
use clap::Args;
use std::process::ExitCode;

use super::launch::states;

/// Evaluates `$body` (inside an async block returning `anyhow::Result`) with `$p` bound to the
/// provider cluster `$state` was launched with, rebuilt from its state (the docker provider with a
/// connected engine, whose warnings `$global`'s `-q` drops): the one place that maps a state's provider name to a provider, since the
/// `Provider` trait's associated shell type rules out a boxed provider.
macro_rules! with_provider {
    ($global:expr, $state:expr, |$p:ident| $body:expr) => {
        match $state.provider.as_str() {
            "docker" => {
                let dir = states()?.cluster_dir(&$state.name);
                let reporter = crate::cli::launch::reporter($global.quiet);
                let engine =
                    baker::launch::docker_cluster::connect_for(&$state, &dir, reporter.as_ref())
                        .await?;
                let $p = docker_provider(&engine, &$state).await?;
                $body
            }
            "qemu" => {
                let $p = launch_qemu::provider_of(&states()?, &$state);
                $body
            }
            "ssh" => {
                let $p = SshProvider::from_state(&$state, &states()?.cluster_dir(&$state.name));
                $body
            }
            other => anyhow::bail!(
                "cluster {} uses the {other} provider, unknown to this baker",
                $state.name
            ),
        }
    };
}

mod destroy;
mod json;
mod status;
pub use destroy::destroy;
pub use status::{STATUS_EXIT, status};

#[derive(Debug, Args)]
pub struct ClusterArg {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArg,
    /// Print the cluster and its nodes as one JSON document instead of text (with -q too); the
    /// exit status is the same.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ClustersArgs {
    /// Print the list as one JSON array instead of text (`[]` when there is none).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = LOGIN_COMMAND)]
pub struct LoginArgs {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
    /// The node: its name, the end of it (`primary`, `standby-1`), a role (`standby`), or `master`
    /// or `slave`; a role or kind of several nodes picks the first, naming the others on stderr
    /// [default: the master].
    pub node: Option<String>,
    /// A command to run on the node instead of a shell (after `--`): without a terminal, read by
    /// the node's shell as `ssh HOST COMMAND` reads it, exiting with the command's exit code.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `login --help`'s word on its command form.
pub const LOGIN_COMMAND: &str = "With `-- COMMAND...`, runs the command on the node and exits with its exit code: `baker login pg -- hostname`, `baker login pg standby-1 -- 'tail /var/log/baker/role.log'` (docker: `docker exec`; qemu and ssh: over SSH, as the shell is).";

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
    /// The node: its name, the end of it (`primary`, `standby-1`), a role (`standby`), or `master`
    /// or `slave`; a role or kind of several nodes picks the first, naming the others on stderr
    /// [default: the master, as for `login`].
    pub node: Option<String>,
    /// How many lines.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: usize,
    /// Keep printing what the role logs, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub fn clusters(global: &Global, args: &ClustersArgs) -> anyhow::Result<ExitCode> {
    let states = states()?;
    let (list, unreadable): (Vec<_>, Vec<_>) = states
        .list_each()?
        .into_iter()
        .partition(|(_, state)| state.is_ok());
    let list: Vec<ClusterState> = list.into_iter().filter_map(|(_, s)| s.ok()).collect();
    let preparing = states.preparing();
    if args.json {
        // In the text's order: the names being launched, the clusters, the unreadable states.
        let mut views = Vec::new();
        for name in &preparing {
            let activity = states.launch_activity(name);
            let note = launch_lock::at_work(&Some(LaunchWork::Launch), &[]);
            views.push(json::ListedView::launching(name, &activity, &note));
        }
        for state in &list {
            let activity = states.launch_activity(&state.name);
            let note = at_work(state, &activity);
            views.push(json::ListedView::of(state, &activity, &note));
        }
        for (name, error) in unreadable {
            let error = error.err().map(|e| e.listed()).unwrap_or_default();
            views.push(json::ListedView::unreadable(&name, error));
        }
        json::print(&views)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() && preparing.is_empty() && unreadable.is_empty() {
        emit_line("no clusters")?;
    }
    // Reserved by a launch that builds, or makes its image, before it makes the cluster.
    for name in &preparing {
        emit_line(&format!(
            "{name:<20} {:<8} {:<12} no nodes yet; {}",
            "-",
            "launching",
            launch_lock::at_work(&Some(LaunchWork::Launch), &[])
        ))?;
    }
    for state in &list {
        emit_line(&format!(
            "{:<20} {:<8} {:<12} {} {} for {}, {}{}",
            state.name,
            state.provider,
            format!("{:?}", state.phase).to_lowercase(),
            state.recipe,
            state.version,
            state.distro,
            state.node_count(),
            at_work(state, &states.launch_activity(&state.name))
        ))?;
    }
    // Listed rather than failing the whole list: the others are still worth seeing.
    for (name, error) in unreadable {
        let error = error.err().map(|e| e.listed()).unwrap_or_default();
        emit_line(&format!(
            "{name:<20} {:<8} {:<12} {error}",
            "-", "unreadable"
        ))?;
    }
    if !list.is_empty() && !global.quiet {
        // The list reads the state files only: asking every provider (SSH to each machine) would
        // make it slow.
        super::output::say(
            "phases as the launches recorded them; `baker status NAME` looks at the nodes now",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `clusters` adds to a cluster's line: what a baker at work on it does now, or that its
/// launch stopped before it finished.
fn at_work(state: &ClusterState, activity: &LaunchActivity) -> String {
    let finished = matches!(state.phase, Phase::Ready | Phase::Failed);
    match activity {
        LaunchActivity::Running { work, .. } => format!("; {}", launch_lock::at_work(work, &[])),
        LaunchActivity::Stopped if finished => String::new(),
        LaunchActivity::Stopped => "; its launch stopped (--resume finishes it)".to_owned(),
    }
}

/// The docker provider of cluster `state`, refused when `engine` is not the one it runs on.
async fn docker_provider<'a>(
    engine: &'a Engine,
    state: &ClusterState,
) -> anyhow::Result<DockerProvider<'a>> {
    let dir = states()?.cluster_dir(&state.name);
    Ok(DockerProvider::for_cluster(engine, state, &dir).await?)
}

pub fn logs(global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let state = states()?.load_or_busy(&args.name)?;
    let picked = pick_node(&state, args.node.as_deref())?;
    tell_choice(global, &picked, "showing the log of");
    let node = picked.node;
    let runtime = tokio::runtime::Runtime::new()?;
    if args.follow {
        let command = runtime.block_on(async {
            with_provider!(global, state, |provider| {
                let node = provider.located(&state, node).await;
                anyhow::Ok(provider.follow_command(&node, args.lines))
            })
        })?;
        return run_attached(&command, &node.name);
    }
    let (log, task) = runtime.block_on(async {
        with_provider!(global, state, |provider| {
            let node = provider.located(&state, node).await;
            anyhow::Ok(node_logs(&provider, &node, args.lines).await)
        })
    })?;
    for line in log {
        emit_line(&line)?;
    }
    if !task.trim().is_empty() {
        emit_line(task.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr which node an argument naming several picked (unless `-q`).
fn tell_choice(global: &Global, picked: &PickedNode, doing: &str) {
    if let Some(note) = picked.choice_note(doing).filter(|_| !global.quiet) {
        say(&note);
    }
}

/// A node's role log and, for a Mesos slave, its newest failed task's sandbox stderr.
async fn node_logs<P: Provider>(
    provider: &P,
    node: &NodeState,
    lines: usize,
) -> (Vec<String>, String) {
    let log = provider.role_log(node, lines).await;
    let shell = provider.shell(node);
    let task = shell
        .run(&failed_task_script(shell.bundle_dir()))
        .await
        .map(|(_, out)| out)
        .unwrap_or_default();
    (log, task)
}

pub fn login(global: &Global, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let state = states()?.load_or_busy(&args.name)?;
    let picked = pick_node(&state, args.node.as_deref())?;
    let doing = if args.command.is_empty() {
        "logging in to"
    } else {
        "running the command on"
    };
    tell_choice(global, &picked, doing);
    let node = picked.node;
    let runtime = tokio::runtime::Runtime::new()?;
    let command = runtime.block_on(async {
        with_provider!(global, state, |provider| {
            let node = provider.located(&state, node).await;
            anyhow::Ok(provider.login_command(&node, &args.command))
        })
    })?;
    // A shell needs a terminal, a command the exit code: the provider's own client (docker, ssh)
    // gives both.
    run_attached(&command, &node.name)
}

/// Runs the provider's own client (docker, ssh) on this terminal; its exit code is ours.
fn run_attached(command: &[String], node: &str) -> anyhow::Result<ExitCode> {
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .with_context(|| format!("running `{}` for node {node}", command.join(" ")))?;
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
