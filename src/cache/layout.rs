//! Where baker keeps things in its cache root. One place names every directory so that `baker cache`
//! can show and bound them and no stage invents its own path.
//!
//! ```text
//! <root>/downloads/sha256/<hex>        verified downloads, content-addressed
//! <root>/steps/<key>.json              step cache index: key -> committed image
//! <root>/step-logs/<key>.log           the log of the run that made each cached step
//! <root>/os-layers/<key>.json          `baker image`'s OS layers (and their trees), by last use
//! <root>/node-images/<key>.json        the `docker` provider's node images, by last use
//! <root>/ccache/<recipe>-<distro>/     compiler caches, one per recipe and distro
//! <root>/packages/<distro>/            distro package downloads (apt archives, yum cache)
//! <root>/maven/<distro>/               Maven local repositories
//! <root>/artifacts/<install-key>/      finished tarballs and manifests, for instant no-change rebuilds
//! <root>/baker.lock                    sha256 of first downloads of unpinned files
//! <root>/tmp/                          partial files; renamed into place when complete
//! <root>/host/kvm-verdict.json         that KVM failed its trial on this host (image boot, qemu launch)
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct CacheDir {
    root: PathBuf,
}

impl CacheDir {
    /// The cache at `root`, made absolute (only the current directory is prepended): its folders
    /// are bound into containers, which the engine refuses for a relative path, and named in
    /// records read from other directories.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            root: std::path::absolute(&root).unwrap_or(root),
        }
    }

    /// `$BAKER_CACHE_DIR`, else the user cache directory (`~/.cache/baker` on Linux).
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("BAKER_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        directories::ProjectDirs::from("", "", "baker")
            .map(|d| d.cache_dir().to_owned())
            .unwrap_or_else(|| PathBuf::from(".baker-cache"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads").join("sha256")
    }

    pub fn download(&self, sha256: &str) -> PathBuf {
        self.downloads().join(sha256)
    }

    pub fn steps(&self) -> PathBuf {
        self.root.join("steps")
    }

    /// The log of the run that made each cached step, so that a build taking the step from the
    /// cache still shows it in `<out>/logs/`; removed with its step entry.
    pub fn step_logs(&self) -> PathBuf {
        self.root.join("step-logs")
    }

    pub fn step_log(&self, key: &str) -> PathBuf {
        self.step_logs().join(format!("{key}.log"))
    }

    /// One file per OS layer `baker image` made or reused, touched at each use, so that
    /// `baker cache prune` can bound the layers and their unpacked trees as it bounds steps.
    pub fn os_layers(&self) -> PathBuf {
        self.root.join("os-layers")
    }

    /// One file per node image `baker launch --provider docker` made or reused, touched at each
    /// use, so that `baker cache prune` can bound them as it bounds steps.
    pub fn node_images(&self) -> PathBuf {
        self.root.join("node-images")
    }

    /// One record per source directory built with `--incremental` (see `crate::builder`), each
    /// naming its build tree's image, touched at each use.
    pub fn incremental(&self) -> PathBuf {
        self.root.join("incremental")
    }

    /// What `--source-dir` builds learnt of each tree's files (size, time, digest), so that the
    /// next build reads only the files that changed.
    pub fn stat(&self) -> PathBuf {
        self.root.join("stat")
    }

    pub fn ccache(&self, recipe: &str, distro: &str) -> PathBuf {
        self.root.join("ccache").join(format!("{recipe}-{distro}"))
    }

    pub fn packages(&self, distro: &str) -> PathBuf {
        self.root.join("packages").join(distro)
    }

    pub fn maven(&self, distro: &str) -> PathBuf {
        self.root.join("maven").join(distro)
    }

    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("baker.lock")
    }

    /// What baker learnt about this host, such as whether its KVM runs guests.
    pub fn host(&self) -> PathBuf {
        self.root.join("host")
    }

    pub fn kvm_verdict(&self) -> PathBuf {
        self.host().join("kvm-verdict.json")
    }

    /// Partial files live here and are renamed into place, so a crash never leaves a file that looks complete.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::CacheDir;

    #[test]
    fn a_relative_cache_root_is_made_absolute_against_the_current_directory() {
        let cache = CacheDir::new("relative-cache");
        let here = std::env::current_dir().unwrap();
        assert_eq!(cache.root(), here.join("relative-cache"));
        assert_eq!(
            CacheDir::new("/abs/cache").root(),
            std::path::Path::new("/abs/cache")
        );
    }
}
