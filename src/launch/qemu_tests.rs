//! The QEMU provider's tests: what `destroy` removes, and what `status` shows of a VM.

use super::*;
use crate::launch::provider::WantedNode;

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
    let primary = (WantedNode {
        name: "pg-primary".into(),
        role: "primary".into(),
        kind: crate::recipe::RoleKind::Master,
    })
    .unplaced();
    let node = NodeState {
        provider_id: Some(files.pidfile.display().to_string()),
        ..primary
    };
    assert_eq!(
        provider.shown_id(&node),
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
