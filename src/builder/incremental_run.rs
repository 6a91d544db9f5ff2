//! An incremental build as the builder runs it (see [`super::incremental`] for what is decided). With
//! no usable record, or under `--no-cache` (which reuses neither an artifact nor a build tree), the
//! build runs clean and then records its build tree. With one, the first step
//! that runs (a build step that must rerun, else install), in a container from the recorded image,
//! receives only the delta (changed files, the list of deleted and of touched paths, the source's
//! date computed as a clean build computes it) and places it before its own command; the later
//! build steps that must rerun run on that tree, the install step runs, and the artifact is read
//! from the install step's container, which is never committed, as in a clean build. Its
//! images are tagged `baker-step:incr-…`, never recorded in the step cache, and its artifact is kept
//! apart from clean ones: a build without `--incremental` never sees an incremental result.

use std::sync::Mutex;
use std::time::Instant;

use super::incremental::{self, Delta, Record};
use super::inputs::UploadArchive;
use super::{BuildError, BuildOutcome, Builder, StepOutcome, meta, step_cache};
use crate::layout::SOURCE_DIR;
use crate::plan::{PlanStep, SourcePlan, StepKind};
use crate::progress::Event;
use crate::source::tree::TreeDigest;

/// Prefix of the keys (and image tags) of steps run by an incremental build.
pub const INCREMENTAL_KEY_PREFIX: &str = "incr-";
/// Incremental builds in a row before one runs clean: each adds a few layers to the build tree's
/// image, and overlay2 allows 128.
const MAX_DEPTH: u32 = 30;
/// Where the delta is staged in the container before the sync script places it.
const SYNC_DIR: &str = "/baker/sync";

/// What an incremental build shares with the step and artifact code while it runs.
#[derive(Default)]
pub(super) struct Session {
    /// The delta the sync step sends instead of the whole tree.
    delta: Mutex<Option<(TreeDigest, Delta, u64)>>,
    /// The build key of the record this build started from; `Some` makes the build incremental.
    from: Mutex<Option<String>>,
}

