//! The role agent (`images/agent/baker-agent`) run for real with bash on a bundle made by
//! [`NodeBundle::to_tar`], in a temporary root: files land with their modes, the environment
//! reaches setup and command, setup runs once across restarts, the command replaces the agent,
//! and a seed "disk" holding the bundle tar is read when no bundle directory exists.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::bundle::{BundleFile, NodeBundle};
use crate::recipe::RoleKind;

#[path = "agent_claim_tests.rs"]
mod claims;

const AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/images/agent/baker-agent");

fn bundle(root: &Path) -> NodeBundle {
    NodeBundle {
        node: "n1".into(),
        role: "primary".into(),
        kind: RoleKind::Master,
        user: None,
        data: vec![],
        env: BTreeMap::from([("GREETING".to_owned(), "it's me".to_owned())]),
        files: vec![BundleFile {
            path: "/etc/app.conf".into(),
            mode: 0o640,
            content: "port=1\n".into(),
        }],
        setup: Some(format!("echo setup >> {}/setup.count", root.display())),
        command: format!(
            "echo \"$GREETING\" > {0}/command.out; cat {0}/etc/app.conf >> {0}/command.out",
            root.display()
        ),
        ready: vec![],
        smoke: vec![],
    }
}

/// The agent on `bundle_dir`, everything it writes moved under `root`.
fn agent(root: &Path, bundle_dir: &Path, seed: Option<&Path>) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(AGENT)
        .env("BAKER_BUNDLE", bundle_dir)
        .env("BAKER_AGENT_ROOT", root)
        .env("BAKER_AGENT_LOG_DIR", root.join("log"))
        .env("BAKER_AGENT_STATE_DIR", root.join("state"))
        .env("BAKER_AGENT_MACHINE_DIR", root)
        .env("BAKER_SEED", seed.unwrap_or(Path::new("/nonexistent")));
    cmd
}

fn run_agent(root: &Path, bundle_dir: &Path, seed: Option<&Path>) -> std::process::Output {
    agent(root, bundle_dir, seed).output().unwrap()
}

/// `b` as the agent finds it on a node: its tar unpacked in `dir`.
fn unpack_bundle(b: &NodeBundle, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    tar::Archive::new(&b.to_tar().unwrap()[..])
        .unpack(dir)
        .unwrap();
}

#[test]
fn the_agent_places_files_runs_setup_once_and_execs_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bundle_dir = root.join("bundle");
    unpack_bundle(&bundle(root), &bundle_dir);

    for _ in 0..2 {
        let out = run_agent(root, &bundle_dir, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join("setup.count")).unwrap(),
        "setup\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("command.out")).unwrap(),
        "it's me\nport=1\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/app.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    let log = std::fs::read_to_string(root.join("log/role.log")).unwrap();
    assert!(log.contains("role primary starting on n1"), "{log}");
}

