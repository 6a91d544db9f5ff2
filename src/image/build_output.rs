//! What `baker image` takes from a build: the tarball, its sha256, the plan's epoch, and which plan
//! made it — from a build output folder (`--from DIR`: `manifest.json` and the tarball) or from the
//! artifact cache (by the plan's install key). Until `baker build` writes `plan.json` (the plan
//! contract), the plan is resolved again from the recipe the manifest names, and this module checks
//! that it is the very plan that made the tarball (same install key).

use std::path::{Path, PathBuf};

use super::ImageError;
use crate::artifact::{Manifest, SourceInfo, sha256_file};
use crate::cache::CacheDir;
use crate::plan::Plan;

/// A finished build: its tarball and the facts an image needs about it.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub artifact: PathBuf,
    pub artifact_sha256: String,
    pub epoch: u64,
    /// The install step's key of the plan that made it.
    pub plan_key: String,
}

/// How to resolve the plan of a build again (until `plan.json` exists).
#[derive(Debug, Clone)]
pub struct PlanHints {
    /// The recipe's name, or its file when it was not an embedded one.
    pub recipe: String,
    pub distro: String,
    pub version: String,
    /// Every step the build ran; the optional ones among them must be enabled again.
    pub steps: Vec<String>,
    /// `(path, sha256)` of a local source tree (`--source-dir`), if the build used one.
    pub source_tree: Option<(String, String)>,
}

/// Reads `DIR/manifest.json` and checks the tarball it names.
pub fn read_build_dir(dir: &Path) -> Result<(BuildOutput, PlanHints), ImageError> {
    let path = dir.join("manifest.json");
    let bad = |reason: String| ImageError::Input {
        what: "build manifest",
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(ImageError::io(
        "reading the build's manifest (is this a `baker build --out` folder?)",
        &path,
    ))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let artifact = dir.join(&manifest.artifact.file_name);
    let sha256 =
        sha256_file(&artifact).map_err(ImageError::io("reading the tarball", &artifact))?;
    if sha256 != manifest.artifact.sha256 {
        return Err(ImageError::Input {
            what: "tarball",
            path: artifact,
            reason: format!(
                "its sha256 is {sha256}, the manifest says {}: the folder holds another build's tarball",
                manifest.artifact.sha256
            ),
        });
    }
    let plan_key = manifest
        .steps
        .last()
        .map(|s| s.key.clone())
        .ok_or_else(|| bad("no steps recorded".into()))?;
    let recipe = match manifest.recipe.origin.strip_prefix("embedded:") {
        Some(_) => manifest.recipe.name.clone(),
        None => manifest.recipe.origin.clone(),
    };
    let hints = PlanHints {
        recipe,
        distro: manifest.recipe.distro.clone(),
        version: manifest.recipe.version.clone(),
        steps: manifest.steps.iter().map(|s| s.name.clone()).collect(),
        source_tree: match &manifest.source {
            SourceInfo::Tree { path, sha256 } => Some((path.clone(), sha256.clone())),
            SourceInfo::Archive { .. } => None,
        },
    };
    Ok((
        BuildOutput {
            artifact,
            artifact_sha256: sha256,
            epoch: manifest.source_date_epoch,
            plan_key,
        },
        hints,
    ))
}

/// The cached tarball of `plan`, when a build of it finished on this machine.
pub fn from_cache(cache: &CacheDir, plan: &Plan) -> Option<BuildOutput> {
    let key = &plan.install_step().key;
    let dir = cache.artifacts().join(key);
    let artifact = dir.join(&plan.artifact.file_name);
    let facts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("facts.json")).ok()?).ok()?;
    let recorded =
        std::fs::read_to_string(dir.join(format!("{}.sha256", plan.artifact.file_name))).ok()?;
    let sha256 = recorded.split_whitespace().next()?.to_owned();
    Some(BuildOutput {
        artifact,
        artifact_sha256: sha256,
        epoch: facts.get("source_date_epoch")?.as_u64()?,
        plan_key: key.clone(),
    })
}

/// Checks that `plan` is the plan that made `build`.
pub fn check_plan(plan: &Plan, build: &BuildOutput, dir: &Path) -> Result<(), ImageError> {
    let key = &plan.install_step().key;
    if *key == build.plan_key {
        return Ok(());
    }
    Err(ImageError::Input {
        what: "build",
        path: dir.to_owned(),
        reason: format!(
            "it was made by a plan with install key {}, but the recipe now resolves to {key}: the recipe changed since; build again, or image with the recipe as it was",
            build.plan_key
        ),
    })
}
