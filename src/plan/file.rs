//! `plan.json`: the plan written beside the tarball, the contract every later stage starts from.
//! `baker image` and `baker launch` read it back instead of resolving the recipe again, so the file
//! is complete (inline file contents, role templates, probes, the image layer) and versioned: a
//! file from another format version is refused with what to do, not half-read.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::atomic_file::write_atomic;

/// The file name in a build's output directory.
pub const PLAN_FILE: &str = "plan.json";
/// The version of the file's shape; raised when a change would make older readers misread it.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the plan {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the plan {} is not a baker plan: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the plan {} has format {found}, and this baker reads format {PLAN_FORMAT}: \
         rebuild with this baker (`baker build`) or use the baker that wrote it",
        path.display()
    )]
    Format { path: PathBuf, found: String },
}

#[derive(Serialize)]
struct Written<'a> {
    format: u32,
    #[serde(flatten)]
    plan: &'a Plan,
}

#[derive(Deserialize)]
struct Read {
    #[serde(flatten)]
    plan: Plan,
}

/// Writes `plan` as pretty JSON with its format version, atomically.
pub fn write_plan(plan: &Plan, path: &Path) -> Result<(), PlanFileError> {
    write_atomic(path, plan_json(plan).as_bytes()).map_err(|source| PlanFileError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The text [`write_plan`] writes.
pub fn plan_json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(&Written {
        format: PLAN_FORMAT,
        plan,
    })
    .expect("a plan always serialises");
    text.push('\n');
    text
}

/// Reads a plan written by [`write_plan`], checking its format version first.
pub fn read_plan(path: &Path) -> Result<Plan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse = |source| PlanFileError::Parse {
        path: path.to_owned(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(parse)?;
    match value.get("format") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(PLAN_FORMAT)) => {}
        other => {
            return Err(PlanFileError::Format {
                path: path.to_owned(),
                found: other.map_or_else(|| "none".to_owned(), ToString::to_string),
            });
        }
    }
    let read: Read = serde_json::from_value(value).map_err(parse)?;
    Ok(read.plan)
}
