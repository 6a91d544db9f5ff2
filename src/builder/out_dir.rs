//! The output directory's set — tarball, `.sha256`, `manifest.json`, `plan.json`, `logs/` — appears
//! all at once or not at all (issue 7.7). A build writes into a staging directory beside `--out` (so
//! on the same file system); on success the staging directory and `--out` are exchanged in one
//! `renameat2(RENAME_EXCHANGE)`, entries that are not part of the previous set (files the user put
//! there) are moved back, and the previous set is removed, so no stale member of an older set stays.
//! On failure (a full disk, a failed step, an interrupt) `--out` is not touched; the logs of the
//! failed run go to `<out>.failed/logs/`, which the failure message names.
//!
//! rustix gives the one system call std lacks; where the file system refuses the exchange, two
//! renames do it with a moment in which `--out` is absent, never one in which it is mixed.
//!
//! An `--out` that cannot be renamed — a mount point (a volume, a bind mount), the working
//! directory or one of its parents (`--out .`), or one in a folder the user cannot write to — is
//! staged in place instead: the staging directory and `.failed/` are inside it, and publishing
//! removes the previous set's members and moves the new ones in, one rename each, so that for a
//! moment the set there is incomplete. A symbolic link as `--out` is followed first: the exchange
//! would otherwise swap the link itself for a plain folder.
//!
//! A build holds a `flock(2)` on its staging directory while it runs; one killed outright cannot
//! remove it, so the next build of the same `--out` removes every staging directory that no build
//! holds (a whole tarball's worth each).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, CWD, FlockOperation, RenameFlags, StatxFlags, flock, renameat_with, statx,
};

use super::BuildError;
use crate::artifact::{MANIFEST_FILE, tarball_named_in};
use crate::plan::PLAN_FILE;

/// A staging directory for one build's output set, and where it goes.
pub struct StagedOut {
    pub staging: PathBuf,
    /// Held while the build runs: see the module doc.
    _staging_lock: File,
    /// `--out`, any symbolic link to it followed.
    target: PathBuf,
    /// `--out` as the user gave it, in the paths [`Self::published`] returns.
    shown: PathBuf,
    /// Where a failed run's logs go: `<out>.failed`, or `<out>/.failed` when staged in place.
    failed: PathBuf,
    /// Staged in place: see the module doc.
    in_place: bool,
}

impl StagedOut {
    /// Fails when `target` (`--out`) names something other than a directory; else makes the folder
    /// it goes in. Called before the build is planned: a `--source-dir` tree holding `--out` then
    /// reads the same when it is planned and when it is sent (the folder `--out` is in would be new
    /// in it otherwise, and the build would stop as for a tree edited during the build).
    pub fn prepare(target: &Path) -> Result<(), BuildError> {
        if target.exists() && !target.is_dir() {
            return Err(BuildError::OutNotDirectory {
                path: target.to_owned(),
            });
        }
        let parent = crate::atomic_file::parent_dir(&link_followed(target)).to_owned();
        std::fs::create_dir_all(&parent).map_err(BuildError::io("creating", &parent))
    }

    /// Checks `target` (`--out`) and creates a staging directory beside it.
    pub fn new(target: &Path) -> Result<Self, BuildError> {
        Self::prepare(target)?;
        let real = link_followed(target);
        let cwd = std::env::current_dir().ok();
        let in_place = cannot_be_renamed(&real, cwd.as_deref()) || parent_read_only(&real);
        let mut staged = Self::staged(&real, in_place)?;
        staged.shown = target.to_owned();
        Ok(staged)
    }

