//! The library calls behind `baker launch`, `status`, `logs` and `destroy`, in the shape every stage
//! shares: a request, a reporter, and (for launch) a cancellation future. A launch checks its input
//! before creating anything, records each resource in the cluster's state file as it makes it,
//! boots every node in parallel, renders and hands out the bundles, waits for every role's checks,
//! and on failure says which node failed and why, then removes what it made unless told to keep it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;

use super::bundle::{NodeBundle, render_bundle};
use super::bundle_tar::BUNDLE_DIR;
use super::docker::{self, ContainerNode};
use super::error::{LaunchError, NodeFailure};
use super::readiness::{wait_checks, wait_ready};
use super::state::{ClusterState, NodeState, Phase, STATE_FORMAT, StateDir, check_name};
use crate::engine::Engine;
use crate::plan::Plan;
use crate::progress::{Event, Reporter};
use crate::recipe::RoleKind;
use crate::recipe::context::{ClusterFacts, NodeFacts};

/// What to launch.
pub struct LaunchRequest {
    pub name: String,
    pub masters: usize,
    pub slaves: usize,
    /// Publish ports on every interface instead of 127.0.0.1.
    pub publish_all: bool,
    /// Leave a failed cluster running for inspection.
    pub keep_failed: bool,
    /// Run the recipe's smoke test once the cluster is ready.
    pub smoke: bool,
    /// The node image (see [`super::node_image`]).
    pub node_image: String,
}

/// Checks what can be checked before anything is created.
pub fn check_request(plan: &Plan, request: &LaunchRequest) -> Result<(), LaunchError> {
    check_name(&request.name)?;
    let Some((master, _)) = plan.master_role() else {
        return Err(LaunchError::Input(format!(
            "recipe {} has no roles: nothing to launch (add [roles.NAME] tables; see recipes/README.md)",
            plan.recipe.name
        )));
    };
    if request.masters != 1 {
        return Err(LaunchError::Input(format!(
            "recipe {} supports one master (role `{master}`); --masters {} needs a recipe whose master role can be replicated",
            plan.recipe.name, request.masters
        )));
    }
    if request.slaves > 0 && slave_role(plan).is_none() {
        return Err(LaunchError::Input(format!(
            "recipe {} has no slave role; launch it with --slaves 0",
            plan.recipe.name
        )));
    }
    Ok(())
}

fn slave_role(plan: &Plan) -> Option<&str> {
    plan.roles
        .iter()
        .find(|(_, r)| r.kind == RoleKind::Slave)
        .map(|(n, _)| n.as_str())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh cluster secret: 32 hex digits from the kernel's random source.
pub fn new_secret() -> Result<String, LaunchError> {
    let mut bytes = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| LaunchError::Io {
            what: "reading /dev/urandom for the cluster secret".into(),
            source,
        })?;
    Ok(hex::encode(bytes))
}

/// The nodes of a cluster: one master, then the slaves, named `<cluster>-<role>[-<i>]`.
fn node_names(plan: &Plan, request: &LaunchRequest) -> Vec<(String, String, RoleKind)> {
    let (master, _) = plan.master_role().expect("checked");
    let mut nodes = vec![(
        format!("{}-{master}", request.name),
        master.to_owned(),
        RoleKind::Master,
    )];
    if let Some(slave) = slave_role(plan) {
        for i in 1..=request.slaves {
            nodes.push((
                format!("{}-{slave}-{i}", request.name),
                slave.to_owned(),
                RoleKind::Slave,
            ));
        }
    }
    nodes
}

