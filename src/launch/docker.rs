//! The `docker` provider: every node a container on a network of its own, started from the node
//! image (the image stage's OS layer with the tarball and the role agent, committed once), running
//! the role agent as its command. Containers start before their bundles exist — a container's
//! address is known only once it runs — so the agent waits for its bundle, which launch renders
//! with every node's address and uploads. Ports are published on 127.0.0.1 unless asked otherwise.

use std::collections::BTreeMap;

use super::readiness::NodeShell;
use crate::engine::{Engine, NodeSpec};

/// Every container, network and image of a cluster carries `baker.cluster=<name>`.
pub const CLUSTER_LABEL: &str = "baker.cluster";

/// The agent's path in every node image.
pub const AGENT_PATH: &str = "/usr/lib/baker/baker-agent";

/// One container of a cluster.
pub struct ContainerNode<'a> {
    pub engine: &'a Engine,
    pub id: String,
}

impl NodeShell for ContainerNode<'_> {
    async fn run(&self, script: &str) -> Result<(i64, String), String> {
        self.engine
            .exec(&self.id, &["bash", "-c", script], None)
            .await
            .map(|o| (o.exit_code, o.output))
            .map_err(|e| e.to_string())
    }

    async fn alive(&self) -> bool {
        self.engine.is_running(&self.id).await
    }
}

/// The network of cluster `name`.
pub fn network_name(cluster: &str) -> String {
    format!("baker-{cluster}")
}

/// Starts one node container, waiting for its bundle; returns its id.
pub async fn start_node(
    engine: &Engine,
    cluster: &str,
    node: &str,
    role: &str,
    image: &str,
    ports: &[u16],
    host_ip: &str,
) -> Result<String, crate::engine::EngineError> {
    let env = BTreeMap::from([("BAKER_AGENT_WAIT".to_owned(), "600".to_owned())]);
    engine
        .run_node(NodeSpec {
            name: node,
            image,
            network: &network_name(cluster),
            cmd: vec![AGENT_PATH.to_owned()],
            env: &env,
            labels: &[
                (CLUSTER_LABEL, cluster),
                ("baker.node", node),
                ("baker.role", role),
            ],
            publish: ports,
            host_ip,
        })
        .await
}

/// Removes every container and network of cluster `name`; returns how many things it removed.
pub async fn remove_cluster(
    engine: &Engine,
    name: &str,
) -> Result<usize, crate::engine::EngineError> {
    let mut removed = 0;
    for id in engine.containers_labelled(CLUSTER_LABEL, name).await? {
        engine.remove_node(&id).await;
        removed += 1;
    }
    for network in engine.networks_labelled(CLUSTER_LABEL, name).await? {
        engine.remove_network(&network).await?;
        removed += 1;
    }
    Ok(removed)
}
