//! Recipes: what to build, on which distro, from which pinned source, with which steps, and how the
//! result boots and runs as cluster roles.
//!
//! A recipe file is TOML whose strings are handlebars templates. [`raw`] mirrors the file; [`validate`]
//! checks it (unknown fields with suggestions, checksums, template variables for every version) and
//! builds the [`Recipe`] below, which is what the planner reads. [`catalog`] finds recipes: the ones
//! embedded in the binary and any the user points at.

pub mod catalog;
pub mod context;
pub mod distro;
pub mod error;
pub mod image;
pub mod raw;
pub mod role_command;
pub mod source_text;
pub mod template;
pub mod template_check;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use catalog::Catalog;
pub use distro::Distro;
pub use error::RecipeError;
pub use image::{BootTarget, Bootloader, Firmware, ImageLayer, Init, KernelPackage, Provider};
pub use source_text::SourceText;
pub use template::Template;

/// `{{jobs}}` renders to this shell variable so that the parallelism of a machine never changes a cache key.
pub const JOBS_VARIABLE: &str = "${BAKER_JOBS}";

#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: String,
    pub distro: Distro,
    pub description: String,
    pub source_text: SourceText,
    /// sha256 of the recipe file's bytes.
    pub digest: String,
    pub default_version: String,
    pub base: Base,
    pub repositories: Vec<Repository>,
    pub files: Vec<FileSpec>,
    pub packages: Vec<String>,
    pub package_groups: Vec<String>,
    pub source: SourceSpec,
    pub versions: BTreeMap<String, VersionSpec>,
    pub env: BTreeMap<String, Template>,
    pub build: BuildSettings,
    pub steps: Vec<StepSpec>,
    pub install: StepSpec,
    pub image: Option<ImageLayer>,
    pub roles: BTreeMap<String, RoleSpec>,
    pub smoke: Vec<SmokeSpec>,
    pub hints: Vec<Hint>,
}

/// A smoke test step: `run` on every node of `role`, passing when it exits 0 (and prints `equals`).
#[derive(Debug, Clone)]
pub struct SmokeSpec {
    pub role: String,
    pub run: Template,
    pub equals: Option<Template>,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    Apt,
    Yum,
}

impl PackageManager {
    /// The download cache that baker's package cache is mounted over.
    pub fn cache_dir(self) -> &'static str {
        match self {
            Self::Apt => "/var/cache/apt/archives",
            Self::Yum => "/var/cache/yum",
        }
    }
}

/// dpkg fsyncs every file it unpacks. In a container whose result is committed or exported
/// afterwards those waits buy nothing and cost seconds per install (4 s of PostgreSQL's 23 s
/// packages step here); Docker's own Debian and Ubuntu images switch them off the same way. Scripts
/// that install with apt turn it on first ([`DPKG_UNSAFE_IO_ON`]) and off again before their result
/// is kept ([`DPKG_UNSAFE_IO_OFF`]), so no image baker makes, least of all a bootable one, keeps it.
pub const DPKG_UNSAFE_IO_ON: &str =
    "mkdir -p /etc/dpkg/dpkg.cfg.d && echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/baker-unsafe-io";
/// See [`DPKG_UNSAFE_IO_ON`].
pub const DPKG_UNSAFE_IO_OFF: &str = "rm -f /etc/dpkg/dpkg.cfg.d/baker-unsafe-io";

impl std::fmt::Display for PackageManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Apt => "apt",
            Self::Yum => "yum",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub image: String,
    pub package_manager: PackageManager,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how_to_make: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub path: String,
    pub content: Template,
    pub keys: Vec<RemoteFile>,
}

/// How a downloaded file is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Pin {
    /// A checksum the upstream publishes, and where it comes from.
    Sha256 { sha256: String, origin: String },
    /// No published checksum exists; the first verified download is recorded in the lock file.
    Lock { reason: String },
}

#[derive(Debug, Clone)]
pub struct RemoteFile {
    pub url: Template,
    pub path: String,
    pub pin: Pin,
    pub then: Option<Template>,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub path: String,
    pub content: Template,
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub url: Template,
    pub mirrors: Vec<Template>,
    pub strip_components: u32,
}

