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
        let garbled = |what: String| LockError::Parse {
            path: path.to_owned(),
            message: format!("{what}; {GARBLED_FIX}"),
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| {
                    let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                    let valid = std::str::from_utf8(valid).unwrap_or_default();
                    garbled(format!("{}: not UTF-8 text", line_column(valid)))
                })?;
                let lock: Self =
                    toml::from_str(&text).map_err(|e| garbled(toml_fault(&text, &e)))?;
                // A lock that pins nothing would fail every download later, far from its cause.
                for (url, sha256) in &lock.files {
                    let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
                    if !hex {
                        let at = text.lines().position(|l| l.contains(sha256.as_str()));
                        let line = at.map_or(String::new(), |n| format!("line {}: ", n + 1));
                        return Err(garbled(format!(
                            "{line}`{sha256}` for {url} is not a sha256 (64 hexadecimal digits)"
                        )));
                    }
                }
                Ok(lock)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(LockError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Records `sha256` for `url` in the file at `path`, re-reading it first so that two builds
    /// locking different files do not lose each other's entries: the read and the write are done
    /// holding a `flock(2)` on the file's folder (the file itself is replaced by each write, so a
    /// lock on it would not be seen by the next writer, and a lock file would litter the folder).
    /// Where the folder's file system cannot lock a folder (NFS), it is written unlocked.
    pub fn record(path: &Path, url: &str, sha256: &str) -> Result<Self, LockError> {
        let folder = crate::atomic_file::parent_dir(path);
        let writing = std::fs::create_dir_all(folder)
            .and_then(|()| std::fs::File::open(folder))
            .map_err(|source| LockError::Write {
                path: path.to_owned(),
                source,
            })?;
        let _ = rustix::fs::flock(&writing, rustix::fs::FlockOperation::LockExclusive);
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

/// What to do about a lock file that cannot be read as TOML.
const GARBLED_FIX: &str = "restore it from version control, or delete it to record the sha256 \
     of the next download of each unpinned file again (that download is then trusted)";

/// `line L, column C: message` for a TOML error, without the snippet, which for a binary file is noise.
fn toml_fault(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => format!(
            "{}: {message}",
            line_column(&text[..span.start.min(text.len())])
        ),
        None => message,
    }
}

/// `line L, column C` (from 1, columns in characters) of the position just after `before`.
fn line_column(before: &str) -> String {
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    format!("line {line}, column {column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back_without_losing_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baker.lock");
        assert_eq!(LockFile::load(&path).unwrap(), LockFile::default());
        LockFile::record(&path, "http://a/x.tar.gz", &"aa".repeat(32)).unwrap();
        LockFile::record(&path, "http://b/y.tar.gz", &"bb".repeat(32)).unwrap();
        let lock = LockFile::load(&path).unwrap();
        assert_eq!(lock.files.len(), 2);
        assert_eq!(lock.files["http://a/x.tar.gz"], "aa".repeat(32));
    }

    #[test]
    fn builds_recording_at_once_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baker.lock");
        std::thread::scope(|scope| {
            for t in 0..8 {
                let path = &path;
                scope.spawn(move || {
                    for i in 0..10 {
                        LockFile::record(path, &format!("http://h/{t}-{i}"), &"aa".repeat(32))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(LockFile::load(&path).unwrap().files.len(), 80);
        // A lock file in a folder not made yet (`--lock locks/baker.lock`).
        let nested = dir.path().join("locks/baker.lock");
        LockFile::record(&nested, "http://h/x", &"aa".repeat(32)).unwrap();
        assert_eq!(LockFile::load(&nested).unwrap().files.len(), 1);
    }

    #[test]
    fn a_garbled_lock_file_names_its_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baker.lock");
        for (bytes, fault) in [
            (
                &b"[files]\n\"http://a/x\" = \"aa\xff\"\n"[..],
                "line 2, column 19: not UTF-8 text",
            ),
            (b"[files]\n\"http://a/x\" = aa\n", "line 2, column 16: "),
            (b"[files\n", "line 1, column 7: "),
            (
                b"[files]\n\"http://a/x\" = \"abc\"\n",
                "line 2: `abc` for http://a/x is not a sha256 (64 hexadecimal digits)",
            ),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let message = LockFile::load(&path).unwrap_err().to_string();
            let expected = format!("lock file {} is not valid: {fault}", path.display());
            assert!(message.starts_with(&expected), "{message}");
            assert!(message.ends_with(&format!("; {GARBLED_FIX}")), "{message}");
            assert!(!message.contains('\n'), "{message}");
            let err = LockFile::record(&path, "http://b/y", "bb").unwrap_err();
            assert!(matches!(err, LockError::Parse { .. }), "{err:?}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
        }
        assert!(GARBLED_FIX.contains("delete it") && GARBLED_FIX.contains("version control"));
    }
}