impl Builder<'_> {
    /// The previous build this one started from, when it is incremental.
    pub(super) fn incremental_from(&self) -> Option<String> {
        self.session.from.lock().expect("not poisoned").clone()
    }

    /// Where the finished artifact of this build is kept: by install key, and apart for incremental ones.
    pub(super) fn artifact_cache_dir(&self) -> std::path::PathBuf {
        match self.incremental_from() {
            Some(_) => self.incremental_artifact_dir(),
            None => (self.options.cache.artifacts()).join(&self.plan.install_step().key),
        }
    }

    /// Where an incremental build of this plan keeps its artifact.
    fn incremental_artifact_dir(&self) -> std::path::PathBuf {
        let key = &self.plan.install_step().key;
        (self.options.cache.artifacts()).join(format!("{INCREMENTAL_KEY_PREFIX}{key}"))
    }

    pub(super) fn has_delta(&self) -> bool {
        self.session.delta.lock().expect("not poisoned").is_some()
    }

    /// Adds the pending delta to a sync step's upload; false when there is none (a clean source step).
    pub(super) fn add_delta(&self, archive: &mut UploadArchive) -> std::io::Result<bool> {
        let guard = self.session.delta.lock().expect("not poisoned");
        let Some((tree, delta, epoch)) = guard.as_ref() else {
            return Ok(false);
        };
        let staged = format!("{SYNC_DIR}/tree");
        for entry in tree
            .entries
            .iter()
            .filter(|e| delta.changed.contains(&e.path))
        {
            archive.entry(&staged, &tree.root, entry)?;
        }
        let nul = |items: &mut dyn Iterator<Item = String>| {
            items.flat_map(|s| [s, "\0".into()]).collect::<String>()
        };
        let deleted = nul(&mut delta.deleted.iter().cloned());
        let touched = nul(&mut delta
            .touched
            .iter()
            .flat_map(|(p, t)| [t.to_string(), p.clone()]));
        archive.bytes(&format!("{SYNC_DIR}/deleted"), 0o644, deleted.as_bytes())?;
        archive.bytes(&format!("{SYNC_DIR}/touched"), 0o644, touched.as_bytes())?;
        archive.bytes(
            &format!("{SYNC_DIR}/epoch"),
            0o644,
            format!("{epoch}\n").as_bytes(),
        )?;
        Ok(true)
    }

    /// Runs `--incremental`: from the record when there is a usable one, else clean and recorded.
    pub(super) async fn run_incremental(
        &self,
        started: Instant,
    ) -> Result<BuildOutcome, BuildError> {
        let SourcePlan::Tree { path, .. } = &self.plan.source else {
            return Err(BuildError::IncrementalNeedsTree);
        };
        let record_path =
            incremental::record_path(&self.options.cache.incremental(), self.plan, path);
        // A clean build of exactly this tree on this base image already made the artifact: that is
        // the answer, when a clean build would take it (every step cached for this base image).
        let total = self.plan.steps.len();
        if self.cached_prefix().await.0 == total {
            let all_cached = self.skipped(0..total, false);
            if let Some(done) = meta::reuse_artifact(self, &all_cached, started).await? {
                self.restore_logs(0..total);
                return Ok(done);
            }
        }
        // The record and the delta must be of the tree the keys were made from.
        let tree = self.checked_tree()?;
        tracing::debug!(entries = tree.entries.len(), "source tree read");
        let no_cache = self.options.no_cache;
        let usable =
            incremental::record_to_start_from(&record_path, self.plan, &self.base_id, no_cache);
        let record = match usable {
            Some(r) if r.depth < MAX_DEPTH && self.engine.has_image(&r.image).await => r,
            _ => {
                self.reporter.report(Event::Note(match no_cache {
                    true => "incremental: --no-cache: building clean, every step again; its build tree is kept for the next --incremental build".into(),
                    false => "incremental: no earlier build tree of this source directory on this base image and setup; building clean".into(),
                }));
                let outcome = self.run_clean(started).await?;
                // An incremental artifact of this key was made from an earlier record's build tree
                // (another base image, say); the record written now names this clean build.
                let _ = std::fs::remove_dir_all(self.incremental_artifact_dir());
                let last = self.last_build_image().await;
                if let Some(image) = last {
                    let replaced = Record::build_tree_of(&record_path);
                    Record::new(self.plan, &self.base_id, &tree, &image)
                        .save(&record_path)
                        .map_err(BuildError::io(
                            "writing the incremental record",
                            &record_path,
                        ))?;
                    // The build tree the record named before is named by nothing now, and no
                    // cache entry would hold it (see `crate::cache::usage`).
                    if let Some(old) = replaced.filter(|old| *old != image) {
                        let _ = self.engine.remove_image(&old).await;
                    }
                }
                return Ok(outcome);
            }
        };
        *self.session.from.lock().expect("not poisoned") = Some(record.build_key.clone());
        if record.tree_sha256 == tree.sha256 {
            if let Some(done) =
                meta::reuse_artifact(self, &self.skipped(0..self.plan.steps.len(), true), started)
                    .await?
            {
                return Ok(done);
            }
        }
        let delta = Delta::between(&record, &tree);
        let rerun = incremental::steps_to_run(self.plan, &record, &delta);
        tracing::debug!("delta computed");
        self.reporter.report(Event::Note(format!(
            "incremental from {}: {} changed, {} deleted, {} touched; rerunning {}",
            &record.build_key[..12],
            delta.changed.len(),
            delta.deleted.len(),
            delta.touched.len(),
            if rerun.is_empty() {
                "no build step".to_owned()
            } else {
                rerun.join(", ")
            }
        )));
        let epoch = self
            .plan
            .source_date_epoch
            .unwrap_or_else(|| newest_file(&tree));
        *self.session.delta.lock().expect("not poisoned") = Some((tree.clone(), delta, epoch));

        let tag = format!(
            "{INCREMENTAL_KEY_PREFIX}{}-{}",
            &record.build_key[..12],
            step_cache::now_nanos()
        );
        let source_at = self
            .plan
            .steps
            .iter()
            .position(|s| s.kind == StepKind::Source)
            .unwrap_or(0);
        let mut outcomes = self.skipped(0..source_at, true);
        // The record's build tree stands on the clean build's first steps: they are in use.
        (self.steps_cache).touch_chain(self.plan.steps[..source_at].iter().map(|s| s.key.as_str()));
        let mut parent = record.image.clone();
        let mut tags = Vec::new();
        let mut installed = None;
        // The source step's delta is placed by the next step that runs, in its own container: a
        // container of its own would cost a create, start and commit on every build.
        let mut sync = None;
        for (i, step) in self.plan.steps.iter().enumerate().skip(source_at) {
            let ours = match step.kind {
                StepKind::Source => {
                    sync = Some(step);
                    outcomes.push(StepOutcome {
                        name: step.name.clone(),
                        key: step.key.clone(),
                        cache_hit: false,
                        seconds: 0.0,
                    });
                    continue;
                }
                StepKind::Build if !rerun.contains(&step.name) => {
                    outcomes.extend(self.skipped(i..i + 1, true));
                    continue;
                }
                _ => syncing(retagged(step, &tag), sync.take()),
            };
            let t = Instant::now();
            if step.kind == StepKind::Install {
                // Nothing builds on the install step's image: the artifact is read from its
                // container, which is never committed.
                installed = Some(self.run_uncommitted(i, &ours, &parent).await?);
                self.finished(i, &ours, t);
            } else {
                parent = self.run_step(i, &ours, &parent).await?;
                tags.push(crate::engine::labels::step_image(&ours.key, &self.cache_id));
            }
            outcomes.push(StepOutcome {
                name: step.name.clone(),
                key: step.key.clone(),
                cache_hit: false,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
        let outcome = match installed {
            Some(container) => meta::finish_from(self, container, &outcomes, started).await?,
            None => meta::finish_artifact(self, &parent, &outcomes, started).await?,
        };
        // The new build tree keeps its tag; the intermediate and earlier tags go (their images stay
        // as long as a tagged image is built on them).
        let image = tags.last().cloned().unwrap_or_else(|| record.image.clone());
        let mut next = Record::new(self.plan, &self.base_id, &tree, &image);
        next.depth = record.depth + 1;
        next.save(&record_path).map_err(BuildError::io(
            "writing the incremental record",
            &record_path,
        ))?;
        tracing::debug!("incremental record written");
        // A step container still being removed would keep its image's last tag from going.
        self.engine.removals_done().await;
        let old = tags
            .iter()
            .chain([&record.image])
            .filter(|old| **old != image && old.contains(INCREMENTAL_KEY_PREFIX));
        futures_util::future::join_all(old.map(|old| self.engine.remove_image(old))).await;
        tracing::debug!("earlier build trees untagged");
        Ok(outcome)
    }

    /// The image of the last step before install of a clean build just finished (from the step cache).
    async fn last_build_image(&self) -> Option<String> {
        let step = self
            .plan
            .steps
            .iter()
            .rev()
            .find(|s| s.kind != StepKind::Install)?;
        self.steps_cache
            .lookup(&self.engine, &step.key, &self.base_id)
            .await
            .map(|e| e.image_id)
    }
}

/// The newest regular file's time: what a clean source step records when no epoch is given.
fn newest_file(tree: &TreeDigest) -> u64 {
    tree.entries
        .iter()
        .filter(|e| !e.digest.is_empty() && !e.digest.starts_with("link:"))
        .map(|e| e.mtime)
        .max()
        .unwrap_or(0)
}

fn retagged(step: &PlanStep, tag: &str) -> PlanStep {
    PlanStep {
        key: format!("{tag}-{}", step.name),
        ..step.clone()
    }
}

/// `step` placing the delta first when `source` is given: it takes the source step's input (which
/// [`Builder::add_delta`] fills), deletes, places the changed files, sets the touched files' times,
/// records the source's date and exports it, then runs its own command.
fn syncing(step: PlanStep, source: Option<&PlanStep>) -> PlanStep {
    let Some(source) = source else {
        return step;
    };
    let sync = format!(
        "(\n\
         cd {SOURCE_DIR}\n\
         xargs -0 -r rm -rf -- < {SYNC_DIR}/deleted\n\
         if [ -d {SYNC_DIR}/tree ]; then cp -a {SYNC_DIR}/tree/. {SOURCE_DIR}/; fi\n\
         while IFS= read -r -d '' t && IFS= read -r -d '' p; do touch -h -d \"@$t\" -- \"$p\"; done < {SYNC_DIR}/touched\n\
         mkdir -p {meta}\n\
         cp {SYNC_DIR}/epoch {epoch}\n\
         rm -rf {SYNC_DIR}\n\
         )\n\
         export SOURCE_DATE_EPOCH=$(cat {epoch})\n",
        meta = crate::layout::META_DIR,
        epoch = crate::layout::EPOCH_FILE,
    );
    let mut inputs = source.inputs.clone();
    inputs.extend(step.inputs.iter().cloned());
    PlanStep {
        command: format!("{sync}{}", step.command),
        inputs,
        ..step
    }
}
