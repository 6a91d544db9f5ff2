//! What an incremental build (`--incremental`) starts from and what it must redo. The previous build
//! of the same source directory, recipe, distro and version left a [`Record`] in the cache: the
//! committed image of its last build step (the build tree, objects and all), the id of the base image
//! it grew from (a record of another base image is not used, as a step cache entry is not:
//! the keys name the base image by its tag, which a new image may take), the tree it was built
//! from (path, mode, content digest and time of each entry), and a digest of each build step as the
//! recipe wrote it. Against the tree as it is now, [`Delta`] says which paths changed by content,
//! which only by time, and which are gone; [`steps_to_run`] says which build steps rerun on the
//! updated tree: a step with `inputs` globs only when a path matching one changed (then every later
//! step too), a step without them whenever anything changed, and any step whose own text changed.
//! The record is replaced only after a build succeeds, atomically, so an interrupted build leaves the
//! previous one usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{KeyMaterial, Plan, PlanStep, StepKind, step_key};
use crate::source::tree::{TreeDigest, TreeEntry};

/// Version of the record's JSON; a record of another version is ignored (the build runs clean).
/// Format 2 added the base image's id: a record without it cannot say what it grew from.
const RECORD_FORMAT: u32 = 2;

/// One entry of a recorded tree: mode, digest (as in [`TreeEntry`]) and mtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEntry {
    pub mode: u32,
    pub digest: String,
    pub mtime: u64,
}

/// The previous incremental build of one (source directory, recipe, distro, version).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    /// The install-step key of the build that made it: what the next manifest names as `from`.
    pub build_key: String,
    /// The committed image of the last build step (before install).
    pub image: String,
    /// Key of the step before the source step (setup and packages): another one means other setup.
    pub prefix_key: String,
    /// The id of the base image the build tree grew from, as a step cache entry records it.
    pub base_image_id: String,
    /// The tree's digest, as the plan keys it.
    pub tree_sha256: String,
    pub tree: BTreeMap<String, RecordedEntry>,
    /// Each build step's own digest (its text, environment and caches, not its parent).
    pub steps: BTreeMap<String, String>,
    /// Incremental builds since the last clean one (each stacks layers on the image).
    #[serde(default)]
    pub depth: u32,
}

impl Record {
    /// The record of a build of `plan` on the base image `base_image_id` from `tree` whose last
    /// build step was committed as `image`.
    pub fn new(plan: &Plan, base_image_id: &str, tree: &TreeDigest, image: &str) -> Self {
        Self {
            format: RECORD_FORMAT,
            build_key: plan.install_step().key.clone(),
            image: image.to_owned(),
            prefix_key: prefix_key(plan),
            base_image_id: base_image_id.to_owned(),
            tree_sha256: tree.sha256.clone(),
            tree: tree
                .entries
                .iter()
                .map(|e| {
                    let entry = RecordedEntry {
                        mode: e.mode,
                        digest: e.digest.clone(),
                        mtime: e.mtime,
                    };
                    (e.path.clone(), entry)
                })
                .collect(),
            steps: build_steps(plan)
                .map(|s| (s.name.clone(), own_digest(s)))
                .collect(),
            depth: 0,
        }
    }

    /// Reads the record at `path`; `None` when there is none or it is unreadable or of another format.
    pub fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice::<Self>(&text)
            .ok()
            .filter(|r| r.format == RECORD_FORMAT)
    }

    /// The build tree image the record at `path` keeps, which no step entry holds (an incremental
    /// build's own tag; after a clean build it is that build's step image): what the record's cache
    /// entry holds in the engine (see `crate::cache::usage`), and what a build that writes another
    /// record there removes. Read from a record of any format, since its image is there all the same.
    pub fn build_tree_of(path: &Path) -> Option<String> {
        let text = std::fs::read(path).ok()?;
        let record: serde_json::Value = serde_json::from_slice(&text).ok()?;
        (record["image"].as_str())
            .filter(|image| image.contains(super::incremental_run::INCREMENTAL_KEY_PREFIX))
            .map(str::to_owned)
    }

    /// Whether a build of `plan` on the base image `base_image_id` may start from this record's
    /// build tree: the same steps before the source, grown from the same base image (checked as
    /// [`super::StepCache::lookup`] checks a step's: the keys name the base image only by its tag).
    pub fn fits(&self, plan: &Plan, base_image_id: &str) -> bool {
        self.prefix_key == prefix_key(plan) && self.base_image_id == base_image_id
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write_atomic(path, &json)
    }
}

