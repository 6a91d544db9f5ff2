//! What `baker launch` prints once a cluster is ready: its nodes with the host ports forwarded to
//! them (on 127.0.0.1, or on every address of this host for a docker cluster launched with
//! `--publish-all`, as its state records), the Mesos web UI's address for a Mesos cluster, and how
//! long each part of the launch took.

use std::collections::BTreeMap;

use baker::launch::docker_cluster::{EVERY_ADDRESS, HOST_IP, LOOPBACK};
use baker::launch::state::{ClusterState, NodeState, timing};
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
    let on = published_on(state);
    for node in &state.nodes {
        emit_line(&node_line(node, on))?;
    }
    let every = on == EVERY_ADDRESS && state.nodes.iter().any(|n| !n.published.is_empty());
    if every {
        emit_line(EVERY_ADDRESS_NOTE)?;
    }
    if let Some((role, _)) = plan.master_role() {
        if role == "master" && plan.recipe.name == "mesos" {
            if let Some(m) = state.nodes.first().and_then(|n| n.published.get(&5050)) {
                // Loopback reaches a port published on every address too.
                let elsewhere = if every {
                    " (or at any other address of this host)"
                } else {
                    ""
                };
                emit_line(&format!("  Mesos web UI: http://127.0.0.1:{m}/{elsewhere}"))?;
            } else if let Some(master) = state.nodes.first().filter(|_| state.provider == "ssh") {
                // Machines are reached at their own addresses.
                emit_line(&format!("  Mesos web UI: http://{}:5050/", master.address))?;
            }
        }
    }
    emit_line(&format!("  took: {}", took(&state.timings)))?;
    Ok(())
}

/// What the summary says under the nodes of a cluster whose ports are published on every address.
const EVERY_ADDRESS_NOTE: &str =
    "  ports published on 0.0.0.0: every address of this host, not only 127.0.0.1 (--publish-all)";

/// The address cluster `state`'s ports are published on: the one a docker launch records (`0.0.0.0`
/// with `--publish-all`), else 127.0.0.1 (`qemu` forwards its ports there; `ssh` forwards none).
fn published_on(state: &ClusterState) -> &str {
    match state.resources.get(HOST_IP) {
        Some(ip) if state.provider == "docker" => ip,
        _ => LOOPBACK,
    }
}

/// A node's line: its name, kind, address and each of its ports with the host port, on address
/// `on`, forwarded to it.
fn node_line(node: &NodeState, on: &str) -> String {
    let published: Vec<String> = (node.published.iter())
        .map(|(port, host)| format!("{port} at {on}:{host}"))
        .collect();
    format!(
        "  {:<28} {:<7} {:<15} {}",
        node.name,
        node.kind.name(),
        node.address,
        published.join(", ")
    )
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
    use baker::launch::docker_cluster::record_launch;
    use baker::launch::provider::WantedNode;
    use baker::recipe::RoleKind;

    fn launched(provider: &str, host_ip: Option<&str>) -> ClusterState {
        let mut state = ClusterState::empty("pg", provider);
        if let Some(ip) = host_ip {
            let engine = baker::engine::EngineIdentity {
                id: "ID-1".into(),
                name: "box".into(),
                host: "unix:///var/run/docker.sock".into(),
                clock_ahead: 0,
            };
            record_launch(&mut state.resources, &engine, ip, "aaaa");
        }
        state
    }

    #[test]
    fn ports_are_said_on_the_address_the_launch_published_them_on() {
        let mut node = WantedNode {
            name: "pg-primary".into(),
            role: "primary".into(),
            kind: RoleKind::Master,
        }
        .unplaced();
        node.address = "10.200.1.10".into();
        node.published = BTreeMap::from([(22, 40002), (5432, 40001)]);
        let all = launched("docker", Some(EVERY_ADDRESS));
        assert_eq!(published_on(&all), "0.0.0.0");
        assert_eq!(
            node_line(&node, published_on(&all)),
            "  pg-primary                   master  10.200.1.10     22 at 0.0.0.0:40002, 5432 at \
             0.0.0.0:40001"
        );
        assert!(EVERY_ADDRESS_NOTE.contains("every address of this host"));
        // Without --publish-all, before baker recorded it, and for the other providers: loopback.
        for state in [
            launched("docker", Some(LOOPBACK)),
            launched("docker", None),
            launched("qemu", None),
        ] {
            assert_eq!(published_on(&state), "127.0.0.1", "{state:?}");
        }
        assert!(
            node_line(&node, LOOPBACK).ends_with("22 at 127.0.0.1:40002, 5432 at 127.0.0.1:40001")
        );
    }

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
