//! `baker launch --smoke`: the recipe's smoke steps, in order, each run on every node of its role
//! through the provider's shell (for PostgreSQL a row written on the primary and read back on each
//! standby; for Mesos the example framework run against the master).

use std::time::Instant;

use futures_util::future::join_all;

use super::bundle::NodeBundle;
use super::error::{LaunchError, NodeFailure};
use super::host_http::HostHttp;
use super::provider::Provider;
use super::readiness::wait_checks;
use super::state::{ClusterState, timing};
use crate::plan::Plan;
use crate::progress::{Event, Reporter};

/// Runs the plan's smoke steps; records how long they took in the state's timings.
pub async fn smoke<P: Provider>(
    provider: &P,
    plan: &Plan,
    state: &mut ClusterState,
    bundles: &[NodeBundle],
    http: &HostHttp,
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
        // The bundle holds its role's smoke steps only: this step is the nth of its role.
        let nth = plan.smoke[..step]
            .iter()
            .filter(|s| s.role == spec.role)
            .count();
        let runs = state
            .nodes
            .iter()
            .zip(bundles)
            .filter(|(n, _)| n.role == spec.role)
            .map(|(node, bundle)| {
                let check = bundle.smoke[nth].clone();
                let shell = provider.shell(node);
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
                    log: provider.role_log(node, 20).await,
                    hints: Vec::new(),
                })));
            }
        }
    }
    state
        .timings
        .insert(timing::SMOKE.into(), started.elapsed().as_secs_f64());
    Ok(())
}
