//! What `baker launch` prints once a cluster is ready: its nodes with the host ports forwarded to
//! them (on 127.0.0.1, or on every address of this host for a docker cluster launched with
//! `--publish-all`, as its state records; on the engine's machine for a remote engine), the Mesos
//! web UI's address for a Mesos cluster, and how long each part of the launch took.

use std::collections::BTreeMap;

use baker::launch::docker_cluster::{ENGINE_HOST, EVERY_ADDRESS, HOST_IP, LOOPBACK};
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
    let published = published_on(state);
    for node in &state.nodes {
        emit_line(&node_line(node, &published.address))?;
    }
    let any_port = state.nodes.iter().any(|n| !n.published.is_empty());
    if let Some(note) = published.note.as_deref().filter(|_| any_port) {
        emit_line(note)?;
    }
    if let Some((role, _)) = plan.master_role() {
        if role == "master" && plan.recipe.name == "mesos" {
            if let Some(m) = state.nodes.first().and_then(|n| n.published.get(&5050)) {
                // Loopback reaches a port published on every address too.
                let (at, elsewhere) = if published.address == EVERY_ADDRESS {
                    (LOOPBACK, " (or at any other address of this host)")
                } else {
                    (published.address.as_str(), "")
                };
                emit_line(&format!("  Mesos web UI: http://{at}:{m}/{elsewhere}"))?;
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

/// Where a cluster's published ports are, as the summary says them.
#[derive(Debug, PartialEq, Eq)]
struct PublishedOn {
    /// The address in each node's `PORT at ADDRESS:HOST_PORT`.
    address: String,
    /// The line under the nodes saying where that is, unless it is this host's loopback.
    note: Option<String>,
}

/// Where cluster `state`'s ports are published: on the address a docker launch records (`0.0.0.0`
/// with `--publish-all`) of the engine's machine, which is another than this one for a
/// `DOCKER_HOST=tcp://…` or `ssh://…` engine; else on 127.0.0.1 (`qemu` forwards its ports there;
/// `ssh` forwards none).
fn published_on(state: &ClusterState) -> PublishedOn {
    let docker = |key| {
        (state.provider == "docker")
            .then(|| state.resources.get(key))
            .flatten()
    };
    let every = docker(HOST_IP).is_some_and(|ip| ip == EVERY_ADDRESS);
    let (address, note) = match (docker(ENGINE_HOST).and_then(|h| engine_machine(h)), every) {
        (None, false) => (LOOPBACK.to_owned(), None),
        (None, true) => (
            EVERY_ADDRESS.to_owned(),
            Some(EVERY_ADDRESS_NOTE.to_owned()),
        ),
        (Some(machine), true) => {
            let note = format!(
                "  ports published on every address of the Docker engine's machine {machine} \
                 (--publish-all)"
            );
            (machine, Some(note))
        }
        (Some(machine), false) => (
            LOOPBACK.to_owned(),
            Some(format!(
                "  ports published on the loopback of the Docker engine's machine {machine}, not \
                 of this one: reach them from there (`ssh -L`), or launch with --publish-all"
            )),
        ),
    };
    PublishedOn { address, note }
}

/// The machine of a remote engine's address (`tcp://HOST:PORT`, `ssh://USER@HOST:PORT`, IPv6 in
/// brackets, and given back in brackets); `None` for a local engine (`unix://…`, or TCP on this
/// host's loopback).
fn engine_machine(engine_host: &str) -> Option<String> {
    let rest = ["tcp://", "ssh://", "http://", "https://"]
        .iter()
        .find_map(|scheme| engine_host.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let machine = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = machine == "localhost"
        || machine
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if machine.is_empty() || loopback {
        return None;
    }
    // Said before a port (`ADDRESS:PORT`, `http://ADDRESS:PORT/`): an IPv6 address in brackets.
    Some(if machine.contains(':') {
        format!("[{machine}]")
    } else {
        machine.to_owned()
    })
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
        launched_on(provider, host_ip, "unix:///var/run/docker.sock")
    }

    fn launched_on(provider: &str, host_ip: Option<&str>, engine_host: &str) -> ClusterState {
        let mut state = ClusterState::empty("pg", provider);
        if let Some(ip) = host_ip {
            let engine = baker::engine::EngineIdentity {
                id: "ID-1".into(),
                name: "box".into(),
                host: engine_host.into(),
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
        let all = published_on(&launched("docker", Some(EVERY_ADDRESS)));
        assert_eq!(all.address, "0.0.0.0");
        assert_eq!(
            node_line(&node, &all.address),
            "  pg-primary                   master  10.200.1.10     22 at 0.0.0.0:40002, 5432 at \
             0.0.0.0:40001"
        );
        assert!(all.note.unwrap().contains("every address of this host"));
        // Without --publish-all, before baker recorded it, and for the other providers: loopback.
        for state in [
            launched("docker", Some(LOOPBACK)),
            launched("docker", None),
            launched("qemu", None),
        ] {
            let on = published_on(&state);
            assert_eq!(
                (on.address.as_str(), on.note),
                ("127.0.0.1", None),
                "{state:?}"
            );
        }
        assert!(
            node_line(&node, LOOPBACK).ends_with("22 at 127.0.0.1:40002, 5432 at 127.0.0.1:40001")
        );
    }

    /// A remote engine publishes on its own machine: named with --publish-all, and said to be
    /// that machine's loopback without.
    #[test]
    fn a_remote_engines_ports_are_said_on_its_machine() {
        for (engine, machine) in [
            ("tcp://build1.example:2376", "build1.example"),
            ("ssh://me@10.0.0.7", "10.0.0.7"),
            ("ssh://me@[fd00::7]:2222", "[fd00::7]"),
        ] {
            let all = published_on(&launched_on("docker", Some(EVERY_ADDRESS), engine));
            assert_eq!(all.address, machine, "{engine}");
            assert!(
                all.note
                    .unwrap()
                    .contains(&format!("machine {machine} (--publish-all)"))
            );
            let own = published_on(&launched_on("docker", Some(LOOPBACK), engine));
            assert_eq!(own.address, "127.0.0.1");
            let note = own.note.unwrap();
            assert!(
                note.contains(&format!(
                    "loopback of the Docker engine's machine {machine}, not of this one"
                )),
                "{note}"
            );
        }
        for local in [
            "unix:///run/user/1000/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
        ] {
            assert_eq!(engine_machine(local), None, "{local}");
        }
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