#[derive(Debug, Clone)]
pub struct VersionSpec {
    pub pin: Pin,
    pub packages: Vec<String>,
    pub remove_packages: Vec<String>,
    pub env: BTreeMap<String, Template>,
}

#[derive(Debug, Clone, Default)]
pub struct BuildSettings {
    pub wrap: Option<Template>,
    pub workdir: Option<Template>,
    pub ccache_max_size: String,
}

#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub run: Template,
    pub caches: Vec<CacheKind>,
    pub env: BTreeMap<String, Template>,
    pub optional: bool,
    /// Versions this step applies to; empty means all.
    pub versions: Vec<String>,
    /// How long the step may run before it is killed and fails (`timeout = "90m"`).
    pub timeout: Option<std::time::Duration>,
    /// Globs (relative to the source tree) whose change reruns this step in an incremental build;
    /// empty means the step reruns whenever the tree changed.
    pub inputs: Vec<String>,
}

/// The caches a step may mount; each is a directory baker owns in its cache root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// The compiler cache (ccache), mounted at [`CCACHE_DIR`](crate::layout::CCACHE_DIR).
    Ccache,
    /// The distro's package download cache (`/var/cache/apt/archives` or `/var/cache/yum`).
    Packages,
    /// Maven's local repository (`/root/.m2/repository`).
    Maven,
}

impl CacheKind {
    pub const ALL: &[(&str, CacheKind)] = &[
        ("ccache", CacheKind::Ccache),
        ("packages", CacheKind::Packages),
        ("maven", CacheKind::Maven),
    ];
}

/// Whether a role is the cluster's master or one of its slaves; launch starts the master first and
/// hands every node the master's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    Master,
    Slave,
}

impl RoleKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Slave => "slave",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub kind: RoleKind,
    pub description: String,
    pub setup: Option<Template>,
    pub command: Template,
    pub user: Option<String>,
    pub ports: Vec<u16>,
    /// Where the role keeps its data on a node (absolute paths; templates, e.g. per `self.slot`):
    /// the agent makes them for the role's user, and `destroy` removes what the node made there.
    pub data: Vec<Template>,
    /// Environment of the role's command and setup (e.g. `MESOS_LAUNCHER=posix` in containers).
    pub env: BTreeMap<String, Template>,
    pub config: Vec<FileSpec>,
    pub ready: Vec<ReadyCheck>,
}

/// What is wrong with `path` as a role's data directory, which `destroy` removes on a machine
/// that outlives the node: it must be absolute and canonical (no `.` or `..`, no empty component,
/// no trailing `/`, which would make `rm` follow a link), one line, and not `/`. Checked on the
/// recipe's text and again once launch renders it.
pub fn data_dir_fault(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("is not an absolute path")
    } else if path == "/" {
        Some("is the root directory")
    } else if path.contains('\n') {
        Some("is more than one line")
    } else if path[1..]
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        Some("is not canonical (an empty, `.` or `..` component, or a trailing `/`)")
    } else {
        None
    }
}

#[derive(Debug, Clone)]
pub enum ReadyProbe {
    Http {
        url: Template,
        status: u16,
        json_pointer: Option<String>,
    },
    Command {
        run: Template,
    },
}

#[derive(Debug, Clone)]
pub struct ReadyCheck {
    pub probe: ReadyProbe,
    pub equals: Option<Template>,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    pub pattern: String,
    pub advice: String,
}

impl Recipe {
    /// The versions this recipe builds, oldest first as written in semantic order.
    pub fn version_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.versions.keys().map(String::as_str).collect();
        names.sort_by_key(|v| version_sort_key(v));
        names
    }
}

/// Orders `0.25.0` before `1.11.0` and `2.9` before `2.10`.
pub fn version_sort_key(version: &str) -> Vec<(u64, String)> {
    version
        .split(['.', '-'])
        .map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse().unwrap_or(0), part[digits.len()..].to_owned())
        })
        .collect()
}
