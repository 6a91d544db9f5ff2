//! Why a build stopped, with what failed and where: the recipe or selection, the engine call, the
//! download, or the step with its exit code, the end of its log, the log's path and the recipe's
//! advice for what the log shows. [`BuildError::Interrupted`] is the build's own answer to the
//! cancellation its caller passed in; the CLI maps it to exit status 130.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::artifact::ArtifactError;
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

    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error("{}", missing_base(.image, .how_to_make.as_deref(), .source, .needs, .offline))]
    BaseImage {
        image: String,
        how_to_make: Option<String>,
        source: Box<EngineError>,
        /// The upstream hosts the build would reach after the image (repositories, keys, sources).
        needs: Vec<String>,
        /// Other recipes whose base image is here, so they build without a registry.
        offline: Vec<String>,
    },

    #[error(transparent)]
    Fetch(#[from] FetchError),

    #[error("{}", failed_step(.step, *.index, *.total, *.exit_code, .tail, .log, .hints))]
    StepFailed {
        step: String,
        index: usize,
        total: usize,
        exit_code: i64,
        tail: Vec<String>,
        log: PathBuf,
        hints: Vec<(Hint, String)>,
    },

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Artifact(#[from] ArtifactError),

    #[error(
        "interrupted; containers removed, finished steps stay cached and the next build resumes after them"
    )]
    Interrupted,
}

impl From<RecipeError> for BuildError {
    fn from(e: RecipeError) -> Self {
        Self::Recipe(Box::new(e))
    }
}

impl BuildError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}

fn missing_base(
    image: &str,
    how_to_make: Option<&str>,
    source: &EngineError,
    needs: &[String],
    offline: &[String],
) -> String {
    let mut s = format!("base image `{image}` is neither present nor pullable: {source}");
    if let Some(h) = how_to_make {
        let _ = write!(s, "\nmake it locally: {h}");
    }
    if !needs.is_empty() {
        let _ = write!(
            s,
            "\nafter the image, this build also needs to reach: {} (or mirrors of them: --mirror, --recipes-dir)",
            needs.join(", ")
        );
    }
    if !offline.is_empty() {
        let _ = write!(
            s,
            "\nthese recipes have their base image here and build without a registry: {}",
            offline.join("; ")
        );
    }
    s
}

fn failed_step(
    step: &str,
    index: usize,
    total: usize,
    exit_code: i64,
    tail: &[String],
    log: &std::path::Path,
    hints: &[(Hint, String)],
) -> String {
    let mut s = format!("step {index}/{total} `{step}` failed with exit code {exit_code}");
    if exit_code == 137 {
        s.push_str(" (killed: out of memory, or the container was stopped)");
    }
    let _ = write!(s, "\n  last {} lines of its log:", tail.len());
    for line in tail {
        let _ = write!(s, "\n  | {line}");
    }
    let _ = write!(s, "\n  full log: {}", log.display());
    for (hint, line) in hints {
        let _ = write!(
            s,
            "\n  hint: {}\n        (the log says: {line})",
            hint.advice
        );
    }
    s
}
