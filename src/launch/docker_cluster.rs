//! What a docker cluster's state records of where its containers are, and the provider rebuilt
//! from it for `status`, `login`, `logs`, `destroy` and `--resume`. `DOCKER_HOST` differs from one
//! shell to the next: a command on an engine other than the cluster's would find none of its
//! containers, and a `destroy` would forget a cluster that still runs. So a launch records the
//! engine's id (and where it was reached, for messages), and a later command on another engine is
//! refused, saying where the cluster is. A launch also records the address its ports are published
//! on, so that a node `--resume` makes again is published where the others are. A state written
//! before baker recorded these is taken as before: on any engine, with `--publish-all` as given.
//! When the cluster's engine cannot be reached, or another answers, the refusal names the
//! cluster's state file and what removes it ([`state_advice`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::docker::DockerProvider;
use super::error::LaunchError;
use super::state::{ClusterState, STATE_FILE};
use super::state_identity::STATE_ID;
use crate::engine::{Engine, EngineError, EngineIdentity};
use crate::progress::Reporter;

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
    /// The provider of cluster `state`, whose directory is `dir`, refused when `engine` is not the
    /// one it was launched on; its ports published where the launch published them.
    pub async fn for_cluster(
        engine: &'a Engine,
        state: &ClusterState,
        dir: &Path,
    ) -> Result<Self, LaunchError> {
        let on = engine.identity().await?;
        check_engine(state, &on, dir)?;
        Ok(DockerProvider {
            engine,
            image: state.resources.get("image").cloned().unwrap_or_default(),
            host_ip: (state.resources.get(HOST_IP).cloned()).unwrap_or_else(|| LOOPBACK.into()),
            on,
            dir: dir.to_owned(),
        })
    }
}

/// Connects to the engine for cluster `state`, whose directory is `dir`; when no engine answers,
/// the error says too where the cluster was launched and what becomes of its state.
pub async fn connect_for(
    state: &ClusterState,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<Engine, LaunchError> {
    (Engine::connect(reporter).await).map_err(|e| unreachable(state, dir, e))
}

/// `e`, the failed connection for cluster `state` (whose directory is `dir`), with where the
/// cluster was launched and what becomes of its state when no engine answered.
fn unreachable(state: &ClusterState, dir: &Path, e: EngineError) -> LaunchError {
    if !matches!(
        e,
        EngineError::Unreachable { .. } | EngineError::Silent { .. }
    ) {
        return e.into();
    }
    let at = match state.resources.get(ENGINE_HOST) {
        Some(host) => format!("the Docker engine at {host}"),
        None => "a Docker engine".to_owned(),
    };
    LaunchError::Input(format!(
        "{e}\ncluster {} was launched on {at}; {}",
        state.name,
        state_advice(&state.name, dir)
    ))
}

/// Where the state of cluster `name`, whose directory is `dir`, is, and what removes it: `baker
/// destroy` once it reaches the cluster's engine, or, for an engine gone for good, the user by
/// hand (nothing of the cluster is left to remove then, and no engine lets `destroy` check that).
pub fn state_advice(name: &str, dir: &Path) -> String {
    let shown = dir.display().to_string();
    let quoted = shlex::try_quote(&shown).map_or_else(|_| shown.clone(), |q| q.into_owned());
    format!(
        "its state is {}: `baker destroy {name}` removes the cluster and that state once it \
         reaches that engine; if the engine is gone for good, its containers went with it: remove \
         the state by hand (`rm -r {quoted}`)",
        dir.join(STATE_FILE).display()
    )
}

/// Refuses `on` when cluster `state`, whose directory is `dir`, records another engine, saying
/// where the cluster is and what becomes of its state.
pub fn check_engine(
    state: &ClusterState,
    on: &EngineIdentity,
    dir: &Path,
) -> Result<(), LaunchError> {
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
         {recorded}), and the engine at {} {this}; {reach} to reach it; {}",
        if there.is_empty() { "?" } else { &there },
        on.host,
        state_advice(name, dir),
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
