//! The build's tarball as the `ssh` provider sends it. A machine placed later than the others (a
//! resumed launch) must get the build its peers got, but `baker build` replaces the tarball in its
//! `--out` folder whenever it builds there again: so the first placement pins the tarball in the
//! cluster's directory, as the qemu provider pins its disk (a hard link, which the build's next
//! tarball, a new file, never rewrites; or a copy on another file system), and every placement
//! checks it against the sha256 the launch recorded before sending it, refusing another build
//! rather than mixing two in one cluster. It is streamed from disk, never read whole, however many
//! machines take it at once.

use std::io;
use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

use super::error::LaunchError;
use crate::artifact::sha256_file;
use crate::atomic_file::copy_atomic;

/// The pinned tarball's name in the cluster's directory.
pub const CLUSTER_TARBALL: &str = "tarball.tar.gz";

/// The cluster's own copy of `tarball` in `dir`, made now unless it exists (`tarball` may be it).
pub fn pin(tarball: &Path, dir: &Path) -> io::Result<PathBuf> {
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
        copy_atomic(tarball, &pinned)?;
    }
    Ok(pinned)
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
        let pinned = pin(&built, &cluster).unwrap();
        assert_eq!(pinned, cluster.join(CLUSTER_TARBALL));
        // `baker build` writes its next tarball beside and renames it over the first.
        let next = out.join("pg.tar.gz.partial");
        std::fs::write(&next, b"second build").unwrap();
        std::fs::rename(&next, &built).unwrap();
        assert_eq!(pin(&built, &cluster).unwrap(), pinned);
        assert_eq!(std::fs::read(&pinned).unwrap(), b"first build");
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