/// Data directories: a missing one is made with its parents before setup, an empty one is the
/// node's too (its mode and owner noted), and one holding files, a link (dangling too) or a file
/// is left alone with a warning; each of the node's is noted once for destroy, across restarts.
#[test]
fn the_agent_makes_and_notes_the_roles_data_directories_and_leaves_anothers_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bundle_dir = root.join("bundle");
    std::fs::create_dir_all(root.join("srv/empty")).unwrap();
    std::fs::set_permissions(
        root.join("srv/empty"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("srv/taken")).unwrap();
    std::fs::write(root.join("srv/taken/PG_VERSION"), "15\n").unwrap();
    std::os::unix::fs::symlink("/nonexistent/disk", root.join("srv/dangling")).unwrap();
    std::os::unix::fs::symlink(root.join("srv/taken"), root.join("srv/link")).unwrap();
    let mut b = bundle(root);
    b.data = [
        "/var/lib/pg/data",
        "/srv/empty",
        "/srv/taken",
        "/srv/dangling",
        "/srv/link",
    ]
    .map(String::from)
    .to_vec();
    b.setup = Some(format!("test -d {}/var/lib/pg/data", root.display()));
    unpack_bundle(&b, &bundle_dir);

    for _ in 0..2 {
        let out = run_agent(root, &bundle_dir, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta = std::fs::metadata(root.join("srv/empty")).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("state/data-dirs")).unwrap(),
        format!(
            "claims\nparent /var\nparent /var/lib\nparent /var/lib/pg\nmade /var/lib/pg/data\n\
             was 751 {}:{} /srv/empty\nfound /srv/empty\n",
            meta.uid(),
            meta.gid()
        )
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert!(root.join("srv/taken/PG_VERSION").exists());
    let log = std::fs::read_to_string(root.join("log/role.log")).unwrap();
    for other in ["/srv/taken", "/srv/dangling", "/srv/link"] {
        let warning = format!("WARNING: {other} is not an empty directory");
        assert_eq!(log.matches(&warning).count(), 1, "{log}");
    }
    assert!(
        log.contains("made the data directory /var/lib/pg/data"),
        "{log}"
    );
}

#[test]
fn the_agent_reads_a_seed_disk_and_does_nothing_without_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let seed = root.join("seed.img");
    let mut tar = bundle(root).to_tar().unwrap();
    tar.resize(1 << 20, 0); // a disk is bigger than its tar
    std::fs::write(&seed, tar).unwrap();
    let out = run_agent(root, &root.join("bundle"), Some(&seed));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.join("command.out").exists());

    let empty = tempfile::tempdir().unwrap();
    let out = run_agent(empty.path(), &empty.path().join("bundle"), None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no role for this node"));
}

