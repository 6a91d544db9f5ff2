//! The file a format writer fills: created under a hidden partial name beside the target (or
//! baker's own temporary disk, adopted), and only when complete fsynced, renamed over the target
//! and given its `<file>.sha256`
//! (`<hex>  <name>\n`, what `sha256sum -c` reads). A writer that fails drops its [`Output`],
//! which removes the partial file, so a failure never leaves half an image under the final name.
//! The stale `.sha256` of an older image is removed before the rename, so a `.sha256` always
//! describes the file beside it.
//!
//! The fsync is what `cp` and `qemu-img` skip, and on a real disk it costs about as much as
//! writing the file: writers say how far they have written ([`Output::written`]), which starts
//! the writeback of every 32 MiB as it is filled, and flush the rest ([`Output::sync`]) while
//! their hashing thread is still busy, so the fsync of [`Output::commit`] finds nothing left.

use std::fs::File;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Advice, fadvise};

use tempfile::{NamedTempFile, TempPath};

use super::FormatError;
use crate::artifact::{checksum_path, write_sums};
use crate::atomic_file::{commit, partial_file, remove_if_exists};

/// Bytes written between two starts of writeback.
const WRITEBACK: u64 = 32 << 20;

pub(super) struct Output {
    target: PathBuf,
    partial: NamedTempFile,
    /// Where the last started writeback ended.
    flushed: AtomicU64,
}

impl Output {
    pub fn create(target: &Path) -> Result<Self, FormatError> {
        let partial = partial_file(target).map_err(FormatError::write(target))?;
        Ok(Self {
            target: target.to_owned(),
            partial,
            flushed: AtomicU64::new(0),
        })
    }

    /// An output that is an existing file instead of a new one: baker's own temporary disk, beside
    /// the target on its file system, which [`Output::commit`] renames into place. Dropped before
    /// that, it is removed, as a partial file is.
    pub fn adopt(path: &Path, target: &Path) -> Result<Self, FormatError> {
        let err = FormatError::write(target);
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path);
        let file = opened.and_then(|file| Ok((file, TempPath::try_from_path(path)?)));
        let (file, path) = file.map_err(err)?;
        Ok(Self {
            target: target.to_owned(),
            partial: NamedTempFile::from_parts(file, path),
            flushed: AtomicU64::new(0),
        })
    }

    pub fn file(&self) -> &File {
        self.partial.as_file()
    }

    /// The final path, for error messages.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Says that everything before `end` is written; each time another 32 MiB is, starts writing
    /// them to disk without waiting. (`POSIX_FADV_DONTNEED` starts the writeback of dirty pages
    /// and drops only clean ones; Linux has no other way to start it that needs no `unsafe`.
    /// It is a hint: a filesystem that ignores it only makes the final fsync longer.)
    pub fn written(&self, end: u64) {
        let from = self.flushed.load(Ordering::Relaxed);
        if end >= from + WRITEBACK {
            let _ = fadvise(
                self.file(),
                from,
                NonZeroU64::new(end - from),
                Advice::DontNeed,
            );
            self.flushed.store(end, Ordering::Relaxed);
        }
    }

    /// Waits until the data written so far is on disk.
    pub fn sync(&self) -> Result<(), FormatError> {
        self.file()
            .sync_data()
            .map_err(FormatError::write(&self.target))
    }

    /// Puts the complete file in place with its `.sha256`; returns the digest and the length.
    pub fn commit(self, sha256: String) -> Result<(String, u64), FormatError> {
        let target = self.target;
        let err = |e| FormatError::Write {
            path: target.clone(),
            source: e,
        };
        let bytes = self.partial.as_file().metadata().map_err(err)?.len();
        let sums = checksum_path(&target);
        remove_if_exists(&sums).map_err(err)?;
        commit(self.partial, &target).map_err(err)?;
        write_sums(&target, &sha256).map_err(err)?;
        Ok((sha256, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_committed_output_has_its_sha256_file_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("disk.vhd");
        std::fs::write(checksum_path(&target), "stale").unwrap();
        let out = Output::create(&target).unwrap();
        out.file().write_all(b"abc").unwrap();
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(out.commit(hex.into()).unwrap(), (hex.to_string(), 3));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("disk.vhd.sha256")).unwrap(),
            format!("{hex}  disk.vhd\n")
        );
        let out = Output::create(&dir.path().join("other.qcow2")).unwrap();
        drop(out);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["disk.vhd", "disk.vhd.sha256"]);
    }
}
