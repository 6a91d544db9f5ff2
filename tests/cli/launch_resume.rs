//! `baker launch NAME --resume` finishes the launch its cluster's state recorded, so the options
//! that would change that cluster are refused, each by name and with why, rather than ignored;
//! the ones a resume does use, and the QEMU variables set for every command, still go with it. A
//! docker cluster whose engine does not answer is told, by the commands on it, where its state is.

use baker::launch::provider::WantedNode;
use baker::launch::state::{ClusterState, Phase, STATE_FORMAT, StateDir};
use baker::recipe::RoleKind;

use super::*;

/// What clap's refusal of an option beside `--resume` says under its error.
const TIP: &str = "tip: --resume finishes the launch its cluster's state recorded";

#[test]
fn options_that_would_change_the_cluster_are_refused_by_name_with_resume() {
    let state = tempfile::tempdir().unwrap();
    let refused: &[&[&str]] = &[
        // Given, even at its default value, an option with a default is refused as well.
        &["--provider", "docker"],
        &["--masters", "1"],
        &["--distro", "debian12"],
        &["--recipe", "postgresql"],
        &["--version", "15.18"],
        &["--enable", "check"],
        &["--source-dir", "."],
        &["--from", "out"],
        &["--image", "img"],
        &["--memory", "1024"],
        &["--inventory", "hosts"],
        &["--ssh-user", "admin"],
        &["--ssh-key", "id_ed25519"],
        &["--smoke"],
        &["--jobs", "2"],
        &["--step-timeout", "1h"],
        &["--out", "elsewhere"],
        &["--mirror", "/srv/mirror"],
        &["--no-upstream"],
        &["--no-cache"],
        &["--incremental"],
        // These two have variables, which do not count (below); on the command line they do.
        &["--accel", "tcg"],
        &["--qemu", "host"],
    ];
    for option in refused {
        baker()
            .env("BAKER_STATE_DIR", state.path())
            .args(["launch", "pg", "--resume"])
            .args(*option)
            .assert()
            .failure()
            .stderr(contains_all(&[
                "cannot be used with",
                option[0],
                "--resume",
                TIP,
                "`baker destroy pg` and launch it again",
            ]));
    }
}

#[test]
fn what_a_resume_uses_and_the_qemu_variables_go_with_it() {
    let state = tempfile::tempdir().unwrap();
    baker()
        .env("BAKER_STATE_DIR", state.path())
        .env("BAKER_QEMU_ACCEL", "tcg")
        .env("BAKER_QEMU", "host")
        .args(["launch", "pg", "--resume", "--publish-all", "--keep-failed"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no cluster named `pg`"))
        .stderr(predicate::str::contains("cannot be used with").not());
}

/// A state directory with cluster `pg` of one primary and two standbys, stopped while placing them.
fn cluster_of_two_standbys() -> tempfile::TempDir {
    cluster_of_two_standbys_on("docker")
}

/// [`cluster_of_two_standbys`], launched on `provider`.
pub(super) fn cluster_of_two_standbys_on(provider: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let node = |name: &str, role: &str, kind| {
        WantedNode {
            name: name.into(),
            role: role.into(),
            kind,
        }
        .unplaced()
    };
    let state = ClusterState {
        format: STATE_FORMAT,
        name: "pg".into(),
        provider: provider.into(),
        recipe: "postgresql".into(),
        version: "15.18".into(),
        distro: "debian-12".into(),
        plan_key: "k".into(),
        phase: Phase::Creating,
        created: 1,
        resources: Default::default(),
        nodes: vec![
            node("pg-primary", "primary", RoleKind::Master),
            node("pg-standby-1", "standby", RoleKind::Slave),
            node("pg-standby-2", "standby", RoleKind::Slave),
        ],
        timings: Default::default(),
        smoke: false,
    };
    // The lock a launch would hold goes now: no launch runs.
    let states_dir = StateDir::new(dir.path().to_owned());
    let reserved = states_dir.reserve_launch(&state.name).unwrap();
    states_dir.create(&state, "secret", &reserved).unwrap();
    drop(reserved);
    dir
}

#[test]
fn slaves_with_resume_are_refused_saying_how_many_the_cluster_has() {
    let states = cluster_of_two_standbys();
    let resume = |slaves: &str| {
        baker()
            .env("BAKER_STATE_DIR", states.path())
            .args(["launch", "pg", "--resume", "--slaves", slaves])
            .assert()
            .failure()
    };
    resume("5").stderr(contains_all(&[
        "--slaves cannot change a cluster on --resume: cluster pg was launched with 2 slaves",
        "to run 5, `baker destroy pg` and launch it again with --slaves 5",
    ]));
    resume("2").stderr(contains_all(&[
        "--slaves is not used with --resume: cluster pg was launched with 2 slaves, which it keeps; leave --slaves out",
    ]));
}

#[test]
fn without_its_engine_a_docker_cluster_is_told_where_its_state_is_and_what_removes_it() {
    let states = cluster_of_two_standbys();
    let state_file = states.path().join("pg").join("state.json");
    let commands: &[&[&str]] = &[
        &["status", "pg"],
        &["destroy", "pg"],
        &["logs", "pg", "primary"],
        &["login", "pg", "--", "true"],
    ];
    for command in commands {
        baker()
            .env("BAKER_STATE_DIR", states.path())
            .args(*command)
            .assert()
            .failure()
            .stderr(contains_all(&[
                "cannot reach a Docker engine",
                "cluster pg was launched on a Docker engine; its state is",
                &format!(
                    "{}: `baker destroy pg` removes the cluster",
                    state_file.display()
                ),
                "`rm -r ",
            ]));
    }
    assert!(state_file.is_file(), "the state stays");
}
