use super::*;
use crate::launch::state::{ClusterState, Phase};

/// A cluster being launched: its name reserved and its state made, the lock held.
fn cluster(states: &StateDir, name: &str) -> LaunchLock {
    let state = ClusterState::postgresql_example(name, "docker", Phase::Creating);
    let reserved = states.reserve_launch(name).unwrap();
    states.create(&state, "secret", &reserved).unwrap();
    reserved
}

/// Whether cluster `name` is seen `Stopped` within 10 s. A dropped lock can outlive its drop for
/// an instant: a child another test forks at that moment holds a copy of the descriptor until its
/// `exec` closes it.
fn stops(states: &StateDir, name: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if states.launch_activity(name) == LaunchActivity::Stopped {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_launch_holds_its_cluster_until_it_ends_and_status_tells_what_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    let launch = cluster(&states, "pg");
    assert!(matches!(
        states.launch_activity("pg"),
        LaunchActivity::Running {
            work: Some(LaunchWork::Launch),
            ..
        }
    ));
    let busy = states.lock_launch("pg", LaunchWork::Resume).unwrap_err();
    assert!(matches!(&busy, StateError::Busy { name, .. } if name == "pg"));
    assert!(
        busy.to_string()
            .starts_with("cluster `pg` is busy: its launch runs now; wait for it to finish"),
        "{busy}"
    );
    drop(launch);
    assert!(stops(&states, "pg"));
    let destroy = states.lock_launch("pg", LaunchWork::Destroy).unwrap();
    assert!(matches!(
        states.launch_activity("pg"),
        LaunchActivity::Running {
            work: Some(LaunchWork::Destroy),
            ..
        }
    ));
    // A launch of the name waits for the destroy of the cluster that had it.
    std::fs::remove_dir_all(states.cluster_dir("pg")).unwrap();
    let refused = states.reserve_launch("pg").unwrap_err();
    assert!(
        matches!(
            &refused,
            StateError::Busy {
                work: Some(LaunchWork::Destroy),
                ..
            }
        ),
        "{refused:?}"
    );
    drop(destroy);
    assert!(stops(&states, "pg"));
    // Another cluster's lock is its own.
    let _other = cluster(&states, "pg2");
    assert_eq!(states.launch_activity("pg"), LaunchActivity::Stopped);
}

#[test]
fn a_status_that_holds_the_lock_for_an_instant_does_not_make_a_resume_fail() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    drop(cluster(&states, "pg"));
    assert!(stops(&states, "pg"));
    // What `launch_activity` does, held a little longer.
    let status = File::open(states.launch_lock_path("pg")).unwrap();
    flock(&status, FlockOperation::NonBlockingLockShared).unwrap();
    let released = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(status);
    });
    drop(states.lock_launch("pg", LaunchWork::Resume).unwrap());
    released.join().unwrap();
}

#[test]
fn the_lock_lies_outside_the_cluster_and_a_cluster_without_one_is_not_being_launched() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    assert_eq!(states.launch_activity("none"), LaunchActivity::Stopped);
    drop(cluster(&states, "pg"));
    assert_eq!(
        states.launch_lock_path("pg"),
        dir.path().join(".locks/pg.lock")
    );
    assert_eq!(
        states.list().unwrap().len(),
        1,
        "the locks are not a cluster"
    );
    // A cluster launched by a baker before the lock: no file until a resume makes one.
    std::fs::remove_file(states.launch_lock_path("pg")).unwrap();
    assert_eq!(states.launch_activity("pg"), LaunchActivity::Stopped);
    drop(states.lock_launch("pg", LaunchWork::Resume).unwrap());
}

#[test]
fn what_holds_a_cluster_is_said_with_its_holders() {
    let holders = vec!["pid 4242 (baker launch pg --resume)".to_owned()];
    assert_eq!(
        at_work(&Some(LaunchWork::Resume), &holders),
        "a `launch --resume` of it runs now (pid 4242 (baker launch pg --resume))"
    );
    assert_eq!(
        at_work(&Some(LaunchWork::Destroy), &[]),
        "it is being destroyed now"
    );
    assert_eq!(at_work(&None, &[]), "another baker works on it now");
}

#[test]
fn a_launch_reserves_its_name_before_it_builds_so_a_taken_name_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::new(dir.path().to_owned());
    assert!(matches!(
        states.reserve_launch("1pg"),
        Err(StateError::BadName { .. })
    ));
    // Reserved, not made yet: `clusters` shows the name, and a second launch of it is refused,
    // naming the first.
    let building = states.reserve_launch("pg").unwrap();
    assert_eq!(states.preparing(), ["pg"]);
    assert!(states.list().unwrap().is_empty());
    let second = states.reserve_launch("pg").unwrap_err();
    assert!(
        second
            .to_string()
            .starts_with("cluster `pg` is busy: its launch runs now"),
        "{second}"
    );
    drop(building);
    assert!(stops(&states, "pg"));
    assert!(states.preparing().is_empty(), "a launch that ended");
    // A name with a cluster is refused before anything is built.
    drop(cluster(&states, "pg"));
    assert!(stops(&states, "pg"));
    let taken = states.reserve_launch("pg").unwrap_err();
    assert!(matches!(taken, StateError::Exists { .. }), "{taken:?}");
    assert!(
        states.preparing().is_empty(),
        "a made cluster is not preparing"
    );
    // ... and so is one whose launch runs now.
    let _launching = cluster(&states, "pg2");
    assert!(states.preparing().is_empty());
    assert!(matches!(
        states.reserve_launch("pg2"),
        Err(StateError::Busy { .. })
    ));
}
