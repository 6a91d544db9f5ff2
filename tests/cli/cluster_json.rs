//! `status --json` and `clusters --json`, as a script reads them: the fields of the cluster and
//! its nodes that the text shows, on the `qemu` cluster of an interrupted launch that
//! [`InterruptedCluster`] writes (no engine, no VM), on the same cluster once ready, and beside a
//! state file that cannot be read. The exit status is the text's.

use serde_json::Value;

use super::cluster_commands::InterruptedCluster;
use super::*;

/// What `args` print on stdout, exiting with `code`, parsed.
pub(super) fn json_of(mut cmd: assert_cmd::Command, args: &[&str], code: i32) -> Value {
    let out = cmd
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out)))
}

/// Node `name` of `status --json`'s `status`.
fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
    (status["nodes"].as_array().unwrap().iter())
        .find(|node| node["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {status:#}"))
}

#[test]
fn status_json_of_an_interrupted_launch_holds_what_the_text_shows_and_exits_3() {
    let cluster = InterruptedCluster::new();
    let status = json_of(cluster.baker(), &["status", "pg2", "--json"], 3);
    for (key, value) in [
        ("name", "pg2"),
        ("provider", "qemu"),
        ("recipe", "postgresql"),
        ("version", "15.18"),
        ("distro", "debian-12"),
        ("phase", "booting"),
        ("health", "unfinished"),
        (
            "note",
            "its launch stopped before it finished (`baker launch pg2 --resume` finishes it)",
        ),
    ] {
        assert_eq!(status[key], value, "{key} in {status:#}");
    }
    assert_eq!(status["ready"], false);
    assert_eq!(status["at_work"], Value::Null);
    assert_eq!(status["nodes"].as_array().unwrap().len(), 4);
    let primary = node(&status, "pg2-primary");
    assert_eq!(primary["role"], "primary");
    assert_eq!(primary["kind"], "master");
    assert_eq!(primary["address"], "10.206.9.10");
    let pid = cluster.pid(0);
    assert_eq!(primary["id"], format!("pid {pid}"));
    let pidfile = cluster.states.path().join("pg2/pg2-primary.pid");
    assert_eq!(primary["provider_id"], pidfile.display().to_string());
    assert_eq!(primary["condition"], "unchecked");
    assert_eq!(primary["running"], true);
    assert_eq!(primary["ready"], false);
    assert_eq!(primary["ready_since"], Value::Null);
    assert_eq!(
        primary["ports"],
        serde_json::json!([{"node": 22, "host": 40000}, {"node": 5432, "host": 41000}])
    );
    assert!(
        (primary["note"].as_str().unwrap()).starts_with("running, never checked ready"),
        "{primary:#}"
    );
    let stopped = node(&status, "pg2-standby-2");
    assert_eq!(stopped["condition"], "stopped");
    assert_eq!(stopped["running"], false);
    assert_eq!(
        stopped["ports"],
        serde_json::json!([]),
        "a stopped VM forwards no port"
    );
    let never = node(&status, "pg2-standby-3");
    assert_eq!(never["condition"], "not_started");
    assert_eq!(never["id"], Value::Null);
    assert_eq!(never["provider_id"], Value::Null);
    // The JSON is what was asked for: -q keeps it, and the exit status.
    let mut quiet = cluster.baker();
    quiet.arg("-q");
    assert_eq!(json_of(quiet, &["status", "pg2", "--json"], 3), status);
}

#[test]
fn status_json_of_a_ready_cluster_exits_0_with_each_node_ready_since_its_check() {
    let cluster = InterruptedCluster::new();
    // The launch finished with the two nodes that run, each checked ready.
    let path = cluster.states.path().join("pg2/state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["phase"] = "ready".into();
    let nodes = state["nodes"].as_array_mut().unwrap();
    nodes.truncate(2);
    for (at, node) in nodes.iter_mut().enumerate() {
        node["ready"] = true.into();
        node["ready_since"] = (1_700_000_000 + at).into();
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let status = json_of(cluster.baker(), &["status", "pg2", "--json"], 0);
    assert_eq!(status["phase"], "ready");
    assert_eq!(status["ready"], true);
    assert_eq!(status["health"], "ready");
    assert_eq!(status["note"], Value::Null);
    let standby = node(&status, "pg2-standby-1");
    assert_eq!(standby["condition"], "ready");
    assert_eq!(standby["ready"], true);
    assert_eq!(standby["ready_since"], 1_700_000_001);
    assert!(
        (standby["note"].as_str().unwrap()).starts_with("ready since 2023-11-14T22:13:21Z ("),
        "{standby:#}"
    );
}

#[test]
fn clusters_json_lists_each_cluster_and_each_unreadable_state() {
    let states = tempfile::tempdir().unwrap();
    let list = |states: &std::path::Path| {
        let mut cmd = baker();
        cmd.env("BAKER_STATE_DIR", states);
        json_of(cmd, &["clusters", "--json"], 0)
    };
    assert_eq!(list(states.path()), serde_json::json!([]));
    let cluster = InterruptedCluster::new();
    let broken = cluster.states.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("state.json"), "not json").unwrap();
    let listed = list(cluster.states.path());
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let pg2 = listed.iter().find(|c| c["name"] == "pg2").unwrap();
    assert_eq!(
        *pg2,
        serde_json::json!({
            "name": "pg2", "provider": "qemu", "phase": "booting", "recipe": "postgresql",
            "version": "15.18", "distro": "debian-12", "nodes": 4, "at_work": null,
            "note": "its launch stopped (--resume finishes it)", "error": null,
        })
    );
    let broken = listed.iter().find(|c| c["name"] == "broken").unwrap();
    assert_eq!(broken["phase"], "unreadable");
    assert_eq!(broken["nodes"], Value::Null);
    assert!(
        (broken["error"].as_str().unwrap()).contains("state.json"),
        "{broken:#}"
    );
    // No note on stderr under the JSON: a script reads stdout, the README says what phases are.
    cluster
        .baker()
        .args(["clusters", "--json"])
        .assert()
        .stderr("");
}
