//! Who is in a cluster and what each node is told about the others: the nodes a launch asks for
//! (one master, then the slaves, named `<cluster>-<role>[-<i>]`) and the cluster facts that role
//! templates render with once every node has its address.

use super::provider::WantedNode;
use super::state::{ClusterState, NodeState};
use crate::plan::Plan;
use crate::recipe::RoleKind;
use crate::recipe::context::{ClusterFacts, NodeFacts};

/// The name of the plan's slave role, if it has one.
pub fn slave_role(plan: &Plan) -> Option<&str> {
    plan.roles
        .iter()
        .find(|(_, r)| r.kind == RoleKind::Slave)
        .map(|(n, _)| n.as_str())
}

/// The nodes of cluster `name` with one master and `slaves` slaves, master first.
pub fn wanted_nodes(plan: &Plan, name: &str, slaves: usize) -> Vec<WantedNode> {
    let (master, _) = plan
        .master_role()
        .expect("checked: the plan has a master role");
    let mut nodes = vec![WantedNode {
        name: format!("{name}-{master}"),
        role: master.to_owned(),
        kind: RoleKind::Master,
    }];
    if let Some(slave) = slave_role(plan) {
        for i in 1..=slaves {
            nodes.push(WantedNode {
                name: format!("{name}-{slave}-{i}"),
                role: slave.to_owned(),
                kind: RoleKind::Slave,
            });
        }
    }
    nodes
}

/// The facts every role template renders with.
pub fn cluster_facts(state: &ClusterState, secret: &str) -> ClusterFacts {
    let facts = |i: usize, n: &NodeState| NodeFacts {
        name: n.name.clone(),
        ip: n.address.clone(),
        role: n.role.clone(),
        index: i,
        slot: n.slot,
    };
    let master = state
        .nodes
        .iter()
        .enumerate()
        .find(|(_, n)| n.kind == RoleKind::Master)
        .map(|(i, n)| facts(i, n))
        .expect("a cluster has its master");
    ClusterFacts {
        name: state.name.clone(),
        secret: secret.to_owned(),
        master,
        slaves: state
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == RoleKind::Slave)
            .map(|(i, n)| facts(i, n))
            .collect(),
    }
}

/// Every node's facts, in the state's order (master first).
pub fn facts_of_nodes(facts: &ClusterFacts) -> Vec<NodeFacts> {
    std::iter::once(facts.master.clone())
        .chain(facts.slaves.iter().cloned())
        .collect()
}
