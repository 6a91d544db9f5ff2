//! Roles as `baker plan` prints them: each version's own flags rendered, a placeholder for every
//! value a launch fills in, and the templates kept as written in `baker plan --json`.

use predicates::prelude::*;

use super::{baker, contains_all};

fn plan_text(args: &[&str]) -> String {
    let out = baker().arg("plan").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The line of `text` that runs role `role`'s command.
fn runs_line<'a>(text: &'a str, role: &str) -> &'a str {
    let section = &text[text
        .find(&format!("\nrole {role} "))
        .unwrap_or_else(|| panic!("no role {role} in\n{text}"))..];
    section
        .lines()
        .find(|l| l.starts_with("  runs   $ "))
        .unwrap()
}

#[test]
fn the_mesos_master_runs_the_flags_of_the_planned_version() {
    for distro in ["ubuntu14.04", "centos6"] {
        for (version, flags, other) in [
            (
                "0.25.0",
                " --authenticate --authenticate_slaves",
                "--authenticate_agents",
            ),
            (
                "1.11.0",
                " --authenticate_frameworks --authenticate_agents",
                "--authenticate_slaves",
            ),
        ] {
            let text = plan_text(&["--distro", distro, "--version", version]);
            assert!(!text.contains("{{"), "{distro} {version}:\n{text}");
            let master = runs_line(&text, "master");
            assert!(master.ends_with(flags), "{distro} {version}: {master}");
            assert!(!master.contains(other), "{distro} {version}: {master}");
            assert!(
                master.contains("--ip=<self.ip> ") && master.contains("--cluster=<cluster.name> "),
                "{master}"
            );
            let header = format!(
                "\nroles, rendered for mesos {version} (`baker plan --json` keeps the templates \
                 as written):\n  filled in per node at launch: <self.ip> <master.ip> \
                 <slave_count> <cluster.name> <cluster.secret>\n  each role is shown in slot 0"
            );
            assert!(text.contains(&header), "{distro} {version}:\n{text}");
            let slave = runs_line(&text, "slave");
            assert!(
                slave.contains("--master=<master.ip>:5050")
                    && slave.contains("--port=5051 ")
                    && slave.contains("--work_dir=/var/lib/mesos "),
                "{slave}"
            );
        }
    }
}

#[test]
fn the_default_ubuntu_plan_is_of_0_25_and_says_so_in_its_master_command() {
    let text = plan_text(&["--distro", "ubuntu14.04"]);
    let master = runs_line(&text, "master");
    assert!(master.contains("--authenticate_slaves"), "{master}");
    assert!(!master.contains("{{#if"), "{master}");
}

#[test]
fn the_secret_is_a_placeholder_and_readiness_waits_for_the_launched_slave_count() {
    baker()
        .args(["plan", "--distro", "centos6"])
        .assert()
        .success()
        .stdout(contains_all(&[
            "\"secret\": \"agent-<cluster.secret>\"",
            "DEFAULT_SECRET=framework-<cluster.secret>",
            "/master~1slaves_active == <slave_count> (within",
            "ready  http GET http://<self.ip>:5051/slave(1)/health -> 200",
        ]))
        .stdout(predicate::str::contains("{{").not());
}

#[test]
fn postgresql_standbys_are_shown_in_slot_0_with_the_plain_port() {
    let text = plan_text(&["--recipe", "postgresql", "--distro", "debian12"]);
    assert!(!text.contains("{{"), "{text}");
    assert!(
        text.contains("  filled in per node at launch: <self.name> <self.ip> <master.name> <master.ip> <slave_count> <cluster.secret>\n"),
        "{text}"
    );
    assert_eq!(
        runs_line(&text, "standby"),
        "  runs   $ /usr/local/pgsql/bin/postgres"
    );
    let standby = &text[text.find("\nrole standby ").expect(&text)..];
    let standby = &standby[..standby[1..]
        .find("\n\n")
        .map_or(standby.len(), |end| end + 1)];
    assert!(
        standby.contains("env    PGDATA=/var/lib/postgres/data\n"),
        "{standby}"
    );
}

#[test]
fn plan_json_keeps_the_templates_launch_renders() {
    let out = baker()
        .args(["plan", "--json", "--distro", "ubuntu14.04"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let master = plan["roles"]["master"]["command"].as_str().unwrap();
    assert!(
        master.contains(
            "{{#if (eq version \"0.25.0\")}}--authenticate --authenticate_slaves{{else}}\
             --authenticate_frameworks --authenticate_agents{{/if}}"
        ),
        "{master}"
    );
    assert!(master.contains("--ip={{self.ip}}"), "{master}");
    let slave = plan["roles"]["slave"]["command"].as_str().unwrap();
    assert!(slave.contains("--port={{add 5051 self.slot}}"), "{slave}");
    assert!(!plan.to_string().contains("<self.ip>"));
}

#[test]
fn the_smoke_test_is_shown_in_order_as_each_role_runs_it() {
    let text = plan_text(&["--recipe", "postgresql"]);
    let smoke = &text[text
        .find("\nsmoke test (`baker launch --smoke`)")
        .expect(&text)..];
    let primary = smoke.find("  on every primary $ ").expect(smoke);
    let standby = smoke.find("  on every standby $ ").expect(smoke);
    assert!(primary < standby, "{smoke}");
    assert!(
        smoke.contains("passes when it exits 0 printing `written on <master.name>`"),
        "{smoke}"
    );
    assert!(!smoke.contains("{{"), "{smoke}");
    // hello has no smoke test: no heading for one.
    assert!(!plan_text(&["--recipe", "hello"]).contains("smoke test"));
}
