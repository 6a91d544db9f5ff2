//! What `baker status` concludes about a cluster from its state as the providers see it now: ready
//! (its launch finished and every node runs), or why not. The CLI prints the reason and turns
//! anything but ready into an exit status of its own, so that a monitoring script can tell a
//! cluster that needs attention without reading the text. Each node's [`NodeCondition`] is what
//! `status` says of it: a node of an interrupted launch that runs but was never checked is told
//! from one that stopped, and from one the launch never started.

use super::provider::Provider;
use super::state::{ClusterState, NodeState, Phase};

/// What `status` finds of one node now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCondition {
    /// It runs, and passed its role's checks at `since` (seconds since the epoch).
    Ready { since: Option<u64> },
    /// It runs, but no pass of its role's checks is recorded: its launch is still checking it,
    /// stopped before its checks passed (`launch --resume` checks it), or failed; or it was
    /// started again outside baker since its checks passed (`docker restart`, or `docker start`
    /// after the host restarted: the provider finds it so), and `launch --resume` checks it again.
    Unchecked,
    /// The provider has it (a container, a VM's files, a machine) and it does not run now.
    Stopped,
    /// Its launch never started it: the provider finds nothing of it.
    NotStarted,
}

impl NodeCondition {
    /// The condition of `node` (as the provider located it, with `ready` as its launch recorded
    /// it), which runs now or not.
    pub fn of(node: &NodeState, running: bool) -> Self {
        match (running, node.ready, &node.provider_id) {
            (true, true, _) => Self::Ready {
                since: node.ready_since,
            },
            (true, false, _) => Self::Unchecked,
            (false, _, Some(_)) => Self::Stopped,
            (false, _, None) => Self::NotStarted,
        }
    }
}

/// Cluster `state` as `provider` finds it now: each node located (its handle found when the
/// launch did not record it, and not ready when it started again since its checks passed), with
/// `ready` and `ready_since` cleared when it does not run, and each node's condition.
pub async fn look<P: Provider>(
    provider: &P,
    mut state: ClusterState,
) -> (ClusterState, Vec<NodeCondition>) {
    let mut conditions = Vec::with_capacity(state.nodes.len());
    for index in 0..state.nodes.len() {
        let mut node = provider.located(&state, &state.nodes[index]).await;
        let running = provider.alive(&node).await;
        conditions.push(NodeCondition::of(&node, running));
        if !running {
            node.ready = false;
            node.ready_since = None;
        }
        state.nodes[index] = node;
    }
    (state, conditions)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The launch finished and every node runs.
    Ready,
    /// The launch finished, but this many nodes do not run now.
    NodesDown(usize),
    /// The launch finished and every node runs, but this many were started again since their
    /// checks last passed (a resume stopped before checking them).
    NodesUnchecked(usize),
    /// The launch has not finished: it still runs, or was interrupted.
    Unfinished,
    /// The launch failed.
    Failed,
}

impl Health {
    /// The health of cluster `state` whose nodes are as `conditions` (from [`look`]) say.
    pub fn of(state: &ClusterState, conditions: &[NodeCondition]) -> Self {
        let count =
            |wanted: fn(&NodeCondition) -> bool| conditions.iter().filter(|c| wanted(c)).count();
        match state.phase {
            Phase::Creating | Phase::Booting => Self::Unfinished,
            Phase::Failed => Self::Failed,
            Phase::Ready => {
                let down =
                    count(|c| matches!(c, NodeCondition::Stopped | NodeCondition::NotStarted));
                let unchecked = count(|c| matches!(c, NodeCondition::Unchecked));
                match (down, unchecked) {
                    (0, 0) => Self::Ready,
                    (0, unchecked) => Self::NodesUnchecked(unchecked),
                    (down, _) => Self::NodesDown(down),
                }
            }
        }
    }

    pub fn is_ready(self) -> bool {
        self == Self::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::state::NodeState;
    use crate::recipe::RoleKind;

    fn cluster(phase: Phase, ready: &[bool]) -> ClusterState {
        let node = |(i, ready): (usize, &bool)| NodeState {
            name: format!("pg-node-{i}"),
            role: "standby".into(),
            kind: RoleKind::Slave,
            provider_id: Some("c0ffee".into()),
            address: "10.200.0.2".into(),
            published: Default::default(),
            ready: *ready,
            ready_since: ready.then_some(1),
            slot: 0,
        };
        ClusterState {
            nodes: ready.iter().enumerate().map(node).collect(),
            ..ClusterState::postgresql_example("pg", "docker", phase)
        }
    }

    #[test]
    fn a_node_that_runs_unchecked_is_told_from_one_stopped_or_never_started() {
        let mut node = cluster(Phase::Booting, &[false]).nodes.remove(0);
        assert_eq!(NodeCondition::of(&node, true), NodeCondition::Unchecked);
        assert_eq!(NodeCondition::of(&node, false), NodeCondition::Stopped);
        node.provider_id = None;
        assert_eq!(NodeCondition::of(&node, false), NodeCondition::NotStarted);
        assert_eq!(NodeCondition::of(&node, true), NodeCondition::Unchecked);
        let ready = cluster(Phase::Ready, &[true]).nodes.remove(0);
        assert_eq!(
            NodeCondition::of(&ready, true),
            NodeCondition::Ready { since: Some(1) }
        );
        assert_eq!(NodeCondition::of(&ready, false), NodeCondition::Stopped);
    }

    #[test]
    fn a_cluster_is_ready_only_when_its_launch_finished_and_every_node_runs_checked() {
        use NodeCondition::{NotStarted, Ready, Stopped, Unchecked};
        let ready = Ready { since: Some(1) };
        let health =
            |phase, conditions: &[NodeCondition]| Health::of(&cluster(phase, &[]), conditions);
        assert_eq!(health(Phase::Ready, &[ready, ready]), Health::Ready);
        assert_eq!(
            health(Phase::Ready, &[ready, Stopped]),
            Health::NodesDown(1)
        );
        assert_eq!(
            health(Phase::Ready, &[Stopped, NotStarted, Unchecked]),
            Health::NodesDown(2)
        );
        // Running but not checked since it started is not counted as down.
        assert_eq!(
            health(Phase::Ready, &[ready, Unchecked]),
            Health::NodesUnchecked(1)
        );
        assert_eq!(health(Phase::Booting, &[ready, ready]), Health::Unfinished);
        assert_eq!(health(Phase::Creating, &[]), Health::Unfinished);
        assert_eq!(health(Phase::Failed, &[ready]), Health::Failed);
        assert!(Health::Ready.is_ready() && !Health::NodesUnchecked(1).is_ready());
    }
}
