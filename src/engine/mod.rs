//! The connection to a Docker-compatible engine (Docker, or Podman's Docker socket). `DOCKER_HOST`
//! selects it (`unix://`, `tcp://`, `ssh://` through the ssh client); the API version is negotiated,
//! since Debian 12's engine speaks 1.41 and users bring newer ones.

use bollard::Docker;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach a Docker engine at {host}: {source}\n\
         start one (`sudo systemctl start docker`, or `sudo dockerd &`; on Debian: `apt-get install docker.io`), \
         or point DOCKER_HOST at a running engine (unix://, tcp://host:2375, ssh://user@host)"
    )]
    Unreachable {
        host: String,
        source: bollard::errors::Error,
    },
}

/// Where the engine is, as the user would describe it.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Connects, pings and negotiates the API version.
pub async fn connect() -> Result<Docker, EngineError> {
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
    Ok(docker)
}
