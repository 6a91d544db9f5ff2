//! One `baker image` at a time per output folder. Two runs into one folder would each make a disk
//! and write `image.json` last, so the folder would end up holding files that its `image.json` does
//! not list. A run holds the folder's lock ([`crate::folder_lock`]) and a second one waits, saying
//! so; so does a build publishing its set into the folder.
//!
//! Holding the lock, a run also knows that the work folders (`.baker-image-*`) and partial files
//! (`.*.partial`) in the folder belong to no running image: they are what a killed run (SIGKILL, a
//! power cut) left, and are removed, so that they do not fill the disk one run after another.

use std::path::Path;

use super::ImageError;
use crate::folder_lock::{FolderLock, lock_folder};
use crate::progress::{Event, Reporter};

/// Held while an image is made into its folder; dropping it releases the folder.
pub struct OutLock {
    _dir: FolderLock,
}

/// Creates `out` if needed, waits for any other image being made into it (or build being published
/// there), and removes what killed runs left there.
pub async fn lock_out(out: &Path, reporter: &dyn Reporter) -> Result<OutLock, ImageError> {
    std::fs::create_dir_all(out).map_err(ImageError::io("creating", out))?;
    let waiting = || {
        format!(
            "waiting for another `baker image` (or build) into {} to finish",
            out.display()
        )
    };
    let dir =
        (lock_folder(out, waiting, reporter).await).map_err(ImageError::io("locking", out))?;
    // A folder baker cannot write in (another user's build, a read-only mount) is refused now,
    // not after the OS layer and the disk.
    tempfile::tempfile_in(out).map_err(|e| ImageError::Input {
        what: "output folder",
        path: out.to_owned(),
        reason: format!("cannot write in it ({e}); name one that baker may write in with --out"),
    })?;
    remove_leftovers(out, reporter);
    Ok(OutLock { _dir: dir })
}

/// Removes the work folders and partial files of runs that were killed; best effort.
fn remove_leftovers(out: &Path, reporter: &dyn Reporter) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let removed = if name.starts_with(".baker-image-") && path.is_dir() {
            std::fs::remove_dir_all(&path).is_ok()
        } else if name.starts_with('.') && name.ends_with(".partial") && path.is_file() {
            std::fs::remove_file(&path).is_ok()
        } else {
            continue;
        };
        if removed {
            reporter.report(Event::Note(format!(
                "removed {}, left by an image run that was killed",
                path.display()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    #[tokio::test]
    async fn one_image_at_a_time_per_folder_and_what_killed_runs_left_goes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join(".baker-image-abc/x")).unwrap();
        std::fs::write(out.join(".pg.raw.Xy12.partial"), "half").unwrap();
        std::fs::write(out.join("pg.raw"), "whole").unwrap();
        let r = Recorder::default();
        let held = lock_out(&out, &r).await.unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["pg.raw"]);
        assert_eq!(r.0.lock().unwrap().len(), 2, "each removal is said");
        let (_lock, events) = Recorder::after_release(held, |r| async move {
            lock_out(&out, r.as_ref()).await.unwrap()
        })
        .await;
        assert!(
            matches!(&events[..], [Event::Note(n)] if n.contains("waiting for another `baker image`")),
            "{events:?}"
        );
    }
}
