//! The part of the step cache that lives in the engine: each step entry's committed image
//! `baker-step:<key>`. When `baker cache prune|clear` removes entries, their images go too, with the
//! untagged step images that later commits of the same key left behind.

use crate::engine::labels::step_image;
use crate::engine::{Engine, EngineError};

/// Removes the committed images of the steps with `keys` (an image already gone is fine), then
/// baker's untagged images. An image that cannot go (a container still uses it) does not stop the
/// others; the first such error is returned at the end.
pub async fn remove(keys: &[&str]) -> Result<(), EngineError> {
    let engine = Engine::connect().await?;
    let mut first_error = None;
    for key in keys {
        if let Err(e) = engine.remove_image(&step_image(key)).await {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = engine.prune_untagged().await {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}
