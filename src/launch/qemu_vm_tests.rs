//! The tests of the VMs' command lines, files and starts (a VM's kernel watched on its console).

use super::*;

#[test]
fn the_vm_boots_its_overlay_and_seed_with_forwards_on_loopback_and_the_switch() {
    let switch = Switch {
        group: std::net::Ipv4Addr::new(239, 1, 2, 3),
        port: 23456,
        subnet: [77, 5],
    };
    let files = VmFiles::of(Path::new("/st/pg"), "pg-primary");
    let forwards = BTreeMap::from([(22, 40022), (5432, 45432)]);
    let args = qemu_args(&VmSpec {
        node: "pg-primary",
        index: 0,
        files: &files,
        switch: &switch,
        forwards: &forwards,
        accel: Accel::Tcg,
        memory_mib: 768,
    })
    .join(" ");
    for part in [
        "-accel tcg -cpu max -smp 1 -m 768",
        "-serial file:/st/pg/pg-primary.console.log -pidfile /st/pg/pg-primary.pid",
        "-drive file=/st/pg/pg-primary.qcow2,format=qcow2,if=virtio -drive file=/st/pg/pg-primary.seed,format=raw,if=virtio,readonly=on",
        // SSH to the user-mode address; the role's port to the node's address on the switch.
        "-netdev user,id=host,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:45432-10.77.5.10:5432",
        "-device virtio-net-pci,netdev=host,mac=52:54:00:00:00:00",
        "-netdev socket,id=switch,mcast=239.1.2.3:23456,localaddr=127.0.0.1",
        "-device virtio-net-pci,netdev=switch,mac=52:54:00:01:00:00",
    ] {
        assert!(args.contains(part), "{part} not in {args}");
    }
    assert_eq!(VmFiles::of_pidfile(&files.pidfile), files);
    // A comma in the state directory is doubled in a drive's file=, or QEMU cuts it there.
    let files = VmFiles::of(Path::new("/st,1/pg"), "pg-primary");
    let args = qemu_args(&VmSpec {
        files: &files,
        node: "pg-primary",
        index: 0,
        switch: &switch,
        forwards: &forwards,
        accel: Accel::Tcg,
        memory_mib: 768,
    })
    .join(" ");
    assert!(
        args.contains("-drive file=/st,,1/pg/pg-primary.qcow2,format=qcow2,"),
        "{args}"
    );
}

#[test]
fn the_forwards_of_a_running_vm_are_read_back_from_its_command_line() {
    let switch = Switch::for_cluster(Path::new("/st/pg"));
    let files = VmFiles::of(Path::new("/st/pg"), "pg-primary");
    let forwards = BTreeMap::from([(22, 40022), (5432, 45432)]);
    let args = qemu_args(&VmSpec {
        node: "pg-primary",
        index: 0,
        files: &files,
        switch: &switch,
        forwards: &forwards,
        accel: Accel::Kvm,
        memory_mib: 768,
    });
    assert_eq!(forwards_in(&args), Some(forwards));
    assert_eq!(forwards_in(&["qemu-system-x86_64".to_owned()]), None);
}

#[tokio::test]
async fn a_vm_that_ends_before_its_kernel_prints_is_told_from_one_that_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let files = VmFiles::of(dir.path(), "pg-primary");
    // No QEMU behind the pidfile: it ended.
    std::fs::write(&files.console, "SeaBIOS\n").unwrap();
    let grace = Duration::from_secs(5);
    assert_eq!(watch_kernel(&files, grace).await, Kernel::Ended);
    std::fs::write(&files.console, "[    0.000000] Linux version 6.1.0\n").unwrap();
    assert_eq!(watch_kernel(&files, grace).await, Kernel::Printed);
    // A QEMU that runs and whose console stays silent is stopped once the grace is over.
    std::fs::write(&files.console, "SeaBIOS\n").unwrap();
    let mut vm = crate::launch::qemu_process::lookalike("qemu-system-x86_64", &files.pidfile);
    std::fs::write(&files.pidfile, vm.id().to_string()).unwrap();
    let seen = watch_kernel(&files, Duration::from_millis(600)).await;
    let stopped = vm.wait().unwrap();
    assert_eq!(seen, Kernel::Silent);
    assert!(stopped.code().is_none(), "stopped by a signal");
}

#[test]
fn overlays_are_qcow2_over_the_raw_disk() {
    assert_eq!(
        overlay_args(Path::new("/img/pg.raw"), Path::new("/st/n.qcow2")).join(" "),
        "qemu-img create -q -f qcow2 -F raw -b /img/pg.raw /st/n.qcow2"
    );
}

#[test]
fn a_missing_pidfile_or_a_pid_that_is_not_the_vms_is_no_vm() {
    assert_eq!(running_pid(Path::new("/nonexistent/x.pid")), None);
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("n.pid");
    // Our own pid is a live process, but not a QEMU of this pidfile.
    std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
    assert_eq!(running_pid(&pidfile), None);
}

#[test]
fn seeds_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("n.seed");
    write_private(&seed, b"x").unwrap();
    let mode = std::fs::metadata(&seed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
