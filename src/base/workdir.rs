//! The throwaway directory a chroot is built in, and its safe removal. debootstrap mounts `proc` and
//! `sys` inside its target (and bind-mounts `/dev` when run in a container); if it is killed, those
//! mounts stay, and deleting the tree through them would delete the host's files. So before removing
//! anything, whatever is mounted below the directory is unmounted, and if a mount will not go, the
//! directory is left in place with a warning (through the reporter) rather than removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use super::BaseError;
use crate::progress::{Event, Reporter};

/// The temporary directory debootstrap fills. Dropping it unmounts whatever an interrupted
/// debootstrap left mounted inside (`proc`, `sys`, bind-mounted `dev`) before removing anything, and
/// leaves the directory in place rather than delete through a mount that would not go.
pub struct Workdir {
    pub path: PathBuf,
    reporter: Arc<dyn Reporter>,
}

impl Workdir {
    /// A new directory under `$TMPDIR`; what cannot be cleaned up is reported to `reporter`.
    pub fn new(reporter: Arc<dyn Reporter>) -> Result<Self, BaseError> {
        let parent = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix("baker-bootstrap-")
            .tempdir_in(&parent)
            .map_err(|source| BaseError::Workdir {
                dir: parent,
                source,
            })?;
        Ok(Self {
            path: dir.keep(),
            reporter,
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        for mount in mounts_under(&self.path).iter().rev() {
            let _ = std::process::Command::new("umount")
                .args(["-l", &mount.display().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let left = mounts_under(&self.path);
        if !left.is_empty() {
            self.reporter.report(Event::Warning(format!(
                "not removing {}: still mounted inside: {:?}; unmount them and remove it by hand",
                self.path.display(),
                left
            )));
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            self.reporter.report(Event::Warning(format!(
                "could not remove {}: {e}",
                self.path.display()
            )));
        }
    }
}

/// Mount points at or below `dir`, in the order the kernel lists them (parents first).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|text| parse_mounts(&text, dir))
        .unwrap_or_default()
}

fn parse_mounts(text: &str, dir: &Path) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| line.split(' ').nth(1))
        .map(|escaped| {
            PathBuf::from(
                escaped
                    .replace("\\040", " ")
                    .replace("\\011", "\t")
                    .replace("\\012", "\n")
                    .replace("\\134", "\\"),
            )
        })
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_left_inside_the_workdir_are_found() {
        let mounts = "\
proc /proc proc rw 0 0
proc /tmp/baker-bootstrap-x/rootfs/proc proc rw 0 0
udev /tmp/baker-bootstrap-x/rootfs/dev\\040x devtmpfs rw 0 0
tmpfs /tmp/baker-bootstrap-xy tmpfs rw 0 0
";
        assert_eq!(
            parse_mounts(mounts, Path::new("/tmp/baker-bootstrap-x")),
            [
                PathBuf::from("/tmp/baker-bootstrap-x/rootfs/proc"),
                PathBuf::from("/tmp/baker-bootstrap-x/rootfs/dev x")
            ]
        );
    }
}
