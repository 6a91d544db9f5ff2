//! The step cache: a step whose key was built before is not run again. The result of a step is the
//! image committed from its container, tagged `baker-step:<key>-<cache>`; the index under `<cache>/steps/`
//! records, per key, the image id and the base image it grew from. An entry counts only if its image
//! still exists in the engine and its base is the one in use now; entries are written atomically so
//! two builds sharing a cache never see half an entry. An entry's modification time is its last use,
//! which `baker cache prune` evicts by; a build that takes a step from the cache uses every step
//! before it too, and marks them so ([`StepCache::touch_chain`]).
//!
//! Each entry's step log is kept beside the index, in `<cache>/step-logs/<key>.log`: a build that
//! takes a step from the cache puts the log of the run that made it in `<out>/logs/`, so an unchanged
//! rebuild's output still says how its tarball was made.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cache::CacheDir;
use crate::engine::Engine;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepEntry {
    pub key: String,
    pub step: String,
    pub recipe: String,
    pub image_id: String,
    pub base_image_id: String,
    pub created: u64,
}

pub struct StepCache {
    dir: PathBuf,
    cache: CacheDir,
}

pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl StepCache {
    pub fn new(cache: &CacheDir) -> Self {
        Self {
            dir: cache.steps(),
            cache: cache.clone(),
        }
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry for `key` if its image still exists and was grown from `base_image_id`.
    pub async fn lookup(
        &self,
        engine: &Engine,
        key: &str,
        base_image_id: &str,
    ) -> Option<StepEntry> {
        let text = std::fs::read_to_string(self.entry_path(key)).ok()?;
        let entry: StepEntry = serde_json::from_str(&text).ok()?;
        if entry.base_image_id != base_image_id {
            tracing::debug!(key, "step cache entry is for another base image");
            return None;
        }
        if engine.has_image(&entry.image_id).await {
            // Touch the entry so that `baker cache prune` evicts the least recently used first.
            let _ = filetime_touch(&self.entry_path(key));
            Some(entry)
        } else {
            tracing::debug!(key, "step cache entry's image is gone");
            None
        }
    }

    /// Marks the entries of a chain of steps (`keys`, first step first) as used now, for a build that
    /// took its last from the cache: it stands on every earlier one, so `baker cache prune`, which
    /// evicts the least recently used first, must not see them as older than it (evicting them
    /// alone frees only their index files, while the packages they cost must be installed again).
    /// Earlier steps get later times, a nanosecond apart, so that prune takes a chain from its end,
    /// where evicting frees the step's image. Best effort, as for a lookup.
    pub fn touch_chain<'k>(&self, keys: impl DoubleEndedIterator<Item = &'k str>) {
        let now = SystemTime::now();
        for (nanos, key) in (0..).zip(keys.rev()) {
            let used = now + std::time::Duration::from_nanos(nanos);
            let _ = touch_at(&self.entry_path(key), used);
        }
    }

    pub fn record(&self, entry: &StepEntry) -> std::io::Result<()> {
        crate::atomic_file::write_atomic(
            &self.entry_path(&entry.key),
            &serde_json::to_vec_pretty(entry)?,
        )
    }

    /// Keeps `log`, the log of the run that made the step `key`, for the builds that take the step
    /// from the cache. Best effort: a build without it only lacks that log.
    pub fn keep_log(&self, key: &str, log: &Path) {
        let kept = self.cache.step_log(key);
        let copied = std::fs::create_dir_all(self.cache.step_logs())
            .and_then(|()| tempfile::NamedTempFile::new_in(self.cache.step_logs()))
            .and_then(|mut temp| {
                std::io::copy(&mut std::fs::File::open(log)?, &mut temp)?;
                // Readable as the log it copies is (a temporary file is the owner's alone), and
                // so is each copy of it in an output set.
                temp.as_file()
                    .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
                temp.persist(&kept).map_err(|e| e.error)?;
                Ok(())
            });
        if let Err(e) = copied {
            tracing::warn!(
                key,
                "could not keep the step's log in {}: {e}",
                kept.display()
            );
        }
    }

    /// Copies the kept log of the step `key` to `to`; false when the cache has none (the step was
    /// cached before baker kept logs, or the log was pruned).
    pub fn restore_log(&self, key: &str, to: &Path) -> bool {
        let kept = self.cache.step_log(key);
        let restored = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&kept, to));
        match restored {
            Ok(_) => {
                // Its last use, as for the entry: `baker cache prune` evicts the oldest first.
                let _ = filetime_touch(&kept);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                tracing::warn!(key, "could not copy the kept log {}: {e}", kept.display());
                false
            }
        }
    }

    /// Every entry, for `baker cache`.
    pub fn entries(&self) -> Vec<(PathBuf, StepEntry)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| {
                let path = e.path();
                let text = std::fs::read_to_string(&path).ok()?;
                Some((path, serde_json::from_str(&text).ok()?))
            })
            .collect()
    }
}

/// Sets a file's modification time to now (its last use), without another crate.
fn filetime_touch(path: &Path) -> std::io::Result<()> {
    touch_at(path, SystemTime::now())
}

fn touch_at(path: &Path, used: SystemTime) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.set_modified(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(&CacheDir::new(dir.path()));
        let entry = StepEntry {
            key: "ab".repeat(32),
            step: "compile".into(),
            recipe: "hello".into(),
            image_id: "sha256:1".into(),
            base_image_id: "sha256:0".into(),
            created: 1,
        };
        cache.record(&entry).unwrap();
        cache.record(&entry).unwrap();
        let all = cache.entries();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1, entry);
    }

    #[test]
    fn a_hit_marks_every_earlier_step_of_its_chain_used_and_prune_takes_the_chain_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(&CacheDir::new(dir.path()));
        let chain = ["packages", "source", "compile", "install"];
        let long_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        for (i, step) in chain.iter().chain(["other"].iter()).enumerate() {
            let entry = StepEntry {
                key: format!("key-{step}"),
                step: (*step).into(),
                recipe: "hello".into(),
                image_id: format!("sha256:{i}"),
                base_image_id: "sha256:base".into(),
                created: 1,
            };
            cache.record(&entry).unwrap();
            // Recorded in chain order: the first steps look the least recently used.
            let at = long_ago + std::time::Duration::from_secs(i as u64);
            touch_at(&cache.entry_path(&entry.key), at).unwrap();
        }
        let keys: Vec<String> = chain.iter().map(|s| format!("key-{s}")).collect();
        cache.touch_chain(keys.iter().map(String::as_str));

        let mut by_last_use: Vec<(SystemTime, String)> = cache
            .entries()
            .into_iter()
            .map(|(path, e)| (std::fs::metadata(path).unwrap().modified().unwrap(), e.step))
            .collect();
        by_last_use.sort();
        let eviction_order: Vec<&str> = by_last_use.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            eviction_order,
            ["other", "install", "compile", "source", "packages"]
        );
        assert!(by_last_use[1].0 > long_ago + std::time::Duration::from_secs(60));
    }

    #[test]
    fn a_kept_log_comes_back_and_a_missing_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(&CacheDir::new(dir.path().join("cache")));
        let log = dir.path().join("03-compile.log");
        std::fs::write(&log, "make: done\n").unwrap();
        cache.keep_log("k1", &log);
        std::fs::write(&log, "changed after").unwrap();
        let out = dir.path().join("out/logs/03-compile.log");
        assert!(cache.restore_log("k1", &out));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "make: done\n");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&out).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
        assert!(!cache.restore_log("k2", &dir.path().join("out/logs/04-x.log")));
        assert!(!dir.path().join("out/logs/04-x.log").exists());
    }
}
