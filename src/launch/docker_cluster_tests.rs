//! What a docker cluster's state records of its engine and published address, and what later
//! commands make of it.

use super::*;
use crate::launch::state::Phase;
use std::path::PathBuf;

fn engine(id: &str, host: &str) -> EngineIdentity {
    EngineIdentity {
        id: id.to_owned(),
        name: "box".to_owned(),
        host: host.to_owned(),
        clock_ahead: 0,
    }
}

fn dir() -> &'static Path {
    Path::new("/home/me/.local/state/baker/pg")
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
    assert!(check_engine(&podman, &engine("OTHER", "unix:///x"), dir()).is_ok());
}

#[test]
fn a_command_on_another_engine_is_refused_saying_where_the_cluster_is() {
    let state = launched_on(&engine("ID-1", "tcp://box:2375"), LOOPBACK);
    assert!(check_engine(&state, &engine("ID-1", "ssh://me@box"), dir()).is_ok());
    let err = check_engine(
        &state,
        &engine("ID-2", "unix:///var/run/docker.sock"),
        dir(),
    )
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
    // Where its state is, and what removes it, the engine gone or not.
    assert!(
        err.ends_with(&format!("to reach it; {}", state_advice("pg", dir()))),
        "{err}"
    );
    // A state from before baker recorded its engine is taken on any.
    let older = ClusterState::postgresql_example("pg", "docker", Phase::Ready);
    assert!(check_engine(&older, &engine("ID-2", "unix:///x"), dir()).is_ok());
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

#[test]
fn a_cluster_whose_engine_does_not_answer_is_told_where_its_state_is_and_what_removes_it() {
    let state = launched_on(&engine("ID-1", "tcp://box:2375"), LOOPBACK);
    let gone = EngineError::unreachable_for_tests("unix:///var/run/docker.sock");
    let told = unreachable(&state, dir(), gone).to_string();
    assert!(
        told.starts_with("cannot reach a Docker engine at unix:///var/run/docker.sock"),
        "{told}"
    );
    assert!(
        told.ends_with(
            "\ncluster pg was launched on the Docker engine at tcp://box:2375; its state is \
             /home/me/.local/state/baker/pg/state.json: `baker destroy pg` removes the cluster \
             and that state once it reaches that engine; if the engine is gone for good, its \
             containers went with it: remove the state by hand (`rm -r \
             /home/me/.local/state/baker/pg`)"
        ),
        "{told}"
    );
    // An engine that does not answer in time, for a state that does not record where it was.
    let older = ClusterState::postgresql_example("pg", "docker", Phase::Ready);
    let silent = EngineError::Silent {
        host: "tcp://box:2375".into(),
        seconds: 10,
    };
    let told = unreachable(&older, dir(), silent).to_string();
    assert!(
        told.contains("\ncluster pg was launched on a Docker engine; its state is"),
        "{told}"
    );
    // A path the shell would split is quoted.
    let spaced = state_advice("pg", &PathBuf::from("/home/me/my states/pg"));
    assert!(
        spaced.ends_with("(`rm -r '/home/me/my states/pg'`)"),
        "{spaced}"
    );
}
