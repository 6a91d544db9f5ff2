//! The build's tarball as the `ssh` provider sends it. A machine placed later than the others (a
//! resumed launch) must get the build its peers got, but `baker build` replaces the tarball in its
//! `--out` folder whenever it builds there again: so the first placement pins the tarball in the
//! cluster's directory, as the qemu provider pins its disk (a hard link, which the build's next
//! tarball, a new file, never rewrites; or a copy on another file system). A copy can take minutes
//! for a Mesos build, so the pin runs on a blocking thread that stops when the launch is (Ctrl-C),
//! removing what it had copied, rather than stalling the runtime's other work. Every placement
//! checks it against the sha256 the launch recorded before sending it, refusing another build
//! rather than mixing two in one cluster. It is streamed from disk, never read whole, however many
//! machines take it at once.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

use super::error::LaunchError;
use super::ssh_state::absolute;
use crate::artifact::sha256_file;
use crate::atomic_file::{commit, partial_file};
use crate::stop::Stop;

/// The pinned tarball's name in the cluster's directory.
pub const CLUSTER_TARBALL: &str = "tarball.tar.gz";

/// The build's `tarball` (whose sha256 the launch recorded) pinned in the cluster's directory
/// `dir` (see [`pin_off_runtime`]) and recorded absolute in `resources`, as a placement sends it;
/// when it cannot be pinned, why (an error only once a machine needs it).
pub async fn pin_for_launch(
    tarball: &Path,
    sha256: &str,
    dir: &Path,
    resources: &mut BTreeMap<String, String>,
) -> Sendable {
    let pinned = pin_off_runtime(tarball, dir).await.map(|p| absolute(&p));
    let pinned = pinned.map_err(|e| {
        format!(
            "cannot keep {} in the cluster's directory {}: {e}",
            tarball.display(),
            dir.display()
        )
    });
    if let Ok(pinned) = &pinned {
        resources.insert("tarball".into(), pinned.display().to_string());
    }
    Sendable::new(pinned, sha256.to_owned())
}

/// [`pin`] on a blocking thread, so that a copy (minutes, for a large build on another file
/// system) stalls none of the runtime's other work; a dropped future (the launch interrupted)
/// stops the copy between two chunks, leaving no partial file.
async fn pin_off_runtime(tarball: &Path, dir: &Path) -> io::Result<PathBuf> {
    let stop = Stop::default();
    let _stop_unless_done = stop.on_drop();
    let (from, to) = (tarball.to_owned(), dir.to_owned());
    tokio::task::spawn_blocking(move || pin(&from, &to, &stop))
        .await
        .map_err(io::Error::other)?
}

/// The cluster's own copy of `tarball` in `dir`, made now unless it exists (`tarball` may be it);
/// a copy gives up when `stop` is requested.
fn pin(tarball: &Path, dir: &Path, stop: &Stop) -> io::Result<PathBuf> {
    let pinned = dir.join(CLUSTER_TARBALL);
    if pinned.is_file() {
        return Ok(pinned);
    }
    if let Err(link) = std::fs::hard_link(tarball, &pinned) {
        // Said before the copy, which takes a while for a large build.
        let why = if link.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
            "is on another file system than".to_owned()
        } else {
            format!("cannot be hard-linked ({link}) into")
        };
        tracing::warn!(
            "{} {why} the cluster's directory {}: its machines get a copy of it kept there (hard-linked, it would take no space)",
            tarball.display(),
            dir.display()
        );
        copy(tarball, &pinned, stop)?;
    }
    Ok(pinned)
}

/// Copies `from` to `to`, which appears only when complete; gives up between two chunks when
/// `stop` is requested (an `Interrupted` error), removing the partial file.
fn copy(from: &Path, to: &Path, stop: &Stop) -> io::Result<()> {
    std::fs::create_dir_all(crate::atomic_file::parent_dir(to))?;
    let mut partial = partial_file(to)?;
    let mut from = File::open(from)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stop.requested() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        partial.as_file_mut().write_all(&buf[..n])?;
    }
    commit(partial, to)
}

/// The tarball a placement sends: checked once, the first time a machine needs it.
pub struct Sendable {
    /// The pinned tarball, or why it could not be pinned (an error only if a machine needs it).
    path: Result<PathBuf, String>,
    sha256: String,
    checked: OnceCell<Result<(), String>>,
}

impl Sendable {
    pub fn new(path: Result<PathBuf, String>, sha256: String) -> Self {
        Self {
            path,
            sha256,
            checked: OnceCell::new(),
        }
    }

