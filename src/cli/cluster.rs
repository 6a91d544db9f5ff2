//! The commands on launched clusters: `status`, `login`, `logs` (`-f`), `destroy` (in [`destroy`]),
//! `clusters`. Each reads the cluster's state file, rebuilds the provider it was launched with (from
//! the state, never from the recipe) and calls the library; this file only dispatches and prints.

use super::Global;
use super::launch_qemu;
use super::output::emit_line;
use super::progress::TerminalReporter;
use anyhow::Context;
use baker::engine::Engine;
use baker::launch::docker::DockerProvider;
use baker::launch::health::Health;
use baker::launch::provider::{Provider, failed_task_script};
use baker::launch::readiness::NodeShell;
use baker::launch::run::{self};
use baker::launch::ssh::SshProvider;
use baker::launch::state::{ClusterState, NodeState};
use clap::Args;
use std::process::ExitCode;

use super::launch::states;

/// Evaluates `$body` (inside an async block returning `anyhow::Result`) with `$p` bound to the
/// provider cluster `$state` was launched with, rebuilt from its state (the docker provider with a
/// connected engine): the one place that maps a state's provider name to a provider, since the
/// `Provider` trait's associated shell type rules out a boxed provider.
macro_rules! with_provider {
    ($state:expr, |$p:ident| $body:expr) => {
        match $state.provider.as_str() {
            "docker" => {
                let engine = Engine::connect(&TerminalReporter::new()).await?;
                let $p = docker_provider(&engine, &$state);
                $body
            }
            "qemu" => {
                let $p = launch_qemu::provider_of(&states(), &$state);
                $body
            }
            "ssh" => {
                let $p = SshProvider::from_state(&$state);
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
pub use destroy::destroy;

#[derive(Debug, Args)]
pub struct ClusterArg {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
    /// The node: its name, the end of it (`primary`, `standby-1`), or `master` or `slave`
    /// [default: the master].
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The cluster's name, as `baker launch` was given it (`baker clusters` lists them).
    pub name: String,
    /// The node: its name, the end of it (`primary`, `standby-1`), or `master` or `slave`.
    pub node: String,
    /// How many lines.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: usize,
    /// Keep printing what the role logs, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub fn status(global: &Global, args: &ClusterArg) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let state = states().load(&args.name)?;
    let state = runtime.block_on(async {
        with_provider!(state, |provider| anyhow::Ok(
            run::status(&provider, state).await
        ))
    })?;
    // The phase is what the launch recorded; a node that stopped since is found now.
    let health = Health::of(&state);
    if global.quiet {
        return Ok(status_code(health));
    }
    let now = match health {
        Health::NodesDown(down) => format!(
            ", but {down} of {} not running now (`baker launch {} --resume` starts {} again)",
            state.node_count(),
            state.name,
            if down == 1 { "it" } else { "them" }
        ),
        Health::Unfinished => format!(
            ": its launch has not finished (if it was interrupted, `baker launch {} --resume` finishes it)",
            state.name
        ),
        Health::Ready | Health::Failed => String::new(),
    };
    emit_line(&format!(
        "cluster {} ({} {} for {}, provider {}): {:?}{now}",
        state.name, state.recipe, state.version, state.distro, state.provider, state.phase
    ))?;
    for node in &state.nodes {
        let since = node
            .ready_since
            .map(ready_since)
            .unwrap_or_else(|| "not ready".to_owned());
        emit_line(&format!(
            "  {:<28} {:<7} {:<15} {:<14} {since}{}",
            node.name,
            node.kind.name(),
            node.address,
            shown_id(&state.provider, node.provider_id.as_deref()),
            host_ports(&node.published),
        ))?;
    }
    Ok(status_code(health))
}

/// `baker status`'s exit status for a cluster that is not ready: a node is down, or its launch has
/// not finished or failed. Errors (no such cluster, no engine) exit 1, as every command's do.
pub const NOT_READY: u8 = 3;

/// `status --help`'s word on what it exits with.
pub const STATUS_EXIT: &str = "Exit status: 0 when the cluster's launch finished and every node \
runs; 3 when not (a node is down or cannot be reached, or the launch has not finished or failed); 1 \
when status cannot run (no such cluster, no Docker engine for a docker cluster).";

fn status_code(health: Health) -> ExitCode {
    if health.is_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_READY)
    }
}

/// `; ports 32791->5432, 32792->22`: the host ports forwarded to the node's ports, where the user
/// reaches them (on 127.0.0.1 unless the launch published them on every address); nothing when none
/// is forwarded yet.
fn host_ports(published: &std::collections::BTreeMap<u16, u16>) -> String {
    let shown: Vec<String> = (published.iter())
        .filter(|(_, host)| **host != 0)
        .map(|(port, host)| format!("{host}->{port}"))
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!("; ports {}", shown.join(", "))
    }
}

/// A node's provider id as `status` shows it: a container id short, a VM by its QEMU's pid (its
/// id is the pidfile's path), a machine (`ssh`) by its whole name.
fn shown_id(provider: &str, id: Option<&str>) -> String {
    match (provider, id) {
        (_, None) => "-".to_owned(),
        ("docker", Some(id)) => id[..12.min(id.len())].to_owned(),
        ("qemu", Some(pidfile)) => {
            let pid = baker::launch::qemu_process::running_pid(std::path::Path::new(pidfile));
            pid.map_or("stopped".to_owned(), |pid| format!("pid {pid}"))
        }
        (_, Some(id)) => id.to_owned(),
    }
}

pub fn clusters(global: &Global) -> anyhow::Result<ExitCode> {
    let list = states().list()?;
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        emit_line("no clusters")?;
    }
    for state in &list {
        emit_line(&format!(
            "{:<20} {:<8} {:<12} {} {} for {}, {}",
            state.name,
            state.provider,
            format!("{:?}", state.phase).to_lowercase(),
            state.recipe,
            state.version,
            state.distro,
            state.node_count()
        ))?;
    }
    if !list.is_empty() {
        // The list reads the state files only: asking every provider (SSH to each machine) would
        // make it slow.
        super::output::say(
            "phases as the launches recorded them; `baker status NAME` looks at the nodes now",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// "ready since 2026-11-28T09:41:26Z (3m 12s ago)", from seconds since the epoch.
fn ready_since(secs: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let ago = std::time::SystemTime::now()
        .duration_since(at)
        .map(|d| std::time::Duration::from_secs(d.as_secs()))
        .unwrap_or_default();
    format!(
        "ready since {} ({} ago)",
        humantime::format_rfc3339_seconds(at),
        humantime::format_duration(ago)
    )
}

fn docker_provider<'a>(engine: &'a Engine, state: &ClusterState) -> DockerProvider<'a> {
    DockerProvider {
        engine,
        image: state.resources.get("image").cloned().unwrap_or_default(),
        host_ip: "127.0.0.1",
    }
}

/// The node `node` names: its name, the end of its name after the cluster's (`primary`,
/// `standby-1`), or its kind (`master`, `slave`: the first of that kind); none names the first.
fn find_node<'a>(state: &'a ClusterState, node: Option<&str>) -> anyhow::Result<&'a NodeState> {
    let found = match node {
        None => state.nodes.first(),
        Some(n) => state
            .nodes
            .iter()
            .find(|x| x.name == n || x.name.ends_with(&format!("-{n}")))
            .or_else(|| state.nodes.iter().find(|x| x.kind.name() == n)),
    };
    found.ok_or_else(|| {
        let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
        anyhow::anyhow!(
            "cluster {} has no node {:?}; name one of its nodes ({}), the end of a name, or master or slave",
            state.name,
            node.unwrap_or(""),
            names.join(", ")
        )
    })
}

