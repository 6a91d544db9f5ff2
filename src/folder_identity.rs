//! The identity of a folder whose work baker leaves in a shared engine: a cache (its step and node
//! images) or a state directory (its clusters' containers and networks). Several of each may share
//! one engine (users, CI jobs, tests), so what one makes is labelled with its folder's identity,
//! and each takes only what carries its own.
//!
//! The identity is the sha256 of the folder's canonical path and a random id kept in a file in it
//! (written once with [`crate::atomic_file::read_or_create_id`]): a copied or re-created folder at
//! the same path is a new one, and two paths never share one.

use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The identity of `root` (64 hex digits), making it and its id file `id_file` when needed.
pub fn identity(root: &Path, id_file: &str) -> io::Result<String> {
    std::fs::create_dir_all(root)?;
    let id = crate::atomic_file::read_or_create_id(&root.join(id_file))?;
    Ok(identity_of(&root.canonicalize()?, &id))
}

/// The identity of `root` when its id file `id_file` holds one; `None` without making one.
pub fn known_identity(root: &Path, id_file: &str) -> Option<String> {
    let id = std::fs::read_to_string(root.join(id_file)).ok()?;
    let id = Some(id.trim()).filter(|id| !id.is_empty())?;
    Some(identity_of(&root.canonicalize().ok()?, id))
}

fn identity_of(canonical_root: &Path, id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(canonical_root.as_os_str().as_encoded_bytes());
    hash.update([0]);
    hash.update(id.as_bytes());
    hex::encode(hash.finalize())
}
