//! The part of the cache that lives in the engine: each step entry's committed image
//! `baker-step:<key>-<cache>`, labelled with the identity of the cache that made it, and what
//! `baker image` keeps there under the same label (OS layers, setup steps committed for them, the
//! unpacked OS trees' volumes). When `baker cache prune|clear` removes entries, their images go too,
//! with the untagged images this cache's later commits of the same key left behind; `clear` removes
//! every image and volume with the cache's label. Images and volumes of other caches on the same
//! engine are never touched (issue 7.2). Callers hold the cache's lock exclusively, so no build or
//! image of this cache is using them.

use super::{CACHE_LABEL, CacheDir};
use crate::engine::labels::step_image;
use crate::engine::{Engine, EngineError};
use crate::progress::Reporter;

/// Removes this cache's committed images of the steps with `keys` (an image already gone is fine) —
/// or, with `all`, every image and volume labelled with this cache — then this cache's untagged
/// images. An image that cannot go (a container still uses it) does not stop the others; the first
/// such error is returned at the end.
pub async fn remove(
    cache: &CacheDir,
    keys: &[&str],
    all: bool,
    reporter: &dyn Reporter,
) -> Result<(), EngineError> {
    let Ok(identity) = cache.identity() else {
        return Ok(());
    };
    let engine = Engine::connect(reporter).await?;
    let label = format!("{CACHE_LABEL}={identity}");
    let mut references: Vec<String> = keys.iter().map(|k| step_image(k, &identity)).collect();
    if all {
        references.extend(engine.tags_with_label(&label).await?);
        engine
            .remove_volumes_labelled(&[(CACHE_LABEL, &identity)], "")
            .await;
    }
    let mut first_error = None;
    for reference in &references {
        if let Err(e) = engine.remove_image(reference).await {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = engine.prune_untagged(&label).await {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}
