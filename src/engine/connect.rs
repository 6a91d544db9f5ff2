//! The connection to the engine. `DOCKER_HOST` selects it (`unix://`, `tcp://`, `ssh://` through the
//! ssh client); the API version is negotiated, since Debian 12's engine speaks 1.41 and users bring
//! newer ones.

use bollard::Docker;

use super::{Engine, EngineError, Janitor};

/// Where the engine is, as the user would describe it.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

impl Engine {
    /// Connects, pings and negotiates the API version.
    pub async fn connect() -> Result<Self, EngineError> {
        let host = engine_host();
        let unreachable = |source| EngineError::Unreachable {
            host: host.clone(),
            source,
        };
        let docker = if host.starts_with("ssh://") {
            Docker::connect_with_ssh_defaults().map_err(unreachable)?
        } else {
            Docker::connect_with_defaults().map_err(unreachable)?
        };
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Self {
            docker,
            janitor: Janitor::default(),
        })
    }
}
