//! The plan of every recipe and version, pinned. A change to a recipe, to how plans are made, or to
//! how keys are computed shows up here as a reviewed diff (`INSTA_UPDATE=always cargo test` rewrites).
//! Beside them, the roles of the recipes baker ships, rendered for a master that is not the first
//! node on its machine (the `ssh` provider's slots): its port and data directory are its slot's, and
//! every node that addresses it uses that port.

use baker::launch::bundle::{NodeBundle, render_bundle};
use baker::plan::{Plan, PlanOptions, resolve};
use baker::recipe::Catalog;
use baker::recipe::context::{ClusterFacts, NodeFacts};

#[test]
fn every_recipe_plan_is_pinned() {
    let catalog = Catalog::embedded().unwrap();
    for recipe in catalog.recipes() {
        for version in recipe.version_names() {
            let plan = resolve(
                recipe,
                &PlanOptions {
                    version: Some(version.to_owned()),
                    ..Default::default()
                },
            )
            .unwrap();
            insta::assert_json_snapshot!(
                format!("{}-{}-{}", recipe.name, recipe.distro, version),
                plan
            );
        }
    }
}

fn plan_of(name: &str, distro: Option<&str>, version: &str) -> Plan {
    let catalog = Catalog::embedded().unwrap();
    let recipe = catalog.select(Some(name), distro).unwrap();
    let options = PlanOptions {
        version: Some(version.to_owned()),
        ..PlanOptions::default()
    };
    resolve(&recipe, &options).unwrap()
}

/// A cluster whose master shares 192.0.2.11 with a slave placed there before it (slot 0), so the
/// master is in slot 1; a second slave has 192.0.2.12 to itself.
fn master_in_slot_1(master_role: &str, slave_role: &str) -> ClusterFacts {
    let node = |i: usize, role: &str, ip: &str, slot: usize| NodeFacts {
        name: format!("node-{i}"),
        ip: ip.to_owned(),
        role: role.to_owned(),
        index: i,
        slot,
    };
    ClusterFacts {
        name: "example".to_owned(),
        secret: "example-secret".to_owned(),
        master: node(0, master_role, "192.0.2.11", 1),
        slaves: vec![
            node(1, slave_role, "192.0.2.11", 0),
            node(2, slave_role, "192.0.2.12", 0),
        ],
    }
}

fn file(bundle: &NodeBundle, path: &str) -> String {
    let found = bundle.files.iter().find(|f| f.path == path);
    found.unwrap_or_else(|| panic!("no {path}")).content.clone()
}

fn checks(bundle: &NodeBundle) -> Vec<String> {
    (bundle.ready.iter().chain(&bundle.smoke))
        .map(|c| c.probe.to_string())
        .collect()
}

