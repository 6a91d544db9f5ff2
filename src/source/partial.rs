//! Files on their way into the download cache. Bytes are written under `<cache>/tmp/` and only a
//! verified file is renamed into `downloads/`, so a crash, a bad mirror or a second process never
//! leaves anything there that looks complete.
//!
//! An interrupted download is kept as `<key>.partial` (the key is the expected sha256, or a hash of
//! the URL when none is known yet) so that a retry or a later run can resume it. A fetch *claims*
//! that file by renaming it to a name of its own (`<key>.<pid>-<n>.partial`); rename is atomic, so
//! two processes never append to the same file. When the fetch gives up, or its future is
//! dropped, the bytes go back under the shared name for the next one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A source's bytes in a private file with their digest, not yet checked against the pin.
#[derive(Debug)]
pub(crate) struct Staged {
    pub partial: Partial,
    pub sha256: String,
    pub bytes: u64,
    /// Bytes that an earlier attempt or run had already left in the file.
    pub resumed_from: u64,
}

/// Why a source did not give a staged file.
#[derive(Debug)]
pub(crate) enum Failure {
    /// This source failed for good (not found, refused, gave up retrying); the next one is tried.
    Source(String),
    /// Writing under the cache's tmp directory failed; no other source will do better.
    Local(PathBuf, io::Error),
}

#[derive(Debug)]
pub(crate) struct Partial {
    path: PathBuf,
    /// Where the bytes go back to for resuming; `None` for scratch copies that are never resumed.
    shared: Option<PathBuf>,
    done: bool,
}

impl Partial {
    /// Takes over the partial file an earlier fetch left under `key`, if any, or starts an empty one.
    pub(crate) fn claim(tmp: &Path, key: &str) -> io::Result<Partial> {
        let path = own_name(tmp, key)?;
        let shared = tmp.join(format!("{key}.partial"));
        match std::fs::rename(&shared, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Partial {
            path,
            shared: Some(shared),
            done: false,
        })
    }

    /// A private file that is deleted, never kept, if it is not installed.
    pub(crate) fn scratch(tmp: &Path, key: &str) -> io::Result<Partial> {
        Ok(Partial {
            path: own_name(tmp, key)?,
            shared: None,
            done: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (verified) file to `dest`. Replacing an existing `dest` is fine: it has the same
    /// content, and readers of the old file keep reading a complete file.
    pub(crate) fn install(mut self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&self.path, dest)?;
        self.done = true;
        Ok(())
    }

    /// Deletes the bytes: they did not verify and must not be resumed.
    pub(crate) fn discard(mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.done = true;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let keep = self
            .shared
            .as_ref()
            .filter(|_| std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0));
        match keep {
            Some(shared) => {
                let _ = std::fs::rename(&self.path, shared);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn own_name(tmp: &Path, key: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(tmp)?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(tmp.join(format!("{key}.{}-{n}.partial", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_partial_is_kept_for_the_next_claim_and_a_discarded_one_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Partial::claim(tmp.path(), "k").unwrap();
        std::fs::write(first.path(), b"half").unwrap();
        drop(first);
        assert_eq!(
            std::fs::read(tmp.path().join("k.partial")).unwrap(),
            b"half"
        );

        let second = Partial::claim(tmp.path(), "k").unwrap();
        assert_eq!(std::fs::read(second.path()).unwrap(), b"half");
        assert!(
            !tmp.path().join("k.partial").exists(),
            "claimed, so no one else resumes it"
        );
        second.discard();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_scratch_file_is_removed_unless_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let scratch = Partial::scratch(tmp.path(), "k").unwrap();
        std::fs::write(scratch.path(), b"x").unwrap();
        drop(scratch);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

        let scratch = Partial::scratch(tmp.path(), "k").unwrap();
        std::fs::write(scratch.path(), b"x").unwrap();
        let dest = tmp.path().join("out/sha256/abc");
        scratch.install(&dest).unwrap();
        assert_eq!(std::fs::read(dest).unwrap(), b"x");
    }
}
