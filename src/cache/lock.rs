//! Builds and `baker cache clear|prune` on one cache directory must not overlap: a clear during a
//! build removes the packages and step images it is using (issue 7.3). Builds hold `<root>/in-use.lock`
//! shared for their whole run, and so do `baker image` (its OS layer and tree volume) and a
//! `docker` launch (its node image), so any number run together; clear and prune hold it
//! exclusively, waiting for those runs (saying so, and naming them: [`super::lock_holders`]) or,
//! with `--no-wait`, failing at once. A build started during a clear waits for it the same way.
//!
//! Each distro's package download cache has a lock of its own, `<root>/packages-<distro>.lock`,
//! held exclusively while a container installs from it (see [`super::package_mount`]).
//!
//! The lock is the operating system's advisory file lock (`flock(2)`, through rustix, which baker
//! already uses for the output directory's exchange), released when the process exits however it
//! exits, so a killed baker never leaves the cache locked.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::CacheDir;
use super::lock_holders::lock_holders;
use crate::progress::{Event, Reporter};

#[derive(Debug, thiserror::Error)]
pub enum CacheLockError {
    #[error("cannot lock the cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the package cache {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the cache {} is in use by a running build (or image, or launch; lock {}){}; retry when it finishes, or drop --no-wait to wait for it",
        root.display(), path.display(), by(holders)
    )]
    Busy {
        root: PathBuf,
        path: PathBuf,
        /// What holds it (see [`lock_holders`]).
        holders: Vec<String>,
    },
}

/// `: pid 1 (…), pid 2 (…)` naming the holders, or nothing when none could be named.
pub(crate) fn by(holders: &[String]) -> String {
    if holders.is_empty() {
        String::new()
    } else {
        format!(": {}", holders.join(", "))
    }
}

/// Held while the cache is in use; dropping it releases the lock.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

/// Whether the lock is shared (builds) or exclusive (clear, prune).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl CacheDir {
    pub fn in_use_lock(&self) -> PathBuf {
        self.root().join("in-use.lock")
    }

    /// Takes the cache's lock in `mode`. When another process holds it the other way, reports that
    /// it waits and waits (off the async runtime's threads), or fails with [`CacheLockError::Busy`]
    /// when `wait` is false.
    pub async fn lock(
        &self,
        mode: LockMode,
        wait: bool,
        reporter: &dyn Reporter,
    ) -> Result<CacheLock, CacheLockError> {
        let root = self.root();
        let busy = |path: &Path| {
            let holders = lock_holders(path);
            if !wait {
                return Err(CacheLockError::Busy {
                    root: root.to_owned(),
                    path: path.to_owned(),
                    holders,
                });
            }
            Ok(match mode {
                LockMode::Shared => format!(
                    "waiting for `baker cache clear|prune` on {} to finish{}",
                    root.display(),
                    by(&holders)
                ),
                LockMode::Exclusive => format!(
                    "waiting for the builds (and images, and launches) using the cache {} to finish{}",
                    root.display(),
                    by(&holders)
                ),
            })
        };
        take(&self.in_use_lock(), mode, busy, reporter).await
    }
}

/// Takes `flock(2)` on the lock file `path` (made, with its folder, if missing) in `mode`: at once
/// when it is free; else `busy` says why it waits (or fails), and it waits off the async runtime's
/// threads.
pub(super) async fn take(
    path: &Path,
    mode: LockMode,
    busy: impl FnOnce(&Path) -> Result<String, CacheLockError>,
    reporter: &dyn Reporter,
) -> Result<CacheLock, CacheLockError> {
    let io = |source| CacheLockError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    let op = match mode {
        LockMode::Shared => FlockOperation::NonBlockingLockShared,
        LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(&file, op) {
        Ok(()) => return Ok(CacheLock { _file: file }),
        Err(Errno::WOULDBLOCK) => {}
        Err(e) => return Err(io(e.into())),
    }
    reporter.report(Event::Note(busy(path)?));
    flock_when_free(&file, op).await.map_err(|e| io(e.into()))?;
    Ok(CacheLock { _file: file })
}

/// How often a wait for a lock tries it again.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Takes `flock(2)` on `file` with the non-blocking `op` once it is free, trying again every
/// [`LOCK_RETRY`]. Not a blocking `flock` on a blocking thread: dropping this future (Ctrl-C) ends
/// the wait at once, where the runtime would wait for that thread, and so for the lock, at exit.
pub async fn flock_when_free(file: &File, op: FlockOperation) -> Result<(), Errno> {
    loop {
        match flock(file, op) {
            Err(Errno::WOULDBLOCK) => tokio::time::sleep(LOCK_RETRY).await,
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    #[tokio::test]
    async fn builds_share_the_cache_and_a_clear_excludes_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        let r = Recorder::default();
        let one = cache.lock(LockMode::Shared, false, &r).await.unwrap();
        let two = cache.lock(LockMode::Shared, false, &r).await.unwrap();
        let busy = cache
            .lock(LockMode::Exclusive, false, &r)
            .await
            .unwrap_err();
        assert!(
            busy.to_string().contains("in use by a running build"),
            "{busy}"
        );
        drop((one, two));
        // Waiting, as `cache clear` does by default: a child another test spawns at this moment
        // holds a copy of the dropped descriptors until its `exec` closes them.
        let clear = cache.lock(LockMode::Exclusive, true, &r).await.unwrap();
        assert!(matches!(
            cache.lock(LockMode::Shared, false, &r).await,
            Err(CacheLockError::Busy { .. })
        ));
        let (_lock, events) = Recorder::after_release(clear, |r| async move {
            cache
                .lock(LockMode::Shared, true, r.as_ref())
                .await
                .unwrap()
        })
        .await;
        assert!(
            matches!(&events[..], [Event::Note(n)] if n.contains("waiting for `baker cache clear|prune`"))
        );
    }
}
