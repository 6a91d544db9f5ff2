//! The recipe file exactly as it is written in TOML.
//!
//! These types mirror the file one to one so that serde can point at the offending key with its span;
//! nothing here is checked beyond its shape. [`super::validate`] turns a [`RawRecipe`] into a
//! [`super::Recipe`] with defaults applied, templates checked and versions resolved. Every string that
//! is a template is kept [`Spanned`] so that a template error can name its file, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Every top-level table of a recipe; the names here are the names users write.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "recipe",
    "base",
    "repositories",
    "files",
    "packages",
    "source",
    "versions",
    "env",
    "build",
    "steps",
    "install",
    "image",
    "roles",
    "smoke",
    "hints",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    pub recipe: RawHeader,
    pub base: RawBase,
    #[serde(default)]
    pub repositories: Vec<RawRepository>,
    #[serde(default)]
    pub files: Vec<RawFile>,
    #[serde(default)]
    pub packages: RawPackages,
    pub source: RawSource,
    pub versions: BTreeMap<String, RawVersion>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub build: RawBuild,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    pub install: RawInstall,
    #[serde(default)]
    pub image: Option<RawImage>,
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
    #[serde(default)]
    pub smoke: Vec<RawSmoke>,
    #[serde(default)]
    pub hints: Vec<RawHint>,
}

/// `[[smoke]]`: a command `baker launch --smoke` runs on every node of a role once the cluster is
/// ready, in file order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmoke {
    pub role: Spanned<String>,
    pub run: Spanned<String>,
    #[serde(default)]
    pub equals: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    pub name: Spanned<String>,
    pub distro: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub default_version: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBase {
    pub image: Spanned<String>,
    pub package_manager: Spanned<String>,
    /// How to obtain the base image when no registry serves it (shown in errors).
    #[serde(default)]
    pub how_to_make: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepository {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub content: Spanned<String>,
    #[serde(default)]
    pub keys: Vec<RawRemoteFile>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A file fetched by baker on the host, verified, and placed into the build container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteFile {
    pub url: Spanned<String>,
    pub path: Spanned<String>,
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    /// Where the pinned value comes from (required with `sha256`).
    #[serde(default)]
    pub checksum_origin: Option<String>,
    /// Why no published checksum exists (required without `sha256`); the first download is locked.
    #[serde(default)]
    pub unpinned: Option<String>,
    /// Run after the file is placed, e.g. `rpm --import {{path}}`.
    #[serde(default)]
    pub then: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub path: Spanned<String>,
    pub content: Spanned<String>,
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackages {
    #[serde(default)]
    pub install: Vec<Spanned<String>>,
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: Spanned<String>,
    #[serde(default)]
    pub mirrors: Vec<Spanned<String>>,
    #[serde(default = "default_strip")]
    pub strip_components: u32,
}

fn default_strip() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersion {
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    #[serde(default)]
    pub checksum_origin: Option<String>,
    #[serde(default)]
    pub unpinned: Option<String>,
    #[serde(default)]
    pub packages: Vec<Spanned<String>>,
    #[serde(default)]
    pub remove_packages: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    /// A command that every build step runs under, e.g. `scl enable devtoolset-2`.
    #[serde(default)]
    pub wrap: Option<Spanned<String>>,
    /// Working directory of the build steps; defaults to the source directory.
    #[serde(default)]
    pub workdir: Option<Spanned<String>>,
    /// Size cap of the compiler cache, e.g. `5G`.
    #[serde(default)]
    pub ccache_max_size: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    pub run: Spanned<String>,
    #[serde(default)]
    pub caches: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub versions: Vec<Spanned<String>>,
    /// How long the step may run, e.g. `90m`; over it, the step is killed and fails.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Globs of source paths whose change reruns this step in an incremental build.
    #[serde(default)]
    pub inputs: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstall {
    pub run: Spanned<String>,
    #[serde(default)]
    pub caches: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub kernel: Spanned<String>,
    pub bootloader: Spanned<String>,
    pub init: Spanned<String>,
    #[serde(default)]
    pub runtime_packages: Vec<String>,
    /// Read only to say it is ignored: recipes written before said what ran at first boot,
    /// which is baker's role agent in every image.
    #[serde(default)]
    pub first_boot: Option<Spanned<String>>,
    #[serde(default)]
    pub boots_on: Vec<RawBootTarget>,
    #[serde(default)]
    pub mkfs_options: Option<Spanned<String>>,
    #[serde(default)]
    pub firmware: Vec<Spanned<String>>,
}

/// `[[image.boots_on]]`: one provider's verdict on the image's kernel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBootTarget {
    pub provider: Spanned<String>,
    #[serde(default)]
    pub boots: Vec<String>,
    #[serde(default)]
    pub fails: Vec<String>,
    #[serde(default)]
    pub proven: bool,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// `master` or `slave`; exactly one role of a recipe is the master.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub setup: Option<Spanned<String>>,
    pub command: Spanned<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    /// The role's data directories (absolute paths; templates).
    #[serde(default)]
    pub data: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub config: Vec<RawFile>,
    #[serde(default)]
    pub ready: Vec<RawReady>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    #[serde(default)]
    pub http: Option<Spanned<String>>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub json_pointer: Option<String>,
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub equals: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHint {
    pub pattern: Spanned<String>,
    pub advice: String,
}
