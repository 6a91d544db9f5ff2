//! The `docker` provider: every node a container on a network of its own, started from the node
//! image (the image stage's OS layer with the tarball and the role agent, committed once), running
//! the role agent as its command. The cluster's network gets a subnet of its own
//! ([`super::docker_net`]), so that every node's address is chosen before any container runs; each
//! container is created at its address, given its bundle (rendered with every address) and only
//! then started, so that its role begins at once. Ports are published on 127.0.0.1 unless asked
//! otherwise. [`launch_containers`] is the whole launch: room made for the cluster on the engine
//! (nothing of another state directory's cluster of the name is touched: see
//! [`super::docker_owner`]), the node image, the cluster, then the removal of node images no
//! cluster names. What the state records of the engine is in [`super::docker_cluster`], and
//! [`super::docker_destroy`] removes a cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::bundle::NodeBundle;
use super::bundle_tar::BUNDLE_DIR;
use super::docker_cluster::{check_engine, record_launch};
use super::docker_net::{FIRST_HOST, MAX_NODES};
use super::docker_node;
use super::docker_owner::Owner;
use super::error::LaunchError;
use super::launch_lock::LaunchLock;
use super::members::wanted_nodes;
use super::node_image::{ensure_node_image, remove_unused_node_images};
use super::provider::{AGENT_PATH, Provider, Removed, role_log_script};
use super::readiness::NodeShell;
use super::run::{LaunchRequest, check_request, launch};
use super::state::{ClusterState, NodeState, StateDir, timing};
use crate::cache::CacheDir;
use crate::engine::{Engine, EngineIdentity, NodeSpec};
use crate::image::build_output::BuildOutput;
use crate::plan::Plan;
use crate::progress::Reporter;

/// Every container and network of a cluster carries `baker.cluster=<name>` (and
/// [`super::docker_owner::STATE_LABEL`]).
pub const CLUSTER_LABEL: &str = "baker.cluster";

/// Containers on the local engine.
pub struct DockerProvider<'a> {
    pub engine: &'a Engine,
    /// The node image (see [`super::node_image`]).
    pub image: String,
    /// `127.0.0.1`, or `0.0.0.0` with `--publish-all`.
    pub host_ip: String,
    /// The engine `engine` reaches.
    pub on: EngineIdentity,
    /// The cluster's directory in the state root, which messages name.
    pub dir: PathBuf,
}

