//! `baker build`: run a plan's steps in containers on a Docker engine and turn the install step's
//! tree into a reproducible tarball with a manifest.
//!
//! [`build`] is the one call that does all of it, from what the user selected to the finished
//! artifact; the CLI only parses, passes a cancellation future and prints. Each step runs in a fresh
//! container made from the previous step's committed image; its result is committed as
//! `baker-step:<key>-<cache>` (labelled with the cache's identity) and indexed in the step cache. A
//! build first looks for the latest step whose key is cached and resumes after it, so an unchanged
//! rebuild runs nothing, a changed source reruns from the source step on (where the compiler cache
//! makes `make` cheap), and an interrupted build resumes at its first unfinished step. The finished tarball is also kept in the cache by
//! install-step key, so a no-change rebuild only copies it.

mod error;
mod gather;
pub(crate) mod incremental;
mod incremental_run;
mod inputs;
mod meta;
mod offline;
mod out_dir;
mod pipeline;
mod replaced;
mod select;
mod step;
mod step_cache;
mod step_log;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use error::{BuildError, StepFailure};
pub use offline::{HereRecipe, Offline};
pub use pipeline::{BuildRequest, PlanCheck, build, ensure_base_image};
pub use select::{DEFAULT_OUT_DIR, Selection};
pub use step_cache::{StepCache, StepEntry};

use crate::artifact::{ArtifactFile, Manifest};
use crate::cache::CacheDir;
use crate::engine::Engine;
use crate::plan::{Plan, PlanStep};
use crate::progress::{Event, Reporter};
use crate::recipe::CacheKind;
use crate::source::fetch::Fetcher;
use crate::source::mirror::Mirror;
use crate::source::tree::TreeDigest;
use replaced::ReplacedImages;

pub struct BuildOptions {
    pub cache: CacheDir,
    /// The lock file: sha256s of first downloads of unpinned files, read when planning and written
    /// when such a file is first fetched. Usually `cache.lock_file()`.
    pub lock_file: PathBuf,
    /// `--out`: where the finished set appears, whole, when the build succeeds.
    pub out_dir: PathBuf,
    /// `make -j` parallelism, passed as `BAKER_JOBS` (never part of a key).
    pub jobs: usize,
    /// Tried before the recipe's own URLs.
    pub mirrors: Vec<Mirror>,
    /// Whether the recipe's own URLs may be used after the mirrors.
    pub upstream: bool,
    /// Ignore the step cache and run every step (results are still recorded).
    pub no_cache: bool,
    /// How long any step may run (`--step-timeout`); overrides the recipe's per-step `timeout`.
    pub step_timeout: Option<std::time::Duration>,
    /// Reuse the build tree of the previous build of the same `--source-dir` (see
    /// [`incremental`]); without it every build is clean.
    pub incremental: bool,
}

/// What a step did in this build.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepOutcome {
    pub name: String,
    pub key: String,
    pub cache_hit: bool,
    pub seconds: f64,
}

#[derive(Debug)]
pub struct BuildOutcome {
    /// The plan that was built, its locks filled in.
    pub plan: Plan,
    pub artifact: ArtifactFile,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub steps: Vec<StepOutcome>,
}

/// Runs one plan whose base image is present and whose inputs all have a known sha256.
struct Builder<'a> {
    engine: Engine,
    plan: &'a Plan,
    /// The `--source-dir` tree as it was read to plan, to name what changed in it since.
    planned_tree: Option<TreeDigest>,
    options: &'a BuildOptions,
    reporter: Arc<dyn Reporter>,
    base_id: String,
    /// The identity of the cache, labelled on every step image it commits.
    cache_id: String,
    /// Where this build writes its output set: a staging directory beside `options.out_dir`.
    out_dir: PathBuf,
    fetcher: Fetcher,
    steps_cache: StepCache,
    session: incremental_run::Session,
    /// The step images this build's commits took the tags of (see [`ReplacedImages`]).
    replaced: &'a ReplacedImages,
}

