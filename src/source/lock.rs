//! The lock file: for files whose upstream publishes no checksum (recipes mark them `unpinned`), the
//! sha256 of the first download is recorded here and every later download must match it.
//!
//! It is a small TOML file (`[files] "<url>" = "<sha256>"`), written atomically, so that it can be
//! read by people and committed next to a project's recipes.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read lock file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("lock file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write lock file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockFile {
    /// URL -> sha256 of its first verified download.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl LockFile {
    /// Reads the lock file; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Self, LockError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| LockError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(LockError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Records `sha256` for `url` in the file at `path`, re-reading it first so that two builds
    /// locking different files do not lose each other's entries.
    pub fn record(path: &Path, url: &str, sha256: &str) -> Result<Self, LockError> {
        let mut lock = Self::load(path)?;
        lock.files.insert(url.to_owned(), sha256.to_owned());
        let write_err = |source| LockError::Write {
            path: path.to_owned(),
            source,
        };
        let mut text = String::from(
            "# sha256 of the first download of files whose upstream publishes no checksum.\n\
             # Written by baker; later downloads must match. Delete a line to trust a new download.\n",
        );
        text.push_str(&toml::to_string(&lock).map_err(|e| write_err(io::Error::other(e)))?);
        crate::atomic_file::write_atomic(path, text.as_bytes()).map_err(write_err)?;
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back_without_losing_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baker.lock");
        assert_eq!(LockFile::load(&path).unwrap(), LockFile::default());
        LockFile::record(&path, "http://a/x.tar.gz", "aa").unwrap();
        LockFile::record(&path, "http://b/y.tar.gz", "bb").unwrap();
        let lock = LockFile::load(&path).unwrap();
        assert_eq!(lock.files.len(), 2);
        assert_eq!(lock.files["http://a/x.tar.gz"], "aa");
    }
}