/// Launches a cluster on the local engine and waits until it is ready.
pub async fn launch_docker(
    engine: &Engine,
    states: &StateDir,
    plan: &Plan,
    request: &LaunchRequest,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<ClusterState, LaunchError> {
    check_request(plan, request)?;
    let secret = new_secret()?;
    let mut state = ClusterState {
        format: STATE_FORMAT,
        name: request.name.clone(),
        provider: "docker".into(),
        recipe: plan.recipe.name.clone(),
        version: plan.version.clone(),
        distro: plan.recipe.distro.clone(),
        plan_key: plan.install_step().key.clone(),
        phase: Phase::Creating,
        created: now(),
        resources: BTreeMap::from([("image".to_owned(), request.node_image.clone())]),
        nodes: Vec::new(),
        timings: BTreeMap::new(),
    };
    states.create(&state, &secret)?;
    let outcome = tokio::select! {
        outcome = boot(engine, states, plan, request, &secret, &mut state, reporter.as_ref()) => outcome,
        () = cancel => Err(LaunchError::Interrupted(request.name.clone())),
    };
    match outcome {
        Ok(()) => Ok(state),
        Err(e @ LaunchError::Interrupted(_)) => Err(e),
        Err(e) => {
            state.phase = Phase::Failed;
            let _ = states.save(&state);
            if request.keep_failed {
                reporter.report(Event::Warning(format!(
                    "kept the failed cluster {}: `baker destroy {}` removes it",
                    request.name, request.name
                )));
            } else {
                reporter.report(Event::Note(format!(
                    "removing the failed cluster {}",
                    request.name
                )));
                destroy_docker(engine, states, &request.name).await?;
            }
            Err(e)
        }
    }
}

async fn boot(
    engine: &Engine,
    states: &StateDir,
    plan: &Plan,
    request: &LaunchRequest,
    secret: &str,
    state: &mut ClusterState,
    reporter: &dyn Reporter,
) -> Result<(), LaunchError> {
    let started = Instant::now();
    let network = docker::network_name(&request.name);
    engine
        .create_network(&network, &[(docker::CLUSTER_LABEL, &request.name)])
        .await?;
    state.resources.insert("network".into(), network.clone());
    states.save(state)?;

    let host_ip = if request.publish_all {
        "0.0.0.0"
    } else {
        "127.0.0.1"
    };
    let nodes = node_names(plan, request);
    reporter.report(Event::Note(format!(
        "starting {} containers from {}",
        nodes.len(),
        request.node_image
    )));
    let started_nodes = join_all(nodes.iter().map(|(name, role, _)| {
        let ports = plan.roles[role].ports.clone();
        async move {
            docker::start_node(
                engine,
                &request.name,
                name,
                role,
                &request.node_image,
                &ports,
                host_ip,
            )
            .await
        }
    }))
    .await;
    for ((name, role, kind), id) in nodes.iter().zip(started_nodes) {
        let id = id?;
        let (address, published) = engine.node_address(&id, &network).await?;
        state.nodes.push(NodeState {
            name: name.clone(),
            role: role.clone(),
            kind: *kind,
            provider_id: Some(id),
            address,
            published,
            ready: false,
            ready_since: None,
        });
    }
    states.save(state)?;

    let facts = cluster_facts(state, secret);
    let bundles: Vec<NodeBundle> = facts_of_nodes(&facts)
        .iter()
        .map(|me| render_bundle(plan, &facts, me))
        .collect::<Result<_, _>>()?;
    for (node, bundle) in state.nodes.iter().zip(&bundles) {
        let id = node.provider_id.as_deref().unwrap_or_default();
        let tar = with_prefix(bundle)?;
        engine.upload_to(id, "/", tar).await?;
    }
    state.phase = Phase::Booting;
    state
        .timings
        .insert("boot".into(), started.elapsed().as_secs_f64());
    states.save(state)?;
    reporter.report(Event::Note(format!(
        "{} nodes booted in {:.1}s; waiting for their roles",
        state.nodes.len(),
        started.elapsed().as_secs_f64()
    )));

    let ready_started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| LaunchError::Input(format!("cannot make an HTTP client: {e}")))?;
    let waits = state.nodes.iter().zip(&bundles).map(|(node, bundle)| {
        let shell = ContainerNode {
            engine,
            id: node.provider_id.clone().unwrap_or_default(),
        };
        let http = &http;
        async move { (wait_ready(bundle, &shell, http).await, shell) }
    });
    let results = join_all(waits).await;
    let mut failure = None;
    for ((node, bundle), (result, shell)) in state.nodes.iter_mut().zip(&bundles).zip(results) {
        match result {
            Ok(()) => {
                node.ready = true;
                node.ready_since = Some(now());
            }
            Err(not_ready) if failure.is_none() => {
                let log = role_log(engine, &shell.id, 40).await;
                failure = Some(LaunchError::NodeFailed(Box::new(NodeFailure {
                    node: node.name.clone(),
                    role: bundle.role.clone(),
                    check: not_ready.check,
                    seen: not_ready.seen.to_string(),
                    hints: matching_hints(plan, &log),
                    log,
                })));
            }
            Err(_) => {}
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    state.phase = Phase::Ready;
    state
        .timings
        .insert("ready".into(), ready_started.elapsed().as_secs_f64());
    states.save(state)?;
    if request.smoke {
        smoke(engine, plan, state, &bundles, &http, reporter).await?;
        states.save(state)?;
    }
    Ok(())
}

/// Runs the plan's smoke steps in order, each on every node of its role.
async fn smoke(
    engine: &Engine,
    plan: &Plan,
    state: &mut ClusterState,
    bundles: &[NodeBundle],
    http: &reqwest::Client,
    reporter: &dyn Reporter,
) -> Result<(), LaunchError> {
    if plan.smoke.is_empty() {
        return Err(LaunchError::Input(format!(
            "recipe {} has no [[smoke]] steps; launch without --smoke",
            plan.recipe.name
        )));
    }
    let started = Instant::now();
    for (step, spec) in plan.smoke.iter().enumerate() {
        reporter.report(Event::Note(format!(
            "smoke test {}/{} on the {} nodes",
            step + 1,
            plan.smoke.len(),
            spec.role
        )));
        let runs = state
            .nodes
            .iter()
            .zip(bundles)
            .filter(|(n, _)| n.role == spec.role)
            .map(|(node, bundle)| {
                let nth = plan.smoke[..step]
                    .iter()
                    .filter(|s| s.role == spec.role)
                    .count();
                let check = bundle.smoke[nth].clone();
                let shell = ContainerNode {
                    engine,
                    id: node.provider_id.clone().unwrap_or_default(),
                };
                async move {
                    let result = wait_checks(std::slice::from_ref(&check), &shell, http).await;
                    (node, result)
                }
            });
        for (node, result) in join_all(runs).await {
            if let Err(not_ready) = result {
                return Err(LaunchError::NodeFailed(Box::new(NodeFailure {
                    node: node.name.clone(),
                    role: node.role.clone(),
                    check: format!("smoke test {}", not_ready.check),
                    seen: not_ready.seen.to_string(),
                    log: role_log(engine, node.provider_id.as_deref().unwrap_or_default(), 20)
                        .await,
                    hints: Vec::new(),
                })));
            }
        }
    }
    state
        .timings
        .insert("smoke".into(), started.elapsed().as_secs_f64());
    Ok(())
}

fn cluster_facts(state: &ClusterState, secret: &str) -> ClusterFacts {
    let facts = |i: usize, n: &NodeState| NodeFacts {
        name: n.name.clone(),
        ip: n.address.clone(),
        role: n.role.clone(),
        index: i,
    };
    let master = state
        .nodes
        .iter()
        .enumerate()
        .find(|(_, n)| n.kind == RoleKind::Master)
        .map(|(i, n)| facts(i, n))
        .expect("a cluster has its master");
    ClusterFacts {
        name: state.name.clone(),
        secret: secret.to_owned(),
        master,
        slaves: state
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == RoleKind::Slave)
            .map(|(i, n)| facts(i, n))
            .collect(),
    }
}

/// Every node's facts, in the state's order (master first).
fn facts_of_nodes(facts: &ClusterFacts) -> Vec<NodeFacts> {
    std::iter::once(facts.master.clone())
        .chain(facts.slaves.iter().cloned())
        .collect()
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

/// The last `lines` lines of a node's role log.
pub async fn role_log(engine: &Engine, id: &str, lines: usize) -> Vec<String> {
    let script = format!("tail -n {lines} /var/log/baker/role.log 2>/dev/null");
    match engine.exec(id, &["bash", "-c", &script], None).await {
        Ok(out) if !out.output.trim().is_empty() => out.output.lines().map(str::to_owned).collect(),
        _ => engine
            .container_logs(id, lines)
            .await
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// The recipe's advice for what a node's log shows.
fn matching_hints(plan: &Plan, log: &[String]) -> Vec<String> {
    let mut advice = Vec::new();
    for hint in &plan.hints {
        let Ok(re) = regex::Regex::new(&hint.pattern) else {
            continue;
        };
        if log.iter().any(|l| re.is_match(l)) && !advice.contains(&hint.advice) {
            advice.push(hint.advice.clone());
        }
    }
    advice
}

/// Removes everything cluster `name` made, by its label, then its state; safe to repeat, and
/// cleans up a half-made cluster whose state never got past creating.
pub async fn destroy_docker(
    engine: &Engine,
    states: &StateDir,
    name: &str,
) -> Result<usize, LaunchError> {
    let removed = docker::remove_cluster(engine, name).await?;
    states.remove(name)?;
    Ok(removed)
}

/// Refreshes whether each node runs; returns the state as it is now.
pub async fn status_docker(
    engine: &Engine,
    states: &StateDir,
    name: &str,
) -> Result<ClusterState, LaunchError> {
    let mut state = states.load(name)?;
    for node in &mut state.nodes {
        let running = match &node.provider_id {
            Some(id) => engine.is_running(id).await,
            None => false,
        };
        if !running {
            node.ready = false;
            node.ready_since = None;
        }
    }
    Ok(state)
}
