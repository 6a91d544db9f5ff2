//! What went wrong talking to the engine: it could not be reached (with how to start one), or a call
//! failed, saying which call on which container or image. Callers outside this module see only
//! [`EngineError`]; bollard's error is its source.

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

    #[error(
        "the Docker engine at {host} (DOCKER_HOST) accepted the connection but did not answer within {seconds}s; \
         check that DOCKER_HOST names a Docker engine and that it is not stuck (`docker info`)"
    )]
    Silent { host: String, seconds: u64 },

    #[error("Docker engine error while {during}: {source}")]
    Call {
        during: String,
        source: bollard::errors::Error,
    },
}

impl EngineError {
    /// An engine not found at `host`, as [`super::Engine::connect`] reports one whose socket is
    /// missing: for tests of what callers say of it, which name no bollard type themselves.
    #[cfg(test)]
    pub fn unreachable_for_tests(host: &str) -> Self {
        let socket = host.strip_prefix("unix://").unwrap_or(host);
        Self::Unreachable {
            host: host.to_owned(),
            source: bollard::errors::Error::SocketNotFoundError(socket.to_owned()),
        }
    }

    /// Maps a bollard error to a failed call described by `during` ("pulling debian:bookworm").
    pub(super) fn during(during: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let during = during.into();
        move |source| Self::Call { during, source }
    }
}
