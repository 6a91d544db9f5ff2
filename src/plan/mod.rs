//! The build plan: a recipe resolved for one version into the exact steps that will run, each with its
//! rendered command, cache mounts, inputs and cache key.
//!
//! The plan is data. `baker plan` prints it, snapshot tests pin it for every recipe, and every later
//! stage (build, artifact, image) reads it rather than the recipe. Nothing in a plan depends on the
//! machine it was made on: `{{jobs}}` is a shell variable, times and paths of the host are absent, so
//! the same inputs give the same keys everywhere.

mod key;
#[cfg(test)]
mod key_tests;
mod lock;
mod packages;
mod resolve;
mod roles;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::recipe::{Base, CacheKind, Hint, ImageLayer, Pin};

pub use key::{KeyMaterial, step_key};
pub use lock::Unlocked;
pub use packages::PACKAGE_LIST;
pub use resolve::{PlanOptions, SourceOverride, resolve};

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub recipe: RecipeRef,
    pub version: String,
    pub base: Base,
    pub source: SourcePlan,
    pub environment: BTreeMap<String, String>,
    pub steps: Vec<PlanStep>,
    pub artifact: ArtifactPlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageLayer>,
    pub roles: BTreeMap<String, RolePlan>,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipeRef {
    pub name: String,
    pub distro: String,
    /// The file the recipe came from (`embedded:recipes/…` for built-in ones).
    pub origin: String,
    /// sha256 of the recipe file.
    pub digest: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourcePlan {
    /// A release archive downloaded (or found in a mirror) and verified.
    Archive {
        file_name: String,
        /// The recipe's URL, then its mirrors, in the order they are tried.
        urls: Vec<String>,
        pin: Pin,
        /// For a `lock` pin: the sha256 recorded by an earlier download, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        locked_sha256: Option<String>,
        strip_components: u32,
    },
    /// A local checkout (`--source-dir`), identified by the digest of its files.
    Tree {
        path: String,
        files: usize,
        sha256: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Repository files, their GPG keys, and other files the recipe places before installing packages.
    Setup,
    /// The distro packages.
    Packages,
    /// The source unpacked (or copied) into the fixed source directory.
    Source,
    /// A recipe build step.
    Build,
    /// The install step whose output tree becomes the tarball.
    Install,
}

/// One thing a step reads besides its parent, identified by content, never by time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Input {
    /// A file whose content is in the recipe.
    Inline {
        path: String,
        mode: u32,
        sha256: String,
        #[serde(skip)]
        content: String,
    },
    /// A file downloaded by baker and placed in the container.
    Remote {
        path: String,
        url: String,
        /// The pinned or locked sha256; `None` until a first download locks it.
        sha256: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        then: Option<String>,
    },
    /// The source archive or tree; see [`SourcePlan`].
    Source { sha256: Option<String> },
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheMount {
    pub cache: CacheKind,
    /// Where it appears inside the container.
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub name: String,
    pub kind: StepKind,
    /// The shell script the step runs (bash -e -o pipefail).
    pub command: String,
    /// A command the script runs under, e.g. `scl enable devtoolset-2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap: Option<String>,
    pub workdir: String,
    pub env: BTreeMap<String, String>,
    pub caches: Vec<CacheMount>,
    pub inputs: Vec<Input>,
    /// sha256 over the parent's key, this step and its inputs; see [`step_key`].
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactPlan {
    /// `<name>-<version>-<distro>.tar.gz`.
    pub file_name: String,
    /// The directory inside the container whose contents become the tarball.
    pub root: String,
}

/// A role as the plan shows it: its templates stay unrendered until a cluster gives them facts.
#[derive(Debug, Clone, Serialize)]
pub struct RolePlan {
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub ports: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    pub command: String,
    pub config: BTreeMap<String, String>,
    pub ready: Vec<ReadyPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadyPlan {
    /// `http GET <url>` (status, optional JSON pointer) or `command <script>`.
    pub probe: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    pub timeout_seconds: u64,
}

impl Plan {
    /// The step the artifact is taken from.
    pub fn install_step(&self) -> &PlanStep {
        self.steps
            .last()
            .expect("a plan always ends with its install step")
    }
}
