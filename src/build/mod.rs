//! `baker build`: run a plan's steps in containers on a Docker engine and turn the install step's
//! tree into a reproducible tarball with a manifest.
//!
//! Each step runs in a fresh container made from the previous step's committed image; its result is
//! committed as `baker-step:<key>` and indexed in the step cache. A build first looks for the latest
//! step whose key is cached and resumes after it, so an unchanged rebuild runs nothing, a changed
//! source reruns from the source step on (where the compiler cache makes `make` cheap), and an
//! interrupted build resumes at its first unfinished step. The finished tarball is also kept in the
//! cache by install-step key, so a no-change rebuild only copies it.

pub mod container;
mod error;
mod gather;
mod inputs;
mod meta;
mod step_cache;
mod step_log;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bollard::Docker;
use futures_util::StreamExt;

pub use container::{Janitor, OWNER_LABEL};
pub use error::BuildError;
pub use gather::{has_unlocked_inputs, lock_unpinned};
pub use step_cache::{STEP_REPO, StepCache, StepEntry};

use crate::artifact::{ArtifactFile, Manifest};
use crate::cache::CacheDir;
use crate::plan::{Plan, PlanStep};
use crate::progress::{Event, Reporter};
use crate::recipe::{Base, CacheKind};
use crate::source::fetch::Fetcher;
use crate::source::mirror::Mirror;

use container::{Container, ContainerSpec, labels};
use step_log::{StepLog, matching_hints};

pub struct BuildOptions {
    pub cache: CacheDir,
    pub out_dir: PathBuf,
    /// `make -j` parallelism, passed as `BAKER_JOBS` (never part of a key).
    pub jobs: usize,
    /// Tried before the recipe's own URLs.
    pub mirrors: Vec<Mirror>,
    /// Whether the recipe's own URLs may be used after the mirrors.
    pub upstream: bool,
    /// Ignore the step cache and run every step (results are still recorded).
    pub no_cache: bool,
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
    pub artifact: ArtifactFile,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub steps: Vec<StepOutcome>,
}

pub struct Builder<'a> {
    docker: Docker,
    plan: &'a Plan,
    options: &'a BuildOptions,
    reporter: Arc<dyn Reporter>,
    janitor: Janitor,
    fetcher: Fetcher,
    steps_cache: StepCache,
}

impl<'a> Builder<'a> {
    pub fn new(
        docker: Docker,
        plan: &'a Plan,
        options: &'a BuildOptions,
        reporter: Arc<dyn Reporter>,
        janitor: Janitor,
    ) -> Self {
        Self {
            fetcher: Fetcher::new(options.cache.clone(), reporter.clone(), Default::default()),
            steps_cache: StepCache::new(&options.cache.steps()),
            docker,
            plan,
            options,
            reporter,
            janitor,
        }
    }