impl<'a> Builder<'a> {
    fn new(
        engine: Engine,
        (plan, planned_tree): (&'a Plan, Option<TreeDigest>),
        options: &'a BuildOptions,
        reporter: Arc<dyn Reporter>,
        base_id: String,
        (cache_id, replaced): (String, &'a ReplacedImages),
        out_dir: PathBuf,
    ) -> Self {
        Self {
            fetcher: Fetcher::new(options.cache.clone(), reporter.clone(), Default::default()),
            steps_cache: StepCache::new(&options.cache),
            engine,
            plan,
            planned_tree,
            options,
            reporter,
            base_id,
            cache_id,
            out_dir,
            session: Default::default(),
            replaced,
        }
    }

    async fn run(&self) -> Result<BuildOutcome, BuildError> {
        let started = Instant::now();
        if self.options.incremental {
            self.run_incremental(started).await
        } else {
            self.run_clean(started).await
        }
    }

    async fn run_clean(&self, started: Instant) -> Result<BuildOutcome, BuildError> {
        let total = self.plan.steps.len();

        let (resume_at, mut parent_image) = self.cached_prefix().await;
        let mut outcomes = self.skipped(0..resume_at, true);

        // Fetch what the remaining steps need before any of them runs: a bad mirror or checksum
        // fails in a second, not after the package step.
        for step in &self.plan.steps[resume_at..] {
            self.prefetch(step).await?;
        }
        if resume_at == total {
            if let Some(done) = meta::reuse_artifact(self, &outcomes, started).await? {
                return Ok(done);
            }
        }
        for (i, step) in self.plan.steps.iter().enumerate().skip(resume_at) {
            let t = Instant::now();
            parent_image = self.run_step(i, step, &parent_image).await?;
            outcomes.push(StepOutcome {
                name: step.name.clone(),
                key: step.key.clone(),
                cache_hit: false,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
        meta::finish_artifact(self, &parent_image, &outcomes, started).await
    }

    /// Where a build resumes: after the latest step the step cache holds for this plan on this base
    /// image, as (steps cached, image to go on from); the base image itself under `--no-cache`.
    /// Keys chain, so a hit implies every earlier step, and the whole chain is marked used.
    async fn cached_prefix(&self) -> (usize, String) {
        if !self.options.no_cache {
            for (i, step) in self.plan.steps.iter().enumerate().rev() {
                if let Some(entry) = self
                    .steps_cache
                    .lookup(&self.engine, &step.key, &self.base_id)
                    .await
                {
                    let chain = self.plan.steps[..=i].iter().map(|s| s.key.as_str());
                    self.steps_cache.touch_chain(chain);
                    return (i + 1, entry.image_id);
                }
            }
        }
        (0, self.base_id.clone())
    }

    /// Outcomes for steps taken as they are (from the record's image or the cache).
    /// `report` tells the user about each (false when it is not yet sure they will be used) and
    /// puts the log of the run that made it in the output set's `logs/`.
    fn skipped(&self, range: std::ops::Range<usize>, report: bool) -> Vec<StepOutcome> {
        let total = self.plan.steps.len();
        self.plan.steps[range.clone()]
            .iter()
            .zip(range)
            .map(|(s, i)| {
                if report {
                    self.reporter.report(Event::StepCached {
                        index: i + 1,
                        total,
                        name: s.name.clone(),
                    });
                    self.restore_logs(i..i + 1);
                }
                StepOutcome {
                    name: s.name.clone(),
                    key: s.key.clone(),
                    cache_hit: true,
                    seconds: 0.0,
                }
            })
            .collect()
    }

    /// Puts the kept logs of the steps in `range`, taken from the cache, in the output set's `logs/`.
    fn restore_logs(&self, range: std::ops::Range<usize>) {
        for (step, i) in self.plan.steps[range.clone()].iter().zip(range) {
            self.steps_cache
                .restore_log(&step.key, &self.log_path(i, step));
        }
    }

    /// `host:container` bind mounts of `step`'s caches, creating the host directories; all but the
    /// package cache, which [`CacheDir::mount_packages`] gives with its lock.
    fn binds(&self, step: &PlanStep) -> Result<Vec<String>, BuildError> {
        let cache = &self.options.cache;
        let distro = &self.plan.recipe.distro;
        step.caches
            .iter()
            .filter_map(|mount| match mount.cache {
                CacheKind::Ccache => Some((cache.ccache(&self.plan.recipe.name, distro), mount)),
                CacheKind::Maven => Some((cache.maven(distro), mount)),
                CacheKind::Packages => None,
            })
            .map(|(host, mount)| {
                std::fs::create_dir_all(&host)
                    .map_err(BuildError::io("creating the cache directory", &host))?;
                let host = host
                    .canonicalize()
                    .map_err(BuildError::io("resolving the cache directory", &host))?;
                Ok(format!("{}:{}", host.display(), mount.target))
            })
            .collect()
    }
}
