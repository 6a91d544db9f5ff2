//! The identity of a local source tree (`--source-dir`): a digest over every file's relative path,
//! mode and content sha256 (symlinks by their target), never over times, so touching a file without
//! changing it does not change the key. Version-control and editor litter is skipped, and so is what
//! baker itself wrote into the tree ([`LeftOut`]).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use super::left_out::LeftOut;
use super::stat_cache::{Stat, StatCache};

/// Names never taken into a build from a local tree.
pub const SKIPPED: &[&str] = &[".git", ".hg", ".svn", ".baker", "target"];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the tree's root, `/`-separated.
    pub path: String,
    pub mode: u32,
    /// Content sha256 for files, the target for symlinks, empty for directories.
    pub digest: String,
    /// Seconds since the epoch; never part of the digest, only of what is sent (so `make` sees times).
    #[serde(skip)]
    pub mtime: u64,
}

#[derive(Debug, Clone)]
pub struct TreeDigest {
    pub root: PathBuf,
    pub entries: Vec<TreeEntry>,
    pub sha256: String,
}

impl TreeDigest {
    pub fn files(&self) -> usize {
        self.entries.iter().filter(|e| !e.digest.is_empty()).count()
    }
}

/// Walks `root` in sorted order and digests it, hashing every file.
pub fn digest_tree(root: &Path) -> io::Result<TreeDigest> {
    digest_tree_with(root, &LeftOut::default(), &mut StatCache::none())
}

/// Walks `root` and digests it, taking the sha256 of files whose stat is unchanged from `cache` and
/// hashing the others in parallel (a thread per core); records what it found in `cache`.
pub fn digest_tree_with(
    root: &Path,
    left_out: &LeftOut,
    cache: &mut StatCache,
) -> io::Result<TreeDigest> {
    let mut found = Vec::new();
    walk(root, root, left_out, &mut found)?;
    let digests: Vec<io::Result<String>> = found
        .par_iter()
        .map(|f| match &f.kind {
            Kind::File(stat) => match cache.get(&f.path, stat) {
                Some(known) => Ok(known.to_owned()),
                None => hash_file(&root.join(&f.path)),
            },
            Kind::Link(target) => Ok(format!("link:{target}")),
            Kind::Dir => Ok(String::new()),
        })
        .collect();
    let mut entries = Vec::with_capacity(found.len());
    let mut stats = Vec::new();
    for (f, digest) in found.into_iter().zip(digests) {
        let digest = digest?;
        if let Kind::File(stat) = f.kind {
            stats.push((f.path.clone(), stat, digest.clone()));
        }
        entries.push(TreeEntry {
            path: f.path,
            mode: f.mode,
            digest,
            mtime: f.mtime,
        });
    }
    cache.update(stats);
    cache.save();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let canonical = serde_json::to_vec(&entries).map_err(io::Error::other)?;
    Ok(TreeDigest {
        root: root.to_owned(),
        sha256: hex::encode(Sha256::digest(&canonical)),
        entries,
    })
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// An entry as the walk finds it, before any file is read.
struct Found {
    path: String,
    mode: u32,
    mtime: u64,
    kind: Kind,
}

enum Kind {
    File(Stat),
    Link(String),
    Dir,
}

fn walk(root: &Path, dir: &Path, left_out: &LeftOut, out: &mut Vec<Found>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        if SKIPPED.iter().any(|s| name == *s) {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        if left_out.skips(&path, meta.is_dir()) {
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .into_owned();
        let mode = meta.permissions().mode() & 0o7777;
        let mtime = mtime_secs(&meta);
        let (mode, kind) = if meta.file_type().is_symlink() {
            (
                0o777,
                Kind::Link(fs::read_link(&path)?.display().to_string()),
            )
        } else if meta.is_dir() {
            (mode, Kind::Dir)
        } else if meta.is_file() {
            (mode, Kind::File(Stat::of(&meta)))
        } else {
            continue;
        };
        let is_dir = matches!(kind, Kind::Dir);
        out.push(Found {
            path: relative,
            mode,
            mtime,
            kind,
        });
        if is_dir {
            walk(root, &path, left_out, out)?;
        }
    }
    Ok(())
}

/// A file's modification time in whole seconds, as tar and `find -printf %T@ | cut -d. -f1` see it.
pub fn mtime_secs(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_content_and_mode_not_time() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.c"), "int main(){}\n").unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let first = digest_tree(dir.path()).unwrap();
        assert_eq!(first.files(), 1, "version-control files are skipped");

        // Rewriting the same bytes (a new mtime) keeps the digest.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.path().join("a.c"), "int main(){}\n").unwrap();
        assert_eq!(digest_tree(dir.path()).unwrap().sha256, first.sha256);

        fs::write(dir.path().join("a.c"), "int main(){return 1;}\n").unwrap();
        let changed = digest_tree(dir.path()).unwrap();
        assert_ne!(changed.sha256, first.sha256);

        let mut perms = fs::metadata(dir.path().join("a.c")).unwrap().permissions();
        perms.set_mode(0o755);
        fs::set_permissions(dir.path().join("a.c"), perms).unwrap();
        assert_ne!(digest_tree(dir.path()).unwrap().sha256, changed.sha256);
    }
}
