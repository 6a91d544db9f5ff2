//! One step of a build: a container from the parent step's image, the step's files uploaded, its
//! output streamed to its log and the reporter, its exit code and its time limit checked, and its
//! filesystem committed as `baker-step:<key>-<cache>` with the cache's label and recorded in the step
//! cache. The container is removed whatever happens (after a commit, in the background: the engine's
//! sweep at the end of the build waits for it). The container gets no variables of its own: the
//! step's script exports them (see [`inputs`]), so that the commit carries the base image's only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::error::StepFailure;
use super::gather::Upload;
use super::step_log::{StepLog, matching_hints};
use super::{BuildError, Builder, inputs, step_cache};
use crate::cache::CACHE_LABEL;
use crate::engine::labels::{KEY_LABEL, RECIPE_LABEL, STEP_LABEL, STEP_REPO, step_image, step_tag};
use crate::engine::{Container, ContainerSpec};
use crate::plan::PlanStep;
use crate::progress::Event;
use crate::recipe::CacheKind;

use step_cache::StepEntry;

impl Builder<'_> {
    /// Runs one step in a container from `parent`, commits and records it; returns the new image id.
    pub(super) async fn run_step(
        &self,
        index: usize,
        step: &PlanStep,
        parent: &str,
    ) -> Result<String, BuildError> {
        let started = Instant::now();
        let container = self.run_uncommitted(index, step, parent).await?;
        let outcome = self.commit(step, &container).await;
        tracing::debug!(step = %step.name, "committed");
        // The next step need not wait for the engine to delete this one's files.
        container.remove_in_background();
        let image_id = outcome?;
        if !step
            .key
            .starts_with(super::incremental_run::INCREMENTAL_KEY_PREFIX)
        {
            self.steps_cache
                .record(&StepEntry {
                    key: step.key.clone(),
                    step: step.name.clone(),
                    recipe: self.plan.recipe.name.clone(),
                    image_id: image_id.clone(),
                    base_image_id: self.base_id.clone(),
                    created: step_cache::now(),
                })
                .map_err(BuildError::io(
                    "recording the step cache entry in",
                    self.options.cache.steps(),
                ))?;
            (self.steps_cache).keep_log(&step.key, &self.log_path(index, step));
        }
        self.finished(index, step, started);
        Ok(image_id)
    }

    /// Runs one step in a container from `parent` and returns the stopped container, uncommitted,
    /// for the caller to read from and remove; on failure the container is removed here.
    pub(super) async fn run_uncommitted(
        &self,
        index: usize,
        step: &PlanStep,
        parent: &str,
    ) -> Result<Container, BuildError> {
        self.reporter.report(Event::StepStarted {
            index: index + 1,
            total: self.plan.steps.len(),
            name: step.name.clone(),
        });
        let upload = self.upload_for(step).await?;

        // The step's variables are exported by its script; see `inputs`.
        let env = std::collections::BTreeMap::new();
        let mut binds = self.binds(step)?;
        // Held until the step's container has run.
        let packages = match step.caches.iter().find(|c| c.cache == CacheKind::Packages) {
            Some(mount) => Some(
                (self.options.cache)
                    .mount_packages(
                        &self.plan.recipe.distro,
                        &mount.target,
                        self.reporter.as_ref(),
                    )
                    .await?,
            ),
            None => None,
        };
        binds.extend(packages.as_ref().map(|p| p.bind.clone()));
        let unique = format!("{}-{}", std::process::id(), step_cache::now_nanos());
        let container = self
            .engine
            .create_container(ContainerSpec {
                name: format!("baker-{}-{}-{unique}", self.plan.recipe.name, step.name),
                image: parent,
                cmd: inputs::command(step),
                workdir: &step.workdir,
                env: &env,
                binds,
                labels: &[(STEP_LABEL, &step.name), (KEY_LABEL, &step.key)],
            })
            .await?;
        tracing::debug!(step = %step.name, "container created");
        match self.execute(index, step, &container, upload).await {
            Ok(()) => Ok(container),
            Err(e) => {
                container.remove().await;
                Err(e)
            }
        }
    }

    /// Tells the reporter that step `index` ran to completion.
    pub(super) fn finished(&self, index: usize, step: &PlanStep, started: Instant) {
        self.reporter.report(Event::StepFinished {
            index: index + 1,
            total: self.plan.steps.len(),
            name: step.name.clone(),
            elapsed: started.elapsed(),
        });
    }

    /// Uploads the step's files, starts it, streams its output to its log and checks its exit code.
    async fn execute(
        &self,
        index: usize,
        step: &PlanStep,
        container: &Container,
        upload: Upload,
    ) -> Result<(), BuildError> {
        upload.send(container).await?;
        tracing::debug!(step = %step.name, "files uploaded");
        let log_path = self.log_path(index, step);
        let mut log =
            StepLog::create(&log_path).map_err(BuildError::io("creating the log", &log_path))?;
        container.start().await?;
        tracing::debug!(step = %step.name, "started");
        let run = async {
            let mut output = container.follow_output();
            while let Some(chunk) = output.next().await {
                for line in log
                    .push(&chunk?)
                    .map_err(BuildError::io("writing the log", &log_path))?
                {
                    self.reporter.report(Event::StepLog {
                        name: step.name.clone(),
                        line,
                    });
                }
            }
            Ok::<_, BuildError>(container.wait().await?)
        };
        let limit = self.step_timeout(step);
        let (code, timed_out_after) = match limit {
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(code) => (code?, None),
                Err(_) => (137, Some(limit.as_secs())),
            },
            None => (run.await?, None),
        };
        tracing::debug!(step = %step.name, code, "exited");
        let tail = log
            .finish()
            .map_err(BuildError::io("writing the log", &log_path))?;
        if code == 0 && timed_out_after.is_none() {
            return Ok(());
        }
        Err(BuildError::StepFailed(Box::new(StepFailure {
            step: step.name.clone(),
            index: index + 1,
            total: self.plan.steps.len(),
            exit_code: code,
            timed_out_after,
            first_error: log.first_error(),
            tail,
            hints: matching_hints(&self.plan.hints, &log_path),
            log: log_path,
        })))
    }

    /// Where the step at `index` writes its log in this build's output set.
    pub(super) fn log_path(&self, index: usize, step: &PlanStep) -> PathBuf {
        (self.out_dir.join("logs")).join(format!("{:02}-{}.log", index + 1, step.name))
    }

    /// How long `step` may run: `--step-timeout` when given, else the recipe's `timeout`.
    fn step_timeout(&self, step: &PlanStep) -> Option<Duration> {
        self.options
            .step_timeout
            .or(step.timeout_seconds.map(Duration::from_secs))
    }

    /// Commits a finished step as `baker-step:<key>-<cache>`, labelled with the cache's identity,
    /// with the base image's own environment; returns the image id.
    async fn commit(&self, step: &PlanStep, container: &Container) -> Result<String, BuildError> {
        let image_env = self.engine.image_env(&self.base_id).await?;
        let labels = [
            (STEP_LABEL, step.name.as_str()),
            (KEY_LABEL, step.key.as_str()),
            (RECIPE_LABEL, self.plan.recipe.name.as_str()),
            (CACHE_LABEL, self.cache_id.as_str()),
        ];
        let tag = step_tag(&step.key, &self.cache_id);
        let before = match self.options.no_cache {
            true => (self
                .engine
                .image_info(&step_image(&step.key, &self.cache_id))
                .await)
                .map(|info| info.id),
            false => None,
        };
        let id = container
            .commit(STEP_REPO, &tag, image_env, &labels)
            .await?;
        if let Some(old) = before.filter(|old| *old != id) {
            self.replaced.push(old);
        }
        Ok(id)
    }
}