#[test]
fn the_agent_sets_each_vm_interface_by_mac_its_host_name_and_roots_authorized_keys_from_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A fake sysfs with two interfaces, and an `ip` and a `hostname` that record their arguments.
    for (dev, mac) in [("ens3", "52:54:00:00:00:01"), ("ens4", "52:54:00:01:00:01")] {
        std::fs::create_dir_all(root.join("sys").join(dev)).unwrap();
        std::fs::write(
            root.join("sys").join(dev).join("address"),
            format!("{mac}\n"),
        )
        .unwrap();
    }
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("ip"),
        format!("#!/bin/bash\necho \"$*\" >> {}/ip.calls\n", root.display()),
    )
    .unwrap();
    std::fs::write(
        bin.join("hostname"),
        format!(
            "#!/bin/bash\necho \"$*\" >> {}/hostname.calls\n",
            root.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for tool in ["ip", "hostname"] {
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The image's own name, which every node would otherwise share.
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 postgresql\n",
    )
    .unwrap();
    // CentOS 6's place for it.
    std::fs::create_dir_all(root.join("etc/sysconfig")).unwrap();
    std::fs::write(
        root.join("etc/sysconfig/network"),
        "NETWORKING=yes\nHOSTNAME=localhost.localdomain\n",
    )
    .unwrap();
    // The qemu provider's entry (its switch NIC), after a line with a gateway: a bundle may give
    // any NIC one.
    let network = format!(
        "52:54:00:00:00:01 10.0.2.15/24 10.0.2.2\n{}",
        crate::launch::qemu_net::network_entry(
            &crate::launch::qemu_net::Switch::for_cluster(Path::new("/s/pg")),
            1,
        )
    );
    let address = network.lines().nth(1).unwrap().split(' ').nth(1).unwrap();
    let mut tar = bundle(root)
        .to_tar_with(&[
            ("network", 0o644, network.as_bytes()),
            (
                "authorized_keys",
                0o600,
                b"ssh-ed25519 AAAA baker-cluster\n",
            ),
            ("hostname", 0o644, b"pg-standby-1\n"),
        ])
        .unwrap();
    tar.resize(1 << 20, 0);
    std::fs::write(root.join("seed.img"), tar).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(AGENT)
        .env("PATH", path)
        .env("BAKER_BUNDLE", root.join("bundle"))
        .env("BAKER_AGENT_ROOT", root)
        .env("BAKER_AGENT_LOG_DIR", root.join("log"))
        .env("BAKER_AGENT_STATE_DIR", root.join("state"))
        .env("BAKER_AGENT_SYS_NET", root.join("sys"))
        .env("BAKER_SEED", root.join("seed.img"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(root.join("ip.calls")).unwrap();
    assert!(
        calls.contains(
            "addr add 10.0.2.15/24 dev ens3\nroute replace default via 10.0.2.2 dev ens3"
        ),
        "{calls}"
    );
    assert!(
        calls.contains(&format!(
            "link set dev ens4 up\naddr show dev ens4\naddr add {address} dev ens4"
        )),
        "{calls}"
    );
    assert!(!calls.contains("route replace default via 10.0.2.2 dev ens4"));
    let keys = root.join("root/.ssh/authorized_keys");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "ssh-ed25519 AAAA baker-cluster\n"
    );
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    assert_eq!(read("hostname.calls"), "pg-standby-1\n");
    assert_eq!(read("etc/hostname"), "pg-standby-1\n");
    assert_eq!(
        read("etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 pg-standby-1\n"
    );
    assert_eq!(
        read("etc/sysconfig/network"),
        "NETWORKING=yes\nHOSTNAME=pg-standby-1\n"
    );
    assert!(root.join("command.out").exists(), "the role started after");
}

#[test]
fn the_preparing_file_lasts_from_the_bundle_until_the_role_starts_or_the_agent_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bundle_dir = root.join("bundle");
    let mut b = bundle(root);
    // Setup and command each record whether the file is there while they run.
    let seen = |what: &str| {
        format!(
            "[ -f {0}/preparing ] && echo {what}: yes >> {1}/seen || echo {what}: no >> {1}/seen",
            bundle_dir.display(),
            root.display()
        )
    };
    b.setup = Some(seen("setup"));
    b.command = seen("command");
    unpack_bundle(&b, &bundle_dir);
    assert!(run_agent(root, &bundle_dir, None).status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("seen")).unwrap(),
        "setup: yes\ncommand: no\n"
    );
    assert!(!bundle_dir.join("preparing").exists());

    // A setup that fails ends the agent, and the probes must not wait on a file it left.
    let failing = root.join("failing");
    let mut b = bundle(root);
    b.role = "other".into();
    b.setup = Some("exit 3".into());
    unpack_bundle(&b, &failing);
    assert!(!run_agent(root, &failing, None).status.success());
    assert!(!failing.join("preparing").exists());
}

/// The role's command becomes the agent's own process, with no wrapper between them, and that
/// process has no child it did not start (the log's tee is adopted by init): a pidfile, an init or
/// a `kill` that knows the agent's pid reaches the role itself, and a role that reaps unknown
/// children (PostgreSQL's postmaster takes one for a crashed backend) finds none.
#[test]
fn the_role_runs_in_the_agents_own_process_and_has_no_child_of_the_agents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bundle_dir = root.join("bundle");
    let mut b = bundle(root);
    b.setup = None;
    b.command = "sleep 30".into();
    unpack_bundle(&b, &bundle_dir);
    let mut agent = agent(root, &bundle_dir, None)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = agent.id();
    let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let started = std::time::Instant::now();
    while comm().trim() != "sleep" && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let role = comm();
    let children = children_of(pid);
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(role.trim(), "sleep", "the agent's process became the role");
    assert_eq!(
        children,
        Vec::<String>::new(),
        "children of the role's process"
    );
}

/// The command names of the processes whose parent is `pid`, read from `/proc/*/stat`.
fn children_of(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "PID (COMM) STATE PPID …": the name may hold spaces and parentheses, the last ')' ends it.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if ppid == Some(&pid.to_string()) {
            found.push(stat[open + 1..close].to_owned());
        }
    }
    found
}
