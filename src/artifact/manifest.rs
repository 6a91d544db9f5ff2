//! The manifest written beside each tarball: which recipe, base image, source and packages went
//! into it, which steps ran or came from the cache and how long they took, how well the compiler
//! cache did, and the tarball's own checksum.
//!
//! It is for people and tools, and it is *not* reproducible: two builds that give the same
//! tarball byte for byte will disagree on cache hits and seconds. Reproducibility is the
//! tarball's contract, checked through `artifact.sha256`. The JSON has a fixed field order (structs,
//! no maps), two-space indentation and a trailing newline, so diffs between builds read well.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ArtifactError, ArtifactFile, CcacheStats};
use crate::atomic_file::write_atomic;
use crate::plan::Plan;

/// The manifest's file name in the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `env!("CARGO_PKG_VERSION")` of the baker that built it.
    pub baker_version: String,
    pub recipe: RecipeInfo,
    pub base_image: BaseImageInfo,
    pub source: SourceInfo,
    /// Installed distro packages, sorted by name.
    pub packages: Vec<Package>,
    pub steps: Vec<StepRecord>,
    /// `null` when the recipe uses no compiler cache or its statistics were unreadable.
    pub compiler_cache: Option<CcacheStats>,
    pub artifact: ArtifactInfo,
    pub source_date_epoch: u64,
    /// Set when the build reused the build tree of an earlier one (`--incremental`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalInfo>,
}

/// The earlier build an incremental one started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalInfo {
    /// The install-step key of that build.
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeInfo {
    pub name: String,
    pub distro: String,
    pub version: String,
    /// The recipe file (`embedded:recipes/…` for built-in ones).
    pub origin: String,
    /// sha256 of the recipe file.
    pub digest: String,
}

impl RecipeInfo {
    pub fn from_plan(plan: &Plan) -> Self {
        Self {
            name: plan.recipe.name.clone(),
            distro: plan.recipe.distro.clone(),
            version: plan.version.clone(),
            origin: plan.recipe.origin.clone(),
            digest: plan.recipe.digest.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImageInfo {
    /// The image as the recipe names it, e.g. `baker/debian:12`.
    pub reference: String,
    /// The engine's image id (`sha256:…`).
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceInfo {
    Archive { file_name: String, sha256: String },
    Tree { path: String, sha256: String },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub key: String,
    pub cache_hit: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    pub file_name: String,
    pub sha256: String,
    pub bytes: u64,
}

impl From<&ArtifactFile> for ArtifactInfo {
    fn from(file: &ArtifactFile) -> Self {
        Self {
            file_name: file
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            sha256: file.sha256.clone(),
            bytes: file.bytes,
        }
    }
}

impl Manifest {
    /// Pretty JSON with a trailing newline: the bytes of `manifest.json`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        json.push(b'\n');
        json
    }

    /// Writes [`Manifest::to_json`]; the file appears only when complete.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ArtifactError> {
        write_atomic(path, &self.to_json()).map_err(|source| ArtifactError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// The tarball named by the manifest in `dir`, when `dir` holds a manifest of baker's. Read loosely
/// (only `artifact.file_name`), so that a manifest written by any version of baker is recognised,
/// and a project's own `manifest.json` is not.
pub fn tarball_named_in(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest["artifact"]["file_name"]
        .as_str()
        .map(str::to_owned)
}

/// Parses `name<TAB>version` lines (`dpkg-query -W`, `rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n'`)
/// into a sorted list without duplicates. Blank lines are skipped; a line without a tab is a
/// package of unknown (empty) version.
pub fn parse_package_list(tsv: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = tsv
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, version) = line.split_once('\t').unwrap_or((line, ""));
            Package {
                name: name.trim().to_owned(),
                version: version.trim().to_owned(),
            }
        })
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            baker_version: env!("CARGO_PKG_VERSION").into(),
            recipe: RecipeInfo {
                name: "hello".into(),
                distro: "debian-12".into(),
                version: "2.10".into(),
                origin: "embedded:recipes/hello/debian-12.toml".into(),
                digest: "ab".repeat(32),
            },
            base_image: BaseImageInfo {
                reference: "baker/debian:12".into(),
                id: format!("sha256:{}", "cd".repeat(32)),
            },
            source: SourceInfo::Archive {
                file_name: "hello-2.10.tar.gz".into(),
                sha256: "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b".into(),
            },
            packages: parse_package_list("gcc\t4:12.2.0-3\nmake\t4.3-4.1\n"),
            steps: vec![StepRecord {
                name: "configure".into(),
                key: "ef".repeat(32),
                cache_hit: true,
                seconds: 0.25,
            }],
            compiler_cache: None,
            artifact: ArtifactInfo {
                file_name: "hello-2.10-debian-12.tar.gz".into(),
                sha256: "01".repeat(32),
                bytes: 12345,
            },
            source_date_epoch: 1_416_843_000,
            incremental: None,
        }
    }

    #[test]
    fn written_manifest_reads_back_with_a_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello-2.10-debian-12.json");
        manifest().write_atomic(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("}\n") && text.starts_with("{\n  \"baker_version\""),
            "{text}"
        );
        assert!(text.contains("\"kind\": \"archive\""), "{text}");
        assert!(text.contains("\"compiler_cache\": null"), "{text}");
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), manifest());
    }

    #[test]
    fn package_lists_are_sorted_deduplicated_and_tolerate_odd_lines() {
        let tsv = "zlib1g\t1:1.2.13\r\nbash\t5.2.15-2+b2\n\nbash\t5.2.15-2+b2\nlonely\n";
        let packages = parse_package_list(tsv);
        let names: Vec<(&str, &str)> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("bash", "5.2.15-2+b2"),
                ("lonely", ""),
                ("zlib1g", "1:1.2.13")
            ]
        );
    }
}
