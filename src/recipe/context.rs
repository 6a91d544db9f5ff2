//! The variables a recipe's templates may use. Build templates see the recipe's facts; role templates
//! also see the cluster's (`{{master.ip}}`, `{{self.ip}}`, `{{slaves}}`), which only exist at boot.
//! A node's `slot` counts the nodes placed before it on the same machine (0 for the first, and
//! always 0 on the docker and qemu providers), so that two nodes sharing a machine (the `ssh`
//! provider) can take distinct ports and directories (`{{add 5051 self.slot}}`).

use serde::Serialize;
use serde_json::{Value, json};

use super::{Distro, JOBS_VARIABLE};
use crate::layout::{DEST_DIR, SOURCE_DIR};

/// Variables of every build-time template.
pub fn build_context(name: &str, distro: Distro, version: &str) -> Value {
    json!({
        "name": name,
        "version": version,
        "distro": distro.name(),
        "jobs": JOBS_VARIABLE,
        "srcdir": SOURCE_DIR,
        "destdir": DEST_DIR,
    })
}

/// One machine of a cluster as role templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFacts {
    pub name: String,
    pub ip: String,
    pub role: String,
    pub index: usize,
    /// How many nodes of the cluster run on this node's machine before it.
    pub slot: usize,
}

/// The cluster facts a role agent learns at first boot.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterFacts {
    pub name: String,
    /// Generated per cluster: passwords and credentials of the roles derive from it.
    pub secret: String,
    pub master: NodeFacts,
    pub slaves: Vec<NodeFacts>,
}

impl ClusterFacts {
    /// A two-slave cluster on documentation addresses, used to check role templates before any boot;
    /// the second slave shares the first one's machine (slot 1).
    pub fn example(master_role: &str, slave_role: &str) -> Self {
        let node = |i: usize, role: &str| NodeFacts {
            name: format!("node-{i}"),
            ip: format!("192.0.2.{}", 10 + i),
            role: role.to_owned(),
            index: i,
            slot: 0,
        };
        let mut shared = node(2, slave_role);
        shared.ip = format!("192.0.2.{}", 11);
        shared.slot = 1;
        Self {
            name: "example".to_owned(),
            secret: "example-secret".to_owned(),
            master: node(0, master_role),
            slaves: vec![node(1, slave_role), shared],
        }
    }
}

/// Variables of a role template for node `me` of `cluster`, on top of the build variables.
pub fn role_context(build: &Value, cluster: &ClusterFacts, me: &NodeFacts) -> Value {
    let mut value = build.clone();
    if let Value::Object(map) = &mut value {
        map.insert(
            "cluster".into(),
            json!({ "name": cluster.name, "secret": cluster.secret }),
        );
        map.insert("master".into(), json!(cluster.master));
        map.insert("self".into(), json!(me));
        map.insert("slaves".into(), json!(cluster.slaves));
        map.insert("slave_count".into(), json!(cluster.slaves.len()));
    }
    value
}

/// Variables of a key's follow-up command (`then`): the path it was placed at.
pub fn file_context(build: &Value, path: &str) -> Value {
    let mut value = build.clone();
    if let Value::Object(map) = &mut value {
        map.insert("path".into(), json!(path));
    }
    value
}