/// The record at `path` that an incremental build of `plan` on the base image `base_image_id` may
/// start from; none under `no_cache` (`--no-cache`: built from scratch, every step run again).
pub fn record_to_start_from(
    path: &Path,
    plan: &Plan,
    base_image_id: &str,
    no_cache: bool,
) -> Option<Record> {
    if no_cache {
        return None;
    }
    Record::load(path).filter(|r| r.fits(plan, base_image_id))
}

/// `<cache>/incremental/<id>.json`, the id naming the source directory, recipe, distro and version.
pub fn record_path(incremental_dir: &Path, plan: &Plan, source_dir: &str) -> PathBuf {
    let who = [
        source_dir,
        &plan.recipe.name,
        &plan.recipe.distro,
        &plan.version,
    ]
    .join("\0");
    let id = hex::encode(Sha256::digest(who.as_bytes()));
    incremental_dir.join(format!("{}.json", &id[..32]))
}

/// The steps of `plan` that a record's image already holds: setup, packages (and the source step,
/// which an incremental build replaces by sending the delta).
pub fn prefix_key(plan: &Plan) -> String {
    plan.steps
        .iter()
        .take_while(|s| s.kind != StepKind::Source)
        .last()
        .map_or_else(String::new, |s| s.key.clone())
}

pub fn build_steps(plan: &Plan) -> impl Iterator<Item = &PlanStep> {
    plan.steps.iter().filter(|s| s.kind == StepKind::Build)
}

/// A step's digest without its parent: what the recipe says it runs, so an edited command reruns it.
fn own_digest(step: &PlanStep) -> String {
    let mut material = KeyMaterial::of("", step);
    material.inputs.clear();
    step_key(&material)
}

/// How the tree now differs from a record's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Added, or changed in content, mode or kind: sent into the build tree.
    pub changed: Vec<String>,
    /// Same content, other time: the build tree's copy gets the new time.
    pub touched: Vec<(String, u64)>,
    /// Gone, or changed in kind (a file now a directory): removed before the changed are placed.
    pub deleted: Vec<String>,
}

impl Delta {
    pub fn between(record: &Record, tree: &TreeDigest) -> Self {
        let mut delta = Self::default();
        let mut now: BTreeMap<&str, &TreeEntry> = BTreeMap::new();
        for entry in &tree.entries {
            now.insert(&entry.path, entry);
            match record.tree.get(&entry.path) {
                None => delta.changed.push(entry.path.clone()),
                Some(old) if kind(&old.digest) != kind(&entry.digest) => {
                    delta.deleted.push(entry.path.clone());
                    delta.changed.push(entry.path.clone());
                }
                Some(old) if old.digest != entry.digest || old.mode != entry.mode => {
                    delta.changed.push(entry.path.clone());
                }
                Some(old) if old.mtime != entry.mtime && !entry.digest.is_empty() => {
                    delta.touched.push((entry.path.clone(), entry.mtime));
                }
                Some(_) => {}
            }
        }
        delta.deleted.extend(
            record
                .tree
                .keys()
                .filter(|p| !now.contains_key(p.as_str()))
                .cloned(),
        );
        delta.deleted.sort();
        delta
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.touched.is_empty() && self.deleted.is_empty()
    }

    /// Paths whose content changed, appeared or went: what `inputs` globs are matched against.
    fn content_paths(&self) -> impl Iterator<Item = &str> {
        self.changed.iter().chain(&self.deleted).map(String::as_str)
    }
}

fn kind(digest: &str) -> u8 {
    match digest {
        "" => 0,
        d if d.starts_with("link:") => 1,
        _ => 2,
    }
}

/// Which build steps of `plan` rerun after `delta` on `record`'s tree, by name.
pub fn steps_to_run(plan: &Plan, record: &Record, delta: &Delta) -> Vec<String> {
    let mut forced = false;
    let mut run = Vec::new();
    for step in build_steps(plan) {
        let edited = record.steps.get(&step.name) != Some(&own_digest(step));
        let inputs_changed = !step.source_inputs.is_empty() && matches_any(step, delta);
        let rerun = forced
            || edited
            || inputs_changed
            || (step.source_inputs.is_empty() && !delta.is_empty());
        if edited || inputs_changed {
            forced = true;
        }
        if rerun {
            run.push(step.name.clone());
        }
    }
    run
}

fn matches_any(step: &PlanStep, delta: &Delta) -> bool {
    let mut set = GlobSetBuilder::new();
    for glob in &step.source_inputs {
        // Validated when the recipe was loaded.
        if let Ok(g) = Glob::new(glob) {
            set.add(g);
        }
    }
    let Ok(set) = set.build() else {
        return true;
    };
    delta.content_paths().any(|p| set.is_match(p))
}

#[cfg(test)]
#[path = "incremental_tests.rs"]
mod tests;
