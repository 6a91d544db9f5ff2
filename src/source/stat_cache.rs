//! The stat cache of a local source tree, as git's index is for a work tree: for each file its size,
//! mtime, inode and ctime (to the nanosecond) beside its content sha256, so that digesting an
//! unchanged tree of any size reads no file. A file whose stat differs in any field is re-hashed, never
//! trusted on mtime alone; and, as git does for "racily clean" entries, a file modified in the same
//! instant the cache was written or later is re-hashed too, since an edit in that instant would keep
//! every field. One JSON file per tree root under baker's cache (`<cache>/stat/<id>.json`); an
//! unreadable or foreign one is an empty cache, and writing it is best effort.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FORMAT: u32 = 1;

/// What a file's stat says; equal stats (and no racy write) mean equal content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl Stat {
    pub fn of(meta: &Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    stat: Stat,
    sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    format: u32,
    /// When the cache was written (ns since the epoch): entries modified at or after it are racy.
    written_ns: i128,
    files: HashMap<String, Cached>,
}

/// The stat cache of one tree; [`StatCache::none`] hashes everything and remembers nothing.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    file: File,
    changed: bool,
}

impl StatCache {
    pub fn none() -> Self {
        Self::default()
    }

    /// The cache of the tree at `root`, kept in `dir`.
    pub fn open(dir: &Path, root: &Path) -> Self {
        let id = hex::encode(Sha256::digest(root.as_os_str().as_encoded_bytes()));
        let path = dir.join(format!("{}.json", &id[..32]));
        let file = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<File>(&b).ok())
            .filter(|f| f.format == FORMAT)
            .unwrap_or_default();
        Self {
            path: Some(path),
            file,
            changed: false,
        }
    }

    /// The sha256 recorded for `path` when its stat is unchanged and not racy.
    pub fn get(&self, path: &str, stat: &Stat) -> Option<&str> {
        let cached = self.file.files.get(path)?;
        (cached.stat == *stat && stat.mtime_ns < self.file.written_ns)
            .then_some(cached.sha256.as_str())
    }

    /// Records what a walk found; files no longer in the tree are forgotten.
    pub fn update(&mut self, found: impl IntoIterator<Item = (String, Stat, String)>) {
        let mut files = HashMap::new();
        for (path, stat, sha256) in found {
            let same = self
                .file
                .files
                .get(&path)
                .is_some_and(|c| c.stat == stat && c.sha256 == sha256);
            self.changed |= !same;
            files.insert(path, Cached { stat, sha256 });
        }
        self.changed |= files.len() != self.file.files.len();
        self.file.files = files;
    }

    /// Writes the cache when it changed or holds racy entries (best effort).
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        let racy = self
            .file
            .files
            .values()
            .any(|c| c.stat.mtime_ns >= self.file.written_ns);
        if !self.changed && !racy {
            // Its time is its last use, which `baker cache prune` evicts by.
            let _ = std::fs::File::options()
                .append(true)
                .open(path)
                .and_then(|file| file.set_modified(std::time::SystemTime::now()));
            return;
        }
        self.file.format = FORMAT;
        self.file.written_ns = now_ns();
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = serde_json::to_vec(&self.file).map_err(std::io::Error::other)?;
            crate::atomic_file::write_atomic(path, &bytes)
        };
        if let Err(e) = write() {
            tracing::debug!(path = %path.display(), error = %e, "could not write the stat cache");
        }
        self.changed = false;
    }
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::tree::{LeftOut, digest_tree_with};

    #[test]
    fn an_unchanged_file_is_not_reread_and_a_changed_one_is() {
        let tree = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let file = tree.path().join("a.c");
        std::fs::write(&file, "one\n").unwrap();
        let first = digest_tree_with(
            tree.path(),
            &LeftOut::default(),
            &mut StatCache::open(cache.path(), tree.path()),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Written after the file: the entry is no longer racy and is trusted.
        let mut again = StatCache::open(cache.path(), tree.path());
        let stat = Stat::of(&std::fs::metadata(&file).unwrap());
        let _ = digest_tree_with(tree.path(), &LeftOut::default(), &mut again).unwrap();
        let again = StatCache::open(cache.path(), tree.path());
        assert_eq!(
            again.get("a.c", &stat),
            Some(first.entries[0].digest.as_str())
        );

        // Same size, new content: the stat differs (mtime, ctime), so the file is re-hashed.
        std::fs::write(&file, "two\n").unwrap();
        let changed = digest_tree_with(
            tree.path(),
            &LeftOut::default(),
            &mut StatCache::open(cache.path(), tree.path()),
        )
        .unwrap();
        assert_ne!(changed.sha256, first.sha256);
        assert_eq!(
            changed.sha256,
            digest_tree_with(tree.path(), &LeftOut::default(), &mut StatCache::none())
                .unwrap()
                .sha256
        );
    }

    /// Its time is its last use, which `cache prune` evicts by: a read of an unchanged tree, which
    /// writes nothing, still marks it used.
    #[test]
    fn reading_an_unchanged_tree_marks_its_cache_used() {
        let tree = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("a.c"), "one\n").unwrap();
        let read = || {
            let mut stats = StatCache::open(cache.path(), tree.path());
            digest_tree_with(tree.path(), &LeftOut::default(), &mut stats).unwrap();
        };
        read();
        std::thread::sleep(std::time::Duration::from_millis(20));
        read();
        let file = std::fs::read_dir(cache.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        std::fs::File::options()
            .append(true)
            .open(file.path())
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        read();
        let used = std::fs::metadata(file.path()).unwrap().modified().unwrap();
        assert!(
            used > long_ago + std::time::Duration::from_secs(3600),
            "{used:?}"
        );
    }

    #[test]
    fn a_file_modified_when_the_cache_was_written_is_racy() {
        let mut cache = StatCache::none();
        let stat = Stat {
            size: 1,
            mtime_ns: 100,
            ctime_ns: 100,
            ino: 1,
            dev: 1,
        };
        cache.update([("a".to_owned(), stat, "x".to_owned())]);
        cache.file.written_ns = 100;
        assert_eq!(cache.get("a", &stat), None, "same instant: not trusted");
        cache.file.written_ns = 101;
        assert_eq!(cache.get("a", &stat), Some("x"));
    }
}
