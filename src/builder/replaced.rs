//! The step images a `--no-cache` build replaced. Rerunning a step whose image exists commits a new
//! image that takes the old one's tag; the old one would then stay in the engine, untagged, until
//! `baker cache prune`. The build records each one as its commit takes the tag, and removes them
//! all once it stops, whether it finished, failed or was interrupted (a Ctrl-C drops the build's
//! work, so the removal cannot live inside it).

use std::sync::Mutex;

use crate::cache::CacheDir;
use crate::cache::lock_holders::held_by_this_process_alone;
use crate::engine::Engine;

/// The ids of the replaced step images, oldest first.
#[derive(Debug, Default)]
pub struct ReplacedImages(Mutex<Vec<String>>);

impl ReplacedImages {
    pub fn push(&self, id: String) {
        self.0.lock().expect("replaced images lock").push(id);
    }

    /// Removes them newest first (each is the parent of the next), when no other process uses the
    /// cache: a build beside this one may have looked one up before this build's commits took its
    /// tag, and not yet made its container from it. The engine refuses to remove one that a
    /// container or another image still stands on (a plan sharing the first steps). What stays is
    /// for `baker cache prune`.
    pub async fn remove(&self, engine: &Engine, cache: &CacheDir) {
        let replaced = std::mem::take(&mut *self.0.lock().expect("replaced images lock"));
        if replaced.is_empty() || !held_by_this_process_alone(&cache.in_use_lock()) {
            return;
        }
        for id in replaced.iter().rev() {
            if let Err(e) = engine.remove_image(id).await {
                tracing::debug!(image = %id, "the replaced step image stays: {e}");
            }
        }
    }
}
