//! `status`, `logs` and `login` on a cluster whose state the library writes: a `qemu` cluster, whose
//! VMs `status` finds by their pidfiles (a process named like QEMU stands in for each that runs) and
//! reaches over `ssh` (a script on PATH stands in for it, printing what it was asked), so that no
//! engine and no VM is needed. The cluster is one of an interrupted launch: two nodes run unchecked,
//! one stopped, one never started.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use baker::launch::provider::WantedNode;
use baker::launch::state::{ClusterState, NodeState, Phase, STATE_FORMAT, StateDir};
use baker::recipe::RoleKind;

use super::*;

/// A process whose command line names `pidfile` as a QEMU's does, killed when dropped.
pub(super) struct FakeVm(std::process::Child);

impl FakeVm {
    fn start(pidfile: &Path) -> Self {
        let child = std::process::Command::new("sleep")
            .arg0(format!("qemu-system-x86_64 -pidfile {}", pidfile.display()))
            .arg("300")
            .spawn()
            .unwrap();
        std::fs::write(pidfile, child.id().to_string()).unwrap();
        // Returned once `/proc` shows the command line a VM's lookup reads.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let path = pidfile.to_string_lossy().into_owned();
        let shows = || {
            let line = std::fs::read(&cmdline).unwrap_or_default();
            String::from_utf8_lossy(&line).contains(&path)
        };
        let started = std::time::Instant::now();
        while !shows() {
            assert!(
                started.elapsed().as_secs() < 10,
                "the fake VM did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        FakeVm(child)
    }

    /// Whether it runs (and is not a zombie yet).
    pub(super) fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.0.id()))
            .is_ok_and(|stat| !stat.contains(") Z "))
    }
}

impl Drop for FakeVm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// State directory `states` with cluster `pg2` (a primary and three standbys) as a launch
/// interrupted before any node was recorded ready leaves it: the primary and standby-1 run,
/// standby-2's VM stopped, standby-3 was never placed. Returns the running VMs.
pub(super) struct InterruptedCluster {
    pub(super) states: tempfile::TempDir,
    /// A directory on PATH holding the stand-in `ssh`.
    bin: PathBuf,
    pub(super) vms: Vec<FakeVm>,
}

impl InterruptedCluster {
    pub(super) fn new() -> Self {
        let states = tempfile::tempdir().unwrap();
        let dir = states.path().join("pg2");
        let node = |name: &str, role: &str, kind, index: u16| NodeState {
            provider_id: Some(dir.join(format!("pg2-{name}.pid")).display().to_string()),
            address: format!("10.206.9.{}", 10 + index),
            published: [(22, 40000 + index), (5432, 41000 + index)].into(),
            ..WantedNode {
                name: format!("pg2-{name}"),
                role: role.into(),
                kind,
            }
            .unplaced()
        };
        let never_placed = WantedNode {
            name: "pg2-standby-3".into(),
            role: "standby".into(),
            kind: RoleKind::Slave,
        }
        .unplaced();
        let state = ClusterState {
            format: STATE_FORMAT,
            name: "pg2".into(),
            provider: "qemu".into(),
            recipe: "postgresql".into(),
            version: "15.18".into(),
            distro: "debian-12".into(),
            plan_key: "k".into(),
            phase: Phase::Booting,
            created: 1,
            resources: Default::default(),
            nodes: vec![
                node("primary", "primary", RoleKind::Master, 0),
                node("standby-1", "standby", RoleKind::Slave, 1),
                node("standby-2", "standby", RoleKind::Slave, 2),
                never_placed,
            ],
            timings: Default::default(),
            smoke: false,
        };
        // The lock a launch would hold goes now: no launch runs.
        let states_dir = StateDir::new(states.path().to_owned());
        let reserved = states_dir.reserve_launch(&state.name).unwrap();
        states_dir.create(&state, "secret", &reserved).unwrap();
        drop(reserved);
        let vms = vec![
            FakeVm::start(&dir.join("pg2-primary.pid")),
            FakeVm::start(&dir.join("pg2-standby-1.pid")),
        ];
        // standby-2's VM stopped: its pidfile names no QEMU.
        std::fs::write(dir.join("pg2-standby-2.pid"), "999999999").unwrap();
        let bin = states.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let ssh = bin.join("ssh");
        std::fs::write(&ssh, "#!/bin/sh\necho \"ssh $*\"\nexit 7\n").unwrap();
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
        InterruptedCluster { states, bin, vms }
    }

