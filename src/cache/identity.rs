//! Which cache a step image belongs to. Several cache directories may share one engine (users, CI
//! jobs, tests), and step images live engine-wide, so each image is labelled with the identity of
//! the cache that made it and tagged with it: a build in one cache never re-tags another's image,
//! and `baker cache clear|prune` remove only images carrying their own cache's label (issue 7.2).
//!
//! The identity is the cache root's [`crate::folder_identity`], its random id kept in
//! `<root>/cache-id`: a copied or re-created directory at the same path is a new cache.

use std::io;

use super::CacheDir;
use crate::folder_identity;

/// The label on every step image naming the cache that made it.
pub const CACHE_LABEL: &str = "baker.cache";

impl CacheDir {
    /// This cache's identity (64 hex digits), creating the cache root and its id file when needed.
    pub fn identity(&self) -> io::Result<String> {
        folder_identity::identity(self.root(), ID_FILE)
    }

    /// This cache's identity when it has one; `None` for a cache that never made anything (and
    /// so has nothing in any engine), without making an id for it.
    pub fn known_identity(&self) -> Option<String> {
        folder_identity::known_identity(self.root(), ID_FILE)
    }
}

/// The file in the cache root holding its random id.
const ID_FILE: &str = "cache-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_keeps_its_identity_and_two_caches_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = CacheDir::new(dir.path().join("a"));
        let b = CacheDir::new(dir.path().join("b"));
        assert_eq!(a.known_identity(), None, "a new cache has none yet");
        let first = a.identity().unwrap();
        assert_eq!(a.known_identity().as_deref(), Some(first.as_str()));
        assert_eq!(first.len(), 64);
        assert_eq!(a.identity().unwrap(), first, "stable across calls");
        assert_ne!(b.identity().unwrap(), first);
        std::fs::remove_file(dir.path().join("a/cache-id")).unwrap();
        assert_ne!(a.identity().unwrap(), first, "a new id is a new cache");
    }
}
