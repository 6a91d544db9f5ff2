//! The package download cache, `<root>/packages/<distro>`, is bind-mounted at the package
//! manager's own cache directory by every container that installs packages: a build's `packages`
//! step, the image's OS layer and tools image, and the docker launch's node image. apt and yum lock
//! that directory with a lock of their own and fail, rather than wait, when another container holds
//! it, so two of them must not run from one distro's cache at once. [`CacheDir::mount_packages`]
//! gives the bind mount and the lock that guards it as one value, so no mount of the cache can
//! forget its lock: the lock is held for as long as the [`PackageMount`] lives. What a caller
//! installs for (a tools image, an OS layer, a node image) may have been made by another run while
//! it waited, so each looks for it again once it holds the mount.

use std::path::{Path, PathBuf};

use super::CacheDir;
use super::lock::{CacheLock, CacheLockError, LockMode, by, take};
use super::lock_holders::lock_holders;
use crate::progress::Reporter;

/// A bind mount of one distro's package cache, with the cache's lock held until it is dropped:
/// keep it alive until the container that mounts it has stopped.
#[derive(Debug)]
pub struct PackageMount {
    /// `host:target`, as the engine's binds take it.
    pub bind: String,
    _lock: CacheLock,
}

impl CacheDir {
    /// Makes `distro`'s package cache if missing, takes its lock (waiting for another process of
    /// baker's that holds it, and saying so), and returns the bind mount of it at `target`.
    pub async fn mount_packages(
        &self,
        distro: &str,
        target: &str,
        reporter: &dyn Reporter,
    ) -> Result<PackageMount, CacheLockError> {
        let host = self.packages(distro);
        let folder = |source| CacheLockError::Folder {
            path: host.clone(),
            source,
        };
        std::fs::create_dir_all(&host).map_err(folder)?;
        let host = host.canonicalize().map_err(folder)?;
        let lock = self.lock_packages(distro, reporter).await?;
        Ok(PackageMount {
            bind: format!("{}:{target}", host.display()),
            _lock: lock,
        })
    }

    fn packages_lock(&self, distro: &str) -> PathBuf {
        self.root().join(format!("packages-{distro}.lock"))
    }

    async fn lock_packages(
        &self,
        distro: &str,
        reporter: &dyn Reporter,
    ) -> Result<CacheLock, CacheLockError> {
        let busy = |path: &Path| {
            Ok(format!(
                "waiting for the {distro} package cache, which another build (or image, or launch) is installing from{}",
                by(&lock_holders(path))
            ))
        };
        take(
            &self.packages_lock(distro),
            LockMode::Exclusive,
            busy,
            reporter,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{Event, Recorder};

    #[tokio::test]
    async fn one_user_of_a_distros_package_cache_at_a_time_and_the_next_says_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        let r = Recorder::default();
        let held = cache.mount_packages("debian-12", "/a", &r).await.unwrap();
        let _other_distro = cache.mount_packages("centos-6", "/a", &r).await.unwrap();
        let waiter = cache.clone();
        let (mount, events) = Recorder::after_release(held, |r| async move {
            waiter
                .mount_packages("debian-12", "/b", r.as_ref())
                .await
                .unwrap()
        })
        .await;
        assert!(
            matches!(&events[..], [Event::Note(n)] if n.contains("waiting for the debian-12 package cache")),
            "{events:?}"
        );
        assert!(r.0.into_inner().unwrap().is_empty());
        let host = dir
            .path()
            .canonicalize()
            .unwrap()
            .join("packages/debian-12");
        assert_eq!(mount.bind, format!("{}:/b", host.display()));
        assert!(host.is_dir());
    }

    #[tokio::test]
    async fn a_cache_folder_that_cannot_be_made_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("packages"), "a file").unwrap();
        let cache = CacheDir::new(dir.path());
        let err = (cache.mount_packages("debian-12", "/a", &Recorder::default()))
            .await
            .unwrap_err();
        assert!(matches!(err, CacheLockError::Folder { .. }), "{err:?}");
        assert!(err.to_string().contains("packages/debian-12"), "{err}");
    }
}
