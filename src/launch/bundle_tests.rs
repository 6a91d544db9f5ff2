//! Role bundles rendered from the real recipes' plans: the cluster secret lands in files only, a
//! slave names its master, and two slaves or standbys sharing a machine (slots 0 and 1) take
//! distinct ports, directories and names while slot 0 renders as a machine of its own.

use serde_json::Value;

use super::bundle::{NodeBundle, render_bundle};
use crate::plan::Plan;
use crate::plan::{PlanOptions, resolve};
use crate::recipe::Catalog;
use crate::recipe::RoleKind;
use crate::recipe::context::{ClusterFacts, NodeFacts};

fn mesos_plan() -> Plan {
    mesos_plan_of(None)
}

fn mesos_plan_of(version: Option<&str>) -> Plan {
    let catalog = Catalog::embedded().unwrap();
    let recipe = catalog.select(Some("mesos"), Some("centos6")).unwrap();
    let options = PlanOptions {
        version: version.map(str::to_owned),
        ..PlanOptions::default()
    };
    resolve(&recipe, &options).unwrap()
}

#[test]
fn mesos_agents_and_frameworks_authenticate_with_the_cluster_secret_under_each_versions_flags() {
    let cluster = ClusterFacts::example("master", "slave");
    for (version, flags) in [
        ("0.25.0", "--authenticate --authenticate_slaves"),
        ("1.11.0", "--authenticate_frameworks --authenticate_agents"),
    ] {
        let plan = mesos_plan_of(Some(version));
        let master = render_bundle(&plan, &cluster, &cluster.master).unwrap();
        assert!(
            master.command.ends_with(flags),
            "{version}: {}",
            master.command
        );
        assert!(
            master
                .command
                .contains("--credentials=/etc/mesos/credentials")
        );
        let file =
            |b: &NodeBundle, path: &str| b.files.iter().find(|f| f.path == path).cloned().unwrap();
        let credentials = file(&master, "/etc/mesos/credentials");
        assert_eq!(credentials.mode, 0o600);
        let parsed: Value = serde_json::from_str(&credentials.content).unwrap();
        let agent_secret = format!("agent-{}", cluster.secret);
        assert_eq!(parsed["credentials"][0]["principal"], "baker-agent");
        assert_eq!(parsed["credentials"][0]["secret"], agent_secret.as_str());
        let slave = render_bundle(&plan, &cluster, &cluster.slaves[0]).unwrap();
        assert!(slave.command.contains("--credential=/etc/mesos/credential"));
        let credential = file(&slave, "/etc/mesos/credential");
        assert_eq!(credential.mode, 0o600);
        let parsed: Value = serde_json::from_str(&credential.content).unwrap();
        assert_eq!(parsed["secret"], agent_secret.as_str());
        // The secret is in files only, never on a command line that `ps` or an error shows.
        assert!(!master.command.contains(&cluster.secret));
        assert!(!slave.command.contains(&cluster.secret));
        assert!(plan.smoke.iter().all(|s| !s.run.contains("secret")));
    }
}

#[test]
fn a_slave_bundle_names_its_master_and_itself() {
    let plan = mesos_plan();
    let cluster = ClusterFacts::example("master", "slave");
    let bundle = render_bundle(&plan, &cluster, &cluster.slaves[1]).unwrap();
    assert_eq!(bundle.kind, RoleKind::Slave);
    assert!(
        bundle.command.contains("--master=192.0.2.10:5050"),
        "{}",
        bundle.command
    );
    assert!(
        bundle.command.contains("--ip=192.0.2.11"),
        "{}",
        bundle.command
    );
    assert_eq!(bundle.env["MESOS_LAUNCHER"], "posix");
    let master_file = bundle
        .files
        .iter()
        .find(|f| f.path == "/etc/mesos-slave/master");
    assert_eq!(master_file.unwrap().content, "192.0.2.10:5050\n");
    assert!(!bundle.command.contains("{{"));
}

