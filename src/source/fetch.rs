//! Getting a source file into the content-addressed download cache exactly once. A file whose
//! sha256 is known and already cached is used without touching the network; otherwise the user's
//! mirrors and then the recipe's URLs are tried in order, and the first copy whose sha256 matches
//! the pin (or, for an unpinned file, the lock file's entry) is renamed into
//! `downloads/sha256/<hex>`. Nothing unverified ever lands there. When every source fails, the
//! error lists each one and why, and says how to add a mirror.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::http::{self, Http};
use super::local;
use super::lock::LockFile;
use super::mirror::{Location, Mirror};
use super::partial::{Failure, Partial, Staged};
use crate::cache::CacheDir;
use crate::progress::{Event, Reporter};

mod error;

pub use error::FetchError;

/// How hard to try one URL.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Attempts per URL, the first included.
    pub attempts: u32,
    /// Wait before the first retry; it doubles for every further one.
    pub first_backoff: Duration,
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to its response headers. A server that accepts the
    /// connection and then says nothing is not retried: the fetch moves on to the next source.
    pub response_timeout: Duration,
    /// Longest wait for the next byte of a response before the attempt counts as failed.
    pub read_timeout: Duration,
}

/// Seconds (a decimal number) that replace the default response timeout, e.g. for tests that point
/// baker at a silent server, or for a mirror known to be slow to start answering.
pub const RESPONSE_TIMEOUT_ENV: &str = "BAKER_RESPONSE_TIMEOUT";

impl Default for FetchPolicy {
    /// The defaults, with the response timeout taken from `BAKER_RESPONSE_TIMEOUT` when it is set.
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(15),
            response_timeout: response_timeout_from_env().unwrap_or(Duration::from_secs(30)),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// `BAKER_RESPONSE_TIMEOUT` as a duration; a value that is not a positive number of seconds is
/// ignored with a warning, since a typo there should not stop a build.
fn response_timeout_from_env() -> Option<Duration> {
    let value = std::env::var(RESPONSE_TIMEOUT_ENV).ok()?;
    let seconds = value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero());
    if seconds.is_none() {
        tracing::warn!(
            "{RESPONSE_TIMEOUT_ENV}={value:?} is not a positive number of seconds; using the default"
        );
    }
    seconds
}

pub struct FetchRequest<'a> {
    /// The name mirrors know the file by.
    pub file_name: &'a str,
    /// The recipe's URL, then its own mirrors.
    pub urls: &'a [String],
    pub expected: Expected<'a>,
}

/// How the downloaded bytes are checked.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// A pinned sha256 (hex).
    Sha256(&'a str),
    /// No published checksum: the lock file's entry for `key_url` if there is one, else the first
    /// complete download is trusted and recorded there.
    Lock {
        key_url: &'a str,
        lock_path: &'a Path,
    },
}

#[derive(Debug, Clone)]
pub struct Fetched {
    /// The file in the download cache.
    pub path: PathBuf,
    pub sha256: String,
    /// The URL or mirror file it came from, or the cache path when it was already there.
    pub from: String,
    pub cached: bool,
    /// Its sha256 was recorded in the lock file by this fetch.
    pub locked_now: bool,
}

pub struct Fetcher {
    cache: CacheDir,
    client: reqwest::Client,
    reporter: Arc<dyn Reporter>,
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(cache: CacheDir, reporter: Arc<dyn Reporter>, policy: FetchPolicy) -> Self {
        let client = http::client(&policy);
        Self {
            cache,
            client,
            reporter,
            policy,
        }
    }

    /// Order: the user's mirrors in order, then (unless `upstream` is false) `req.urls` in order.
    pub async fn fetch(
        &self,
        req: &FetchRequest<'_>,
        mirrors: &[Mirror],
        upstream: bool,
    ) -> Result<Fetched, FetchError> {
        let expected = self.expected(req)?;
        if let Some(hex) = &expected {
            if let Some(hit) = self.cached(hex).await? {
                return Ok(hit);
            }
        }
        let upstream_urls = req.urls.iter().filter(|_| upstream);
        let sources: Vec<Location> = mirrors
            .iter()
            .map(|m| m.locate(req.file_name))
            .chain(upstream_urls.map(|url| Location::Url(url.clone())))
            .collect();
        if sources.is_empty() {
            return Err(FetchError::NoSources {
                file_name: req.file_name.to_owned(),
            });
        }
        let mut failures = Vec::new();
        for source in &sources {
            let from = source.to_string();
            tracing::debug!("{}: trying {from}", req.file_name);
            match self.try_source(source, expected.as_deref()).await {
                Ok(staged) => return self.finish(req, staged, from, expected.is_none()),
                Err(Rejected::Local(path, source)) => {
                    return Err(FetchError::Cache { path, source });
                }
                Err(Rejected::Failed { why, mismatch }) => {
                    self.reporter.report(Event::DownloadFailed {
                        url: from.clone(),
                        error: why.clone(),
                    });
                    failures.push((from, why, mismatch));
                }
            }
        }
        if let [(url, _, Some(received))] = failures.as_slice() {
            return Err(FetchError::ChecksumMismatch {
                url: url.clone(),
                expected: expected.unwrap_or_default(),
                received: received.clone(),
            });
        }
        Err(FetchError::AllSourcesFailed {
            file_name: req.file_name.to_owned(),
            attempts: failures.into_iter().map(|(s, why, _)| (s, why)).collect(),
        })
    }

