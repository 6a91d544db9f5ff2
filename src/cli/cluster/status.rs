//! `baker status`: a cluster's phase as its launch recorded it, whether a launch of it runs now (in
//! another shell) or stopped (see [`baker::launch::launch_lock`]), and each node as its provider
//! finds it now — ready since when, running but never checked (a launch interrupted before its
//! checks passed), stopped, or never started — with its container id, QEMU pid or machine, and the
//! host ports forwarded to a node that runs; or all of that as JSON (`--json`, see [`super::json`]).
//! Exits 0 only for a finished launch whose every node runs, checked ready since it last started.

use std::collections::BTreeMap;
use std::process::ExitCode;

use baker::launch::health::{Health, NodeCondition, look};
use baker::launch::launch_lock::{LaunchActivity, LaunchWork, at_work};
use baker::launch::provider::Provider;
use baker::launch::ssh::SshProvider;
use baker::launch::state::{ClusterState, Phase, StateDir, StateError};

use super::super::Global;
use super::super::launch::states;
use super::super::launch_qemu;
use super::super::output::emit_line;
use super::json::{self, NodeView, StatusView};
use super::{StatusArgs, docker_provider};

pub fn status(global: &Global, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let states = states()?;
    let name = &args.cluster.name;
    let state = match states.load(name) {
        Ok(state) => state,
        Err(e @ StateError::Unknown { .. }) => {
            let Some((note, activity)) = being_launched(&states, name) else {
                return Err(e.into());
            };
            if args.json {
                json::print(&StatusView::launching(name, &note, &activity))?;
            } else if !global.quiet {
                emit_line(&format!("cluster {name}: {note}"))?;
            }
            return Ok(ExitCode::from(NOT_READY));
        }
        Err(e) => return Err(e.into()),
    };
    let (state, conditions, ids) = runtime.block_on(async {
        with_provider!(global, state, |provider| {
            let (state, conditions) = look(&provider, state).await;
            let ids: Vec<String> = state.nodes.iter().map(|n| provider.shown_id(n)).collect();
            anyhow::Ok((state, conditions, ids))
        })
    })?;
    // The phase is what the launch recorded; a node that stopped since is found now.
    let health = Health::of(&state, &conditions);
    let activity = states.launch_activity(&state.name);
    let note = health_note(&state, health, &activity);
    if args.json {
        let mut view = StatusView::of(&state, health, &note, &activity);
        view.nodes = (state.nodes.iter().zip(conditions).zip(ids))
            .map(|((node, condition), id)| {
                let said = condition_text(condition, &state, &activity);
                NodeView::of(node, condition, &id, said)
            })
            .collect();
        json::print(&view)?;
        return Ok(status_code(health));
    }
    if global.quiet {
        return Ok(status_code(health));
    }
    emit_line(&format!(
        "cluster {} ({} {} for {}, provider {}): {:?}{note}",
        state.name, state.recipe, state.version, state.distro, state.provider, state.phase,
    ))?;
    for ((node, condition), id) in state.nodes.iter().zip(conditions).zip(ids) {
        let running = matches!(
            condition,
            NodeCondition::Ready { .. } | NodeCondition::Unchecked
        );
        // A node that does not run has no port published: a container's go when it stops, and a
        // node started again may get others.
        let ports = if running {
            host_ports(&node.published)
        } else {
            String::new()
        };
        emit_line(&format!(
            "  {:<28} {:<7} {:<15} {:<14} {}{ports}",
            node.name,
            node.kind.name(),
            node.address,
            id,
            condition_text(condition, &state, &activity),
        ))?;
    }
    Ok(status_code(health))
}

/// What status says of a name that a launch running now has reserved and not made a cluster of
/// yet (it builds, or makes its image, first), with that launch; `None` when no launch has it.
fn being_launched(states: &StateDir, name: &str) -> Option<(String, LaunchActivity)> {
    let activity = states.launch_activity(name);
    let LaunchActivity::Running {
        work: work @ Some(LaunchWork::Launch),
        holders,
    } = &activity
    else {
        return None;
    };
    let note = format!(
        "no nodes yet: {}, and makes them once its build and image are ready",
        at_work(work, holders)
    );
    Some((note, activity))
}

