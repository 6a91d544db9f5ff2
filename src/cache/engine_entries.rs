//! The index of what the cache keeps in the engine besides step images: `baker image`'s OS layers
//! (`<cache>/os-layers/`) and the `docker` provider's node images (`<cache>/node-images/`), one small
//! file per key, rewritten at each use so that its modification time is the last use. `baker cache
//! du|prune` find these images by their entries (see [`super::in_engine`]) and evict the least
//! recently used; an image without an entry is still used, and `cache clear` still removes it by
//! the cache's label.

use std::path::Path;

/// What an entry says: the image's key and reference, and the recipe and distro it serves.
#[derive(Debug, serde::Serialize)]
pub struct EngineEntry<'a> {
    pub key: &'a str,
    pub recipe: &'a str,
    pub distro: &'a str,
    pub image: &'a str,
}

/// Writes (or rewrites) `<dir>/<key>.json` with `entry`. Best effort: a failure is logged, since
/// it costs only the entry, never the image.
pub fn remember(dir: &Path, entry: &EngineEntry<'_>) {
    let path = dir.join(format!("{}.json", entry.key));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| crate::atomic_file::write_atomic(&path, &serde_json::to_vec(entry)?));
    if let Err(e) = written {
        tracing::debug!("could not write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_rewritten_at_each_use() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("node-images");
        let entry = EngineEntry {
            key: "k",
            recipe: "hello",
            distro: "debian-12",
            image: "baker-node:k-c",
        };
        remember(&index, &entry);
        let path = index.join("k.json");
        let first = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        remember(&index, &entry);
        assert!(std::fs::metadata(&path).unwrap().modified().unwrap() > first);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"key":"k","recipe":"hello","distro":"debian-12","image":"baker-node:k-c"}"#
        );
    }
}
