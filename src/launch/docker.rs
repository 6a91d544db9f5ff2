//! The `docker` provider: every node a container on a network of its own, started from the node
//! image (the image stage's OS layer with the tarball and the role agent, committed once), running
//! the role agent as its command. Containers start before their bundles exist — a container's
//! address is known only once it runs — so the agent waits for its bundle, which launch renders
//! with every node's address and uploads. Ports are published on 127.0.0.1 unless asked otherwise.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::bundle::NodeBundle;
use super::bundle_tar::BUNDLE_DIR;
use super::error::LaunchError;
use super::provider::{AGENT_PATH, Provider, role_log_script};
use super::readiness::NodeShell;
use super::state::{ClusterState, NodeState, StateDir};
use crate::engine::{Engine, NodeSpec};
use crate::plan::Plan;

/// Every container, network and image of a cluster carries `baker.cluster=<name>`.
pub const CLUSTER_LABEL: &str = "baker.cluster";

/// Containers on the local engine.
pub struct DockerProvider<'a> {
    pub engine: &'a Engine,
    /// The node image (see [`super::node_image`]).
    pub image: String,
    /// `127.0.0.1`, or `0.0.0.0` with `--publish-all`.
    pub host_ip: &'static str,
}

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

impl Provider for DockerProvider<'_> {
    type Shell<'s>
        = ContainerNode<'s>
    where
        Self: 's;

    fn name(&self) -> &'static str {
        "docker"
    }

    async fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> Result<(), LaunchError> {
        let network = network_name(&state.name);
        if !state.resources.contains_key("network") {
            self.engine
                .create_network(&network, &[(CLUSTER_LABEL, &state.name)])
                .await?;
            state.resources.insert("network".into(), network.clone());
            states.save(state)?;
        }
        let cluster = state.name.clone();
        let todo: Vec<usize> = (0..state.nodes.len())
            .filter(|&i| state.nodes[i].address.is_empty())
            .collect();
        let started = join_all(todo.iter().map(|&i| {
            let node = &state.nodes[i];
            let ports = plan.roles.get(&node.role).map(|r| r.ports.clone());
            self.start_container(&cluster, node, ports.unwrap_or_default(), &network)
        }))
        .await;
        let mut first_error = None;
        for (i, result) in todo.into_iter().zip(started) {
            match result {
                Ok(id) => {
                    let (address, published) = self.engine.node_address(&id, &network).await?;
                    let node = &mut state.nodes[i];
                    node.provider_id = Some(id);
                    node.address = address;
                    node.published = published;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        states.save(state)?;
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }

    async fn start(
        &self,
        state: &ClusterState,
        index: usize,
        bundle: &NodeBundle,
    ) -> Result<(), LaunchError> {
        let id = state.nodes[index]
            .provider_id
            .as_deref()
            .unwrap_or_default();
        self.engine.upload_to(id, "/", with_prefix(bundle)?).await?;
        Ok(())
    }

    fn shell<'s>(&'s self, node: &NodeState) -> ContainerNode<'s> {
        ContainerNode {
            engine: self.engine,
            id: node.provider_id.clone().unwrap_or_default(),
        }
    }

    fn login_command(&self, node: &NodeState) -> Vec<String> {
        let id = node.provider_id.clone().unwrap_or_default();
        ["docker", "exec", "-it", &id, "bash", "-l"]
            .map(str::to_owned)
            .to_vec()
    }

    async fn role_log(&self, node: &NodeState, lines: usize) -> Vec<String> {
        let id = node.provider_id.as_deref().unwrap_or_default();
        let script = role_log_script(lines);
        match self.engine.exec(id, &["bash", "-c", &script], None).await {
            Ok(out) if !out.output.trim().is_empty() => {
                out.output.lines().map(str::to_owned).collect()
            }
            _ => self
                .engine
                .container_logs(id, lines)
                .await
                .map(|t| t.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }

    async fn alive(&self, node: &NodeState) -> bool {
        match &node.provider_id {
            Some(id) => self.engine.is_running(id).await,
            None => false,
        }
    }

    /// Removes every container and network carrying the cluster's label, so that what an
    /// interrupted launch made before recording it goes too.
    async fn destroy(&self, state: &ClusterState) -> Result<usize, LaunchError> {
        let mut removed = 0;
        for id in self
            .engine
            .containers_labelled(CLUSTER_LABEL, &state.name)
            .await?
        {
            self.engine.remove_node(&id).await;
            removed += 1;
        }
        for network in self
            .engine
            .networks_labelled(CLUSTER_LABEL, &state.name)
            .await?
        {
            self.engine.remove_network(&network).await?;
            removed += 1;
        }
        Ok(removed)
    }
}

impl DockerProvider<'_> {
    /// Starts one node container, its agent waiting for the bundle; returns its id.
    async fn start_container(
        &self,
        cluster: &str,
        node: &NodeState,
        ports: Vec<u16>,
        network: &str,
    ) -> Result<String, crate::engine::EngineError> {
        let env = BTreeMap::from([("BAKER_AGENT_WAIT".to_owned(), "600".to_owned())]);
        // A launch killed between starting a container and recording it left the name taken.
        self.engine.remove_node(&node.name).await;
        self.engine
            .run_node(NodeSpec {
                name: &node.name,
                image: &self.image,
                network,
                cmd: vec![AGENT_PATH.to_owned()],
                env: &env,
                labels: &[
                    (CLUSTER_LABEL, cluster),
                    ("baker.node", &node.name),
                    ("baker.role", &node.role),
                ],
                publish: &ports,
                host_ip: self.host_ip,
            })
            .await
    }
}

/// The bundle tar with its entries under the agent's bundle directory, to unpack at `/`.
fn with_prefix(bundle: &NodeBundle) -> Result<Vec<u8>, LaunchError> {
    let io = |source| LaunchError::Io {
        what: format!("packing the bundle of {}", bundle.node),
        source,
    };
    let inner = bundle.to_tar().map_err(io)?;
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&inner[..]);
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let path = format!(
            "{}/{}",
            BUNDLE_DIR.trim_start_matches('/'),
            entry.path().map_err(io)?.display()
        );
        let mut header = entry.header().clone();
        out.append_data(&mut header, path, &mut entry).map_err(io)?;
    }
    out.into_inner().map_err(io)
}