    pub(super) fn baker(&self) -> assert_cmd::Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = baker();
        cmd.env("BAKER_STATE_DIR", self.states.path())
            .env("PATH", path);
        cmd
    }

    /// What `baker status pg2` prints; it exits 3, as for every cluster that is not ready.
    pub(super) fn status(&self) -> String {
        let out = (self.baker().args(["status", "pg2"]).assert().code(3))
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    /// The pid of running VM `vm`.
    pub(super) fn pid(&self, vm: usize) -> u32 {
        self.vms[vm].0.id()
    }
}

/// The line of node `name` in `status`'s output.
pub(super) fn line_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{out}"))
}

#[test]
fn status_after_an_interrupted_launch_shows_the_nodes_that_run() {
    let cluster = InterruptedCluster::new();
    let out = cluster.status();
    assert!(
        out.contains(
            "its launch stopped before it finished (`baker launch pg2 --resume` finishes it)"
        ),
        "{out}"
    );
    let unchecked = "running, never checked ready (its launch stopped): \
                     `baker launch pg2 --resume` checks it";
    for (vm, name) in [(0, "pg2-primary"), (1, "pg2-standby-1")] {
        let line = line_of(&out, name);
        assert!(
            line.contains(&format!("pid {} ", cluster.pid(vm))),
            "{line}"
        );
        assert!(line.contains(unchecked), "{line}");
        assert!(!line.contains("not ready"), "{line}");
        assert!(line.contains(&format!("; ports 4000{vm}->22")), "{line}");
    }
    let stopped = line_of(&out, "pg2-standby-2");
    assert!(stopped.trim_end().ends_with(" stopped"), "{stopped}");
    assert!(
        !stopped.contains("ports"),
        "a stopped VM forwards no port: {stopped}"
    );
    let never = line_of(&out, "pg2-standby-3");
    assert!(never.contains(" -  "), "{never}");
    assert!(
        never.contains("not started: its launch stopped before"),
        "{never}"
    );
    // Quiet, the exit status alone.
    cluster
        .baker()
        .args(["-q", "status", "pg2"])
        .assert()
        .code(3)
        .stdout("");
}

#[test]
fn login_runs_a_command_on_a_node_and_exits_with_its_exit_code() {
    let cluster = InterruptedCluster::new();
    cluster
        .baker()
        .args(["login", "pg2", "--", "hostname", "-f"])
        .assert()
        .code(7)
        .stdout(contains_all(&[
            "ssh -T ",
            "-p 40000 root@127.0.0.1 -- hostname -f",
        ]))
        .stderr(predicate::str::contains("no node").not());
    cluster
        .baker()
        .args(["login", "pg2", "standby-1", "--", "true"])
        .assert()
        .code(7)
        .stdout(predicate::str::contains("-p 40001 root@127.0.0.1 -- true"));
}

#[test]
fn logs_and_login_say_which_of_several_nodes_they_picked() {
    let cluster = InterruptedCluster::new();
    let others = "the others: pg2-standby-2, pg2-standby-3; name one to choose it";
    cluster
        .baker()
        .args(["logs", "pg2", "slave", "-n", "3"])
        .assert()
        .success()
        .stderr(contains_all(&[
            "showing the log of pg2-standby-1, the first of 3 slave nodes",
            others,
        ]));
    cluster
        .baker()
        .args(["login", "pg2", "standby", "--", "true"])
        .assert()
        .code(7)
        .stdout(predicate::str::contains("-p 40001 "))
        .stderr(contains_all(&[
            "running the command on pg2-standby-1, the first of 3 standby nodes",
            others,
        ]));
    // A node named by its name is picked without a word.
    cluster
        .baker()
        .args(["logs", "pg2", "standby-2", "-n", "3"])
        .assert()
        .success()
        .stderr(predicate::str::contains("the first of").not());
    // Without a node, the master's, as for `login`.
    cluster
        .baker()
        .args(["logs", "pg2", "-n", "3"])
        .assert()
        .success()
        .stderr(predicate::str::contains("the first of").not());
}

#[test]
fn login_help_shows_the_command_form() {
    baker()
        .args(["login", "--help"])
        .assert()
        .success()
        .stdout(contains_all(&[
            "[-- <COMMAND>...]",
            "baker login pg -- hostname",
            "exits with",
        ]));
}
