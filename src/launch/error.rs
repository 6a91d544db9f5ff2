//! Why a launch, or a command on a launched cluster, failed: bad input caught before anything is
//! created, a provider that cannot run here, or a node that failed its role, with what its check
//! saw, the end of its role log and the recipe's advice.

use std::fmt::Write as _;

use super::bundle::BundleError;
use super::state::StateError;
use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    CacheLock(#[from] crate::cache::CacheLockError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanFileError),
    #[error(transparent)]
    Ssh(#[from] super::ssh::SshError),
    #[error(transparent)]
    Inventory(#[from] super::inventory::InventoryError),
    #[error("{0}")]
    Input(String),
    /// Something not the cluster's stands where a node or the network goes, met only as the
    /// launch made them (see [`super::docker_owner`]). What to do depends on whether the failed
    /// launch's state stays: said for a kept one (`--resume` again once the obstacle is gone)
    /// until [`LaunchError::rolled_back`] makes it `removed`, what a launch says whose cluster and
    /// state were removed (launch again, or under another name).
    #[error("{kept}")]
    Obstructed { kept: String, removed: String },
    /// Boxed: it carries a log excerpt, and launches that fail are rare.
    #[error("{0}")]
    NodeFailed(Box<NodeFailure>),
    #[error(
        "interrupted; `baker launch {0} --resume` finishes the launch, `baker destroy {0}` removes it"
    )]
    Interrupted(String),
    /// Interrupted before the cluster's state was made (during its node image, say): nothing of it
    /// exists to resume or remove.
    #[error("interrupted before cluster {0} had any node: nothing of it was made")]
    InterruptedEarly(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl LaunchError {
    /// This error as told once the failed launch's cluster and state are removed: `--resume`, which
    /// a kept state's advice names, then finds nothing.
    pub fn rolled_back(self) -> Self {
        match self {
            Self::Obstructed { removed, .. } => Self::Input(removed),
            other => other,
        }
    }
}

/// A node that did not become ready: which, what its check saw, its log's end, the recipe's advice.
#[derive(Debug)]
pub struct NodeFailure {
    pub node: String,
    pub role: String,
    pub check: String,
    pub seen: String,
    pub log: Vec<String>,
    pub hints: Vec<String>,
}

impl std::fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = format!(
            "node {} ({}) is not ready: {} saw {}",
            self.node, self.role, self.check, self.seen
        );
        if !self.log.is_empty() {
            let _ = write!(s, "\nlast lines of its role log:");
            for line in &self.log {
                let _ = write!(s, "\n  | {line}");
            }
        }
        for hint in &self.hints {
            let _ = write!(s, "\nhint: {hint}");
        }
        f.write_str(&s)
    }
}
