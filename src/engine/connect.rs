//! The connection to the engine. `DOCKER_HOST` selects it (`unix://`, `tcp://`, `ssh://` through the
//! ssh client); the API version is negotiated, since Debian 12's engine speaks 1.41 and users bring
//! newer ones. An engine that accepts the connection and never answers is given
//! [`answer_timeout`] (10 s, `BAKER_ENGINE_TIMEOUT` seconds) before the error names `DOCKER_HOST`,
//! instead of bollard's two-minute "Timeout error".

use std::time::Duration;

use bollard::Docker;

use super::{Engine, EngineError, Janitor};
use crate::progress::Reporter;

/// Where the engine is, as the user would describe it.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

impl Engine {
    /// Connects, pings and negotiates the API version, then removes the containers of baker
    /// processes that were killed (reported through `reporter`).
    pub async fn connect(reporter: &dyn Reporter) -> Result<Self, EngineError> {
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
        let wait = answer_timeout();
        let handshake = async {
            let docker = docker.negotiate_version().await.map_err(unreachable)?;
            docker.ping().await.map_err(unreachable)?;
            Ok::<_, EngineError>(docker)
        };
        let docker =
            tokio::time::timeout(wait, handshake)
                .await
                .map_err(|_| EngineError::Silent {
                    host: host.clone(),
                    seconds: wait.as_secs(),
                })??;
        let engine = Self {
            docker,
            janitor: Janitor::default(),
        };
        engine.remove_orphans(reporter).await?;
        Ok(engine)
    }
}

/// How long the engine may take to answer the first calls: `BAKER_ENGINE_TIMEOUT` seconds, else 10.
pub fn answer_timeout() -> Duration {
    std::env::var("BAKER_ENGINE_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_secs)
}
