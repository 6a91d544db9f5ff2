//! Which state directory a cluster belongs to. Cluster names are unique only within one state
//! directory, and several may launch on one engine (two users in the docker group, a developer's
//! clusters and a CI job's `BAKER_STATE_DIR`): the `docker` provider labels everything it makes
//! with the identity of the state directory it launched from, and adopts or removes only what
//! carries it (see [`super::docker_owner`]).
//!
//! As the cache's identity ([`crate::cache::identity`]), it is the sha256 of the state root's
//! canonical path and a random id kept in `<root>/.state-id` (a dot name, which no cluster can
//! have): a copied directory is another one. A cluster records the identity it was launched
//! with ([`STATE_ID`]), so one whose state root was moved since is still found by its own.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::state::{StateDir, StateError};

/// The resource naming, in a cluster's state, the identity of the state directory it was
/// launched from. A state written before baker recorded it has none.
pub const STATE_ID: &str = "state_id";

/// The file under the state root holding its random id.
const ID_FILE: &str = ".state-id";

impl StateDir {
    /// This state directory's identity (32 hex digits), making the root and its id file when
    /// needed.
    pub fn identity(&self) -> Result<String, StateError> {
        let path = self.root().join(ID_FILE);
        let write = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(self.root()).map_err(write)?;
        let id = crate::atomic_file::read_or_create_id(&path).map_err(write)?;
        let root = self.root().canonicalize().map_err(write)?;
        Ok(identity_of(&root, &id))
    }

    /// This state directory's identity when it has one; `None` for one that never launched a
    /// cluster since baker records it, without making one.
    pub fn known_identity(&self) -> Option<String> {
        let id = std::fs::read_to_string(self.root().join(ID_FILE)).ok()?;
        let id = Some(id.trim()).filter(|id| !id.is_empty())?;
        let root = self.root().canonicalize().ok()?;
        Some(identity_of(&root, id))
    }
}

fn identity_of(canonical_root: &Path, id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(canonical_root.as_os_str().as_encoded_bytes());
    hash.update([0]);
    hash.update(id.as_bytes());
    hex::encode(&hash.finalize()[..16])
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
        assert_eq!(first.len(), 32);
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
