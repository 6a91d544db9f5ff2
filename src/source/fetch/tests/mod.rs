//! The fetcher against a loopback server and local directories. This file holds the shared set-up
//! and the tests of caching, verification, the lock file and concurrent fetches of one file; the
//! choice of source and retries are in `sources`, resuming in `resume`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::test_server::{Fault, TestServer};
use super::*;
use crate::progress::Recorder;

mod resume;
mod sources;

const NAME: &str = "hello-2.10.tar.gz";
const PATH: &str = "/dist/hello-2.10.tar.gz";

fn quick() -> FetchPolicy {
    FetchPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(1),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that differ at every offset, so a wrongly resumed file cannot verify by accident.
fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

struct Env {
    dir: tempfile::TempDir,
    cache: CacheDir,
    events: Arc<Recorder>,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path().join("cache"));
        Self {
            dir,
            cache,
            events: Arc::default(),
        }
    }

    fn fetcher(&self, policy: FetchPolicy) -> Fetcher {
        Fetcher::new(self.cache.clone(), self.events.clone(), policy)
    }

    /// Fetches the file at `urls` pinned to `sha256` with the quick policy, no mirrors; it must succeed.
    async fn fetch_pinned(&self, urls: &[String], sha256: &str) -> Fetched {
        self.fetcher(quick())
            .fetch(&pinned(urls, sha256), &[], true)
            .await
            .unwrap()
    }

    /// Leaves `bytes` as the partial download of the file with `sha256`, as an interrupted run does.
    fn leave_partial(&self, sha256: &str, bytes: &[u8]) {
        std::fs::create_dir_all(self.cache.tmp()).unwrap();
        std::fs::write(self.cache.tmp().join(format!("{sha256}.partial")), bytes).unwrap();
    }

    fn files_in(&self, dir: PathBuf) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    fn retries(&self) -> usize {
        let events = self.events.0.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e, Event::DownloadRetry { .. }))
            .count()
    }
}

fn pinned<'a>(urls: &'a [String], sha256: &'a str) -> FetchRequest<'a> {
    FetchRequest {
        file_name: NAME,
        urls,
        expected: Expected::Sha256(sha256),
    }
}

#[tokio::test]
async fn downloads_verifies_and_serves_the_second_fetch_from_cache() {
    let server = TestServer::start();
    let bytes = body(600_000, 1);
    server.serve(PATH, &bytes);
    let env = Env::new();
    let fetcher = env.fetcher(quick());
    let urls = [server.url(PATH)];
    let hex = sha(&bytes);

    let got = fetcher
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert!(!got.cached);
    assert_eq!(got.path, env.cache.download(&hex));
    assert_eq!(got.from, urls[0]);
    assert_eq!(std::fs::read(&got.path).unwrap(), bytes);
    assert!(
        env.files_in(env.cache.tmp()).is_empty(),
        "no partial left behind"
    );

    let again = fetcher
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.path, got.path);
    assert_eq!(
        server.requests(PATH).len(),
        1,
        "the second fetch made no request"
    );
    let events = env.events.0.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::DownloadProgress { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::DownloadFinished { cached: true, .. }))
    );
}

#[tokio::test]
async fn a_wrong_checksum_names_url_expected_and_received_and_stores_nothing() {
    let server = TestServer::start();
    let bytes = body(1000, 2);
    server.serve(PATH, &bytes);
    let env = Env::new();
    let urls = [server.url(PATH)];
    let wrong = sha(b"something else");

    let err = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &wrong), &[], true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [&urls[0], &wrong, &sha(&bytes)] {
        assert!(message.contains(part.as_str()), "{message}");
    }
    assert!(env.files_in(env.cache.downloads()).is_empty());
    assert!(env.files_in(env.cache.tmp()).is_empty());
}

#[tokio::test]
async fn the_lock_records_the_first_download_and_rejects_different_bytes_later() {
    let server = TestServer::start();
    let first = body(3000, 9);
    server.serve(PATH, &first);
    let env = Env::new();
    let lock_path = env.dir.path().join("baker.lock");
    let urls = [server.url(PATH)];
    let req = FetchRequest {
        file_name: NAME,
        urls: &urls,
        expected: Expected::Lock {
            key_url: &urls[0],
            lock_path: &lock_path,
        },
    };

    let got = env.fetcher(quick()).fetch(&req, &[], true).await.unwrap();
    assert!(got.locked_now);
    assert_eq!(
        LockFile::load(&lock_path).unwrap().files[&urls[0]],
        sha(&first)
    );
    let again = env.fetcher(quick()).fetch(&req, &[], true).await.unwrap();
    assert!(again.cached && !again.locked_now);

    server.serve(PATH, &body(3000, 10));
    let elsewhere = Env::new();
    let err = elsewhere
        .fetcher(quick())
        .fetch(&req, &[], true)
        .await
        .unwrap_err();
    match err {
        FetchError::ChecksumMismatch { expected, .. } => assert_eq!(expected, sha(&first)),
        other => panic!("{other:?}"),
    }
    assert!(elsewhere.files_in(elsewhere.cache.downloads()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_of_one_file_both_succeed() {
    let server = TestServer::start();
    let bytes = body(2_000_000, 12);
    server.serve(PATH, &bytes);
    let env = Env::new();
    let urls = [server.url(PATH)];
    let hex = sha(&bytes);
    let (a, b) = (env.fetcher(quick()), env.fetcher(quick()));

    let req = pinned(&urls, &hex);
    let (one, two) = tokio::join!(a.fetch(&req, &[], true), b.fetch(&req, &[], true));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.path, two.path);
    assert_eq!(std::fs::read(one.path).unwrap(), bytes);
    assert!(env.files_in(env.cache.tmp()).is_empty());
}

#[tokio::test]
async fn a_corrupt_cached_file_is_fetched_again() {
    let server = TestServer::start();
    let bytes = body(2000, 13);
    server.serve(PATH, &bytes);
    let env = Env::new();
    let hex = sha(&bytes);
    std::fs::create_dir_all(env.cache.downloads()).unwrap();
    std::fs::write(env.cache.download(&hex), b"bit rot").unwrap();
    let urls = [server.url(PATH)];

    let got = env.fetch_pinned(&urls, &hex).await;
    assert!(!got.cached);
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
}
