//! The library calls behind `baker launch` (and `--resume`), `status` and `destroy`, in the shape
//! every stage shares: a request, a reporter, and (for launch) a cancellation future; the provider
//! (see [`super::provider`]) does the provider's part. A launch checks its input before creating
//! anything, records each resource in the cluster's state file as it makes it, places every node,
//! renders and hands out the bundles, waits for every role's checks, and on failure says which node
//! failed and why, then removes what it made unless told to keep it. [`super::resume`] picks up a
//! stopped launch, or a cluster whose nodes stopped, from its state file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::bundle::{NodeBundle, render_bundle};
use super::error::{LaunchError, NodeFailure};
use super::members::{cluster_facts, facts_of_nodes, slave_role, wanted_nodes};
use super::provider::{Provider, start_nodes};
use super::readiness::wait_ready;
use super::smoke::smoke;
use super::state::{ClusterState, Phase, STATE_FORMAT, StateDir, StateError, check_name};
use crate::plan::{Plan, write_plan};
use crate::progress::{Event, Reporter};

/// How often the wait for the roles says whom it still waits for.
const WAITING_NOTE: Duration = Duration::from_secs(30);

/// What to launch.
pub struct LaunchRequest {
    pub name: String,
    pub masters: usize,
    pub slaves: usize,
    /// Leave a failed cluster running for inspection.
    pub keep_failed: bool,
    /// Run the recipe's smoke test once the cluster is ready.
    pub smoke: bool,
    /// What the provider needs to find its resources again on `--resume` and `destroy` (an
    /// image, an inventory file), recorded in the state's resources.
    pub resources: BTreeMap<String, String>,
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
    if request.masters == 0 {
        return Err(LaunchError::Input(format!(
            "a cluster needs its master (role `{master}`): leave --masters out, or give --masters 1"
        )));
    }
    if request.masters != 1 {
        return Err(LaunchError::Input(format!(
            "recipe {} supports one master (role `{master}`); --masters {} needs a recipe whose master role can be replicated",
            plan.recipe.name, request.masters
        )));
    }
    if request.slaves > 0 && slave_role(plan).is_none() {
        return Err(LaunchError::Input(format!(
            "recipe {} has no slave role; launch it without --slaves (or with --slaves 0)",
            plan.recipe.name
        )));
    }
    if request.smoke && plan.smoke.is_empty() {
        return Err(LaunchError::Input(format!(
            "recipe {} has no [[smoke]] steps; launch without --smoke",
            plan.recipe.name
        )));
    }
    Ok(())
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

/// Launches a cluster and waits until it is ready.
pub async fn launch<P: Provider>(
    provider: &P,
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
        provider: provider.name().into(),
        recipe: plan.recipe.name.clone(),
        version: plan.version.clone(),
        distro: plan.recipe.distro.clone(),
        plan_key: plan.install_step().key.clone(),
        phase: Phase::Creating,
        created: now(),
        resources: request.resources.clone(),
        nodes: wanted_nodes(plan, &request.name, request.slaves)
            .iter()
            .map(|w| w.unplaced())
            .collect(),
        timings: BTreeMap::new(),
        smoke: request.smoke,
    };
    states.create(&state, &secret)?;
    write_plan(plan, &states.plan_path(&request.name))?;
    finish(
        provider,
        states,
        plan,
        &mut state,
        &secret,
        request.keep_failed,
        reporter,
        cancel,
    )
    .await?;
    Ok(state)
}

/// Drives `state` to ready; on failure rolls back unless `keep_failed`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn finish<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    state: &mut ClusterState,
    secret: &str,
    keep_failed: bool,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<(), LaunchError> {
    let name = state.name.clone();
    let outcome = tokio::select! {
        outcome = boot(provider, states, plan, secret, state, reporter.as_ref()) => outcome,
        () = cancel => Err(LaunchError::Interrupted(name.clone())),
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(e @ LaunchError::Interrupted(_)) => Err(e),
        Err(e) => {
            state.phase = Phase::Failed;
            let _ = states.save(state);
            if keep_failed {
                reporter.report(Event::Warning(format!(
                    "kept the failed cluster {name}: `baker destroy {name}` removes it"
                )));
            } else {
                reporter.report(Event::Note(format!("removing the failed cluster {name}")));
                provider.destroy(state).await?;
                states.remove(&name)?;
            }
            Err(e)
        }
    }
}

