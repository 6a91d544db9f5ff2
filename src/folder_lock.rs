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
/// `waiting` and waits; dropping the future (Ctrl-C) ends the wait. When the folder at `dir` was
/// replaced while this waited (a build published its set there, swapping the folder), the lock is
/// taken again on the folder that is there now.
pub async fn lock_folder(
    dir: &Path,
    waiting: impl FnOnce() -> String,
    reporter: &dyn Reporter,
) -> io::Result<FolderLock> {
    let mut waiting = Some(waiting);
    loop {
        let file = File::open(dir)?;
        let op = FlockOperation::NonBlockingLockExclusive;
        match flock(&file, op) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                if let Some(waiting) = waiting.take() {
                    reporter.report(Event::Note(waiting()));
                }
                flock_when_free(&file, op).await?;
            }
            Err(e) => return Err(e.into()),
        }
        if same_file(&file.metadata()?, &std::fs::metadata(dir)?) {
            return Ok(FolderLock { _dir: file });
        }
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
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

    /// A waiter whose folder was swapped while it waited locks the folder that is there now.
    #[tokio::test]
    async fn a_folder_swapped_while_waiting_is_locked_anew() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let r = Recorder::default();
        let held = lock_folder(&out, || unreachable!(), &r).await.unwrap();
        let path = out.clone();
        let waiter = tokio::spawn(async move {
            let r = Recorder::default();
            lock_folder(&path, || "waiting".into(), &r).await.unwrap()
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The holder publishes: the folder is replaced by another, then lets go of the old one.
        std::fs::rename(&out, dir.path().join("old")).unwrap();
        std::fs::create_dir(&out).unwrap();
        let new = lock_folder(&out, || unreachable!(), &r).await.unwrap();
        drop(held);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert!(
            !waiter.is_finished(),
            "it took the old folder's lock and went on"
        );
        drop(new);
        let _lock = waiter.await.unwrap();
    }
}