    fn staged(target: &Path, in_place: bool) -> Result<Self, BuildError> {
        check_foreign_members(target)?;
        let (dir, prefix, failed) = match target.file_name() {
            Some(name) if !in_place => {
                let parent = crate::atomic_file::parent_dir(target);
                std::fs::create_dir_all(parent).map_err(BuildError::io("creating", parent))?;
                (
                    parent,
                    format!(".{}.", name.to_string_lossy()),
                    failed_dir(target),
                )
            }
            _ => (target, ".baker-out.".to_owned(), target.join(".failed")),
        };
        let creating = |e| BuildError::io("creating a staging directory in", dir)(e);
        remove_abandoned_staging(dir, &prefix);
        // Made under another name, locked, then renamed: a directory the next build may take for
        // abandoned is never one that is not locked yet.
        let new = (tempfile::Builder::new().prefix(&prefix).suffix(".new"))
            .tempdir_in(dir)
            .map_err(creating)?
            .keep();
        let staging = new.with_extension("staging");
        let locked = File::open(&new).and_then(|lock| {
            // Best effort: a file system that cannot lock a folder (NFS) has its staging
            // directories left alone, since none of them can be locked to be taken.
            let _ = flock(&lock, FlockOperation::NonBlockingLockExclusive);
            std::fs::rename(&new, &staging)?;
            Ok(lock)
        });
        let lock = locked.map_err(|e| {
            let _ = std::fs::remove_dir(&new);
            creating(e)
        })?;
        // Always part of the set, empty when every step came from the cache.
        let logs = staging.join("logs");
        std::fs::create_dir(&logs).map_err(BuildError::io("creating", &logs))?;
        Ok(Self {
            staging,
            _staging_lock: lock,
            target: target.to_owned(),
            shown: target.to_owned(),
            failed,
            in_place,
        })
    }

    /// `path` inside the staging directory, as it will be once published.
    pub fn published(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.staging)
            .map_or_else(|_| path.to_owned(), |rest| self.shown.join(rest))
    }

    /// Puts the staged set in place of the previous one.
    pub fn publish(self) -> io::Result<()> {
        let previous_set = set_members(&self.target);
        let _ = std::fs::remove_dir_all(&self.failed);
        if self.in_place {
            return self.publish_in_place(&previous_set);
        }
        if !self.target.exists() {
            return std::fs::rename(&self.staging, &self.target);
        }
        if renameat_with(CWD, &self.staging, CWD, &self.target, RenameFlags::EXCHANGE).is_err() {
            let aside = self.staging.with_extension("previous");
            std::fs::rename(&self.target, &aside)?;
            std::fs::rename(&self.staging, &self.target)?;
            std::fs::rename(&aside, &self.staging)?;
        }
        // `staging` now holds what `--out` held: keep what was not part of the previous set.
        if let Ok(entries) = std::fs::read_dir(&self.staging) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let to = self.target.join(&name);
                if !previous_set.contains(&name.to_string_lossy().into_owned()) && !to.exists() {
                    std::fs::rename(entry.path(), to)?;
                }
            }
        }
        std::fs::remove_dir_all(&self.staging)
    }

    /// Staged in place: the previous set's members removed, the new ones moved in.
    fn publish_in_place(self, previous_set: &[String]) -> io::Result<()> {
        for name in previous_set {
            let path = self.target.join(name);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(_) => Ok(()),
            };
            removed?;
        }
        for entry in std::fs::read_dir(&self.staging)? {
            let entry = entry?;
            std::fs::rename(entry.path(), self.target.join(entry.file_name()))?;
        }
        std::fs::remove_dir(&self.staging)
    }

    /// Keeps the failed run's logs in `<out>.failed/logs/` (`<out>/.failed/logs/` when staged in
    /// place) and removes the rest; returns where the logs went (or `None` when there were none).
    pub fn discard(self) -> Option<PathBuf> {
        let logs = self.staging.join("logs");
        let has_logs = std::fs::read_dir(&logs).is_ok_and(|mut d| d.next().is_some());
        let kept = has_logs.then(|| self.failed.clone()).and_then(|failed| {
            let _ = std::fs::remove_dir_all(&failed);
            std::fs::create_dir_all(&failed).ok()?;
            std::fs::rename(&logs, failed.join("logs")).ok()?;
            Some(failed)
        });
        let _ = std::fs::remove_dir_all(&self.staging);
        kept
    }
}