async fn boot<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    secret: &str,
    state: &mut ClusterState,
    reporter: &dyn Reporter,
) -> Result<(), LaunchError> {
    let started = Instant::now();
    reporter.report(Event::Note(format!(
        "placing {} ({})",
        state.node_count(),
        provider.name()
    )));
    provider.place(plan, state, states).await?;

    let bundles = render_bundles(plan, state, secret)?;
    let snapshot = state.clone();
    start_nodes(provider, &snapshot, &bundles).await?;
    provider.started(state).await?;
    state.phase = Phase::Booting;
    state
        .timings
        .insert("boot".into(), started.elapsed().as_secs_f64());
    states.save(state)?;
    reporter.report(Event::Note(format!(
        "{} booted in {:.1}s; waiting for {}",
        state.node_count(),
        started.elapsed().as_secs_f64(),
        if state.nodes.len() == 1 {
            "its role"
        } else {
            "their roles"
        }
    )));

    let ready_started = Instant::now();
    let http = http_client()?;
    // Every node is waited for at once; the first that fails ends the wait, since a cluster with a
    // failed node will not become ready (a master waiting for its slaves would otherwise time out
    // later and hide the slave's failure).
    let mut waits: FuturesUnordered<_> = state
        .nodes
        .iter()
        .zip(&bundles)
        .enumerate()
        .map(|(i, (node, bundle))| {
            let shell = provider.shell(node);
            let http = &http;
            async move { (i, wait_ready(bundle, &shell, http).await) }
        })
        .collect();
    let mut failure = None;
    let mut ready = Vec::new();
    // Under software emulation roles take minutes: each node says when it is ready, and the wait
    // says whom it still waits for every half minute.
    let mut still_waiting =
        tokio::time::interval_at(tokio::time::Instant::now() + WAITING_NOTE, WAITING_NOTE);
    loop {
        tokio::select! {
            next = waits.next() => match next {
                None => break,
                Some((i, Ok(()))) => {
                    ready.push(i);
                    reporter.report(Event::Note(format!(
                        "  {} ({}) ready after {:.1}s",
                        state.nodes[i].name,
                        state.nodes[i].role,
                        ready_started.elapsed().as_secs_f64()
                    )));
                }
                Some((i, Err(not_ready))) => {
                    failure = Some((i, not_ready));
                    break;
                }
            },
            _ = still_waiting.tick() => {
                let waiting: Vec<&str> = (0..state.nodes.len())
                    .filter(|i| !ready.contains(i))
                    .map(|i| state.nodes[i].name.as_str())
                    .collect();
                reporter.report(Event::Note(format!(
                    "  still waiting for {} after {:.0}s",
                    waiting.join(", "),
                    ready_started.elapsed().as_secs_f64()
                )));
            }
        }
    }
    drop(waits);
    for i in ready {
        state.nodes[i].ready = true;
        state.nodes[i].ready_since = Some(now());
    }
    if let Some((i, not_ready)) = failure {
        let node = &state.nodes[i];
        let log = provider.role_log(node, 40).await;
        return Err(LaunchError::NodeFailed(Box::new(NodeFailure {
            node: node.name.clone(),
            role: node.role.clone(),
            check: not_ready.check,
            seen: not_ready.seen.to_string(),
            hints: matching_hints(plan, &log),
            log,
        })));
    }
    state.phase = Phase::Ready;
    state
        .timings
        .insert("ready".into(), ready_started.elapsed().as_secs_f64());
    states.save(state)?;
    // Once: a cluster whose nodes were started again keeps what its smoke test wrote.
    if smoke_pending(state) {
        smoke(provider, plan, state, &bundles, &http, reporter).await?;
        states.save(state)?;
    }
    Ok(())
}

/// Every node's bundle, rendered from the plan with the cluster's facts.
pub(super) fn render_bundles(
    plan: &Plan,
    state: &ClusterState,
    secret: &str,
) -> Result<Vec<NodeBundle>, LaunchError> {
    let facts = cluster_facts(state, secret);
    let bundles = facts_of_nodes(&facts)
        .iter()
        .map(|me| render_bundle(plan, &facts, me))
        .collect::<Result<_, _>>()?;
    Ok(bundles)
}

/// The client readiness checks and smoke steps probe HTTP endpoints with.
pub(super) fn http_client() -> Result<reqwest::Client, LaunchError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| LaunchError::Input(format!("cannot make an HTTP client: {e}")))
}

/// The launch asked for the smoke test and it has not passed yet.
pub(super) fn smoke_pending(state: &ClusterState) -> bool {
    state.smoke && !state.timings.contains_key("smoke")
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

/// The state of cluster `name`, or (when it has none) an empty one of the same name, so that
/// `destroy` cleans up a cluster whose launch died before its state was written.
pub fn state_or_empty(
    states: &StateDir,
    name: &str,
    provider: &str,
) -> Result<ClusterState, LaunchError> {
    match states.load(name) {
        Ok(state) => Ok(state),
        Err(StateError::Unknown { .. }) => Ok(ClusterState {
            format: STATE_FORMAT,
            name: name.to_owned(),
            provider: provider.to_owned(),
            recipe: String::new(),
            version: String::new(),
            distro: String::new(),
            plan_key: String::new(),
            phase: Phase::Creating,
            created: 0,
            resources: BTreeMap::new(),
            nodes: Vec::new(),
            timings: BTreeMap::new(),
            smoke: false,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Removes everything cluster `state` made, then its state; safe to repeat, and cleans up a
/// half-made cluster whose state never got past creating.
pub async fn destroy<P: Provider>(
    provider: &P,
    states: &StateDir,
    state: &ClusterState,
) -> Result<usize, LaunchError> {
    let removed = provider.destroy(state).await?;
    states.remove(&state.name)?;
    Ok(removed)
}

/// Refreshes whether each node runs; returns the state as it is now.
pub async fn status<P: Provider>(provider: &P, mut state: ClusterState) -> ClusterState {
    for node in &mut state.nodes {
        if !provider.alive(node).await {
            node.ready = false;
            node.ready_since = None;
        }
    }
    state
}
