//! Whose a container or network is: a cluster of this state directory takes only what carries its
//! name and this directory's identity; an older state only what carries no directory's; and what
//! stands in a new cluster's way is refused by whose it is.

use std::collections::HashMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn found(name: &str, pairs: &[(&str, &str)]) -> Labelled {
    Labelled {
        id: format!("id-{name}"),
        name: name.to_owned(),
        labels: labels(pairs),
    }
}

const MINE: &str = "aaaa";
const THEIRS: &str = "bbbb";

#[test]
fn a_cluster_owns_only_what_carries_its_name_and_its_state_directory() {
    let ours = labels(&[(CLUSTER_LABEL, "pg"), (STATE_LABEL, MINE)]);
    let theirs = labels(&[(CLUSTER_LABEL, "pg"), (STATE_LABEL, THEIRS)]);
    let older = labels(&[(CLUSTER_LABEL, "pg")]);
    let users = labels(&[]);
    let other_cluster = labels(&[(CLUSTER_LABEL, "pg2"), (STATE_LABEL, MINE)]);
    let mine = Owner::Dir(MINE.into());
    assert!(mine.owns("pg", &ours));
    for not in [&theirs, &older, &users, &other_cluster] {
        assert!(!mine.owns("pg", not), "{not:?}");
    }
    // A state written before baker labelled state directories: what carries no directory's.
    assert!(Owner::Legacy.owns("pg", &older));
    assert!(!Owner::Legacy.owns("pg", &ours) && !Owner::Legacy.owns("pg", &theirs));
    // A destroy without a state: this directory's, or an older baker's.
    let unrecorded = Owner::DirOrLegacy(Some(MINE.into()));
    assert!(unrecorded.owns("pg", &ours) && unrecorded.owns("pg", &older));
    assert!(!unrecorded.owns("pg", &theirs) && !unrecorded.owns("pg", &users));
    let never_launched = Owner::DirOrLegacy(None);
    assert!(never_launched.owns("pg", &older) && !never_launched.owns("pg", &theirs));
}

#[test]
fn a_state_says_whose_it_is_and_what_its_containers_are_labelled() {
    let mut state =
        ClusterState::postgresql_example("pg", "docker", crate::launch::state::Phase::Ready);
    assert_eq!(Owner::of(&state), Owner::Legacy);
    assert_eq!(Owner::Legacy.labels("pg"), [(CLUSTER_LABEL, "pg")]);
    state.resources.insert(STATE_ID.into(), MINE.into());
    let owner = Owner::of(&state);
    assert_eq!(owner, Owner::Dir(MINE.into()));
    assert_eq!(
        owner.labels("pg"),
        [(CLUSTER_LABEL, "pg"), (STATE_LABEL, MINE)]
    );
    let mut empty = ClusterState::empty("pg", "docker");
    assert_eq!(Owner::of(&empty), Owner::DirOrLegacy(None));
    empty.resources.insert(STATE_ID.into(), MINE.into());
    assert_eq!(Owner::of(&empty), Owner::DirOrLegacy(Some(MINE.into())));
}

#[test]
fn another_state_directorys_cluster_of_the_name_is_refused_naming_its_containers_and_network() {
    let theirs = [(CLUSTER_LABEL, "pg"), (STATE_LABEL, THEIRS)];
    let obstacles = Obstacles::sorted(
        "pg",
        vec![found("pg-standby-1", &theirs), found("pg-primary", &theirs)],
        vec![found("baker-pg", &theirs)],
    );
    assert_eq!(
        obstacles.refusal("pg", Launching::New),
        "a cluster named pg of another state directory runs on this engine (containers \
         pg-primary, pg-standby-1; network baker-pg): choose another name, or destroy it with \
         that state directory (`BAKER_STATE_DIR=DIR baker destroy pg`), or, when that \
         directory is gone, with `docker rm -f $(docker ps -aq --filter label=baker.cluster=pg \
         --filter label=baker.state=bbbb)` and `docker network rm baker-pg`"
    );
}

#[test]
fn a_users_container_with_a_nodes_name_is_refused_and_named() {
    let obstacles = Obstacles::sorted(
        "pg",
        vec![
            found("pg-primary", &[]),
            found("pg-standby-1", &[(CLUSTER_LABEL, "other")]),
        ],
        Vec::new(),
    );
    assert_eq!(
        obstacles.refusal("pg", Launching::New),
        "container pg-primary (not baker's), container pg-standby-1 (of cluster other) take a \
         name cluster pg needs for its nodes or its network: remove or rename them (`docker rm`, \
         `docker rename`, `docker network rm`), or choose another cluster name"
    );
    let one = Obstacles::sorted("pg", Vec::new(), vec![found("baker-pg", &[])]);
    assert!(
        one.refusal("pg", Launching::New)
            .starts_with("network baker-pg (not baker's) takes a name"),
        "{}",
        one.refusal("pg", Launching::New)
    );
}