    pub async fn run(&self) -> Result<BuildOutcome, BuildError> {
        let started = Instant::now();
        let base_id = self.base_image().await?;
        let total = self.plan.steps.len();

        // Resume after the latest cached step; keys chain, so a hit implies every earlier step.
        let mut resume_at = 0;
        let mut parent_image = base_id.clone();
        if !self.options.no_cache {
            for (i, step) in self.plan.steps.iter().enumerate().rev() {
                if let Some(entry) = self
                    .steps_cache
                    .lookup(&self.docker, &step.key, &base_id)
                    .await
                {
                    resume_at = i + 1;
                    parent_image = entry.image_id;
                    break;
                }
            }
        }
        let mut outcomes: Vec<StepOutcome> = self.plan.steps[..resume_at]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.reporter.report(Event::StepCached {
                    index: i + 1,
                    total,
                    name: s.name.clone(),
                });
                StepOutcome {
                    name: s.name.clone(),
                    key: s.key.clone(),
                    cache_hit: true,
                    seconds: 0.0,
                }
            })
            .collect();

        // Fetch what the remaining steps need before any of them runs: a bad mirror or checksum
        // fails in a second, not after the package step.
        for step in &self.plan.steps[resume_at..] {
            self.prefetch(step).await?;
        }
        if resume_at == total {
            if let Some(done) = meta::reuse_artifact(self, &base_id, &outcomes, started).await? {
                return Ok(done);
            }
        }
        for (i, step) in self.plan.steps.iter().enumerate().skip(resume_at) {
            let t = Instant::now();
            parent_image = self.run_step(i, step, &parent_image, &base_id).await?;
            outcomes.push(StepOutcome {
                name: step.name.clone(),
                key: step.key.clone(),
                cache_hit: false,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
        meta::finish_artifact(self, &parent_image, &base_id, &outcomes, started).await
    }

    async fn base_image(&self) -> Result<String, BuildError> {
        ensure_base_image(&self.docker, &self.plan.base, self.reporter.as_ref()).await
    }

    /// Runs one step in a container from `parent`, commits and records it; returns the new image id.
    async fn run_step(
        &self,
        index: usize,
        step: &PlanStep,
        parent: &str,
        base_id: &str,
    ) -> Result<String, BuildError> {
        let total = self.plan.steps.len();
        let name = step.name.clone();
        self.reporter.report(Event::StepStarted {
            index: index + 1,
            total,
            name: name.clone(),
        });
        let started = Instant::now();
        let upload = self.upload_for(step).await?;

        let mut env = step.env.clone();
        env.insert("BAKER_JOBS".into(), self.options.jobs.to_string());
        let binds = self.binds(step)?;
        let unique = format!("{}-{}", std::process::id(), step_cache::now_nanos());
        let container = Container::create(
            &self.docker,
            &self.janitor,
            ContainerSpec {
                name: format!("baker-{}-{}-{unique}", self.plan.recipe.name, step.name),
                image: parent,
                cmd: inputs::command(step),
                workdir: &step.workdir,
                env: &env,
                binds,
                labels: labels(&[("baker.step", &step.name), ("baker.key", &step.key)]),
            },
        )
        .await
        .map_err(BuildError::docker(format!(
            "creating the container of step `{name}`"
        )))?;

        let result = self.execute(index, step, &container, upload).await;
        let outcome = match result {
            Ok(()) => {
                let image_env = self.image_env(base_id).await;
                let labels = labels(&[
                    ("baker.step", &step.name),
                    ("baker.key", &step.key),
                    ("baker.recipe", &self.plan.recipe.name),
                ]);
                container
                    .commit(STEP_REPO, &step.key, image_env, labels)
                    .await
                    .map_err(BuildError::docker(format!("committing step `{name}`")))
            }
            Err(e) => Err(e),
        };
        container.remove().await;
        let image_id = outcome?;
        self.steps_cache
            .record(&StepEntry {
                key: step.key.clone(),
                step: step.name.clone(),
                recipe: self.plan.recipe.name.clone(),
                image_id: image_id.clone(),
                base_image_id: base_id.to_owned(),
                created: step_cache::now(),
            })
            .map_err(BuildError::io(
                "recording the step cache entry in",
                self.options.cache.steps(),
            ))?;
        self.reporter.report(Event::StepFinished {
            index: index + 1,
            total,
            name,
            elapsed: started.elapsed(),
        });
        Ok(image_id)
    }

    /// Uploads the step's files, starts it, streams its output to its log and checks its exit code.
    async fn execute(
        &self,
        index: usize,
        step: &PlanStep,
        container: &Container,
        upload: Vec<u8>,
    ) -> Result<(), BuildError> {
        let during = |what: &str| BuildError::docker(format!("{what} step `{}`", step.name));
        container
            .upload(upload)
            .await
            .map_err(during("uploading the inputs of"))?;
        let log_path =
            self.options
                .out_dir
                .join("logs")
                .join(format!("{:02}-{}.log", index + 1, step.name));
        let mut log =
            StepLog::create(&log_path).map_err(BuildError::io("creating the log", &log_path))?;
        container.start().await.map_err(during("starting"))?;
        let mut output = container.follow_output();
        while let Some(chunk) = output.next().await {
            let chunk = chunk.map_err(during("reading the output of"))?;
            for line in log
                .push(&chunk)
                .map_err(BuildError::io("writing the log", &log_path))?
            {
                self.reporter.report(Event::StepLog {
                    name: step.name.clone(),
                    line,
                });
            }
        }
        let code = container.wait().await.map_err(during("waiting for"))?;
        let tail = log
            .finish()
            .map_err(BuildError::io("writing the log", &log_path))?;
        if code == 0 {
            return Ok(());
        }
        Err(BuildError::StepFailed {
            step: step.name.clone(),
            index: index + 1,
            total: self.plan.steps.len(),
            exit_code: code,
            tail,
            hints: matching_hints(&self.plan.hints, &log_path),
            log: log_path,
        })
    }

    /// The environment committed images keep: the base image's own, so no step's variables leak.
    async fn image_env(&self, base_id: &str) -> Vec<String> {
        self.docker
            .inspect_image(base_id)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.env)
            .unwrap_or_default()
    }

    fn binds(&self, step: &PlanStep) -> Result<Vec<String>, BuildError> {
        let cache = &self.options.cache;
        let distro = &self.plan.recipe.distro;
        step.caches
            .iter()
            .map(|mount| {
                let host = match mount.cache {
                    CacheKind::Ccache => cache.ccache(&self.plan.recipe.name, distro),
                    CacheKind::Packages => cache.packages(distro),
                    CacheKind::Maven => cache.maven(distro),
                };
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

/// The base image's id, pulling it when it is not present. Called before anything is downloaded, so
/// a missing base image is the first thing a user hears about, with how to make one locally.
pub async fn ensure_base_image(
    docker: &Docker,
    base: &Base,
    reporter: &dyn Reporter,
) -> Result<String, BuildError> {
    let image = &base.image;
    if let Ok(found) = docker.inspect_image(image).await {
        return Ok(found.id.unwrap_or_default());
    }
    reporter.report(Event::Note(format!("pulling base image {image}")));
    let (from_image, tag) = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .unwrap_or((image.as_str(), "latest"));
    let mut pull = docker.create_image(
        Some(bollard::query_parameters::CreateImageOptions {
            from_image: Some(from_image.to_owned()),
            tag: Some(tag.to_owned()),
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(item) = pull.next().await {
        item.map_err(|source| BuildError::BaseImage {
            image: image.clone(),
            how_to_make: base.how_to_make.clone(),
            source,
        })?;
    }
    let found = docker
        .inspect_image(image)
        .await
        .map_err(BuildError::docker(format!("inspecting {image}")))?;
    Ok(found.id.unwrap_or_default())
}