/// Launches a cluster of containers from `built`, under the name `reserved` holds, whose node image
/// is made with `cache`'s packages when the engine does not have it yet; the cache's lock keeps the
/// image until the cluster's state names it. Then removes the recipe's other node images that no
/// cluster names.
#[allow(clippy::too_many_arguments)]
pub async fn launch_containers(
    cache: &CacheDir,
    states: &StateDir,
    built: &BuildOutput,
    mut request: LaunchRequest,
    reserved: &LaunchLock,
    host_ip: &'static str,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<ClusterState, LaunchError> {
    // Ctrl-C stops the node image too (its container is removed), and the waits for the cache.
    let mut cancel = std::pin::pin!(cancel);
    let name = request.name.clone();
    let stopped = || LaunchError::InterruptedEarly(name.clone());
    let engine = tokio::select! {
        engine = Engine::connect(reporter.as_ref()) => engine?,
        () = cancel.as_mut() => return Err(stopped()),
    };
    let plan = &built.plan;
    check_request(plan, &request)?;
    let state_id = states.identity()?;
    let mut provider = DockerProvider {
        engine: &engine,
        image: String::new(),
        host_ip: host_ip.to_owned(),
        on: engine.identity().await?,
        dir: states.cluster_dir(&request.name),
    };
    let nodes: Vec<String> = (wanted_nodes(plan, &request.name, request.slaves).into_iter())
        .map(|node| node.name)
        .collect();
    (provider.clear_the_way(&state_id, &request.name, &nodes, reporter.as_ref())).await?;
    record_launch(&mut request.resources, &provider.on, host_ip, &state_id);
    let image = engine
        .run_until(
            ensure_node_image(&engine, cache, built, reporter.as_ref()),
            cancel.as_mut(),
        )
        .await
        .ok_or_else(stopped)??;
    let reference = image.reference.clone();
    request.resources.insert("image".into(), reference.clone());
    if let Some(made_in) = image.made_in {
        (request.timings).insert(timing::NODE_IMAGE.into(), made_in.as_secs_f64());
    }
    provider.image = reference.clone();
    let launched = launch(
        &provider,
        states,
        plan,
        &request,
        reserved,
        reporter.clone(),
        cancel,
    )
    .await;
    drop(image);
    remove_unused_node_images(&engine, cache, states, plan, &reference, reporter.as_ref()).await;
    launched
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

    fn publishes_here(&self) -> bool {
        self.on.host.starts_with("unix://")
    }

    /// One after another: three containers set up at once by the engine on a two-core machine
    /// delayed a PostgreSQL primary's `initdb` by about half a second (ready 1.4 s after its start
    /// instead of 2.0 s, median of five launches each), more than the starts gain by overlapping.
    fn slaves_start_together(&self) -> bool {
        false
    }

    async fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> Result<(), LaunchError> {
        if !state.resources.contains_key("subnet") {
            let network = network_name(&state.name);
            // One that a launch stopped while the engine made it, before recording it.
            let subnet = match self.own_network(state, &network).await? {
                Some(subnet) => subnet,
                None => self.create_network(&network, state).await?,
            };
            state.resources.insert("network".into(), network);
            state.resources.insert("subnet".into(), subnet);
            states.save(state)?;
        }
        let subnet = &state.resources["subnet"];
        if state.nodes.len() > MAX_NODES {
            return Err(LaunchError::Input(format!(
                "the docker provider puts at most {MAX_NODES} nodes on a cluster's network"
            )));
        }
        let base = subnet.trim_end_matches(".0/24").to_owned();
        for (i, node) in state.nodes.iter_mut().enumerate() {
            if node.address.is_empty() {
                node.address = format!("{base}.{}", FIRST_HOST + i);
                // The role's ports, published at start on host ports the engine picks (0 until then).
                let ports = plan.roles.get(&node.role).map(|r| r.ports.clone());
                node.published = ports
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| (p, 0))
                    .collect();
            }
        }
        states.save(state)?;
        Ok(())
    }

    /// Creates the node's container at its address with its bundle already inside, then starts it.
    /// A container of the cluster that runs (a resumed launch) has its bundle since before it
    /// started: it is left alone, as rewriting the bundle under a running agent could race with
    /// it. A node that stayed placed but stopped is started again in its own container. A
    /// container of the node's name that is not the cluster's is refused, naming it.
    async fn start(
        &self,
        state: &ClusterState,
        index: usize,
        bundle: &NodeBundle,
    ) -> Result<(), LaunchError> {
        let node = &state.nodes[index];
        let found = self.own_container(state, &node.name).await?;
        if found.as_ref().is_some_and(|c| c.running) {
            return Ok(());
        }
        // A node that stayed placed (its container recorded: a resumed launch keeps a node that was
        // ready) starts its own container again, with what its role wrote.
        if node.provider_id.is_some() {
            let container = found.map_or_else(|| node.name.clone(), |c| c.found.id);
            return self.engine.restart_node(&container).await.map_err(|e| {
                LaunchError::Input(format!(
                    "{}'s container cannot start again ({e}); `baker destroy {}` and launch it again",
                    node.name, state.name
                ))
            });
        }
        if !self.engine.has_image(&self.image).await {
            // A resumed launch names the node image its first run made, which a `baker cache
            // prune|clear` may have removed since.
            return Err(LaunchError::Input(format!(
                "{}'s node image {} is gone (`baker cache prune` and `clear` remove node images); \
                 `baker destroy {}` and launch it again",
                node.name, self.image, state.name
            )));
        }
        let files = with_prefix(bundle)?;
        // A launch killed between creating a container and recording it left the name taken.
        if let Some(stale) = found {
            self.engine.remove_node(&stale.found.id).await;
        }
        let network = network_name(&state.name);
        let ports: Vec<u16> = node.published.keys().copied().collect();
        let owner = Owner::of(state);
        let mut labels = owner.labels(&state.name);
        labels.extend([
            ("baker.node", node.name.as_str()),
            ("baker.role", &node.role),
        ]);
        let made = self
            .engine
            .run_node(NodeSpec {
                name: &node.name,
                image: &self.image,
                network: &network,
                cmd: vec![AGENT_PATH.to_owned()],
                env: &BTreeMap::new(),
                labels: &labels,
                publish: &ports,
                host_ip: &self.host_ip,
                address: &node.address,
                files,
            })
            .await;
        if let Err(e) = made {
            // A container of the name made since the look above: the engine says only that the
            // name is in use, so it is looked at again, and refused as another's, naming it.
            self.own_container(state, &node.name).await?;
            return Err(e.into());
        }
        Ok(())
    }

    /// Each container's id and the host ports the engine picked for its published ports.
    async fn started(&self, state: &mut ClusterState) -> Result<(), LaunchError> {
        let network = network_name(&state.name);
        for index in 0..state.nodes.len() {
            let name = &state.nodes[index].name;
            let Some(found) = self.own_container(state, name).await? else {
                return Err(LaunchError::Input(format!(
                    "{name}'s container is gone since it was started (removed outside baker?); \
                     `baker launch {} --resume` makes it again",
                    state.name
                )));
            };
            let id = found.found.id;
            let (_, published) = self.engine.node_address(&id, &network).await?;
            let node = &mut state.nodes[index];
            node.provider_id = Some(id);
            node.published = published;
        }
        Ok(())
    }

    fn shell<'s>(&'s self, node: &NodeState) -> ContainerNode<'s> {
        ContainerNode {
            engine: self.engine,
            id: node.provider_id.clone().unwrap_or_default(),
        }
    }

    fn login_command(&self, node: &NodeState, command: &[String]) -> Vec<String> {
        let id = node.provider_id.as_deref().unwrap_or_default();
        docker_node::login_command(id, command, docker_node::stdin_is_terminal())
    }

    fn follow_command(&self, node: &NodeState, lines: usize) -> Vec<String> {
        docker_node::follow_command(node.provider_id.as_deref().unwrap_or_default(), lines)
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

    async fn located(&self, state: &ClusterState, node: &NodeState) -> NodeState {
        self.find_container(state, node).await
    }

    fn shown_id(&self, node: &NodeState) -> String {
        super::docker_node::short_id(node)
    }

    /// Removes the cluster's containers and network (see [`super::docker_destroy`]); refused on
    /// an engine other than the cluster's, whose state then stays.
    async fn destroy(&self, state: &ClusterState) -> Result<Removed, LaunchError> {
        check_engine(state, &self.on, &self.dir)?;
        let owner = Owner::of(state);
        let removed = self.remove_owned(&owner, &state.name).await?;
        if matches!(owner, Owner::DirOrLegacy(_)) && removed.nothing() {
            // Without a state nothing of this directory's was found: a cluster of the name that is
            // another's is said, not passed over as "nothing left".
            let others = self.others_of_the_name(&owner, &state.name).await?;
            if let Some(why) = others.not_this_directorys(&state.name) {
                return Err(LaunchError::Input(why));
            }
        }
        Ok(removed)
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
