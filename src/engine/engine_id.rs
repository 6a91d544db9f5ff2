//! Which engine baker talks to. `DOCKER_HOST` changes from one shell to the next, so a cluster's
//! containers may be on an engine other than the one a later command reaches: the `docker`
//! provider records the engine's id (`docker info`'s `ID`, which the engine keeps across restarts
//! and upgrades) at launch, and its later commands compare it.

use super::{Engine, EngineError, engine_host};

/// The engine this connection reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIdentity {
    /// `docker info`'s `ID`; empty when the engine gives none (some Docker-compatible ones).
    pub id: String,
    /// The engine's host name (`docker info`'s `Name`).
    pub name: String,
    /// Where it was reached (`DOCKER_HOST`, or the default socket).
    pub host: String,
}

impl Engine {
    /// The engine's identity.
    pub async fn identity(&self) -> Result<EngineIdentity, EngineError> {
        let info = (self.docker.info().await).map_err(EngineError::during(
            "asking the engine who it is (docker info)",
        ))?;
        Ok(EngineIdentity {
            id: info.id.unwrap_or_default(),
            name: info.name.unwrap_or_default(),
            host: engine_host(),
        })
    }
}