    /// The sha256 the file must have, if it is known before downloading.
    fn expected(&self, req: &FetchRequest<'_>) -> Result<Option<String>, FetchError> {
        let value = match req.expected {
            Expected::Sha256(hex) => hex.to_owned(),
            Expected::Lock { key_url, lock_path } => {
                match LockFile::load(lock_path)?.files.remove(key_url) {
                    Some(hex) => hex,
                    None => return Ok(None),
                }
            }
        };
        let hex = value.trim().to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::BadChecksum {
                file_name: req.file_name.to_owned(),
                value,
            });
        }
        Ok(Some(hex))
    }

    /// The cached file for `hex`, re-hashed; a corrupted one is deleted so that it is fetched again.
    async fn cached(&self, hex: &str) -> Result<Option<Fetched>, FetchError> {
        let path = self.cache.download(hex);
        let file = path.clone();
        let digest = tokio::task::spawn_blocking(move || local::hash_file(&file))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match digest {
            Ok((sha256, bytes)) if sha256 == hex => {
                let from = path.display().to_string();
                self.reporter.report(Event::DownloadFinished {
                    url: from.clone(),
                    bytes,
                    cached: true,
                });
                Ok(Some(Fetched {
                    path,
                    sha256,
                    from,
                    cached: true,
                    locked_now: false,
                }))
            }
            Ok((sha256, _)) => {
                self.reporter.report(Event::Warning(format!(
                    "the cached download {} is corrupt (sha256 {sha256}); fetching it again",
                    path.display()
                )));
                std::fs::remove_file(&path).map_err(|source| FetchError::Cache { path, source })?;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FetchError::Cache { path, source }),
        }
    }

    /// Stages `source` and checks it against `expected`. A partial left by an earlier run may hold
    /// another server's bytes, so a resumed file that does not verify gets one more try from scratch.
    async fn try_source(
        &self,
        source: &Location,
        expected: Option<&str>,
    ) -> Result<Staged, Rejected> {
        let key = match expected {
            Some(hex) => hex.to_owned(),
            None => format!(
                "url-{}",
                &hex::encode(Sha256::digest(source.to_string()))[..32]
            ),
        };
        let tmp = self.cache.tmp();
        let mut tries = 0;
        loop {
            tries += 1;
            let staged = match source {
                Location::File(path) => {
                    let partial = Partial::scratch(&tmp, &key)
                        .map_err(|e| Rejected::Local(tmp.clone(), e))?;
                    let (from, reporter) = (path.clone(), Arc::clone(&self.reporter));
                    tokio::task::spawn_blocking(move || local::copy(&from, partial, &*reporter))
                        .await
                        .map_err(|e| Rejected::Local(tmp.clone(), io::Error::other(e)))??
                }
                Location::Url(url) => {
                    let partial =
                        Partial::claim(&tmp, &key).map_err(|e| Rejected::Local(tmp.clone(), e))?;
                    let http = Http {
                        client: &self.client,
                        policy: &self.policy,
                        reporter: self.reporter.as_ref(),
                    };
                    http::download(&http, url, partial).await?
                }
            };
            let Some(hex) = expected.filter(|hex| *hex != staged.sha256) else {
                return Ok(staged);
            };
            let again = staged.resumed_from > 0 && tries == 1;
            let received = staged.sha256.clone();
            staged.partial.discard();
            if !again {
                return Err(Rejected::Failed {
                    why: format!("sha256 mismatch: expected {hex}, received {received}"),
                    mismatch: Some(received),
                });
            }
        }
    }

    fn finish(
        &self,
        req: &FetchRequest<'_>,
        staged: Staged,
        from: String,
        lock_now: bool,
    ) -> Result<Fetched, FetchError> {
        let path = self.cache.download(&staged.sha256);
        if let Err(source) = staged.partial.install(&path) {
            return Err(FetchError::Cache { path, source });
        }
        let locked_now = match req.expected {
            Expected::Lock { key_url, lock_path } if lock_now => {
                LockFile::record(lock_path, key_url, &staged.sha256)?;
                true
            }
            _ => false,
        };
        self.reporter.report(Event::DownloadFinished {
            url: from.clone(),
            bytes: staged.bytes,
            cached: false,
        });
        Ok(Fetched {
            path,
            sha256: staged.sha256,
            from,
            cached: false,
            locked_now,
        })
    }
}

/// Why one source's file was not taken.
enum Rejected {
    Failed {
        why: String,
        /// The sha256 received, when the bytes arrived but did not match.
        mismatch: Option<String>,
    },
    Local(PathBuf, io::Error),
}

impl From<Failure> for Rejected {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Source(why) => Rejected::Failed {
                why,
                mismatch: None,
            },
            Failure::Local(path, e) => Rejected::Local(path, e),
        }
    }
}

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
