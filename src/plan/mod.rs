//! The build plan: a recipe resolved for one version into the exact steps that will run, each with its
//! rendered command, cache mounts, inputs and cache key.
//!
//! The plan is data. `baker plan` prints it, snapshot tests pin it for every recipe, and every later
//! stage (build, artifact, image) reads it rather than the recipe. Nothing in a plan depends on the
//! machine it was made on: `{{jobs}}` is a shell variable, times and paths of the host are absent, so
//! the same inputs give the same keys everywhere.

mod file;
mod key;
#[cfg(test)]
mod key_tests;
mod lock;
mod packages;
mod resolve;
pub mod role_display;
#[cfg(test)]
mod role_display_tests;
mod roles;
#[cfg(test)]
mod round_trip_tests;
mod upstream;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipe::{Base, CacheKind, Hint, ImageLayer, Pin, RoleKind};

pub use file::{PLAN_FILE, PLAN_FORMAT, PlanFileError, plan_json, read_plan, write_plan};
pub use key::{KeyMaterial, step_key};
pub use lock::Unlocked;
pub use resolve::{PlanOptions, SourceOverride, resolve};
pub use role_display::{RolesForDisplay, roles_for_display};
pub use upstream::Upstream;

/// The plan of an embedded recipe, by name and distro, with default options: for tests.
#[cfg(test)]
pub fn embedded_plan(recipe: &str, distro: &str) -> Plan {
    let catalog = crate::recipe::Catalog::embedded().expect("the embedded recipes load");
    let recipe = catalog
        .select(Some(recipe), Some(distro))
        .expect("an embedded recipe");
    resolve(&recipe, &PlanOptions::default()).expect("an embedded recipe plans")
}

/// Every embedded recipe and version with its plan, resolved with `options` (its version set to
/// each in turn): for tests that must hold for all of them.
#[cfg(test)]
pub fn every_embedded_plan(options: &PlanOptions) -> Vec<(crate::recipe::Recipe, Plan)> {
    let catalog = crate::recipe::Catalog::embedded().expect("the embedded recipes load");
    let mut plans = Vec::new();
    for recipe in catalog.recipes() {
        for version in recipe.version_names() {
            let options = PlanOptions {
                version: Some(version.to_owned()),
                ..options.clone()
            };
            let plan = resolve(recipe, &options).expect("an embedded recipe plans");
            plans.push((recipe.clone(), plan));
        }
    }
    plans
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub recipe: RecipeRef,
    pub version: String,
    pub base: Base,
    pub source: SourcePlan,
    /// The caller's `$SOURCE_DATE_EPOCH`, when set: the clamp for the tarball's times instead of
    /// the newest source file's. It is in the source step's environment, so it keys every step after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<u64>,
    pub environment: BTreeMap<String, String>,
    pub steps: Vec<PlanStep>,
    pub artifact: ArtifactPlan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageLayer>,
    pub roles: BTreeMap<String, RolePlan>,
    /// What `baker launch --smoke` runs once the cluster is ready, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smoke: Vec<SmokePlan>,
    pub hints: Vec<Hint>,
}

