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

/// The slaves of a launch that does not say how many, for a recipe with a slave role (Mesos'
/// agents, PostgreSQL's standbys): two, so that a cluster shows what one slave alone would not.
pub const DEFAULT_SLAVES: usize = 2;

/// How many slaves a launch of `plan` starts: `asked`, else none for a recipe without a slave role,
/// else every slave of the machines' inventory (`listed`, for the ssh provider), else
/// [`DEFAULT_SLAVES`].
pub fn slaves_to_launch(plan: &Plan, asked: Option<usize>, listed: Option<usize>) -> usize {
    match asked {
        Some(slaves) => slaves,
        None if slave_role(plan).is_none() => 0,
        None => listed.unwrap_or(DEFAULT_SLAVES),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, resolve};
    use crate::recipe::Catalog;

    fn plan(recipe: &str) -> Plan {
        let catalog = Catalog::embedded().unwrap();
        let recipe = catalog.select(Some(recipe), Some("debian12")).unwrap();
        resolve(&recipe, &PlanOptions::default()).unwrap()
    }

    #[test]
    fn a_launch_is_refused_without_its_master_with_two_or_with_slaves_the_recipe_lacks() {
        use crate::launch::run::{LaunchRequest, check_request};
        let request = |masters, slaves| LaunchRequest {
            name: "c".into(),
            masters,
            slaves,
            keep_failed: false,
            smoke: false,
            resources: Default::default(),
            timings: Default::default(),
        };
        let refusal = |recipe, masters, slaves| {
            check_request(&plan(recipe), &request(masters, slaves))
                .unwrap_err()
                .to_string()
        };
        assert!(
            refusal("postgresql", 0, 2).contains("a cluster needs its master (role `primary`)")
        );
        assert!(refusal("postgresql", 2, 2).contains("supports one master"));
        assert!(refusal("hello", 1, 1).contains("has no slave role; launch it without --slaves"));
        assert!(check_request(&plan("postgresql"), &request(1, 2)).is_ok());
        // What one /24 holds, for the providers that give a cluster one.
        use crate::launch::run::check_size;
        for provider in ["docker", "qemu"] {
            assert!(check_size(provider, &request(1, 239)).is_ok());
            let refused = check_size(provider, &request(1, 300))
                .unwrap_err()
                .to_string();
            assert!(refused.contains("give --slaves 239 or fewer"), "{refused}");
        }
        assert!(check_size("ssh", &request(1, 300)).is_ok());
    }

    #[test]
    fn a_launch_that_does_not_say_takes_two_slaves_the_inventorys_or_none_without_a_slave_role() {
        let (postgresql, hello) = (plan("postgresql"), plan("hello"));
        assert_eq!(slaves_to_launch(&postgresql, None, None), DEFAULT_SLAVES);
        assert_eq!(slaves_to_launch(&postgresql, None, Some(5)), 5);
        assert_eq!(slaves_to_launch(&postgresql, Some(1), Some(5)), 1);
        assert_eq!(slaves_to_launch(&hello, None, None), 0);
        assert_eq!(slaves_to_launch(&hello, None, Some(3)), 0);
        // Asked for, they are refused by `check_request`, not dropped here.
        assert_eq!(slaves_to_launch(&hello, Some(2), None), 2);
        let nodes = wanted_nodes(&postgresql, "c", slaves_to_launch(&postgresql, None, None));
        let kinds: Vec<_> = nodes.iter().map(|n| (n.name.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("c-primary", RoleKind::Master),
                ("c-standby-1", RoleKind::Slave),
                ("c-standby-2", RoleKind::Slave)
            ]
        );
    }
}
