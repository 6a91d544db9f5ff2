//! A node's bundle: everything its role agent needs, rendered from the plan's role templates and
//! the cluster's facts. Launch renders on the host, with the same handlebars templates and the
//! same context the recipe's loading checked (`{{self.ip}}`, `{{master.ip}}`, `{{cluster.secret}}`),
//! so the agent baked into the image needs no template engine: it runs on the image's own
//! 2014-era userland (bash 4.1, no Python) and only writes files, runs the setup and starts the
//! command. The bundle travels to the node the provider's way (a mounted file for containers, a
//! NoCloud seed for QEMU, scp for SSH) as a small tar read by `images/agent/baker-agent`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{Plan, ProbePlan, RolePlan};
use crate::recipe::context::{ClusterFacts, NodeFacts, build_context, role_context};
use crate::recipe::template::{Renderer, Template};
use crate::recipe::{Distro, RoleKind};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the plan has no role `{0}`")]
    UnknownRole(String),
    #[error("the plan's distro `{0}` is unknown to this baker")]
    UnknownDistro(String),
    #[error("rendering {what} of role `{role}`: {message}")]
    Render {
        role: String,
        what: String,
        message: String,
    },
}

/// One node's role, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBundle {
    pub node: String,
    pub role: String,
    pub kind: RoleKind,
    /// The user the role runs as; `None` is root.
    pub user: Option<String>,
    pub env: BTreeMap<String, String>,
    pub files: Vec<BundleFile>,
    pub setup: Option<String>,
    pub command: String,
    pub ready: Vec<ReadyCheck>,
    /// The plan's smoke steps for this node's role, rendered; run only with `--smoke`.
    #[serde(default)]
    pub smoke: Vec<ReadyCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    pub path: String,
    pub mode: u32,
    pub content: String,
}

/// A readiness check with its templates rendered for this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyCheck {
    pub probe: ProbePlan,
    pub equals: Option<String>,
    pub timeout_seconds: u64,
}

/// Renders the role of `me` in `cluster` from the plan.
pub fn render_bundle(
    plan: &Plan,
    cluster: &ClusterFacts,
    me: &NodeFacts,
) -> Result<NodeBundle, BundleError> {
    let role: &RolePlan = plan
        .roles
        .get(&me.role)
        .ok_or_else(|| BundleError::UnknownRole(me.role.clone()))?;
    let distro = Distro::parse(&plan.recipe.distro)
        .ok_or_else(|| BundleError::UnknownDistro(plan.recipe.distro.clone()))?;
    let context = role_context(
        &build_context(&plan.recipe.name, distro, &plan.version),
        cluster,
        me,
    );
    let renderer = Renderer::default();
    let render = |what: &str, text: &str| -> Result<String, BundleError> {
        render_one(&renderer, &context, text).map_err(|message| BundleError::Render {
            role: me.role.clone(),
            what: what.to_owned(),
            message,
        })
    };
    let ready = role
        .ready
        .iter()
        .map(|r| {
            Ok(ReadyCheck {
                probe: match &r.probe {
                    ProbePlan::Http {
                        url,
                        status,
                        json_pointer,
                    } => ProbePlan::Http {
                        url: render("a readiness URL", url)?,
                        status: *status,
                        json_pointer: json_pointer.clone(),
                    },
                    ProbePlan::Command { run } => ProbePlan::Command {
                        run: render("a readiness command", run)?,
                    },
                },
                equals: r
                    .equals
                    .as_deref()
                    .map(|e| render("a readiness `equals`", e))
                    .transpose()?,
                timeout_seconds: r.timeout_seconds,
            })
        })
        .collect::<Result<_, BundleError>>()?;
    let smoke = plan
        .smoke
        .iter()
        .filter(|s| s.role == me.role)
        .map(|s| {
            Ok(ReadyCheck {
                probe: ProbePlan::Command {
                    run: render("a smoke step", &s.run)?,
                },
                equals: s
                    .equals
                    .as_deref()
                    .map(|e| render("a smoke step's `equals`", e))
                    .transpose()?,
                timeout_seconds: s.timeout_seconds,
            })
        })
        .collect::<Result<_, BundleError>>()?;
    Ok(NodeBundle {
        smoke,
        node: me.name.clone(),
        role: me.role.clone(),
        kind: role.kind,
        user: role.user.clone(),
        env: role
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(&format!("env {k}"), v)?)))
            .collect::<Result<_, BundleError>>()?,
        files: role
            .config
            .iter()
            .map(|f| {
                Ok(BundleFile {
                    path: f.path.clone(),
                    mode: f.mode,
                    content: render(&format!("config file {}", f.path), &f.content)?,
                })
            })
            .collect::<Result<_, BundleError>>()?,
        setup: role
            .setup
            .as_deref()
            .map(|s| render("setup", s))
            .transpose()?,
        command: render("command", &role.command)?,
        ready,
    })
}

fn render_one(renderer: &Renderer, context: &Value, text: &str) -> Result<String, String> {
    renderer
        .render(&Template::new(text, 0..0), context)
        .map_err(|fault| fault.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, resolve};
    use crate::recipe::Catalog;

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
    fn mesos_agents_and_frameworks_authenticate_with_the_cluster_secret_under_each_versions_flags()
    {
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
            let file = |b: &NodeBundle, path: &str| {
                b.files.iter().find(|f| f.path == path).cloned().unwrap()
            };
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
        assert_eq!(
            second.setup.as_deref(),
            Some("ldconfig\nmkdir -p /var/lib/mesos-1")
        );
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
        let urls = |b: &NodeBundle| -> Vec<String> {
            b.ready.iter().map(|r| r.probe.to_string()).collect()
        };
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
        assert!(
            checks(&first).contains("application_name = 'node-1'"),
            "{}",
            checks(&first)
        );
        assert!(
            checks(&second).contains("application_name = 'node-2'"),
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
}