/// The example's second slave shares the first one's machine (slot 1): its port, work dir and
/// readiness URLs move on by one; slot 0 renders the plain 5051 and /var/lib/mesos.
#[test]
fn two_mesos_slaves_on_one_machine_take_distinct_ports_and_work_dirs() {
    let plan = mesos_plan();
    let cluster = ClusterFacts::example("master", "slave");
    let first = render_bundle(&plan, &cluster, &cluster.slaves[0]).unwrap();
    let second = render_bundle(&plan, &cluster, &cluster.slaves[1]).unwrap();
    assert_eq!(
        first.command,
        "/usr/local/sbin/mesos-slave --master=192.0.2.10:5050 --ip=192.0.2.11 --port=5051 --hostname=192.0.2.11 --work_dir=/var/lib/mesos --credential=/etc/mesos/credential"
    );
    assert!(
        second.command.contains("--port=5052 "),
        "{}",
        second.command
    );
    assert!(
        second.command.contains("--work_dir=/var/lib/mesos-1 "),
        "{}",
        second.command
    );
    assert_eq!(first.data, ["/var/lib/mesos"]);
    assert_eq!(second.data, ["/var/lib/mesos-1"]);
    let file = |b: &NodeBundle, path: &str| {
        b.files
            .iter()
            .find(|f| f.path == path)
            .unwrap()
            .content
            .clone()
    };
    assert_eq!(file(&first, "/etc/mesos-slave/port"), "5051\n");
    assert_eq!(file(&second, "/etc/mesos-slave/port"), "5052\n");
    assert_eq!(
        file(&second, "/etc/mesos-slave/work_dir"),
        "/var/lib/mesos-1\n"
    );
    let urls =
        |b: &NodeBundle| -> Vec<String> { b.ready.iter().map(|r| r.probe.to_string()).collect() };
    assert!(
        urls(&first).iter().all(|u| u.contains(":5051/")),
        "{:?}",
        urls(&first)
    );
    assert!(
        urls(&second).iter().all(|u| u.contains(":5052/")),
        "{:?}",
        urls(&second)
    );
}

/// Two standbys on one machine: the second takes port 5433 and its own PGDATA, and each is told
/// apart on the primary by its application_name (both come from one address).
#[test]
fn two_postgresql_standbys_on_one_machine_are_told_apart() {
    let catalog = Catalog::embedded().unwrap();
    let recipe = catalog.select(Some("postgresql"), None).unwrap();
    let plan = resolve(&recipe, &PlanOptions::default()).unwrap();
    let cluster = ClusterFacts::example("primary", "standby");
    let first = render_bundle(&plan, &cluster, &cluster.slaves[0]).unwrap();
    let second = render_bundle(&plan, &cluster, &cluster.slaves[1]).unwrap();
    assert_eq!(first.command, "/usr/local/pgsql/bin/postgres");
    assert_eq!(second.command, "/usr/local/pgsql/bin/postgres -p 5433");
    assert_eq!(first.env["PGDATA"], "/var/lib/postgres/data");
    assert_eq!(second.env["PGDATA"], "/var/lib/postgres/data-1");
    assert!(
        second
            .setup
            .as_deref()
            .unwrap()
            .contains("application_name=node-2")
    );
    let checks = |b: &NodeBundle| -> String {
        b.ready
            .iter()
            .chain(&b.smoke)
            .map(|r| r.probe.to_string())
            .collect()
    };
    // Each standby checks its own WAL receiver, on its own port's local socket.
    assert!(
        checks(&first)
            .contains("/psql -U postgres -Atc \"select status from pg_stat_wal_receiver\""),
        "{}",
        checks(&first)
    );
    assert!(
        checks(&second)
            .contains("/psql -p 5433 -U postgres -Atc \"select status from pg_stat_wal_receiver\""),
        "{}",
        checks(&second)
    );
    assert!(
        checks(&second).contains("-h 192.0.2.11 -p 5433 "),
        "{}",
        checks(&second)
    );
    assert!(!checks(&first).contains(" -p "), "{}", checks(&first));
}

#[test]
fn the_master_bundle_renders_its_readiness_checks_for_the_cluster_size() {
    let plan = mesos_plan();
    let cluster = ClusterFacts::example("master", "slave");
    let bundle = render_bundle(&plan, &cluster, &cluster.master).unwrap();
    assert_eq!(bundle.kind, RoleKind::Master);
    let equals: Vec<_> = bundle
        .ready
        .iter()
        .filter_map(|r| r.equals.clone())
        .collect();
    assert_eq!(equals, ["2"]);
    let unknown = NodeFacts {
        role: "nope".into(),
        ..cluster.master.clone()
    };
    assert!(render_bundle(&plan, &cluster, &unknown).is_err());
}

/// A data directory whose template renders to a path destroy could not remove safely (here an
/// empty component for slot 0) is refused at launch, naming the role.
#[test]
fn a_data_directory_rendered_out_of_shape_is_refused() {
    let mut plan = mesos_plan();
    let slave = plan.roles.get_mut("slave").unwrap();
    slave.data = vec!["/srv/{{#if self.slot}}s{{/if}}/mesos".into()];
    let cluster = ClusterFacts::example("master", "slave");
    let err = render_bundle(&plan, &cluster, &cluster.slaves[0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("role `slave`") && err.contains("`/srv//mesos` is not canonical"),
        "{err}"
    );
}
