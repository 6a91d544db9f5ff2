//! One URL, downloaded as well as the network allows: a connect timeout, a timeout for the response
//! headers (a server that accepts the connection and never answers is given up at once, not retried,
//! so that the next source is tried), a timeout on every read of the body, retries with doubling backoff on connection errors, timeouts, 5xx and 429 (never on 403/404,
//! which send the fetch on to the next source at once), and resuming with `Range: bytes=N-` from
//! whatever an earlier attempt or run left in the partial file. Bytes are hashed as they arrive.
//! Whether the result is the right file is decided by the caller, [`super::fetch`].

use std::io;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::fetch::{FetchPolicy, RESPONSE_TIMEOUT_ENV};
use super::partial::{Failure, Partial, Staged};
use crate::progress::{Event, Reporter};

/// Progress is reported at most once per this many bytes.
const PROGRESS_STEP: u64 = 256 * 1024;

pub(crate) fn client(policy: &FetchPolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(policy.connect_timeout)
        .user_agent(concat!("baker/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with only timeouts and a user agent set always builds")
}

/// What one downloader needs from the fetcher.
pub(crate) struct Http<'a> {
    pub client: &'a reqwest::Client,
    pub policy: &'a FetchPolicy,
    pub reporter: &'a dyn Reporter,
}

enum Attempt {
    Retry(String),
    Fatal(String),
    Local(io::Error),
}

/// Downloads `url` into `partial`, resuming from what it already holds. On failure the partial is
/// dropped, which keeps its bytes for the next source or run to resume.
pub(crate) async fn download(
    http: &Http<'_>,
    url: &str,
    partial: Partial,
) -> Result<Staged, Failure> {
    let local = |e| Failure::Local(partial.path().to_owned(), e);
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(partial.path())
        .await
        .map_err(local)?;
    let mut hasher = Sha256::new();
    let mut len = hash_existing(&mut file, &mut hasher).await.map_err(local)?;
    let resumed_from = len;
    let mut attempt = 1;
    loop {
        match once(http, url, &mut file, &mut hasher, &mut len).await {
            Ok(()) => break,
            Err(Attempt::Retry(why)) if attempt < http.policy.attempts => {
                let after = backoff(http.policy.first_backoff, attempt);
                http.reporter.report(Event::DownloadRetry {
                    url: url.to_owned(),
                    attempt,
                    after,
                    error: why,
                });
                tokio::time::sleep(after).await;
                attempt += 1;
            }
            Err(Attempt::Retry(why)) => {
                return Err(Failure::Source(format!(
                    "{why} (gave up after {attempt} attempts)"
                )));
            }
            Err(Attempt::Fatal(why)) => return Err(Failure::Source(why)),
            Err(Attempt::Local(e)) => return Err(local(e)),
        }
    }
    drop(file);
    Ok(Staged {
        partial,
        sha256: hex::encode(hasher.finalize()),
        bytes: len,
        resumed_from,
    })
}

/// One request: resume or restart, then stream the body into the file.
async fn once(
    http: &Http<'_>,
    url: &str,
    file: &mut File,
    hasher: &mut Sha256,
    len: &mut u64,
) -> Result<(), Attempt> {
    let mut request = http.client.get(url);
    if *len > 0 {
        request = request.header(RANGE, format!("bytes={len}-"));
    }
    let Ok(sent) = tokio::time::timeout(http.policy.response_timeout, request.send()).await else {
        let waited = http.policy.response_timeout;
        tracing::debug!("{url}: no response within {waited:?}; giving up on this source");
        return Err(Attempt::Fatal(format!(
            "no response within {waited:?} (the server did not answer; \
             {RESPONSE_TIMEOUT_ENV}=SECONDS sets this wait)"
        )));
    };
    let response = sent.map_err(classify)?;
    let status = response.status();
    if status == StatusCode::OK && *len > 0 {
        restart(file, hasher, len).await?;
    } else if (status == StatusCode::PARTIAL_CONTENT && range_start(&response) != Some(*len))
        || status == StatusCode::RANGE_NOT_SATISFIABLE
    {
        restart(file, hasher, len).await?;
        return Err(Attempt::Retry(format!(
            "HTTP {status} when resuming; starting over"
        )));
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Attempt::Retry(format!("HTTP {status}")));
    } else if !status.is_success() {
        return Err(Attempt::Fatal(format!("HTTP {status}")));
    }
    let total = response.content_length().map(|rest| rest + *len);
    http.reporter.report(Event::DownloadStarted {
        url: url.to_owned(),
        total,
    });

    let mut out = BufWriter::with_capacity(PROGRESS_STEP as usize, &mut *file);
    let mut stream = response.bytes_stream();
    let mut reported = *len;
    let streamed = loop {
        match tokio::time::timeout(http.policy.read_timeout, stream.next()).await {
            Err(_) => {
                break Err(Attempt::Retry(format!(
                    "no data for {:?}",
                    http.policy.read_timeout
                )));
            }
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(classify(e)),
            Ok(Some(Ok(chunk))) => {
                if let Err(e) = out.write_all(&chunk).await {
                    break Err(Attempt::Local(e));
                }
                hasher.update(&chunk);
                *len += chunk.len() as u64;
                if *len - reported >= PROGRESS_STEP {
                    reported = *len;
                    http.reporter.report(Event::DownloadProgress {
                        url: url.to_owned(),
                        bytes: *len,
                    });
                }
            }
        }
    };
    // Whatever arrived is kept on disk for the next attempt to resume from.
    out.flush().await.map_err(Attempt::Local)?;
    streamed?;
    match total {
        Some(total) if total != *len => Err(Attempt::Retry(format!(
            "connection closed after {len} of {total} bytes"
        ))),
        _ => Ok(()),
    }
}

async fn hash_existing(file: &mut File, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(len);
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

async fn restart(file: &mut File, hasher: &mut Sha256, len: &mut u64) -> Result<(), Attempt> {
    file.set_len(0).await.map_err(Attempt::Local)?;
    file.seek(io::SeekFrom::Start(0))
        .await
        .map_err(Attempt::Local)?;
    *hasher = Sha256::new();
    *len = 0;
    Ok(())
}

/// The first byte of a 206 response, from `Content-Range: bytes N-M/T`.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

fn backoff(first: Duration, attempt: u32) -> Duration {
    first.saturating_mul(1 << (attempt - 1).min(16))
}

/// A malformed URL or a redirect loop will not get better by retrying; anything else on the wire might.
fn classify(e: reqwest::Error) -> Attempt {
    let fatal = e.is_builder() || e.is_redirect();
    let e = e.without_url();
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        why.push_str(": ");
        why.push_str(&cause.to_string());
        source = cause.source();
    }
    if fatal {
        Attempt::Fatal(why)
    } else {
        Attempt::Retry(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_delay() {
        let first = Duration::from_millis(500);
        assert_eq!(backoff(first, 1), first);
        assert_eq!(backoff(first, 2), Duration::from_secs(1));
        assert_eq!(backoff(first, 4), Duration::from_secs(4));
        assert!(backoff(first, 1000) < Duration::from_secs(24 * 3600 * 365));
    }
}
