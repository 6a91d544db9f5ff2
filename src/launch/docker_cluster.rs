//! What a docker cluster's state records of where its containers are, and the provider rebuilt
//! from it for `status`, `login`, `logs`, `destroy` and `--resume`. `DOCKER_HOST` differs from one
//! shell to the next: a command on an engine other than the cluster's would find none of its
//! containers, and a `destroy` would forget a cluster that still runs. So a launch records the
//! engine's id (and where it was reached, for messages), and a later command on another engine is
//! refused, saying where the cluster is. A launch also records the address its ports are published
//! on, so that a node `--resume` makes again is published where the others are. A state written
//! before baker recorded these is taken as before: on any engine, with `--publish-all` as given.

use std::collections::BTreeMap;

use super::docker::DockerProvider;
use super::error::LaunchError;
use super::state::ClusterState;
use super::state_identity::STATE_ID;
use crate::engine::{Engine, EngineIdentity};

/// The resource naming the id of the engine the cluster's containers are on.
pub const ENGINE_ID: &str = "engine_id";
/// The resource naming where that engine was reached (`DOCKER_HOST`, or the default socket).
pub const ENGINE_HOST: &str = "engine_host";
/// The resource naming the host address the nodes' ports are published on.
pub const HOST_IP: &str = "host_ip";
/// Ports published on this host only.
pub const LOOPBACK: &str = "127.0.0.1";
/// Ports published on every interface (`--publish-all`).
pub const EVERY_ADDRESS: &str = "0.0.0.0";

/// What a launch from the state directory `state_id` on `engine`, publishing on `host_ip`,
/// records in its state's resources.
pub fn record_launch(
    resources: &mut BTreeMap<String, String>,
    engine: &EngineIdentity,
    host_ip: &str,
    state_id: &str,
) {
    if !engine.id.is_empty() {
        resources.insert(ENGINE_ID.into(), engine.id.clone());
    }
    resources.insert(ENGINE_HOST.into(), engine.host.clone());
    resources.insert(HOST_IP.into(), host_ip.to_owned());
    resources.insert(STATE_ID.into(), state_id.to_owned());
}

impl<'a> DockerProvider<'a> {
    /// The provider of cluster `state`, refused when `engine` is not the one it was launched on;
    /// its ports published where the launch published them.
    pub async fn for_cluster(
        engine: &'a Engine,
        state: &ClusterState,
    ) -> Result<Self, LaunchError> {
        let on = engine.identity().await?;
        check_engine(state, &on)?;
        Ok(DockerProvider {
            engine,
            image: state.resources.get("image").cloned().unwrap_or_default(),
            host_ip: (state.resources.get(HOST_IP).cloned()).unwrap_or_else(|| LOOPBACK.into()),
            on,
        })
    }
}

/// Refuses `on` when cluster `state` records another engine, saying where the cluster is.
pub fn check_engine(state: &ClusterState, on: &EngineIdentity) -> Result<(), LaunchError> {
    let Some(recorded) = state.resources.get(ENGINE_ID) else {
        return Ok(());
    };
    if *recorded == on.id {
        return Ok(());
    }
    let name = &state.name;
    let there = state
        .resources
        .get(ENGINE_HOST)
        .cloned()
        .unwrap_or_default();
    let reach = if there.is_empty() {
        "point DOCKER_HOST at it".to_owned()
    } else {
        format!("set DOCKER_HOST={there}")
    };
    let this = if on.id.is_empty() {
        "gives no id".to_owned()
    } else {
        format!("is {}, id {}", on.name, on.id)
    };
    Err(LaunchError::Input(format!(
        "cluster {name} is on another Docker engine: it was launched on the engine at {} (id \
         {recorded}), and the engine at {} {this}; {reach} to reach it (if that engine is gone \
         for good, its containers went with it: remove the cluster's state by hand)",
        if there.is_empty() { "?" } else { &there },
        on.host,
    )))
}

/// Where `--resume` of cluster `state` publishes the ports of the nodes it makes again: where its
/// launch did; `--publish-all` (`publish_all`) only says so again, and is refused for a cluster
/// launched without it. A state that does not record it publishes as `--publish-all` says.
pub fn resumed_host_ip(state: &ClusterState, publish_all: bool) -> Result<String, LaunchError> {
    let asked = if publish_all { EVERY_ADDRESS } else { LOOPBACK };
    match state.resources.get(HOST_IP) {
        None => Ok(asked.to_owned()),
        Some(recorded) if publish_all && recorded != EVERY_ADDRESS => {
            Err(LaunchError::Input(format!(
                "--publish-all cannot change cluster {0} on --resume: its ports are published on \
                 {recorded}, and its nodes keep that; leave --publish-all out, or `baker destroy \
                 {0}` and launch it again with --publish-all",
                state.name
            )))
        }
        Some(recorded) => Ok(recorded.clone()),
    }
}

#[cfg(test)]
#[path = "docker_cluster_tests.rs"]
mod tests;