#[test]
fn an_older_bakers_cluster_of_the_name_is_refused_saying_how_it_may_go() {
    // Listed twice (by label and by a node's name): named once.
    let older = found("pg-primary", &[(CLUSTER_LABEL, "pg")]);
    let obstacles = Obstacles::sorted("pg", vec![older.clone(), older], Vec::new());
    let refusal = obstacles.refusal("pg", Launching::New);
    assert!(
        refusal.starts_with(
            "a cluster named pg that this state directory does not record runs on this engine \
             (container pg-primary), launched by an older baker"
        ),
        "{refusal}"
    );
    assert!(
        refusal.contains("`baker destroy pg` here removes it"),
        "{refusal}"
    );
    assert!(Obstacles::sorted("pg", Vec::new(), Vec::new()).is_empty());
}

#[test]
fn a_resumed_cluster_is_told_to_resume_again_once_the_obstacle_is_gone() {
    let users = Obstacles::sorted("pg", vec![found("pg-primary", &[])], Vec::new());
    assert_eq!(
        users.refusal("pg", Launching::Made),
        "container pg-primary (not baker's) takes a name cluster pg needs for its nodes or its \
         network: remove or rename it (`docker rm`, `docker rename`, `docker network rm`), then \
         `baker launch pg --resume` again"
    );
    let theirs = [(CLUSTER_LABEL, "pg"), (STATE_LABEL, THEIRS)];
    let other = Obstacles::sorted("pg", Vec::new(), vec![found("baker-pg", &theirs)]);
    assert_eq!(
        other.refusal("pg", Launching::Made),
        "a cluster named pg of another state directory runs on this engine (network baker-pg): \
         destroy it with that state directory (`BAKER_STATE_DIR=DIR baker destroy pg`), or, when \
         that directory is gone, with `docker rm -f $(docker ps -aq --filter \
         label=baker.cluster=pg --filter label=baker.state=bbbb)` and `docker network rm \
         baker-pg`, then `baker launch pg --resume` again"
    );
}

#[test]
fn a_destroy_without_a_state_names_another_directorys_cluster_and_how_to_remove_it() {
    let theirs = [(CLUSTER_LABEL, "pg"), (STATE_LABEL, THEIRS)];
    let obstacles = Obstacles::sorted(
        "pg",
        vec![found("pg-primary", &theirs), found("pg-standby-1", &theirs)],
        vec![found("baker-pg", &theirs)],
    );
    let why = obstacles.not_this_directorys("pg").unwrap();
    for part in [
        "the cluster named pg on this engine (containers pg-primary, pg-standby-1; network \
         baker-pg) is another state directory's",
        "`BAKER_STATE_DIR=DIR baker destroy pg`",
        "`docker rm -f $(docker ps -aq --filter label=baker.cluster=pg --filter \
         label=baker.state=bbbb)` and `docker network rm baker-pg`",
    ] {
        assert!(why.contains(part), "{part} not in {why}");
    }
    // Nothing of another directory: nothing to say.
    let none = Obstacles::sorted("pg", vec![found("pg-primary", &[])], vec![]);
    assert_eq!(none.not_this_directorys("pg"), None);
}

#[test]
fn an_obstacle_met_while_making_the_cluster_is_told_by_whether_its_state_stays() {
    // A user's container made with a node's name after a new launch's check: its launch fails as
    // it makes the node.
    let users = Obstacles::sorted("pg", vec![found("pg-primary", &[])], Vec::new());
    let met = users.obstruction("pg");
    // Its state kept (a resume, or --keep-failed): `--resume` again once the container is gone.
    assert_eq!(met.to_string(), users.refusal("pg", Launching::Made));
    assert!(
        met.to_string()
            .ends_with("then `baker launch pg --resume` again"),
        "{met}"
    );
    // Rolled back, its state removed: nothing to resume, so what a new launch is told.
    let told = met.rolled_back().to_string();
    assert_eq!(told, users.refusal("pg", Launching::New));
    assert!(!told.contains("--resume"), "{told}");
    assert!(told.ends_with("or choose another cluster name"), "{told}");
    // Any other error is told as it was.
    let other = LaunchError::Input("no".into()).rolled_back();
    assert_eq!(other.to_string(), "no");
}
