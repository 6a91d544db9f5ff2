//! Which node `baker login` and `baker logs` act on: the one their NODE argument names — a node's
//! name, the end of it (`primary`, `standby-1`), a role (`standby`) or a kind (`master`, `slave`) —
//! or the master when none is given. A role or kind that several nodes share picks the first of
//! them, as `login NAME slave` always has, and both commands say on stderr which node that is and
//! which others there are, so that no choice is made silently.

use super::error::LaunchError;
use super::state::{ClusterState, NodeState};

/// The node a NODE argument picked, and the other nodes it could have meant.
#[derive(Debug)]
pub struct PickedNode<'a> {
    pub node: &'a NodeState,
    /// What the argument named when it named several nodes (`slave`), and the others.
    pub shared: Option<(String, Vec<&'a str>)>,
}

impl PickedNode<'_> {
    /// For stderr: which node `doing` is done on, when the argument named several, and how to
    /// name another; none when it named one node.
    pub fn choice_note(&self, doing: &str) -> Option<String> {
        let (named, others) = self.shared.as_ref()?;
        Some(format!(
            "{doing} {}, the first of {} {named} nodes (the others: {}; name one to choose it)",
            self.node.name,
            others.len() + 1,
            others.join(", ")
        ))
    }
}

/// The node `argument` names in `state` (see the module's doc); none names the first node.
pub fn pick_node<'a>(
    state: &'a ClusterState,
    argument: Option<&str>,
) -> Result<PickedNode<'a>, LaunchError> {
    let Some(wanted) = argument else {
        let node = state.nodes.first().ok_or_else(|| no_node(state, ""))?;
        return Ok(PickedNode { node, shared: None });
    };
    let suffix = format!("-{wanted}");
    let by_name: Vec<&NodeState> = match state.nodes.iter().find(|n| n.name == wanted) {
        Some(node) => vec![node],
        None => state
            .nodes
            .iter()
            .filter(|n| n.name.ends_with(&suffix))
            .collect(),
    };
    let candidates = [
        by_name,
        state.nodes.iter().filter(|n| n.role == wanted).collect(),
        state
            .nodes
            .iter()
            .filter(|n| n.kind.name() == wanted)
            .collect(),
    ];
    let Some(matching) = candidates.into_iter().find(|c| !c.is_empty()) else {
        return Err(no_node(state, wanted));
    };
    let shared = (matching.len() > 1).then(|| {
        let others = matching[1..].iter().map(|n| n.name.as_str()).collect();
        (wanted.to_owned(), others)
    });
    Ok(PickedNode {
        node: matching[0],
        shared,
    })
}

fn no_node(state: &ClusterState, wanted: &str) -> LaunchError {
    let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
    LaunchError::Input(format!(
        "cluster {} has no node {wanted:?}; name one of its nodes ({}), the end of a name, a role, or master or slave",
        state.name,
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::provider::WantedNode;
    use crate::launch::state::Phase;
    use crate::recipe::RoleKind;

    fn cluster() -> ClusterState {
        let node = |name: &str, role: &str, kind| {
            WantedNode {
                name: format!("pg2-{name}"),
                role: role.into(),
                kind,
            }
            .unplaced()
        };
        ClusterState {
            nodes: vec![
                node("primary", "primary", RoleKind::Master),
                node("standby-1", "standby", RoleKind::Slave),
                node("standby-2", "standby", RoleKind::Slave),
                node("standby-3", "standby", RoleKind::Slave),
            ],
            ..ClusterState::postgresql_example("pg2", "docker", Phase::Ready)
        }
    }

    #[test]
    fn a_name_or_its_end_picks_one_node_silently() {
        let state = cluster();
        for argument in [None, Some("pg2-primary"), Some("primary"), Some("master")] {
            let picked = pick_node(&state, argument).unwrap();
            assert_eq!(picked.node.name, "pg2-primary", "{argument:?}");
            assert!(picked.choice_note("showing the log of").is_none());
        }
        let picked = pick_node(&state, Some("standby-2")).unwrap();
        assert_eq!(picked.node.name, "pg2-standby-2");
        assert!(picked.shared.is_none());
    }

    #[test]
    fn a_kind_or_role_of_several_nodes_picks_the_first_and_names_the_others() {
        let state = cluster();
        for argument in ["slave", "standby"] {
            let picked = pick_node(&state, Some(argument)).unwrap();
            assert_eq!(picked.node.name, "pg2-standby-1");
            assert_eq!(
                picked.choice_note("showing the log of").unwrap(),
                format!(
                    "showing the log of pg2-standby-1, the first of 3 {argument} nodes (the others: \
                     pg2-standby-2, pg2-standby-3; name one to choose it)"
                )
            );
        }
    }

    #[test]
    fn an_unknown_node_is_refused_with_the_names_there_are() {
        let err = pick_node(&cluster(), Some("hostname"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"has no node "hostname""#), "{err}");
        assert!(err.contains("pg2-primary, pg2-standby-1"), "{err}");
    }
}
