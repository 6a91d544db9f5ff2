//! One step of a build: a container from the parent step's image, the step's files uploaded, its
//! output streamed to its log and the reporter, its exit code checked, and its filesystem committed
//! as `baker-step:<key>` and recorded in the step cache. The container is removed whatever happens.

use std::time::Instant;

use futures_util::StreamExt;

use super::step_log::{StepLog, matching_hints};
use super::{BuildError, Builder, inputs, step_cache};
use crate::engine::labels::{KEY_LABEL, RECIPE_LABEL, STEP_LABEL, STEP_REPO};
use crate::engine::{Container, ContainerSpec};
use crate::plan::PlanStep;
use crate::progress::Event;

use step_cache::StepEntry;

impl Builder<'_> {
    /// Runs one step in a container from `parent`, commits and records it; returns the new image id.
    pub(super) async fn run_step(
        &self,
        index: usize,
        step: &PlanStep,
        parent: &str,
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

        let result = self.execute(index, step, &container, upload).await;
        let outcome = match result {
            Ok(()) => self.commit(step, &container).await,
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
                base_image_id: self.base_id.clone(),
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
        container.upload(upload).await?;
        let log_path =
            self.options
                .out_dir
                .join("logs")
                .join(format!("{:02}-{}.log", index + 1, step.name));
        let mut log =
            StepLog::create(&log_path).map_err(BuildError::io("creating the log", &log_path))?;
        container.start().await?;
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
        let code = container.wait().await?;
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

    /// Commits a finished step as `baker-step:<key>` with the base image's own environment, so no
    /// step's variables leak into the next; returns the image id.
    async fn commit(&self, step: &PlanStep, container: &Container) -> Result<String, BuildError> {
        let image_env = self
            .engine
            .image_env(&self.base_id)
            .await
            .unwrap_or_default();
        let labels = [
            (STEP_LABEL, step.name.as_str()),
            (KEY_LABEL, step.key.as_str()),
            (RECIPE_LABEL, self.plan.recipe.name.as_str()),
        ];
        Ok(container
            .commit(STEP_REPO, &step.key, image_env, &labels)
            .await?)
    }
}
