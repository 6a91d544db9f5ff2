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

    #[error("Docker engine error while {during}: {source}")]
    Call {
        during: String,
        source: bollard::errors::Error,
    },
}

impl EngineError {
    /// Maps a bollard error to a failed call described by `during` ("pulling debian:bookworm").
    pub(super) fn during(during: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let during = during.into();
        move |source| Self::Call { during, source }
    }
}