/// Mesos, both recipes and both versions: the master in slot 1 takes slot 1's work dir and port
/// (5051 + 1: 5050 + 1 is the port of the slave in slot 0 beside it), in its flags, its
/// /etc/mesos-master files, its readiness URLs and the smoke test; every slave names that port;
/// the first node on a machine keeps the plain /var/lib/mesos and 5050.
#[test]
fn a_mesos_master_in_slot_1_takes_its_slots_port_and_work_dir_and_its_slaves_reach_it_there() {
    for (distro, version, flags) in [
        (
            "ubuntu-14.04",
            "0.25.0",
            "--authenticate --authenticate_slaves",
        ),
        (
            "centos-6.6",
            "1.11.0",
            "--authenticate_frameworks --authenticate_agents",
        ),
    ] {
        let plan = plan_of("mesos", Some(distro), version);
        let cluster = master_in_slot_1("master", "slave");
        let master = render_bundle(&plan, &cluster, &cluster.master).unwrap();
        assert_eq!(
            master.command,
            format!(
                "/usr/local/sbin/mesos-master --work_dir=/var/lib/mesos-1 --ip=192.0.2.11 \
                 --port=5052 --hostname=192.0.2.11 --cluster=example \
                 --credentials=/etc/mesos/credentials {flags}"
            )
        );
        assert_eq!(master.data, ["/var/lib/mesos-1"]);
        assert_eq!(file(&master, "/etc/mesos-master/port"), "5052\n");
        assert_eq!(
            file(&master, "/etc/mesos-master/work_dir"),
            "/var/lib/mesos-1\n"
        );
        assert_eq!(
            checks(&master),
            [
                "http GET http://192.0.2.11:5052/health -> 200".to_owned(),
                "http GET http://192.0.2.11:5052/metrics/snapshot -> 200, /master~1slaves_active"
                    .to_owned(),
                "command . /etc/mesos/framework.env && /usr/local/libexec/mesos/examples/test-framework \
                 --master=192.0.2.11:5052"
                    .to_owned(),
            ]
        );
        let beside = render_bundle(&plan, &cluster, &cluster.slaves[0]).unwrap();
        assert_eq!(
            beside.command,
            "/usr/local/sbin/mesos-slave --master=192.0.2.11:5052 --ip=192.0.2.11 --port=5051 \
             --hostname=192.0.2.11 --work_dir=/var/lib/mesos --credential=/etc/mesos/credential"
        );
        assert_eq!(beside.data, ["/var/lib/mesos"]);
        let alone = render_bundle(&plan, &cluster, &cluster.slaves[1]).unwrap();
        assert!(
            alone
                .command
                .starts_with("/usr/local/sbin/mesos-slave --master=192.0.2.11:5052 ")
        );
        for slave in [&beside, &alone] {
            assert_eq!(file(slave, "/etc/mesos-slave/master"), "192.0.2.11:5052\n");
        }

        // The master first on its machine, as every docker and qemu node is: as before.
        let plain = ClusterFacts::example("master", "slave");
        let master = render_bundle(&plan, &plain, &plain.master).unwrap();
        assert_eq!(
            master.command,
            format!(
                "/usr/local/sbin/mesos-master --work_dir=/var/lib/mesos --ip=192.0.2.10 \
                 --port=5050 --hostname=192.0.2.10 --cluster=example \
                 --credentials=/etc/mesos/credentials {flags}"
            )
        );
        assert_eq!(master.data, ["/var/lib/mesos"]);
        assert_eq!(file(&master, "/etc/mesos-master/port"), "5050\n");
        assert!(
            checks(&master)
                .iter()
                .all(|c| c.contains("192.0.2.10:5050"))
        );
        let slave = render_bundle(&plan, &plain, &plain.slaves[1]).unwrap();
        assert!(slave.command.contains(" --master=192.0.2.10:5050 "));
        assert_eq!(file(&slave, "/etc/mesos-slave/master"), "192.0.2.10:5050\n");
    }
}

/// Every node of a cluster on one machine, master included, in slots 0 to 3 (however the master
/// and the slaves share them): no two take one port or one data directory.
#[test]
fn nodes_sharing_a_machine_never_share_a_port_or_a_data_directory() {
    for (name, distro, master_role, slave_role, flag) in [
        ("mesos", "ubuntu-14.04", "master", "slave", " --port="),
        ("postgresql", "debian-12", "primary", "standby", " -p "),
    ] {
        let catalog = Catalog::embedded().unwrap();
        let recipe = catalog.select(Some(name), Some(distro)).unwrap();
        let plan = resolve(&recipe, &PlanOptions::default()).unwrap();
        for master_slot in 0..4 {
            let node = |i: usize, role: &str| NodeFacts {
                name: format!("node-{i}"),
                ip: "192.0.2.11".to_owned(),
                role: role.to_owned(),
                index: i,
                slot: (i + master_slot) % 4,
            };
            let cluster = ClusterFacts {
                name: "example".to_owned(),
                secret: "example-secret".to_owned(),
                master: node(0, master_role),
                slaves: (1..4).map(|i| node(i, slave_role)).collect(),
            };
            let mut ports = Vec::new();
            let mut dirs = Vec::new();
            for me in std::iter::once(&cluster.master).chain(&cluster.slaves) {
                let bundle = render_bundle(&plan, &cluster, me).unwrap();
                // The port the command gives, or the default of a command that gives none.
                let port = (bundle.command.split_once(flag))
                    .map_or("5432", |(_, rest)| rest.split(' ').next().unwrap())
                    .to_owned();
                ports.push(port);
                dirs.extend(bundle.data);
            }
            for seen in [&ports, &dirs] {
                let mut distinct = seen.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(
                    distinct.len(),
                    seen.len(),
                    "{name}, master in slot {master_slot}: {seen:?}"
                );
            }
        }
    }
}

