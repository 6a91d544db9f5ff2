//! What `status --json` and `clusters --json` print, for operators' scripts: serialize-only views
//! over the library's cluster state and what `status` finds of it now, holding what the text shows
//! (and the raw values the text abbreviates), so that a script reads fields rather than parses
//! columns. Every key is always there, `null` where it does not apply (no recipe yet for a name
//! whose launch still builds; no error for a readable state). One pretty-printed document, as the
//! other commands' `--json` print.

use std::collections::BTreeMap;

use serde::Serialize;

use baker::launch::health::{Health, NodeCondition};
use baker::launch::launch_lock::{LaunchActivity, LaunchWork};
use baker::launch::state::{ClusterState, NodeState, Phase};

use super::super::output::emit;

/// The phase of a name whose launch still builds (or makes its image) and has no state yet, as
/// `clusters` shows it.
pub const LAUNCHING: &str = "launching";

/// The phase `clusters` shows for a state file it cannot read.
pub const UNREADABLE: &str = "unreadable";

/// Which cluster a view is of, first in `status` and `clusters` alike: its name, and as its state
/// says, the provider and the build it runs (null before the state exists or when it cannot be
/// read).
#[derive(Debug, Serialize)]
pub struct ClusterIdentity {
    pub name: String,
    pub provider: Option<String>,
    pub recipe: Option<String>,
    pub version: Option<String>,
    pub distro: Option<String>,
}

impl ClusterIdentity {
    /// Cluster `state`'s.
    fn of(state: &ClusterState) -> Self {
        Self {
            name: state.name.clone(),
            provider: known(&state.provider),
            recipe: known(&state.recipe),
            version: known(&state.version),
            distro: known(&state.distro),
        }
    }

    /// Name `name`'s alone: no state says more.
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            provider: None,
            recipe: None,
            version: None,
            distro: None,
        }
    }
}

/// `baker status NAME --json`.
#[derive(Debug, Serialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub cluster: ClusterIdentity,
    /// creating, booting, ready or failed as the launch recorded it; [`LAUNCHING`] before it made
    /// the cluster.
    pub phase: &'static str,
    /// What exit status 0 means: the launch finished and every node runs, checked.
    pub ready: bool,
    /// ready, nodes_down, nodes_unchecked, unfinished or failed.
    pub health: &'static str,
    /// The text's words after the phase: why it is not ready, what a baker at work does now.
    pub note: Option<String>,
    pub at_work: Option<AtWork>,
    pub nodes: Vec<NodeView>,
}

/// One node of [`StatusView`].
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub name: String,
    pub role: String,
    /// master or slave.
    pub kind: &'static str,
    pub address: Option<String>,
    /// As the text shows it: a container's short id, `pid N` of a QEMU, a machine.
    pub id: Option<String>,
    /// As the state records it: the whole container id, a VM's pidfile, a host.
    pub provider_id: Option<String>,
    /// ready, unchecked (runs, not checked ready), stopped or not_started.
    pub condition: &'static str,
    pub running: bool,
    pub ready: bool,
    /// When it became ready, in seconds since the epoch.
    pub ready_since: Option<u64>,
    /// The host ports forwarded to the node's ports (none for a node that does not run).
    pub ports: Vec<Port>,
    /// What the text says of it.
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct Port {
    /// The node's port.
    pub node: u16,
    /// The port on the host (127.0.0.1, or every address for `--publish-all`) forwarded to it.
    pub host: u16,
}

/// A baker working on a cluster now: the launch, `--resume` or `destroy` that holds its lock.
#[derive(Debug, Serialize)]
pub struct AtWork {
    /// launch, resume or destroy; null when it has not said yet.
    pub work: Option<&'static str>,
    /// `pid N (command line)` of each process holding the lock.
    pub holders: Vec<String>,
}

/// One cluster of `baker clusters --json`.
#[derive(Debug, Serialize)]
pub struct ListedView {
    #[serde(flatten)]
    pub cluster: ClusterIdentity,
    /// creating, booting, ready or failed as the launch recorded it; [`LAUNCHING`] or
    /// [`UNREADABLE`].
    pub phase: &'static str,
    /// How many nodes its state lists (null for an unreadable one).
    pub nodes: Option<usize>,
    pub at_work: Option<AtWork>,
    /// What the text adds: what a baker at work on it does, or that its launch stopped.
    pub note: Option<String>,
    /// Why its state cannot be read.
    pub error: Option<String>,
}

/// Prints `view` as the other commands' `--json` do.
pub fn print(view: &impl Serialize) -> anyhow::Result<()> {
    emit(&(serde_json::to_string_pretty(view)? + "\n"))?;
    Ok(())
}

/// The launch's phase as `state.json` names it.
pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Creating => "creating",
        Phase::Booting => "booting",
        Phase::Ready => "ready",
        Phase::Failed => "failed",
    }
}

