//! `status`'s words: the header's note on a cluster that is not ready, and each node's condition,
//! for every phase and whether a launch of it runs now.

use super::*;

fn cluster(provider: &str, phase: Phase) -> ClusterState {
    ClusterState {
        recipe: "postgresql".into(),
        version: "15.18".into(),
        distro: "debian-12".into(),
        phase,
        ..ClusterState::empty("pg2", provider)
    }
}

#[test]
fn host_ports_read_host_to_node_and_unpublished_ones_are_left_out() {
    let ports = BTreeMap::from([(22, 40002), (5432, 40001), (8080, 0)]);
    assert_eq!(host_ports(&ports), "; ports 40002->22, 40001->5432");
    assert_eq!(host_ports(&Default::default()), "");
}

const STOPPED: LaunchActivity = LaunchActivity::Stopped;

fn running(work: LaunchWork) -> LaunchActivity {
    LaunchActivity::Running {
        work: Some(work),
        holders: vec!["pid 4242 (baker launch pg2 --slaves 1)".into()],
    }
}

#[test]
fn a_node_of_an_interrupted_launch_that_runs_is_said_to_run_unchecked() {
    let text = |condition, phase, activity: &LaunchActivity| {
        condition_text(condition, &cluster("docker", phase), activity)
    };
    assert_eq!(
        text(NodeCondition::Unchecked, Phase::Creating, &STOPPED),
        "running, never checked ready (its launch stopped): `baker launch pg2 --resume` checks it"
    );
    let launching = running(LaunchWork::Launch);
    assert_eq!(
        text(NodeCondition::Unchecked, Phase::Booting, &launching),
        "running, not checked ready yet (its launch is checking it)"
    );
    assert_eq!(
        text(
            NodeCondition::Unchecked,
            Phase::Booting,
            &running(LaunchWork::Destroy)
        ),
        "running, never checked ready"
    );
    assert_eq!(
        text(NodeCondition::Unchecked, Phase::Failed, &STOPPED),
        "running, not ready: its launch failed"
    );
    assert_eq!(
        text(NodeCondition::NotStarted, Phase::Booting, &STOPPED),
        "not started: its launch stopped before starting it"
    );
    assert_eq!(
        text(NodeCondition::NotStarted, Phase::Creating, &launching),
        "not started yet"
    );
    assert_eq!(
        text(NodeCondition::Stopped, Phase::Creating, &launching),
        "made, not started yet (its launch is starting it)"
    );
    assert_eq!(
        text(NodeCondition::Stopped, Phase::Creating, &STOPPED),
        "stopped"
    );
}

#[test]
fn the_header_says_what_works_on_the_cluster_or_how_to_finish_it() {
    let state = cluster("docker", Phase::Booting);
    assert_eq!(
        health_note(&state, Health::Unfinished, &STOPPED),
        ": its launch stopped before it finished (`baker launch pg2 --resume` finishes it)"
    );
    assert_eq!(
        health_note(&state, Health::Unfinished, &running(LaunchWork::Launch)),
        ": its launch runs now (pid 4242 (baker launch pg2 --slaves 1))"
    );
    assert_eq!(
        health_note(&state, Health::Unfinished, &running(LaunchWork::Destroy)),
        ": its launch has not finished; it is being destroyed now (pid 4242 (baker launch pg2 --slaves 1))"
    );
    let unnamed = LaunchActivity::Running {
        work: None,
        holders: vec![],
    };
    assert_eq!(
        health_note(&state, Health::Unfinished, &unnamed),
        ": its launch has not finished; another baker works on it now"
    );
    let ready = cluster("docker", Phase::Ready);
    assert_eq!(
        health_note(&ready, Health::NodesDown(1), &STOPPED),
        ", but 1 of 0 nodes not running now (`baker launch pg2 --resume` starts it again)"
    );
    assert!(
        health_note(&ready, Health::NodesDown(2), &running(LaunchWork::Resume))
            .ends_with("not running now; a `launch --resume` of it runs now (pid 4242 (baker launch pg2 --slaves 1))")
    );
    assert!(
        health_note(&ready, Health::NodesUnchecked(2), &STOPPED)
            .ends_with("(`baker launch pg2 --resume` checks them)")
    );
    assert_eq!(health_note(&ready, Health::Ready, &STOPPED), "");
}

#[test]
fn a_stopped_node_is_said_to_be_stopped_on_every_provider() {
    for provider in ["docker", "qemu"] {
        let text = condition_text(
            NodeCondition::Stopped,
            &cluster(provider, Phase::Ready),
            &STOPPED,
        );
        assert_eq!(text, "stopped");
    }
    let ssh = condition_text(
        NodeCondition::Stopped,
        &cluster("ssh", Phase::Ready),
        &STOPPED,
    );
    assert!(
        ssh.starts_with("not running (its role agent stopped"),
        "{ssh}"
    );
}

#[test]
fn status_exits_0_only_for_a_ready_cluster_and_3_otherwise() {
    let code = |h| format!("{:?}", status_code(h));
    assert_eq!(code(Health::Ready), format!("{:?}", ExitCode::SUCCESS));
    for health in [
        Health::NodesDown(1),
        Health::NodesUnchecked(1),
        Health::Unfinished,
        Health::Failed,
    ] {
        assert_eq!(code(health), format!("{:?}", ExitCode::from(NOT_READY)));
    }
    assert_eq!(NOT_READY, 3);
    assert!(STATUS_EXIT.contains("3 when not"));
}

#[test]
fn ready_since_reads_as_a_utc_time_and_how_long_ago() {
    let then = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3 * 3600;
    let text = ready_since(then);
    assert!(text.starts_with("ready since 20"), "{text}");
    assert!(text.contains("Z (3h"), "{text}");
    assert!(text.ends_with(" ago)"), "{text}");
    assert!(ready_since(0).starts_with("ready since 1970-01-01T00:00:00Z ("));
}
