//! Why a build stopped, with what failed and where: the recipe or selection, the engine call, the
//! download, or the step with its exit code, the end of its log, the log's path and the recipe's
//! advice for what the log shows. [`BuildError::Interrupted`] is the build's own answer to the
//! cancellation its caller passed in; the CLI maps it to exit status 130.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::offline::{Offline, missing_base};
use crate::artifact::ArtifactError;
use crate::cache::CacheLockError;
use crate::engine::EngineError;
use crate::recipe::{Hint, RecipeError};
use crate::source::fetch::FetchError;
use crate::source::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Boxed: a recipe error carries the text around its place, and builds that fail are rare.
    #[error(transparent)]
    Recipe(Box<RecipeError>),

    #[error(transparent)]
    Lock(#[from] LockError),

    #[error("cannot read the source directory {}: {source}", path.display())]
    SourceDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "--incremental needs --source-dir: it reuses the build tree of a local source directory"
    )]
    IncrementalNeedsTree,

    /// The stage the build is for cannot use its plan (see `BuildRequest::plan_check`): nothing
    /// was built.
    #[error("{0}")]
    RefusedByNextStage(String),

    /// The `--source-dir` tree is not the tree the plan's keys were made from: building it would
    /// cache its result under the keys of the tree as planned.
    #[error(
        "the source tree {} changed during the build: {} is not as baker read it when it planned the build, so nothing was built from the tree or cached for it; run the build again (a file written into the tree while baker runs, such as a log redirected there, changes it: write it outside the tree)",
        tree.display(),
        file.as_deref().map_or_else(|| "a file".to_owned(), |f| format!("`{f}`"))
    )]
    SourceChanged {
        tree: PathBuf,
        /// The first path (in sorted order) that differs, when baker can tell which.
        file: Option<String>,
    },

    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error("{}", missing_base(.image, .how_to_make.as_deref(), .source, .offline.as_deref()))]
    BaseImage {
        image: String,
        how_to_make: Option<String>,
        source: Box<EngineError>,
        /// What the build reaches after the image and which recipes have theirs here; `None` where
        /// the caller did not look (an image's OS layer).
        offline: Option<Box<Offline>>,
    },

    #[error(transparent)]
    Fetch(#[from] FetchError),

    /// Boxed: the excerpt of its log is large and failures are rare.
    #[error("{0}")]
    StepFailed(Box<StepFailure>),

    #[error("the output directory {} (--out) exists and is not a directory; name a directory, or remove the file", path.display())]
    OutNotDirectory { path: PathBuf },

    #[error("the output directory {} (--out) is the --source-dir tree itself: each build's tarball would be part of the next one's source; name a folder inside the tree (the default ./out is left out of it) or outside it", path.display())]
    OutIsSourceTree { path: PathBuf },

    #[error(
        "the output directory {} (--out) holds {names}, which no baker build wrote there, and a build's set has members of those names: name another directory, or move them",
        path.display()
    )]
    OutHoldsOthers { path: PathBuf, names: String },

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Artifact(#[from] ArtifactError),

    #[error(transparent)]
    CacheLock(#[from] CacheLockError),

    #[error(
        "interrupted; containers removed, finished steps stay cached and the next build resumes after them{}",
        logs_kept(.logs)
    )]
    Interrupted {
        /// Where the interrupted run's step logs were kept (`<out>.failed/logs`), when it had any.
        logs: Option<PathBuf>,
    },
}

impl From<RecipeError> for BuildError {
    fn from(e: RecipeError) -> Self {
        Self::Recipe(Box::new(e))
    }
}

impl BuildError {
    /// Points a failed step's log at `<failed>/logs/…`, where a failed build's logs are kept.
    pub(super) fn moved_logs(&mut self, failed: &std::path::Path) {
        match self {
            Self::StepFailed(f) => {
                if let Some(name) = f.log.file_name() {
                    f.log = failed.join("logs").join(name);
                }
            }
            Self::Interrupted { logs } => *logs = Some(failed.join("logs")),
            _ => {}
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}

/// The end of the interrupted build's message: where its logs are, if it kept any.
fn logs_kept(logs: &Option<PathBuf>) -> String {
    logs.as_ref()
        .map(|l| format!("; this run's step logs are in {}", l.display()))
        .unwrap_or_default()
}

/// A step that exited non-zero or ran over its timeout, with the excerpt of its log.
#[derive(Debug)]
pub struct StepFailure {
    pub step: String,
    pub index: usize,
    pub total: usize,
    pub exit_code: i64,
    /// Set when the step was killed for running longer than this many seconds.
    pub timed_out_after: Option<u64>,
    /// The first line of the log that reports an error (`error`/`Error`), which with `make -j` is
    /// often far above the tail.
    pub first_error: Option<String>,
    pub tail: Vec<String>,
    pub log: PathBuf,
    pub hints: Vec<(Hint, String)>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            step, index, total, ..
        } = self;
        let mut s = match self.timed_out_after {
            Some(limit) => format!(
                "step {index}/{total} `{step}` ran over its timeout of {} and was killed \
                 (raise `timeout` in the recipe's step, or pass --step-timeout)",
                humantime::format_duration(std::time::Duration::from_secs(limit))
            ),
            None => format!(
                "step {index}/{total} `{step}` failed with exit code {}",
                self.exit_code
            ),
        };
        if self.timed_out_after.is_none() && self.exit_code == 137 {
            s.push_str(" (killed: out of memory, or the container was stopped)");
        }
        if let Some(line) = &self.first_error {
            let _ = write!(s, "\n  first error in its log:\n  | {line}");
        }
        let _ = write!(s, "\n  last {} lines of its log:", self.tail.len());
        for line in &self.tail {
            let _ = write!(s, "\n  | {line}");
        }
        let _ = write!(s, "\n  full log: {}", self.log.display());
        for (hint, line) in &self.hints {
            let _ = write!(
                s,
                "\n  hint: {}\n        (the log says: {line})",
                hint.advice
            );
        }
        f.write_str(&s)
    }
}
