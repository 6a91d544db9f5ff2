//! The library calls behind `baker launch` (and `--resume`) and `destroy` (`status`'s is
//! [`super::health::look`]), in the shape every stage shares: a request, a reporter, and (for
//! launch) a cancellation future; the provider (see [`super::provider`]) does the provider's part.
//! A launch checks its input before creating anything, records each resource in the cluster's
//! state file as it makes it, places every node, renders and hands out the bundles, waits for
//! every role's checks, and on failure says which node failed and why, then removes what it made
//! unless told to keep it. [`super::resume`] picks up a stopped launch, or a cluster whose nodes
//! stopped, from its state file.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::bundle::{NodeBundle, render_bundle};
use super::error::LaunchError;
use super::host_http::HostHttp;
use super::launch_lock::{LaunchLock, LaunchWork};
use super::members::{cluster_facts, facts_of_nodes, wanted_nodes};
use super::provider::{Provider, Removed, start_nodes};
pub use super::request::{LaunchRequest, check_request, check_size};
use super::role_wait::wait_for_roles;
use super::smoke::smoke;
use super::state::{ClusterState, NodeState, Phase, STATE_FORMAT, StateDir, StateError, timing};
use crate::plan::{Plan, write_plan};
use crate::progress::{Event, Reporter};

pub(super) fn now() -> u64 {
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

/// Launches a cluster under the name `reserved` holds (see [`StateDir::reserve_launch`]), and
/// waits until it is ready.
pub async fn launch<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    request: &LaunchRequest,
    reserved: &LaunchLock,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<ClusterState, LaunchError> {
    check_request(plan, request)?;
    check_size(provider.name(), request)?;
    // A signal received before the launch (during its build, say) stops it before anything is
    // made: `cancel` then resolves at once.
    let mut cancel = std::pin::pin!(cancel);
    if futures_util::FutureExt::now_or_never(cancel.as_mut()).is_some() {
        return Err(LaunchError::InterruptedEarly(request.name.clone()));
    }
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
        timings: request.timings.clone(),
        smoke: request.smoke,
    };
    // `reserved` is held until the launch returns: no `--resume` or `destroy` of it meanwhile.
    states.create(&state, &secret, reserved)?;
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

/// Drives `state` to ready; on failure rolls back unless `keep_failed`, and then tells the failure
/// as one whose cluster has no state left ([`LaunchError::rolled_back`]).
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
                return Err(e);
            }
            reporter.report(Event::Note(format!("removing the failed cluster {name}")));
            // The launch's own failure is the one to report; a failed removal only warns, and
            // keeps the state so that `destroy` can finish it.
            let removed = match provider.destroy(state).await {
                Ok(_) => states.remove(&name).map_err(LaunchError::from),
                Err(e) => Err(e),
            };
            match removed {
                // Its advice is for a cluster without a state now.
                Ok(()) => Err(e.rolled_back()),
                Err(removal) => {
                    reporter.report(Event::Warning(format!(
                        "could not remove the failed cluster {name}: {removal}; `baker destroy \
                         {name}` tries again"
                    )));
                    Err(e)
                }
            }
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
    reporter.report(Event::Note(placing_note(&state.nodes, provider.name())));
    provider.place(plan, state, states).await?;

    let bundles = render_bundles(plan, state, secret)?;
    let snapshot = state.clone();
    start_nodes(provider, &snapshot, &bundles).await?;
    provider.started(state).await?;
    state.phase = Phase::Booting;
    state
        .timings
        .insert(timing::BOOT.into(), started.elapsed().as_secs_f64());
    states.save(state)?;
    reporter.report(Event::Note(started_note(
        state.nodes.len(),
        started.elapsed().as_secs_f64(),
    )));

    let ready_started = Instant::now();
    let http = HostHttp::new(&state.nodes, provider.publishes_here())?;
    wait_for_roles(provider, states, plan, state, &bundles, &http, reporter).await?;
    state.phase = Phase::Ready;
    state
        .timings
        .insert(timing::READY.into(), ready_started.elapsed().as_secs_f64());
    states.save(state)?;
    // Once: a cluster whose nodes were started again keeps what its smoke test wrote.
    if smoke_pending(state) {
        smoke(provider, plan, state, &bundles, &http, reporter).await?;
        states.save(state)?;
    }
    Ok(())
}

