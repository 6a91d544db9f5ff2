//! What a launch is asked for ([`LaunchRequest`]: a name, how many masters and slaves, whether to
//! keep a failed cluster and run the smoke test), and the checks made of it before anything is
//! built or created, so that bad input fails in a second rather than after a build: against the
//! recipe's roles ([`check_request`]) and against what the provider can place ([`check_size`]).

use std::collections::BTreeMap;

use super::error::LaunchError;
use super::members::slave_role;
use super::state::check_name;
use crate::plan::Plan;

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
    /// Seconds the provider spent before the launch on work the summary counts (`node image`,
    /// when it made one), recorded in the state's timings.
    pub timings: BTreeMap<String, f64>,
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
            "baker supports one master per cluster (recipe {}'s role `{master}`); --masters {} \
             would need a replicated master (several Mesos masters with ZooKeeper), which no \
             recipe has yet: leave --masters out",
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

/// Refuses, before anything is made, more nodes than `provider` puts in one cluster: `docker` and
/// `qemu` give each cluster a /24 of its own; `ssh` takes what the inventory lists.
pub fn check_size(provider: &str, request: &LaunchRequest) -> Result<(), LaunchError> {
    let most = match provider {
        "docker" => super::docker_net::MAX_NODES,
        "qemu" => super::qemu_net::MAX_NODES,
        _ => return Ok(()),
    };
    let asked = request.masters + request.slaves;
    if asked <= most {
        return Ok(());
    }
    Err(LaunchError::Input(format!(
        "the {provider} provider puts at most {most} nodes in a cluster (its network is one /24), \
         and {asked} were asked for: give --slaves {} or fewer",
        most.saturating_sub(request.masters)
    )))
}
