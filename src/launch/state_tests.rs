//! The state directory's tests: one launch of a name at once, a cluster created once, listed,
//! loaded and removed, its secret private, and the names a cluster may take.

use super::*;

fn state(name: &str) -> ClusterState {
    ClusterState::postgresql_example(name, "docker", Phase::Creating)
}

/// What a launch does: reserves the name, then makes the state.
fn create(states: &StateDir, state: &ClusterState, secret: &str) -> Result<(), StateError> {
    let reserved = states.reserve_launch(&state.name)?;
    states.create(state, secret, &reserved)
}

#[test]
fn of_two_launches_of_one_name_at_once_exactly_one_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    for round in 0..20 {
        let name = format!("race{round}");
        let barrier = std::sync::Barrier::new(2);
        let created: usize = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        create(&states, &state(&name), "s").is_ok()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap() as usize).sum()
        });
        assert_eq!(created, 1, "round {round}");
        assert!(states.load(&name).is_ok());
    }
}

#[test]
fn a_cluster_is_created_once_listed_loaded_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    create(&states, &state("pg"), "s3cret").unwrap();
    let err = create(&states, &state("pg"), "other")
        .unwrap_err()
        .to_string();
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(states.load("pg").unwrap(), state("pg"));
    assert_eq!(states.list().unwrap().len(), 1);
    assert_eq!(states.secret("pg").unwrap(), "s3cret");
    states.remove("pg").unwrap();
    states.remove("pg").unwrap();
    assert!(
        states
            .load("pg")
            .unwrap_err()
            .to_string()
            .contains("no cluster named `pg`")
    );
}

#[test]
fn the_secret_is_private_and_never_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    create(&states, &state("pg"), "s3cret").unwrap();
    let mode = std::fs::metadata(states.secret_path("pg"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(states.state_path("pg")).unwrap();
    assert!(!text.contains("s3cret"));
}

#[test]
fn names_are_what_containers_networks_and_hosts_accept() {
    for good in ["pg", "mesos-1", "a"] {
        check_name(good).unwrap();
    }
    for bad in ["", "1pg", "pg_1", "pg.x", "../x", &"a".repeat(41)] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    // Every command that reads a state refuses such a name as `launch` does, rather than looking
    // for it (`status ../x` is no cluster's).
    let dir = tempfile::tempdir().unwrap();
    let err = StateDir::new(dir.path().to_owned())
        .load("../x")
        .unwrap_err();
    assert!(matches!(err, StateError::BadName { .. }), "{err}");
}

#[test]
fn a_state_file_that_cannot_be_read_is_listed_with_its_error_beside_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    create(&states, &state("good"), "s").unwrap();
    std::fs::create_dir_all(dir.path().join("broken")).unwrap();
    std::fs::write(dir.path().join("broken/state.json"), "{}").unwrap();
    let listed = states.list_each().unwrap();
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["broken", "good"]);
    assert!(matches!(listed[0].1, Err(StateError::Parse { .. })));
    assert_eq!(listed[1].1.as_ref().unwrap().name, "good");
    // The strict list (which decides what node images to keep) fails instead.
    assert!(states.list().is_err());
}