/// What the header adds to the cluster's phase: why it is not ready, and what a baker at work on
/// it does now (`activity`), or else how `--resume` would finish it.
fn health_note(state: &ClusterState, health: Health, activity: &LaunchActivity) -> String {
    let name = &state.name;
    let doing = match activity {
        LaunchActivity::Running { work, holders } => Some(at_work(work, holders)),
        LaunchActivity::Stopped => None,
    };
    let resume = |does: String| match doing {
        Some(_) => String::new(),
        None => format!(" (`baker launch {name} --resume` {does})"),
    };
    let launching = matches!(
        activity,
        LaunchActivity::Running {
            work: Some(LaunchWork::Launch),
            ..
        }
    );
    let why = match health {
        Health::NodesDown(down) => format!(
            ", but {down} of {} not running now{}",
            state.node_count(),
            resume(format!("starts {} again", it_or_them(down)))
        ),
        Health::NodesUnchecked(unchecked) => format!(
            ", but {unchecked} of {} started again and not checked ready since{}",
            state.node_count(),
            resume(format!("checks {}", it_or_them(unchecked)))
        ),
        // A launch at work says it all.
        Health::Unfinished if launching => String::new(),
        Health::Unfinished if doing.is_some() => ": its launch has not finished".to_owned(),
        Health::Unfinished => format!(
            ": its launch stopped before it finished{}",
            resume("finishes it".to_owned())
        ),
        Health::Ready | Health::Failed => String::new(),
    };
    match doing {
        Some(doing) if why.is_empty() => format!(": {doing}"),
        Some(doing) => format!("{why}; {doing}"),
        None => why,
    }
}

/// "it" for one, "them" for more.
fn it_or_them(n: usize) -> &'static str {
    if n == 1 { "it" } else { "them" }
}

/// What `status` says of a node in `state`'s cluster, whose launch may run now (`activity`).
fn condition_text(
    condition: NodeCondition,
    state: &ClusterState,
    activity: &LaunchActivity,
) -> String {
    let resume = format!("`baker launch {} --resume`", state.name);
    let checking = matches!(
        activity,
        LaunchActivity::Running {
            work: Some(LaunchWork::Launch | LaunchWork::Resume),
            ..
        }
    );
    let stopped = *activity == LaunchActivity::Stopped;
    match condition {
        NodeCondition::Ready { since: Some(at) } => ready_since(at),
        NodeCondition::Ready { since: None } => "ready".to_owned(),
        NodeCondition::Unchecked => match state.phase {
            Phase::Failed => "running, not ready: its launch failed".to_owned(),
            Phase::Creating | Phase::Booting if checking => {
                "running, not checked ready yet (its launch is checking it)".to_owned()
            }
            Phase::Creating | Phase::Booting if stopped => {
                format!("running, never checked ready (its launch stopped): {resume} checks it")
            }
            Phase::Creating | Phase::Booting => "running, never checked ready".to_owned(),
            Phase::Ready if stopped => {
                format!("running, not checked ready since it started: {resume} checks it")
            }
            Phase::Ready => "running, not checked ready since it started".to_owned(),
        },
        NodeCondition::Stopped if state.provider == "ssh" => {
            "not running (its role agent stopped, or the machine cannot be reached)".to_owned()
        }
        // Made and not started yet: a launch at work creates every node before it starts them.
        NodeCondition::Stopped if checking && matches!(state.phase, Phase::Creating) => {
            "made, not started yet (its launch is starting it)".to_owned()
        }
        NodeCondition::Stopped => "stopped".to_owned(),
        NodeCondition::NotStarted => match state.phase {
            Phase::Creating | Phase::Booting if checking => "not started yet".to_owned(),
            Phase::Creating | Phase::Booting if stopped => {
                "not started: its launch stopped before starting it".to_owned()
            }
            _ => "not started".to_owned(),
        },
    }
}

/// `baker status`'s exit status for a cluster that is not ready: a node is down, or its launch has
/// not finished or failed. Errors (no such cluster, no engine) exit 1, as every command's do.
pub const NOT_READY: u8 = 3;

/// `status --help`'s word on what it exits with.
pub const STATUS_EXIT: &str = "Exit status: 0 when the cluster's launch finished and every node \
runs, checked ready since it last started; 3 when not (a node is down, cannot be reached or was \
started again outside baker and not checked since, or the launch has not finished or failed); 1 \
when status cannot run (no such cluster, no Docker engine for a docker cluster). The same with -q \
and with --json.";

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
fn host_ports(published: &BTreeMap<u16, u16>) -> String {
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

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