/// PostgreSQL: the primary in slot 1 listens on 5433 with its own PGDATA, checks itself there, and
/// the standbys wait for it, clone it and stream from it there; in slot 0, as before.
#[test]
fn a_postgresql_primary_in_slot_1_takes_its_slots_port_and_data_and_its_standbys_reach_it_there() {
    let plan = plan_of("postgresql", None, "15.18");
    let cluster = master_in_slot_1("primary", "standby");
    let primary = render_bundle(&plan, &cluster, &cluster.master).unwrap();
    assert_eq!(primary.command, "/usr/local/pgsql/bin/postgres -p 5433");
    assert_eq!(primary.data, ["/var/lib/postgres/data-1"]);
    assert_eq!(primary.env["PGDATA"], "/var/lib/postgres/data-1");
    let checks_of_primary = checks(&primary);
    assert_eq!(
        checks_of_primary[..2],
        [
            "command /usr/local/pgsql/bin/pg_isready -q -U postgres -h 192.0.2.11 -p 5433 && echo ok"
                .to_owned(),
            "command /usr/local/pgsql/bin/psql -p 5433 -U postgres -Atc \"select count(distinct \
             application_name) from pg_stat_replication where state = 'streaming'\""
                .to_owned(),
        ]
    );
    assert!(
        checks_of_primary[2]
            .starts_with("command /usr/local/pgsql/bin/psql -h 192.0.2.11 -p 5433 -U postgres "),
        "{checks_of_primary:?}"
    );
    let beside = render_bundle(&plan, &cluster, &cluster.slaves[0]).unwrap();
    assert_eq!(beside.command, "/usr/local/pgsql/bin/postgres");
    assert_eq!(beside.env["PGDATA"], "/var/lib/postgres/data");
    for standby in [
        &beside,
        &render_bundle(&plan, &cluster, &cluster.slaves[1]).unwrap(),
    ] {
        let setup = standby.setup.clone().unwrap();
        assert!(
            setup.starts_with(
                "until /usr/local/pgsql/bin/pg_isready -q -U postgres -h 192.0.2.11 -p 5433; do \
                 echo \"waiting for the primary at 192.0.2.11:5433\"; sleep 0.5; done\n"
            ),
            "{setup}"
        );
        assert!(
            setup.contains(" -h 192.0.2.11 -p 5433 -U postgres -D \"$PGDATA\" -R -X stream\n"),
            "{setup}"
        );
    }

    let plain = ClusterFacts::example("primary", "standby");
    let primary = render_bundle(&plan, &plain, &plain.master).unwrap();
    assert_eq!(primary.command, "/usr/local/pgsql/bin/postgres");
    assert_eq!(primary.env["PGDATA"], "/var/lib/postgres/data");
    assert!(checks(&primary).iter().all(|c| !c.contains(" -p ")));
    let setup = render_bundle(&plan, &plain, &plain.slaves[0])
        .unwrap()
        .setup
        .unwrap();
    assert!(
        setup.starts_with(
            "until /usr/local/pgsql/bin/pg_isready -q -U postgres -h 192.0.2.10; do \
             echo \"waiting for the primary at 192.0.2.10:5432\"; sleep 0.5; done\n"
        ),
        "{setup}"
    );
}