pub fn health_name(health: Health) -> &'static str {
    match health {
        Health::Ready => "ready",
        Health::NodesDown(_) => "nodes_down",
        Health::NodesUnchecked(_) => "nodes_unchecked",
        Health::Unfinished => "unfinished",
        Health::Failed => "failed",
    }
}

/// Who works on a cluster now, if anyone.
pub fn at_work(activity: &LaunchActivity) -> Option<AtWork> {
    match activity {
        LaunchActivity::Running { work, holders } => Some(AtWork {
            work: work.map(|work| match work {
                LaunchWork::Launch => "launch",
                LaunchWork::Resume => "resume",
                LaunchWork::Destroy => "destroy",
            }),
            holders: holders.clone(),
        }),
        LaunchActivity::Stopped => None,
    }
}

/// `text` without the punctuation that joins it to the text's line (`: `, `, but `, `; `); `None`
/// when that leaves nothing.
pub fn bare_note(text: &str) -> Option<String> {
    let bare = [", but ", ": ", "; "]
        .iter()
        .find_map(|joint| text.strip_prefix(joint))
        .unwrap_or(text);
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// `text`, or `None` when it is empty (a state made before the launch knew its recipe).
fn known(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

impl StatusView {
    /// Cluster `state` without its nodes, whose `health` is as status found it.
    pub fn of(state: &ClusterState, health: Health, note: &str, activity: &LaunchActivity) -> Self {
        StatusView {
            cluster: ClusterIdentity::of(state),
            phase: phase_name(state.phase),
            ready: health.is_ready(),
            health: health_name(health),
            note: bare_note(note),
            at_work: at_work(activity),
            nodes: Vec::new(),
        }
    }

    /// Name `name`, reserved by a launch that builds first (`activity`) and has no state yet.
    pub fn launching(name: &str, note: &str, activity: &LaunchActivity) -> Self {
        StatusView {
            cluster: ClusterIdentity::named(name),
            phase: LAUNCHING,
            ready: false,
            health: health_name(Health::Unfinished),
            note: bare_note(note),
            at_work: at_work(activity),
            nodes: Vec::new(),
        }
    }
}

impl NodeView {
    /// `node` in `condition`, shown as `id`, said of as `note`.
    pub fn of(node: &NodeState, condition: NodeCondition, id: &str, note: String) -> Self {
        let running = matches!(
            condition,
            NodeCondition::Ready { .. } | NodeCondition::Unchecked
        );
        let (name, ready_since) = match condition {
            NodeCondition::Ready { since } => ("ready", since),
            NodeCondition::Unchecked => ("unchecked", None),
            NodeCondition::Stopped => ("stopped", None),
            NodeCondition::NotStarted => ("not_started", None),
        };
        NodeView {
            name: node.name.clone(),
            role: node.role.clone(),
            kind: node.kind.name(),
            address: known(&node.address),
            id: (id != "-").then(|| id.to_owned()),
            provider_id: node.provider_id.clone(),
            condition: name,
            running,
            ready: matches!(condition, NodeCondition::Ready { .. }),
            ready_since,
            ports: if running {
                ports(&node.published)
            } else {
                Vec::new()
            },
            note,
        }
    }
}

/// The forwarded ports of `published` (node port to host port), those not forwarded yet left out.
fn ports(published: &BTreeMap<u16, u16>) -> Vec<Port> {
    (published.iter())
        .filter(|(_, host)| **host != 0)
        .map(|(node, host)| Port {
            node: *node,
            host: *host,
        })
        .collect()
}

impl ListedView {
    /// Cluster `state`, as `clusters` lists it.
    pub fn of(state: &ClusterState, activity: &LaunchActivity, note: &str) -> Self {
        ListedView {
            cluster: ClusterIdentity::of(state),
            phase: phase_name(state.phase),
            nodes: Some(state.nodes.len()),
            at_work: at_work(activity),
            note: bare_note(note),
            error: None,
        }
    }

    /// Name `name`, reserved by a launch that has not made its cluster yet.
    pub fn launching(name: &str, activity: &LaunchActivity, note: &str) -> Self {
        ListedView {
            phase: LAUNCHING,
            nodes: Some(0),
            at_work: at_work(activity),
            note: bare_note(note),
            ..ListedView::unreadable(name, String::new())
        }
    }

    /// Name `name`, whose state file cannot be read, for `error`.
    pub fn unreadable(name: &str, error: String) -> Self {
        ListedView {
            cluster: ClusterIdentity::named(name),
            phase: UNREADABLE,
            nodes: None,
            at_work: None,
            note: None,
            error: known(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_loses_the_punctuation_that_joined_it_to_the_line() {
        assert_eq!(
            bare_note(", but 1 of 3 not running now").as_deref(),
            Some("1 of 3 not running now")
        );
        assert_eq!(
            bare_note(": its launch runs now").as_deref(),
            Some("its launch runs now")
        );
        assert_eq!(
            bare_note("; its launch stopped").as_deref(),
            Some("its launch stopped")
        );
        assert_eq!(bare_note(""), None);
    }
}
