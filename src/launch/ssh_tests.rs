//! The `ssh` provider's bookkeeping without machines: where a placed node is reached, which
//! machines a resumed cluster keeps, and what its state records for commands run from elsewhere.

use std::path::{Path, PathBuf};

use super::provider::Provider;
use super::ssh::SshProvider;
use super::ssh_known_hosts::{HostKeys, KNOWN_HOSTS};
use super::state::{ClusterState, StateDir};
use crate::launch::provider::WantedNode;
use crate::recipe::RoleKind;

/// A provider (no machines yet) logging in as `admin` with `key`, for the cluster whose
/// directory is `dir`.
fn provider(key: Option<&Path>, dir: &Path) -> SshProvider {
    SshProvider::new(vec![], "admin".into(), key, dir, false)
}

/// Cluster `pg`'s state in `dir`: a master and two slaves, none placed.
fn cluster(dir: &Path) -> ClusterState {
    let kinds = [RoleKind::Master, RoleKind::Slave, RoleKind::Slave];
    let mut state =
        crate::launch::run::state_or_empty(&StateDir::new(dir.into()), "pg", "ssh").unwrap();
    state.nodes = (kinds.iter().enumerate())
        .map(|(i, &kind)| {
            let wanted = WantedNode {
                name: format!("pg-{i}"),
                role: "r".into(),
                kind,
            };
            wanted.unplaced()
        })
        .collect();
    state
}

#[test]
fn a_placed_node_is_reached_at_its_inventory_host_with_the_default_user() {
    let provider = provider(Some(Path::new("/k")), Path::new("/state/pg"));
    let mut node = crate::launch::provider::WantedNode {
        name: "pg-primary".into(),
        role: "primary".into(),
        kind: crate::recipe::RoleKind::Master,
    }
    .unplaced();
    assert!(provider.node(&node).is_none());
    node.provider_id = Some("10.0.0.5:2222".into());
    let args = provider.login_command(&node, &[]).join(" ");
    assert!(args.starts_with("ssh -t "), "{args}");
    assert!(args.ends_with("-i /k -p 2222 admin@10.0.0.5"), "{args}");
    // The cluster's file first; the user's own follow, as their SSH config here gives them.
    assert!(
        args.contains("-o UserKnownHostsFile=/state/pg/known_hosts "),
        "{args}"
    );
    node.provider_id = Some("root@db1:22".into());
    let shell = provider.node(&node).unwrap();
    assert_eq!(shell.target.user, "root");
    assert_eq!(shell.node, "pg-primary");
}

#[test]
fn a_resumed_cluster_keeps_its_machines_and_reads_the_inventory_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory");
    std::fs::write(&inventory, "master m\nslave a\nslave b\n").unwrap();
    let mut placed = provider(None, &dir.path().join("pg"));
    placed.user = "root".into();
    placed.tarball = Some(("/t.tar.gz".into(), "ab".into()));
    let mut state = cluster(dir.path());
    state.nodes[0].provider_id = Some("m-moved:2222".into());
    state.resources = placed.resources(&inventory);
    let provider = SshProvider::from_state(&state, dir.path());
    let hosts: Vec<String> = provider.hosts.iter().map(ToString::to_string).collect();
    assert_eq!(hosts, ["m-moved:2222", "a:22", "b:22"]);
    assert_eq!(provider.user, "root");
    assert_eq!(provider.tarball, placed.tarball);
    assert_eq!(provider.inventory_error, None);
    std::fs::remove_file(&inventory).unwrap();
    assert_eq!(SshProvider::from_state(&state, dir.path()).hosts.len(), 1);
}

#[test]
fn an_unreadable_inventory_is_reported_as_such_not_as_a_missing_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = cluster(dir.path());
    let gone = dir.path().join("gone");
    state.resources = provider(None, dir.path()).resources(&gone);
    let provider = SshProvider::from_state(&state, dir.path());
    let why = provider.no_machine("pg-1", &state).to_string();
    assert!(why.contains("cannot read the inventory"), "{why}");
    assert!(why.contains(&gone.display().to_string()), "{why}");
    assert!(!why.contains("does not list it"), "{why}");
}

#[test]
fn relative_paths_are_recorded_absolute_for_commands_run_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let mut launched = provider(Some(Path::new("./deploy_key")), Path::new("state/pg"));
    launched.tarball = Some(("out/pg.tar.gz".into(), "ab".into()));
    let resources = launched.resources(Path::new("hosts.txt"));
    let recorded = |k: &str| PathBuf::from(&resources[k]);
    assert_eq!(recorded("ssh-key"), cwd.join("deploy_key"));
    assert_eq!(recorded("inventory"), cwd.join("hosts.txt"));
    assert_eq!(recorded("tarball"), cwd.join("out/pg.tar.gz"));
    assert_eq!(
        recorded("ssh-known-hosts"),
        cwd.join("state/pg/known_hosts")
    );
    let mut state = cluster(dir.path());
    state.resources = resources;
    let again = SshProvider::from_state(&state, dir.path());
    assert_eq!(again.key, Some(cwd.join("deploy_key")));
    assert_eq!(launched.key, again.key);
}

#[test]
fn the_host_key_check_a_launch_chose_is_the_one_later_commands_make() {
    let dir = tempfile::tempdir().unwrap();
    for accept_new in [false, true] {
        let launched = SshProvider::new(vec![], String::new(), None, dir.path(), accept_new);
        let mut state = cluster(dir.path());
        state.resources = launched.resources(Path::new("/inventory"));
        assert_eq!(
            SshProvider::from_state(&state, dir.path()).host_keys,
            launched.host_keys
        );
    }
    // A cluster recorded before baker checked host keys (it recorded none): trusted at first
    // sight into its own known hosts, so that it stays reachable and removable.
    let mut state = cluster(dir.path());
    state
        .resources
        .insert("inventory".into(), "/inventory".into());
    let legacy = SshProvider::from_state(&state, dir.path()).host_keys;
    let first_sight = HostKeys::Checked {
        cluster: Some(dir.path().join(KNOWN_HOSTS)),
        accept_new: true,
    };
    assert_eq!(legacy, first_sight);
}
