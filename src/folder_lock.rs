//! An output folder's lock: `flock(2)` on the folder itself, which `baker image` holds while it
//! makes an image into the folder, and `baker build` while it replaces the build's set there. A
//! build publishing into a folder an image is being made in would otherwise swap the folder from
//! under it (its work folder and formats would end up in the folder the build then removes). The
//! lock is on the folder rather than on a file in it, so that a folder that holds nothing else can
//! still be removed; it ends when the process does, however it ends.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::cache::lock::flock_when_free;
use crate::progress::{Event, Reporter};

/// Held while a folder is written; dropping it releases the folder.
#[derive(Debug)]
pub struct FolderLock {
    _dir: File,
}

/// Locks the folder `dir` (which must exist) exclusively. When another process holds it, reports
/// `waiting` and waits; dropping the future (Ctrl-C) ends the wait.
pub async fn lock_folder(
    dir: &Path,
    waiting: impl FnOnce() -> String,
    reporter: &dyn Reporter,
) -> io::Result<FolderLock> {
    let file = File::open(dir)?;
    let op = FlockOperation::NonBlockingLockExclusive;
    match flock(&file, op) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            reporter.report(Event::Note(waiting()));
            flock_when_free(&file, op).await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(FolderLock { _dir: file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    #[tokio::test]
    async fn a_second_holder_waits_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::default();
        let held = lock_folder(dir.path(), || unreachable!(), &r)
            .await
            .unwrap();
        let path = dir.path().to_owned();
        let (_lock, events) = Recorder::after_release(held, |r| async move {
            lock_folder(&path, || "waiting".into(), r.as_ref())
                .await
                .unwrap()
        })
        .await;
        assert!(
            matches!(&events[..], [Event::Note(n)] if n == "waiting"),
            "{events:?}"
        );
        assert!(
            lock_folder(&dir.path().join("gone"), String::new, &r)
                .await
                .is_err()
        );
    }
}