/// A smoke test step: `run` (a template) on every node of `role`, passing on exit 0 and, with
/// `equals`, on that output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokePlan {
    pub role: String,
    pub run: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeRef {
    pub name: String,
    pub distro: String,
    /// The file the recipe came from (`embedded:recipes/…` for built-in ones).
    pub origin: String,
    /// sha256 of the recipe file.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourcePlan {
    /// A release archive downloaded (or found in a mirror) and verified.
    Archive {
        file_name: String,
        /// The recipe's URL, then its mirrors, in the order they are tried.
        urls: Vec<String>,
        pin: Pin,
        /// For a `lock` pin: the sha256 recorded by an earlier download, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Input {
    /// A file whose content is in the recipe; the plan carries the content, the key only its digest.
    Inline {
        path: String,
        mode: u32,
        sha256: String,
        content: String,
    },
    /// A file downloaded by baker and placed in the container.
    Remote {
        path: String,
        url: String,
        /// The pinned or locked sha256; `None` until a first download locks it.
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then: Option<String>,
    },
    /// The source archive or tree; see [`SourcePlan`].
    Source { sha256: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMount {
    pub cache: CacheKind,
    /// Where it appears inside the container.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    pub name: String,
    pub kind: StepKind,
    /// The shell script the step runs (bash -e -o pipefail).
    pub command: String,
    /// A command the script runs under, e.g. `scl enable devtoolset-2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<String>,
    pub workdir: String,
    pub env: BTreeMap<String, String>,
    pub caches: Vec<CacheMount>,
    pub inputs: Vec<Input>,
    /// The recipe's `inputs` globs: in an incremental build the step is skipped unless a source path
    /// matching one changed. Not part of the key: a clean build runs the step whatever they say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_inputs: Vec<String>,
    /// sha256 over the parent's key, this step and its inputs; see [`step_key`].
    pub key: String,
    /// Seconds the step may run before it is killed (the recipe's `timeout`); not part of the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPlan {
    /// `<name>-<version>-<distro>.tar.gz`.
    pub file_name: String,
    /// The directory inside the container whose contents become the tarball.
    pub root: String,
}

/// A role as the plan carries it to `image` and `launch`. Every string but `description`, `user`
/// and the paths is a handlebars template, left unrendered: cluster facts (`{{master.ip}}`,
/// `{{self.ip}}`, `{{cluster.name}}`) exist only when a cluster boots, and launch renders them then.
/// The recipe's loading already rendered each against an example cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePlan {
    pub kind: RoleKind,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub ports: Vec<u16>,
    /// Where the role keeps its data on a node; templates. Plans written before roles had data
    /// directories have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
    /// Environment of `setup` and `command`; values are templates.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    pub command: String,
    /// Files written before the role starts; contents are templates.
    pub config: Vec<ConfigFilePlan>,
    pub ready: Vec<ReadyPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFilePlan {
    pub path: String,
    pub mode: u32,
    pub content: String,
}

/// One readiness check, kept structured so that launch runs it rather than parsing a display string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyPlan {
    pub probe: ProbePlan,
    /// What the probe's answer (trimmed) must equal; a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProbePlan {
    /// `GET url` must answer `status`; with `json_pointer`, the value there is the answer.
    Http {
        url: String,
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json_pointer: Option<String>,
    },
    /// A shell command on the node; its standard output is the answer.
    Command { run: String },
}

impl std::fmt::Display for ProbePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http {
                url,
                status,
                json_pointer,
            } => {
                write!(f, "http GET {url} -> {status}")?;
                if let Some(p) = json_pointer {
                    write!(f, ", {p}")?;
                }
                Ok(())
            }
            Self::Command { run } => write!(f, "command {}", run.trim()),
        }
    }
}

impl Plan {
    /// The step the artifact is taken from.
    pub fn install_step(&self) -> &PlanStep {
        self.steps
            .last()
            .expect("a plan always ends with its install step")
    }

    /// The role every other node connects to; validation guarantees exactly one when there are roles.
    pub fn master_role(&self) -> Option<(&str, &RolePlan)> {
        self.roles
            .iter()
            .find(|(_, r)| r.kind == RoleKind::Master)
            .map(|(n, r)| (n.as_str(), r))
    }
}

impl SourcePlan {
    /// The one sha256 the source must have: the pin, or the lock file's value for an unpinned
    /// archive (`None` until a first download locks it), or a local tree's digest.
    pub fn expected_sha256(&self) -> Option<&str> {
        match self {
            Self::Archive {
                pin: Pin::Sha256 { sha256, .. },
                ..
            } => Some(sha256),
            Self::Archive { locked_sha256, .. } => locked_sha256.as_deref(),
            Self::Tree { sha256, .. } => Some(sha256),
        }
    }
}
