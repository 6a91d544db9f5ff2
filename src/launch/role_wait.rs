//! Waiting for a launched cluster's roles: every node's readiness checks run at once, each node
//! is recorded ready in the state file as soon as its checks pass (so a launch interrupted
//! afterwards leaves what is ready known to `status` and `--resume`), the wait says every half
//! minute whom it still waits for, and the first node that fails ends it with that node's log and
//! the recipe's hints for it.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::bundle::NodeBundle;
use super::error::{LaunchError, NodeFailure};
use super::host_http::HostHttp;
use super::provider::Provider;
use super::readiness::wait_ready;
use super::run::now;
use super::state::{ClusterState, NodeState, StateDir};
use crate::plan::Plan;
use crate::progress::{Event, Reporter};

/// How often the wait for the roles says whom it still waits for.
const WAITING_NOTE: Duration = Duration::from_secs(30);

/// Waits until every node of `state` passes its role's checks, marking each ready as it does.
pub(super) async fn wait_for_roles<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    state: &mut ClusterState,
    bundles: &[NodeBundle],
    http: &HostHttp,
    reporter: &dyn Reporter,
) -> Result<(), LaunchError> {
    let ready_started = Instant::now();
    // Every node is waited for at once; the first that fails ends the wait, since a cluster with a
    // failed node will not become ready (a master waiting for its slaves would otherwise time out
    // later and hide the slave's failure).
    let mut waits: FuturesUnordered<_> = state
        .nodes
        .iter()
        .zip(bundles)
        .enumerate()
        .map(|(i, (node, bundle))| {
            let shell = provider.shell(node);
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
                    ready.push((i, now()));
                    // Recorded at once: a launch interrupted now leaves this node ready in its
                    // state, for `status`, and for `--resume`, which keeps its ready time.
                    let mut recorded = state.clone();
                    mark_ready(&mut recorded.nodes, &ready);
                    // Best effort: the state is saved whole once the wait ends.
                    if let Err(e) = states.save(&recorded) {
                        reporter.report(Event::Warning(format!(
                            "could not record {} ready in the cluster's state: {e}",
                            state.nodes[i].name
                        )));
                    }
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
                    .filter(|i| !ready.iter().any(|(r, _)| r == i))
                    .map(|i| state.nodes[i].name.as_str())
                    .collect();
                reporter.report(Event::Note(waiting_note(
                    &waiting,
                    ready_started.elapsed().as_secs_f64(),
                    provider.console_logs().as_deref(),
                )));
            }
        }
    }
    drop(waits);
    mark_ready(&mut state.nodes, &ready);
    if let Some((i, not_ready)) = failure {
        // Not serving, whatever an earlier launch recorded; it keeps the time it was ready, which
        // tells a resume to start it over its own disk.
        state.nodes[i].ready = false;
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
    Ok(())
}

/// Whom the wait still waits for, and where their consoles tell what they do when the provider
/// writes them (a VM booting under software emulation can take minutes before its role answers).
fn waiting_note(waiting: &[&str], seconds: f64, consoles: Option<&std::path::Path>) -> String {
    let consoles = consoles.map_or(String::new(), |path| {
        format!(" (serial consoles: {})", path.display())
    });
    format!(
        "  still waiting for {} after {seconds:.0}s{consoles}",
        waiting.join(", ")
    )
}

/// Marks the nodes of `ready` (index, when) ready. A node ready already (one that ran through an
/// interrupted launch, resumed) keeps the time it became ready; one that was not (or that stopped
/// and was started again) takes the new one.
fn mark_ready(nodes: &mut [NodeState], ready: &[(usize, u64)]) {
    for &(i, at) in ready {
        let node = &mut nodes[i];
        if !node.ready || node.ready_since.is_none() {
            node.ready_since = Some(at);
        }
        node.ready = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::provider::WantedNode;
    use crate::recipe::RoleKind;

    #[test]
    fn the_waiting_note_says_where_the_consoles_are_when_there_are_any() {
        assert_eq!(
            waiting_note(&["q1-primary", "q1-standby-1"], 30.2, None),
            "  still waiting for q1-primary, q1-standby-1 after 30s"
        );
        let consoles = std::path::Path::new("/st/q1/<node>.console.log");
        assert_eq!(
            waiting_note(&["q1-primary"], 60.0, Some(consoles)),
            "  still waiting for q1-primary after 60s (serial consoles: /st/q1/<node>.console.log)"
        );
    }

    #[test]
    fn a_qemu_clusters_consoles_are_in_its_state_directory() {
        let provider = crate::launch::qemu::QemuProvider::new(
            "/img/disk.raw".into(),
            "/st/q1".into(),
            512,
            None,
        );
        assert_eq!(
            provider.console_logs().unwrap(),
            std::path::Path::new("/st/q1/<node>.console.log")
        );
    }

    #[test]
    fn a_node_ready_already_keeps_its_time_and_one_started_again_takes_the_new_one() {
        let node = |ready, ready_since| NodeState {
            ready,
            ready_since,
            ..WantedNode {
                name: "n".into(),
                role: "r".into(),
                kind: RoleKind::Slave,
            }
            .unplaced()
        };
        let mut nodes = vec![
            node(true, Some(10)),
            node(false, Some(10)),
            node(false, None),
        ];
        mark_ready(&mut nodes, &[(0, 50), (1, 50), (2, 60)]);
        let since: Vec<_> = nodes.iter().map(|n| (n.ready, n.ready_since)).collect();
        assert_eq!(
            since,
            [(true, Some(10)), (true, Some(50)), (true, Some(60))]
        );
    }
}
