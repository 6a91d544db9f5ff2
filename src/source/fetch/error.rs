//! What can go wrong when fetching a source, worded for the person who has to fix it: each
//! message names the file and every URL or mirror tried, with the digests of a mismatch, and
//! says how to add a mirror when nothing worked.

use std::io;
use std::path::PathBuf;

use crate::source::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url}: sha256 mismatch: expected {expected}, received {received}; the file was not used"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        received: String,
    },
    #[error("{}", list_failures(file_name, attempts))]
    AllSourcesFailed {
        file_name: String,
        /// Each source tried, and why it failed.
        attempts: Vec<(String, String)>,
    },
    #[error(
        "{file_name}: nowhere to fetch it from: upstream downloads are off and no mirror was given; {MIRROR_HINT}"
    )]
    NoSources { file_name: String },
    #[error("{file_name}: expected sha256 {value:?} is not 64 hex digits")]
    BadChecksum { file_name: String, value: String },
    #[error("cannot use {path} in the download cache: {source}")]
    Cache { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
}

const MIRROR_HINT: &str =
    "add a mirror that has it with `--mirror URL|DIR` or BAKER_MIRRORS=\"URL|DIR ...\"";

fn list_failures(file_name: &str, attempts: &[(String, String)]) -> String {
    let mut text = format!("could not fetch {file_name} from any source:\n");
    for (source, why) in attempts {
        text.push_str(&format!("  - {source}: {why}\n"));
    }
    text.push_str(MIRROR_HINT);
    text
}