pub fn logs(_global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let state = states().load(&args.name)?;
    let node = find_node(&state, Some(&args.node))?.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.follow {
        let command = runtime.block_on(async {
            with_provider!(state, |provider| anyhow::Ok(
                provider.follow_command(&node, args.lines)
            ))
        })?;
        return run_attached(&command, &node.name);
    }
    let (log, task) = runtime.block_on(async {
        with_provider!(state, |provider| anyhow::Ok(
            node_logs(&provider, &node, args.lines).await
        ))
    })?;
    for line in log {
        emit_line(&line)?;
    }
    if !task.trim().is_empty() {
        emit_line(task.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
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

pub fn login(_global: &Global, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let state = states().load(&args.name)?;
    let node = find_node(&state, args.node.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let command = runtime.block_on(async {
        with_provider!(state, |provider| anyhow::Ok(provider.login_command(node)))
    })?;
    // An interactive shell needs a terminal: the provider's own client (docker, ssh) gives one.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_read_host_to_node_and_unpublished_ones_are_left_out() {
        let ports = std::collections::BTreeMap::from([(22, 40002), (5432, 40001), (8080, 0)]);
        assert_eq!(host_ports(&ports), "; ports 40002->22, 40001->5432");
        assert_eq!(host_ports(&Default::default()), "");
    }

    #[test]
    fn status_exits_0_only_for_a_ready_cluster_and_3_otherwise() {
        let code = |h| format!("{:?}", status_code(h));
        assert_eq!(code(Health::Ready), format!("{:?}", ExitCode::SUCCESS));
        for health in [Health::NodesDown(1), Health::Unfinished, Health::Failed] {
            assert_eq!(code(health), format!("{:?}", ExitCode::from(NOT_READY)));
        }
        assert_eq!(NOT_READY, 3);
        assert!(STATUS_EXIT.contains("3 when not"));
    }

    #[test]
    fn ready_since_reads_as_a_utc_time_and_how_long_ago() {
        let then = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 3 * 3600;
        let text = ready_since(then);
        assert!(text.starts_with("ready since 20"), "{text}");
        assert!(text.contains("Z (3h"), "{text}");
        assert!(text.ends_with(" ago)"), "{text}");
        assert!(ready_since(0).starts_with("ready since 1970-01-01T00:00:00Z ("));
    }
}
