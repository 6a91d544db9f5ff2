//! What `baker launch` prints once a cluster is ready: its nodes with the host ports forwarded to
//! them, the Mesos web UI's address for a Mesos cluster, and how long each part of the launch took.

use std::collections::BTreeMap;

use baker::launch::state::ClusterState;
use baker::launch::state::timing;
use baker::plan::Plan;

use super::output::emit_line;

/// The ready cluster `state`, launched from `plan`.
pub(super) fn print_cluster(state: &ClusterState, plan: &Plan) -> anyhow::Result<()> {
    emit_line(&format!(
        "cluster {} ready: {} {} for {}, {}",
        state.name,
        state.recipe,
        state.version,
        state.distro,
        state.node_count()
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
            } else if let Some(master) = state.nodes.first().filter(|_| state.provider == "ssh") {
                // Machines are reached at their own addresses.
                emit_line(&format!("  Mesos web UI: http://{}:5050/", master.address))?;
            }
        }
    }
    emit_line(&format!("  took: {}", took(&state.timings)))?;
    Ok(())
}

/// "node image 9.8s, boot 1.1s, ready 2.0s, smoke 0.4s": each part of the launch in the order it
/// ran (any other after them, by name).
fn took(timings: &BTreeMap<String, f64>) -> String {
    let rank = |phase: &str| {
        (timing::ORDER.iter())
            .position(|p| *p == phase)
            .unwrap_or(timing::ORDER.len())
    };
    let mut parts: Vec<(&String, &f64)> = timings.iter().collect();
    parts.sort_by_key(|(phase, _)| rank(phase));
    let shown: Vec<String> = (parts.into_iter())
        .map(|(phase, s)| format!("{phase} {s:.1}s"))
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_launch_are_said_in_the_order_they_ran() {
        let timings = BTreeMap::from([
            ("boot".to_owned(), 1.06),
            ("ready".to_owned(), 2.0),
            ("node image".to_owned(), 9.81),
            ("smoke".to_owned(), 0.44),
        ]);
        assert_eq!(
            took(&timings),
            "node image 9.8s, boot 1.1s, ready 2.0s, smoke 0.4s"
        );
        let cached = BTreeMap::from([("ready".to_owned(), 2.0), ("boot".to_owned(), 1.0)]);
        assert_eq!(took(&cached), "boot 1.0s, ready 2.0s");
    }
}
