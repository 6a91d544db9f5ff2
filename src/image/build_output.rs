//! What the stages after the build (`baker image`, `baker launch`) take from it: its plan (`plan.json`, the contract between stages), its
//! tarball with the sha256, and the epoch the tarball's times were clamped to — from a build output
//! folder (`--from DIR`) or from the build just run.

use std::path::{Path, PathBuf};

use super::ImageError;
use crate::artifact::{Manifest, sha256_file};
use crate::builder::BuildOutcome;
use crate::plan::{PLAN_FILE, Plan, read_plan};

/// A finished build, as the later stages need it.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub plan: Plan,
    pub artifact: PathBuf,
    pub artifact_sha256: String,
    /// `SOURCE_DATE_EPOCH` of the build: the tarball's times are clamped to it, and the disk's are.
    pub epoch: u64,
}

impl BuildOutput {
    pub fn of(outcome: &BuildOutcome) -> Self {
        Self {
            plan: outcome.plan.clone(),
            artifact: outcome.artifact.path.clone(),
            artifact_sha256: outcome.artifact.sha256.clone(),
            epoch: outcome.manifest.source_date_epoch,
        }
    }
}

/// Reads `DIR/plan.json` and `DIR/manifest.json` and checks the tarball they name.
pub fn read_build_dir(dir: &Path) -> Result<BuildOutput, ImageError> {
    if !dir.is_dir() {
        return Err(ImageError::Input {
            what: "build folder",
            path: dir.to_owned(),
            reason: if dir.exists() {
                "not a folder: name the folder a `baker build --out` wrote".into()
            } else {
                "no such folder: name the folder a `baker build --out` wrote".into()
            },
        });
    }
    let plan = read_plan(&dir.join(PLAN_FILE)).map_err(|e| ImageError::Input {
        what: "build folder",
        path: dir.to_owned(),
        reason: format!("{e} (`baker build --out DIR` writes plan.json in DIR)"),
    })?;
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(ImageError::io("reading", &path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| ImageError::Input {
        what: "build manifest",
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let artifact = dir.join(&plan.artifact.file_name);
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
    Ok(BuildOutput {
        plan,
        artifact,
        artifact_sha256: sha256,
        epoch: manifest.source_date_epoch,
    })
}