    /// The sha256 the launch recorded.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The tarball, opened to be streamed, once its sha256 is the one the launch recorded.
    pub async fn open(&self) -> Result<(tokio::fs::File, &Path), LaunchError> {
        let path = self.path.as_deref().map_err(|why| {
            LaunchError::Input(format!("the build's tarball cannot be sent: {why}"))
        })?;
        let checked = self
            .checked
            .get_or_init(|| async {
                let (owned, want) = (path.to_owned(), self.sha256.clone());
                tokio::task::spawn_blocking(move || check(&owned, &want))
                    .await
                    .unwrap_or_else(|e| Err(format!("checking the tarball: {e}")))
            })
            .await;
        checked.clone().map_err(LaunchError::Input)?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| LaunchError::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
        Ok((file, path))
    }
}

/// Refuses `path` unless its sha256 is `want`.
fn check(path: &Path, want: &str) -> Result<(), String> {
    let have = sha256_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if have == want {
        return Ok(());
    }
    Err(format!(
        "{} is not the build this cluster was launched with: its sha256 is {have}, the launch \
         recorded {want} (another build replaced the file), and its machines would mix two \
         builds; `baker destroy` the cluster and launch it again to run the new build",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(bytes))
    }

    #[test]
    fn the_pinned_tarball_stays_the_launched_build_when_the_build_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (out, cluster) = (dir.path().join("out"), dir.path().join("cluster"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&cluster).unwrap();
        let built = out.join("pg.tar.gz");
        std::fs::write(&built, b"first build").unwrap();
        let stop = Stop::default();
        let pinned = pin(&built, &cluster, &stop).unwrap();
        assert_eq!(pinned, cluster.join(CLUSTER_TARBALL));
        // `baker build` writes its next tarball beside and renames it over the first.
        let next = out.join("pg.tar.gz.partial");
        std::fs::write(&next, b"second build").unwrap();
        std::fs::rename(&next, &built).unwrap();
        assert_eq!(pin(&built, &cluster, &stop).unwrap(), pinned);
        assert_eq!(std::fs::read(&pinned).unwrap(), b"first build");
    }

    fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    /// The copy made when the tarball cannot be linked (another file system): whole, over several
    /// chunks, and into a folder made for it.
    #[test]
    fn a_tarball_that_cannot_be_linked_is_copied_whole() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("pg.tar.gz");
        let bytes: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&tarball, &bytes).unwrap();
        let to = dir.path().join("cluster").join(CLUSTER_TARBALL);
        copy(&tarball, &to, &Stop::default()).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), bytes);
        assert_eq!(names_in(&dir.path().join("cluster")), [CLUSTER_TARBALL]);
    }

    #[test]
    fn a_copy_asked_to_stop_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("pg.tar.gz");
        std::fs::write(&tarball, b"a large build").unwrap();
        let stop = Stop::default();
        stop.request();
        let err = copy(&tarball, &dir.path().join(CLUSTER_TARBALL), &stop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(names_in(dir.path()), ["pg.tar.gz"]);
    }

    /// [`pin_for_launch`], which pins on a blocking thread: the tarball is linked in and recorded
    /// absolute, and one that cannot be pinned is said when a machine needs it. (That a dropped
    /// future stops its copy rests on `Stop::on_drop` and on the copy's stop, tested above.)
    #[tokio::test]
    async fn the_launch_pins_the_tarball_off_the_runtime_and_records_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let cluster = dir.path().join("cluster");
        std::fs::create_dir_all(&cluster).unwrap();
        let built = dir.path().join("pg.tar.gz");
        std::fs::write(&built, b"first build").unwrap();
        let mut resources = BTreeMap::new();
        let want = sha256(b"first build");
        let sendable = pin_for_launch(&built, &want, &cluster, &mut resources).await;
        let sent = sendable.open().await.unwrap().1.to_owned();
        assert_eq!(sent, cluster.join(CLUSTER_TARBALL));
        assert_eq!(resources["tarball"], sent.display().to_string());
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(inode(&sent), inode(&built));
        let (missing, mut resources) = (dir.path().join("gone.tar.gz"), BTreeMap::new());
        let elsewhere = dir.path().join("other");
        let unpinned = pin_for_launch(&missing, "0", &elsewhere, &mut resources).await;
        let err = unpinned.open().await.unwrap_err().to_string();
        assert!(
            err.contains("cannot keep") && err.contains("gone.tar.gz"),
            "{err}"
        );
        assert!(resources.is_empty(), "{resources:?}");
    }

    #[tokio::test]
    async fn a_tarball_of_another_build_is_refused_before_it_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join(CLUSTER_TARBALL);
        std::fs::write(&tarball, b"first build").unwrap();
        let sendable = Sendable::new(Ok(tarball.clone()), sha256(b"first build"));
        assert!(sendable.open().await.is_ok());
        let other = Sendable::new(Ok(tarball), sha256(b"second build"));
        let err = other.open().await.unwrap_err().to_string();
        assert!(
            err.contains("is not the build this cluster was launched with"),
            "{err}"
        );
        let unpinned = Sendable::new(Err("no such file".into()), sha256(b""));
        let err = unpinned.open().await.unwrap_err().to_string();
        assert!(err.contains("no such file"), "{err}");
    }
}