/// `target` with the symbolic links that it is (not those on its way) followed: the folder a
/// symlinked `--out` names.
pub fn link_followed(target: &Path) -> PathBuf {
    let mut path = target.to_owned();
    // As many as the kernel follows in one path.
    for _ in 0..40 {
        match std::fs::read_link(&path) {
            // A relative link is relative to the folder holding it; an absolute one replaces it.
            Ok(to) => path = crate::atomic_file::parent_dir(&path).join(to),
            Err(_) => break,
        }
    }
    path
}

/// Whether `target` is a directory in a folder the user cannot write to, where no staging
/// directory can be made beside it and no rename can replace it.
fn parent_read_only(target: &Path) -> bool {
    let parent = crate::atomic_file::parent_dir(target);
    target.is_dir() && rustix::fs::access(parent, rustix::fs::Access::WRITE_OK).is_err()
}

/// Removes the staging directories `prefix`ed in `dir` that no build holds: those of builds killed
/// before they could (see the module doc). Best effort: what cannot be removed stays.
fn remove_abandoned_staging(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(prefix) && name.ends_with(".staging")) {
            continue;
        }
        let Ok(held) = File::open(entry.path()) else {
            continue;
        };
        if flock(&held, FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `target` is a directory that cannot be renamed: a mount point, or the working directory
/// `cwd` or one of its parents (which a rename would take from under the user's shell).
fn cannot_be_renamed(target: &Path, cwd: Option<&Path>) -> bool {
    let Ok(real) = std::fs::canonicalize(target) else {
        return false;
    };
    let mount_point = real
        .parent()
        .is_none_or(|parent| mount_of(parent) != mount_of(&real));
    let holds_cwd = cwd
        .and_then(|cwd| std::fs::canonicalize(cwd).ok())
        .is_some_and(|cwd| cwd.starts_with(&real));
    mount_point || holds_cwd
}

/// The mount `path` is on: its mount id (Linux 5.8 and later), else its device, which tells a
/// mount point of another file system but not a bind mount of the same one.
fn mount_of(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    match statx(CWD, path, AtFlags::empty(), StatxFlags::MNT_ID) {
        Ok(st) if st.stx_mask & StatxFlags::MNT_ID.bits() != 0 => Some(st.stx_mnt_id),
        _ => std::fs::metadata(path).map(|m| m.dev()).ok(),
    }
}

/// `<out>.failed`, beside `--out`.
fn failed_dir(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".failed");
    target.with_file_name(name)
}

/// The names of the set in `dir`: manifest, plan, logs, and the tarball and checksum its manifest names.
/// Empty when `dir` holds no set: no manifest of baker's naming its tarball.
fn set_members(dir: &Path) -> Vec<String> {
    let Some(file) = tarball_named_in(dir) else {
        return Vec::new();
    };
    let mut names = FIXED_MEMBERS.map(str::to_owned).to_vec();
    names.push(format!("{file}.sha256"));
    names.push(file);
    names
}

/// The members of every set, whatever its tarball.
const FIXED_MEMBERS: [&str; 3] = [MANIFEST_FILE, PLAN_FILE, "logs"];

/// Refuses an `--out` holding a file or folder of a set member's name that is not part of a set
/// baker wrote (a project's own `logs/`, with `--out .`): publishing would replace or drop it.
fn check_foreign_members(target: &Path) -> Result<(), BuildError> {
    if !set_members(target).is_empty() {
        return Ok(());
    }
    let taken: Vec<&str> = FIXED_MEMBERS
        .into_iter()
        .filter(|name| target.join(name).symlink_metadata().is_ok())
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(BuildError::OutHoldsOthers {
        path: target.to_owned(),
        names: taken.join(", "),
    })
}

#[cfg(test)]
#[path = "out_dir_tests.rs"]
mod tests;
