//! The `ssh` provider's bookkeeping without machines: where a placed node is reached, and which
//! machines a resumed cluster keeps.

use super::provider::Provider;
use super::ssh::SshProvider;
use super::state::NodeState;
use crate::launch::provider::WantedNode;
use crate::recipe::RoleKind;

#[test]
fn a_placed_node_is_reached_at_its_inventory_host_with_the_default_user() {
    let provider = SshProvider {
        hosts: vec![],
        user: "admin".into(),
        key: Some("/k".into()),
        tarball: None,
        repositories: None,
    };
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
    node.provider_id = Some("root@db1:22".into());
    assert_eq!(provider.node(&node).unwrap().target.user, "root");
}

#[test]
fn a_resumed_cluster_keeps_its_machines_and_reads_the_inventory_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory");
    std::fs::write(&inventory, "master m\nslave a\nslave b\n").unwrap();
    let kinds = [RoleKind::Master, RoleKind::Slave, RoleKind::Slave];
    let nodes: Vec<NodeState> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let wanted = WantedNode {
                name: format!("pg-{i}"),
                role: "r".into(),
                kind,
            };
            wanted.unplaced()
        })
        .collect();
    let placed = SshProvider {
        hosts: vec![],
        user: "root".into(),
        key: None,
        tarball: Some(("/t.tar.gz".into(), "ab".into())),
        repositories: None,
    };
    let mut state = crate::launch::run::state_or_empty(
        &crate::launch::state::StateDir::new(dir.path().into()),
        "pg",
        "ssh",
    )
    .unwrap();
    state.nodes = nodes;
    state.nodes[0].provider_id = Some("m-moved:2222".into());
    state.resources = placed.resources(&inventory);
    let provider = SshProvider::from_state(&state);
    let hosts: Vec<String> = provider.hosts.iter().map(ToString::to_string).collect();
    assert_eq!(hosts, ["m-moved:2222", "a:22", "b:22"]);
    assert_eq!(provider.user, "root");
    assert_eq!(provider.tarball, placed.tarball);
    std::fs::remove_file(&inventory).unwrap();
    assert_eq!(SshProvider::from_state(&state).hosts.len(), 1);
}
