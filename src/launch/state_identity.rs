//! Which state directory a cluster belongs to. Cluster names are unique only within one state
//! directory, and several may launch on one engine (two users in the docker group, a developer's
//! clusters and a CI job's `BAKER_STATE_DIR`): the `docker` provider labels everything it makes
//! with the identity of the state directory it launched from, and adopts or removes only what
//! carries it (see [`super::docker_owner`]).
//!
//! As the cache's identity ([`crate::cache::identity`]), it is the state root's
//! [`crate::folder_identity`], its random id kept in `<root>/.state-id` (a dot name, which no
//! cluster can have): a copied directory is another one. A cluster records the identity it was
//! launched with ([`STATE_ID`]), so one whose state root was moved since is still found by its own.

use super::state::{StateDir, StateError};
use crate::folder_identity;

/// The resource naming, in a cluster's state, the identity of the state directory it was
/// launched from. A state written before baker recorded it has none.
pub const STATE_ID: &str = "state_id";

/// The file under the state root holding its random id.
const ID_FILE: &str = ".state-id";

impl StateDir {
    /// This state directory's identity (64 hex digits), making the root and its id file when
    /// needed.
    pub fn identity(&self) -> Result<String, StateError> {
        folder_identity::identity(self.root(), ID_FILE).map_err(|source| StateError::Write {
            path: self.root().join(ID_FILE),
            source,
        })
    }

    /// This state directory's identity when it has one; `None` for one that never launched a
    /// cluster since baker records it, without making one.
    pub fn known_identity(&self) -> Option<String> {
        folder_identity::known_identity(self.root(), ID_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_directory_keeps_its_identity_and_two_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = StateDir::new(dir.path().join("a"));
        let b = StateDir::new(dir.path().join("b"));
        assert_eq!(a.known_identity(), None, "none before a launch needs it");
        let first = a.identity().unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(a.known_identity().as_deref(), Some(first.as_str()));
        assert_eq!(a.identity().unwrap(), first, "stable across calls");
        assert_ne!(b.identity().unwrap(), first);
        // Not a cluster: `clusters` lists none.
        assert!(a.list().unwrap().is_empty());
    }

    #[test]
    fn a_copied_state_directory_is_another_one() {
        let dir = tempfile::tempdir().unwrap();
        let a = StateDir::new(dir.path().join("a"));
        let first = a.identity().unwrap();
        std::fs::create_dir_all(dir.path().join("copy")).unwrap();
        std::fs::copy(
            a.root().join(ID_FILE),
            dir.path().join("copy").join(ID_FILE),
        )
        .unwrap();
        let copy = StateDir::new(dir.path().join("copy"));
        assert_ne!(copy.known_identity().unwrap(), first);
    }
}