/// What `boot` says it does first: a launch places every node; a resumed one only those it never
/// made, and starts again those of the others that stopped.
fn placing_note(nodes: &[NodeState], provider: &str) -> String {
    let unmade = nodes.iter().filter(|n| n.provider_id.is_none()).count();
    let all = match nodes.len() {
        1 => "1 node".to_owned(),
        n => format!("{n} nodes"),
    };
    match unmade {
        0 => format!("{all} placed before ({provider}): starting any that stopped"),
        n if n == nodes.len() => format!("placing {all} ({provider})"),
        n => format!("placing {n} of {all} ({provider}); the others were placed before"),
    }
}

/// What `boot` says once the provider has started every node: a container, a VM's QEMU process,
/// a machine's role agent. None of them is known to be up yet (a VM has not even booted its OS):
/// that is what the wait for the roles finds out.
fn started_note(nodes: usize, seconds: f64) -> String {
    match nodes {
        1 => format!("1 node started in {seconds:.1}s; waiting for its role"),
        n => format!("{n} nodes started in {seconds:.1}s; waiting for their roles"),
    }
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

/// The launch asked for the smoke test and it has not passed yet.
pub(super) fn smoke_pending(state: &ClusterState) -> bool {
    state.smoke && !state.timings.contains_key(timing::SMOKE)
}

/// The state of cluster `name`, or (when it has none) an empty one of the same name, so that
/// `destroy` cleans up a cluster whose launch died before its state was written. The empty one
/// names the state directory's identity, when it has one, so that only what this state
/// directory made is taken for the cluster's (see [`super::docker_owner::Owner`]).
pub fn state_or_empty(
    states: &StateDir,
    name: &str,
    provider: &str,
) -> Result<ClusterState, LaunchError> {
    match states.load(name) {
        Ok(state) => Ok(state),
        Err(StateError::Unknown { .. }) => {
            let mut state = ClusterState::empty(name, provider);
            if let Some(id) = states.known_identity() {
                (state.resources).insert(super::state_identity::STATE_ID.into(), id);
            }
            Ok(state)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes everything cluster `state` made, then its state; safe to repeat, and cleans up a
/// half-made cluster whose state never got past creating. Refused ([`StateError::Busy`]) while a
/// launch of the cluster runs.
pub async fn destroy<P: Provider>(
    provider: &P,
    states: &StateDir,
    state: &ClusterState,
) -> Result<Removed, LaunchError> {
    let destroying = states.lock_launch(&state.name, LaunchWork::Destroy)?;
    destroy_locked(provider, states, state, &destroying).await
}

/// [`destroy`], under the cluster's lock, which the caller took (`destroy` of a cluster without a
/// state asks two providers under one lock). The state is read again under the lock: a launch
/// that finished meanwhile may have recorded more.
pub async fn destroy_locked<P: Provider>(
    provider: &P,
    states: &StateDir,
    state: &ClusterState,
    _held: &LaunchLock,
) -> Result<Removed, LaunchError> {
    let now = match states.load(&state.name) {
        Ok(now) => now,
        Err(StateError::Unknown { .. }) => state.clone(),
        Err(e) => return Err(e.into()),
    };
    let removed = provider.destroy(&now).await?;
    states.remove(&state.name)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::provider::WantedNode;
    use crate::recipe::RoleKind;

    #[test]
    fn a_resumed_launch_says_it_places_only_the_nodes_it_never_made() {
        let node = |made: bool| {
            let mut node = WantedNode {
                name: "pg-standby-1".into(),
                role: "standby".into(),
                kind: RoleKind::Slave,
            }
            .unplaced();
            node.provider_id = made.then(|| "c0ffee".to_owned());
            node
        };
        let note = |made: &[bool]| {
            placing_note(&made.iter().map(|m| node(*m)).collect::<Vec<_>>(), "docker")
        };
        assert_eq!(note(&[false, false, false]), "placing 3 nodes (docker)");
        assert_eq!(
            note(&[true, false, true]),
            "placing 1 of 3 nodes (docker); the others were placed before"
        );
        assert_eq!(
            note(&[true]),
            "1 node placed before (docker): starting any that stopped"
        );
    }

    #[test]
    fn the_nodes_are_said_to_be_started_not_booted() {
        // A provider starts a container, a QEMU process or an agent; whether the node came up is
        // what the roles' checks find out next.
        assert_eq!(
            started_note(1, 0.24),
            "1 node started in 0.2s; waiting for its role"
        );
        assert_eq!(
            started_note(3, 1.06),
            "3 nodes started in 1.1s; waiting for their roles"
        );
    }
}
