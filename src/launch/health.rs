//! What `baker status` concludes about a cluster from its state as the providers see it now: ready
//! (its launch finished and every node runs), or why not. The CLI prints the reason and turns
//! anything but ready into an exit status of its own, so that a monitoring script can tell a
//! cluster that needs attention without reading the text.

use super::state::{ClusterState, Phase};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The launch finished and every node runs.
    Ready,
    /// The launch finished, but this many nodes do not run now.
    NodesDown(usize),
    /// The launch has not finished: it still runs, or was interrupted.
    Unfinished,
    /// The launch failed.
    Failed,
}

impl Health {
    /// The health of `state`, whose nodes' `ready` says whether each runs now (as
    /// [`super::run::status`] leaves it).
    pub fn of(state: &ClusterState) -> Self {
        match state.phase {
            Phase::Creating | Phase::Booting => Self::Unfinished,
            Phase::Failed => Self::Failed,
            Phase::Ready => match state.nodes.iter().filter(|n| !n.ready).count() {
                0 => Self::Ready,
                down => Self::NodesDown(down),
            },
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
            format: crate::launch::state::STATE_FORMAT,
            name: "pg".into(),
            provider: "docker".into(),
            recipe: "postgresql".into(),
            version: "15.18".into(),
            distro: "debian-12".into(),
            plan_key: "k".into(),
            phase,
            created: 1,
            resources: Default::default(),
            nodes: ready.iter().enumerate().map(node).collect(),
            timings: Default::default(),
            smoke: false,
        }
    }

    #[test]
    fn a_cluster_is_ready_only_when_its_launch_finished_and_every_node_runs() {
        assert_eq!(
            Health::of(&cluster(Phase::Ready, &[true, true])),
            Health::Ready
        );
        assert_eq!(
            Health::of(&cluster(Phase::Ready, &[true, false])),
            Health::NodesDown(1)
        );
        assert_eq!(
            Health::of(&cluster(Phase::Ready, &[false, false])),
            Health::NodesDown(2)
        );
        assert_eq!(
            Health::of(&cluster(Phase::Booting, &[true, true])),
            Health::Unfinished
        );
        assert_eq!(
            Health::of(&cluster(Phase::Creating, &[])),
            Health::Unfinished
        );
        assert_eq!(Health::of(&cluster(Phase::Failed, &[true])), Health::Failed);
        assert!(Health::Ready.is_ready() && !Health::NodesDown(1).is_ready());
    }
}
