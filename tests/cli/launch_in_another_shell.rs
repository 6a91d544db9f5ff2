//! The commands on a cluster while a launch of it runs in another shell (a process holding its
//! launch lock as a launch does stands in for one): `status` and `clusters` say so, naming it, and
//! `destroy` and another launch of the name are refused meanwhile, whether the launch has made the
//! cluster's nodes or still builds first.

use std::os::unix::process::CommandExt;
use std::path::Path;

use super::cluster_commands::{InterruptedCluster, line_of};
use super::*;

/// A process that holds cluster `name`'s launch lock in `states` as a running launch does, until
/// it is dropped: `flock(1)`, once it has said it holds it. `-o` keeps the lock from its child, so
/// that the lock goes with `flock` itself.
struct LaunchInAnotherShell(std::process::Child);

impl LaunchInAnotherShell {
    fn start(states: &Path, name: &str) -> Self {
        let lock = states.join(".locks").join(format!("{name}.lock"));
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        // What a launch writes in its lock once it holds it.
        let mut child = std::process::Command::new("flock")
            .arg("-o")
            .arg(&lock)
            .process_group(0)
            .args([
                "sh",
                "-c",
                "printf launch >\"$0\"; echo held; exec sleep 60",
            ])
            .arg(&lock)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "held\n");
        LaunchInAnotherShell(child)
    }
}

impl Drop for LaunchInAnotherShell {
    /// Ends `flock` and its `sleep`, its process group.
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_raw(self.0.id() as i32).expect("a pid");
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.0.wait();
    }
}

#[test]
fn status_tells_a_launch_at_work_in_another_shell_and_destroy_is_refused_meanwhile() {
    let cluster = InterruptedCluster::new();
    let launch = LaunchInAnotherShell::start(cluster.states.path(), "pg2");
    let holder = format!("pid {} (flock ", launch.0.id());
    let out = cluster.status();
    let header = out.lines().next().unwrap();
    assert!(
        header.contains(&format!(": its launch runs now ({holder}")),
        "{header}"
    );
    let primary = line_of(&out, "pg2-primary");
    assert!(
        primary.contains("running, not checked ready yet (its launch is checking it)"),
        "{primary}"
    );
    assert!(line_of(&out, "pg2-standby-3").contains("not started yet"));
    cluster
        .baker()
        .arg("clusters")
        .assert()
        .success()
        .stdout(predicate::str::contains("4 nodes; its launch runs now\n"));
    // No destroy works on the cluster meanwhile (ci/e2e-launch.sh checks `--resume` too).
    cluster
        .baker()
        .args(["destroy", "pg2"])
        .assert()
        .code(1)
        .stderr(contains_all(&[
            &format!("cluster `pg2` is busy: its launch runs now ({holder}"),
            "wait for it to finish",
        ]));
    assert!(cluster.states.path().join("pg2/state.json").is_file());
    assert!(cluster.vms.iter().all(|vm| vm.alive()), "no VM was stopped");
    drop(launch);
    let out = cluster.status();
    assert!(
        out.contains("its launch stopped before it finished"),
        "{out}"
    );
    cluster
        .baker()
        .arg("clusters")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 nodes; its launch stopped (--resume finishes it)\n",
        ));
}

#[test]
fn a_launch_that_still_builds_holds_its_name_and_status_says_so() {
    let states = tempfile::tempdir().unwrap();
    let baker = || {
        let mut cmd = baker();
        cmd.env("BAKER_STATE_DIR", states.path());
        cmd
    };
    let launch = LaunchInAnotherShell::start(states.path(), "pg3");
    let holder = format!("pid {} (flock ", launch.0.id());
    baker()
        .args(["status", "pg3"])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(format!(
            "cluster pg3: no nodes yet: its launch runs now ({holder}"
        )));
    baker().arg("clusters").assert().success().stdout(
        predicate::str::is_match(r"^pg3 +- +launching +no nodes yet; its launch runs now\n$")
            .unwrap(),
    );
    // As JSON, the launch at work is named by its work and holders.
    let json = |args: &[&str], code| super::cluster_json::json_of(baker(), args, code);
    let status = json(&["status", "pg3", "--json"], 3);
    assert_eq!(status["phase"], "launching");
    assert_eq!(status["ready"], false);
    assert_eq!(status["provider"], serde_json::Value::Null);
    assert_eq!(status["nodes"], serde_json::json!([]));
    assert_eq!(status["at_work"]["work"], "launch");
    let holders = status["at_work"]["holders"].to_string();
    assert!(holders.contains(&holder), "{status:#}");
    let note = status["note"].as_str().unwrap();
    assert!(
        note.starts_with("no nodes yet: its launch runs now ("),
        "{note}"
    );
    let listed = json(&["clusters", "--json"], 0);
    assert_eq!(listed[0]["name"], "pg3");
    assert_eq!(listed[0]["phase"], "launching");
    assert_eq!(listed[0]["at_work"]["work"], "launch");
    assert_eq!(listed[0]["note"], "its launch runs now");
    // A second launch of the name is refused before it reads its input, let alone builds; the
    // commands that need the cluster's nodes name the launch rather than say there is no cluster.
    for refused in [
        &["launch", "pg3", "--from", "/nonexistent"][..],
        &["destroy", "pg3"],
        &["launch", "pg3", "--resume"],
        &["login", "pg3"],
        &["logs", "pg3", "primary"],
    ] {
        baker()
            .args(refused)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "cluster `pg3` is busy: its launch runs now ({holder}"
            )));
    }
    drop(launch);
    baker()
        .args(["status", "pg3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no cluster named `pg3`"));
    baker()
        .arg("clusters")
        .assert()
        .success()
        .stdout("no clusters\n");
}

#[test]
fn clusters_lists_the_others_when_one_state_file_cannot_be_read() {
    let states = tempfile::tempdir().unwrap();
    for (name, text) in [("broken", "{}"), ("other", "not json")] {
        let dir = states.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("state.json"), text).unwrap();
    }
    let out = baker()
        .env("BAKER_STATE_DIR", states.path())
        .arg("clusters")
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for name in ["broken", "other"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"));
        assert!(line.contains("unreadable"), "{line}");
        assert!(line.contains("state.json"), "{line}");
        // What to do is for the commands on the cluster to say (below), not for each line here.
        assert!(!line.contains("rm -r"), "{line}");
    }
}

#[test]
fn a_state_file_of_another_format_says_how_to_remove_the_cluster_by_hand() {
    let states = tempfile::tempdir().unwrap();
    let dir = states.path().join("pg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state.json"), r#"{"format": 2}"#).unwrap();
    for command in ["destroy", "status"] {
        baker()
            .env("BAKER_STATE_DIR", states.path())
            .args([command, "pg"])
            .assert()
            .failure()
            .stderr(contains_all(&[
                &format!(
                    "{} is not a cluster state file of format 1",
                    dir.join("state.json").display()
                ),
                "destroy the cluster with the baker that launched it",
                "`docker ps -a --filter label=baker.cluster=pg` lists its containers",
                &format!("(`rm -r {}`)", dir.display()),
            ]));
    }
    assert!(dir.join("state.json").is_file(), "the state stays");
}
