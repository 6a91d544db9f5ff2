//! `baker launch NAME --resume`: a launch picked up from the cluster's state file, for the two ways a
//! cluster stops short of running: its launch was interrupted (or crashed), or its nodes stopped
//! under it (a host restart). It decides what each node needs from what the state recorded, never
//! from the recipe: a node never placed is placed, a node that stopped is started again (over its
//! own disk when it had been ready, so its role's data survives), a node that runs but was started
//! again outside baker since it was checked ready is checked again, and a smoke test that did not
//! finish runs again. Then [`super::run`] drives the cluster to ready as a launch does.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use super::error::LaunchError;
use super::host_http::HostHttp;
use super::launch_lock::LaunchWork;
use super::provider::Provider;
use super::run::{finish, render_bundles, smoke_pending};
use super::smoke::smoke;
use super::state::{ClusterState, NodeState, Phase, StateDir, timing};
use crate::plan::{Plan, read_plan};
use crate::progress::{Event, Reporter};

/// The plan cluster `name` was launched from (kept in its state directory, so that a resumed launch
/// never resolves the recipe again).
pub fn launched_plan(states: &StateDir, name: &str) -> Result<Plan, LaunchError> {
    Ok(read_plan(&states.plan_path(name))?)
}

/// Finishes the launch of cluster `name` that an interrupt (or a crash) stopped: places the nodes
/// that were not placed, hands every node its bundle again, and waits for the roles. Nodes that no
/// longer run are started again: over their own disks when they had been ready (a host that
/// restarted under a ready cluster), made anew when they had not. A ready cluster whose smoke test
/// an interrupt cut short runs that test, and only that, again.
pub async fn resume<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    name: &str,
    keep_failed: bool,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<ClusterState, LaunchError> {
    // Held until the resume returns; refused while another launch of the cluster runs.
    let _resuming = states.lock_launch(name, LaunchWork::Resume)?;
    let mut state = states.load(name)?;
    // The summary is of this run, which makes no node image.
    state.timings.remove(timing::NODE_IMAGE);
    if state.plan_key != plan.install_step().key {
        return Err(LaunchError::Input(format!(
            "cluster {name} was launched from build {} but this is build {}; resume it with the same recipe, version, distro and sources, or `baker destroy {name}`",
            short(&state.plan_key),
            short(&plan.install_step().key)
        )));
    }
    // A node the provider never recorded as made (no id: a launch stopped while it placed or
    // started the nodes) is not dead; finishing the launch makes or starts it. One that runs but
    // was started again outside baker since it was checked ready (`docker restart`) is checked
    // again.
    let (mut dead, mut restarted) = (Vec::new(), Vec::new());
    for (i, node) in state.nodes.iter().enumerate() {
        if node.provider_id.is_none() {
            continue;
        }
        if !provider.alive(node).await {
            dead.push(i);
        } else if node.ready && !provider.located(&state, node).await.ready {
            restarted.push(i);
        }
    }
    let secret = states.secret(name)?;
    if state.phase == Phase::Ready && dead.is_empty() && restarted.is_empty() {
        if !smoke_pending(&state) {
            reporter.report(Event::Note(format!("cluster {name} is ready already")));
            return Ok(state);
        }
        // An interrupt during the smoke test leaves a ready cluster without the test's result.
        reporter.report(Event::Note(format!(
            "cluster {name} is ready but its smoke test did not finish: running it again"
        )));
        let bundles = render_bundles(plan, &state, &secret)?;
        let http = HostHttp::new(&state.nodes, provider.publishes_here())?;
        tokio::select! {
            done = smoke(provider, plan, &mut state, &bundles, &http, reporter.as_ref()) => done?,
            () = cancel => return Err(LaunchError::Interrupted(name.to_owned())),
        }
        states.save(&state)?;
        return Ok(state);
    }
    for i in restarted {
        let node = &mut state.nodes[i];
        // Not ready until checked; the check gives it a new ready time.
        node.ready = false;
        reporter.report(Event::Note(format!(
            "{} was started again outside baker since it was checked ready: checking it again",
            node.name
        )));
    }
    for i in dead {
        let node = &mut state.nodes[i];
        node.ready = false;
        // A node that was ready has its role's data on its disk: it stays placed, and the
        // provider starts it again over that disk. One that never was is placed again.
        let kept = node.ready_since.is_some();
        let how = if kept {
            "starting it again over its own disk"
        } else {
            "making it again"
        };
        reporter.report(Event::Note(format!("{} does not run: {how}", node.name)));
        if !kept {
            node.provider_id = None;
            node.address.clear();
            node.published.clear();
        }
    }
    state.phase = Phase::Creating;
    states.save(&state)?;
    let published_before: Vec<_> = state.nodes.iter().map(|n| n.published.clone()).collect();
    // A cluster with a node that was ready is kept whatever happens: it holds its roles' data.
    let keep = keep_failed || state.nodes.iter().any(|n| n.ready_since.is_some());
    finish(
        provider,
        states,
        plan,
        &mut state,
        &secret,
        keep,
        reporter.clone(),
        cancel,
    )
    .await?;
    for note in moved_ports(&published_before, &state.nodes) {
        reporter.report(Event::Note(note));
    }
    Ok(state)
}

/// What to say of the host ports that changed for the nodes started again: a node's port is
/// published afresh when its container or VM starts, and the host port the engine picks then may
/// differ from the one the user has been using.
fn moved_ports(before: &[BTreeMap<u16, u16>], nodes: &[NodeState]) -> Vec<String> {
    let mut notes = Vec::new();
    for (node, before) in nodes.iter().zip(before) {
        for (port, host) in &node.published {
            match before.get(port) {
                Some(old) if old != host && *old != 0 => notes.push(format!(
                    "{}'s port {port} is now published on host port {host} (was {old})",
                    node.name
                )),
                _ => {}
            }
        }
    }
    notes
}

fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::provider::WantedNode;
    use crate::recipe::RoleKind;

    #[test]
    fn a_port_published_on_another_host_port_is_named() {
        let mut node = WantedNode {
            name: "pg-standby-1".into(),
            role: "standby".into(),
            kind: RoleKind::Slave,
        }
        .unplaced();
        node.published = BTreeMap::from([(5432, 40001), (22, 40002)]);
        let nodes = [node];
        let before = [BTreeMap::from([(5432, 39999), (22, 40002)])];
        assert_eq!(
            moved_ports(&before, &nodes),
            ["pg-standby-1's port 5432 is now published on host port 40001 (was 39999)"]
        );
        assert!(moved_ports(&[BTreeMap::new()], &nodes).is_empty());
    }
}
