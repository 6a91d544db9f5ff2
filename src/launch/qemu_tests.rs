//! The QEMU provider's tests: what `destroy` removes, what `status` shows of a VM, and the
//! forwards of a VM that listens on other host ports than its state says.

use super::*;
use crate::launch::provider::WantedNode;

/// The primary of cluster `pg` on `provider`, its VM's pidfile recorded as its id.
fn primary(provider: &QemuProvider) -> NodeState {
    let wanted = WantedNode {
        name: "pg-primary".into(),
        role: "primary".into(),
        kind: crate::recipe::RoleKind::Master,
    };
    NodeState {
        provider_id: Some(
            VmFiles::of(&provider.dir, "pg-primary")
                .pidfile
                .display()
                .to_string(),
        ),
        ..wanted.unplaced()
    }
}

#[tokio::test]
async fn destroy_removes_what_the_directory_holds_never_a_process_that_is_not_its_vm() {
    let dir = tempfile::tempdir().unwrap();
    let provider = QemuProvider::new("/img/pg.raw".into(), dir.path().to_owned(), 512, None);
    let files = VmFiles::of(dir.path(), "pg-primary");
    for file in files.all() {
        std::fs::write(file, "").unwrap();
    }
    // A pid that is alive but not this VM's QEMU (a reused pid) is left alone.
    std::fs::write(&files.pidfile, std::process::id().to_string()).unwrap();
    let states = StateDir::new(dir.path().join("states"));
    let state = crate::launch::run::state_or_empty(&states, "pg", "qemu").unwrap();
    assert_eq!(
        provider.shown_id(&primary(&provider)),
        "-",
        "no pid of a process not its QEMU"
    );
    assert_eq!(
        provider.destroy(&state).await.unwrap().nodes,
        1,
        "the overlay"
    );
    for file in files.all() {
        assert!(!file.exists(), "{}", file.display());
    }
    assert!(
        provider.destroy(&state).await.unwrap().nothing(),
        "safe to repeat"
    );
}

/// `status` shows a VM that runs by its QEMU's pid, read from the pidfile its node records.
#[test]
fn a_running_vm_is_shown_by_its_qemu_pid() {
    let dir = tempfile::tempdir().unwrap();
    let provider = QemuProvider::new("/img/pg.raw".into(), dir.path().to_owned(), 512, None);
    let pidfile = VmFiles::of(dir.path(), "pg-primary").pidfile;
    let mut vm = crate::launch::qemu_process::lookalike("qemu-system-x86_64", &pidfile);
    std::fs::write(&pidfile, vm.id().to_string()).unwrap();
    let shown = provider.shown_id(&primary(&provider));
    let group = rustix::process::Pid::from_raw(vm.id() as i32).unwrap();
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = vm.wait();
    assert_eq!(shown, format!("pid {}", vm.id()));
}

/// A launch stopped after a VM's forwards moved (another program took a port) and before it
/// recorded them: `status`, `login` and `logs` find the ports the VM listens on, and a resumed
/// launch, which starts every node, records them.
#[tokio::test]
async fn the_forwards_a_running_vm_listens_on_are_found_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let provider = QemuProvider::new("/img/pg.raw".into(), dir.path().to_owned(), 512, None);
    let mut node = primary(&provider);
    node.published = BTreeMap::from([(22, 40022), (5432, 45432)]);
    let pidfile = pidfile(&node);
    let mut vm = crate::launch::qemu_process::lookalike_with(
        "qemu-system-x86_64",
        &pidfile,
        &[
            "-netdev",
            "user,id=host,hostfwd=tcp:127.0.0.1:41022-:22,hostfwd=tcp:127.0.0.1:45432-10.1.2.10:5432",
        ],
    );
    std::fs::write(&pidfile, vm.id().to_string()).unwrap();
    let mut state =
        ClusterState::postgresql_example("pg", "qemu", crate::launch::state::Phase::Creating);
    state.nodes.push(node.clone());
    let found = provider.located(&state, &node).await;
    let bundle = NodeBundle {
        node: node.name.clone(),
        role: node.role.clone(),
        kind: node.kind,
        user: None,
        data: Vec::new(),
        env: BTreeMap::new(),
        files: Vec::new(),
        setup: None,
        command: String::new(),
        ready: Vec::new(),
        smoke: Vec::new(),
    };
    let started = provider.start(&state, 0, &bundle).await;
    provider.started(&mut state).await.unwrap();
    let group = rustix::process::Pid::from_raw(vm.id() as i32).unwrap();
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = vm.wait();
    started.unwrap();
    let listening = BTreeMap::from([(22, 41022), (5432, 45432)]);
    assert_eq!(found.published, listening);
    assert_eq!(state.nodes[0].published, listening);
    // A VM that does not run is as its state says.
    assert_eq!(
        provider.located(&state, &node).await.published,
        node.published
    );
}
