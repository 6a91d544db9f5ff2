//! What a docker cluster's state records of its engine and published address, and what later
//! commands make of it.

use super::*;
use crate::launch::state::Phase;

fn engine(id: &str, host: &str) -> EngineIdentity {
    EngineIdentity {
        id: id.to_owned(),
        name: "box".to_owned(),
        host: host.to_owned(),
        clock_ahead: 0,
    }
}

fn launched_on(on: &EngineIdentity, host_ip: &str) -> ClusterState {
    let mut state = ClusterState::postgresql_example("pg", "docker", Phase::Ready);
    record_launch(&mut state.resources, on, host_ip, "aaaa");
    state
}

#[test]
fn a_launch_records_its_engine_its_published_address_and_its_state_directory() {
    let state = launched_on(&engine("ID-1", "tcp://box:2375"), EVERY_ADDRESS);
    let recorded: Vec<(&str, &str)> = (state.resources.iter())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        recorded,
        [
            (ENGINE_HOST, "tcp://box:2375"),
            (ENGINE_ID, "ID-1"),
            (HOST_IP, EVERY_ADDRESS),
            (STATE_ID, "aaaa")
        ]
    );
    // An engine that gives no id has none recorded, and is then never refused.
    let podman = launched_on(&engine("", "unix:///run/podman.sock"), LOOPBACK);
    assert!(!podman.resources.contains_key(ENGINE_ID));
    assert!(check_engine(&podman, &engine("OTHER", "unix:///x")).is_ok());
}

#[test]
fn a_command_on_another_engine_is_refused_saying_where_the_cluster_is() {
    let state = launched_on(&engine("ID-1", "tcp://box:2375"), LOOPBACK);
    assert!(check_engine(&state, &engine("ID-1", "ssh://me@box")).is_ok());
    let err = check_engine(&state, &engine("ID-2", "unix:///var/run/docker.sock"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "cluster pg is on another Docker engine: it was launched on the engine at \
             tcp://box:2375 (id ID-1), and the engine at unix:///var/run/docker.sock is box, id \
             ID-2; set DOCKER_HOST=tcp://box:2375 to reach it"
        ),
        "{err}"
    );
    // A state from before baker recorded its engine is taken on any.
    let older = ClusterState::postgresql_example("pg", "docker", Phase::Ready);
    assert!(check_engine(&older, &engine("ID-2", "unix:///x")).is_ok());
}

#[test]
fn a_resume_publishes_where_its_launch_did() {
    let all = launched_on(&engine("ID-1", "unix:///x"), EVERY_ADDRESS);
    assert_eq!(resumed_host_ip(&all, false).unwrap(), EVERY_ADDRESS);
    assert_eq!(resumed_host_ip(&all, true).unwrap(), EVERY_ADDRESS);
    let local = launched_on(&engine("ID-1", "unix:///x"), LOOPBACK);
    assert_eq!(resumed_host_ip(&local, false).unwrap(), LOOPBACK);
    let err = resumed_host_ip(&local, true).unwrap_err().to_string();
    assert!(
        err.starts_with("--publish-all cannot change cluster pg on --resume"),
        "{err}"
    );
    // Not recorded (an older launch): as --publish-all says, as before.
    let older = ClusterState::postgresql_example("pg", "docker", Phase::Ready);
    assert_eq!(resumed_host_ip(&older, true).unwrap(), EVERY_ADDRESS);
    assert_eq!(resumed_host_ip(&older, false).unwrap(), LOOPBACK);
}
