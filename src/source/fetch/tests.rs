//! The fetcher against a loopback server and local directories: caching, verification, mirror
//! order, retries, resuming, the lock file and concurrent fetches of one file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::test_server::{Fault, TestServer};
use super::*;
use crate::progress::Recorder;

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
async fn an_unreachable_mirror_is_skipped_for_a_directory_mirror() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/dist", closed.local_addr().unwrap());
    drop(closed);
    let env = Env::new();
    let dir = env.dir.path().join("mirror");
    std::fs::create_dir(&dir).unwrap();
    let bytes = body(5000, 3);
    std::fs::write(dir.join(NAME), &bytes).unwrap();
    let mirrors = [Mirror::parse(&dead).unwrap(), Mirror::Dir(dir.clone())];
    let hex = sha(&bytes);

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&[], &hex), &mirrors, false)
        .await
        .unwrap();
    assert_eq!(got.from, dir.join(NAME).display().to_string());
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert_eq!(env.retries(), 2, "connection refused is retried");
}

#[tokio::test]
async fn a_500_is_retried_and_then_succeeds() {
    let server = TestServer::start();
    let bytes = body(2000, 4);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::Status(500));
    let env = Env::new();
    let urls = [server.url(PATH)];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &sha(&bytes)), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert_eq!(server.requests(PATH).len(), 2);
    assert_eq!(env.retries(), 1);
}

#[tokio::test]
async fn a_404_moves_on_to_the_next_url_without_retrying() {
    let server = TestServer::start();
    let bytes = body(2000, 5);
    server.serve("/good/x", &bytes);
    let env = Env::new();
    let urls = [server.url("/missing/x"), server.url("/good/x")];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &sha(&bytes)), &[], true)
        .await
        .unwrap();
    assert_eq!(got.from, urls[1]);
    assert_eq!(server.requests("/missing/x").len(), 1);
    assert_eq!(env.retries(), 0);
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_with_a_range_request() {
    let server = TestServer::start();
    let bytes = body(1_000_000, 6);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::DropAfter(300_000));
    let env = Env::new();
    let urls = [server.url(PATH)];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &sha(&bytes)), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    let seen = server.requests(PATH);
    assert_eq!(seen.len(), 2);
    let range = seen[1]
        .range
        .as_deref()
        .expect("the retry sent a Range header");
    assert!(
        range.starts_with("bytes=") && range != "bytes=0-",
        "{range}"
    );
}

#[tokio::test]
async fn a_later_run_resumes_the_partial_a_failed_run_left() {
    let server = TestServer::start();
    let bytes = body(1_000_000, 7);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::DropAfter(400_000));
    let env = Env::new();
    let urls = [server.url(PATH)];
    let hex = sha(&bytes);
    let once = FetchPolicy {
        attempts: 1,
        ..quick()
    };

    let err = env
        .fetcher(once)
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&urls[0]), "{err}");
    assert!(env.cache.tmp().join(format!("{hex}.partial")).exists());

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert!(server.requests(PATH)[1].range.is_some());
    assert!(env.files_in(env.cache.tmp()).is_empty());
}

#[tokio::test]
async fn a_stale_partial_that_does_not_verify_is_downloaded_again_from_scratch() {
    let server = TestServer::start();
    let bytes = body(50_000, 14);
    server.serve(PATH, &bytes);
    let env = Env::new();
    let hex = sha(&bytes);
    std::fs::create_dir_all(env.cache.tmp()).unwrap();
    std::fs::write(
        env.cache.tmp().join(format!("{hex}.partial")),
        body(1000, 99),
    )
    .unwrap();
    let urls = [server.url(PATH)];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    let seen = server.requests(PATH);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=1000-"));
    assert_eq!(seen[1].range, None, "the second try starts from scratch");
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_the_file() {
    let server = TestServer::start();
    let bytes = body(50_000, 15);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::IgnoreRange);
    let env = Env::new();
    let hex = sha(&bytes);
    std::fs::create_dir_all(env.cache.tmp()).unwrap();
    std::fs::write(
        env.cache.tmp().join(format!("{hex}.partial")),
        &bytes[..20_000],
    )
    .unwrap();
    let urls = [server.url(PATH)];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert_eq!(server.requests(PATH).len(), 1);
    assert_eq!(
        server.requests(PATH)[0].range.as_deref(),
        Some("bytes=20000-")
    );
}

#[tokio::test]
async fn a_stalled_response_times_out_and_is_retried() {
    let server = TestServer::start();
    let bytes = body(4000, 8);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::Stall(Duration::from_secs(3)));
    let env = Env::new();
    let urls = [server.url(PATH)];
    let impatient = FetchPolicy {
        read_timeout: Duration::from_millis(100),
        ..quick()
    };

    let got = env
        .fetcher(impatient)
        .fetch(&pinned(&urls, &sha(&bytes)), &[], true)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert_eq!(env.retries(), 1);
}

#[tokio::test]
async fn a_mirror_that_accepts_and_never_answers_is_given_up_for_the_next_one() {
    let server = TestServer::start();
    let bytes = body(4000, 16);
    server.serve("/silent/hello-2.10.tar.gz", &bytes);
    server.fault(
        "/silent/hello-2.10.tar.gz",
        Fault::Silent(Duration::from_secs(30)),
    );
    server.serve(PATH, &bytes);
    let env = Env::new();
    let mirrors = [Mirror::parse(&server.url("/silent")).unwrap()];
    let urls = [server.url(PATH)];
    let impatient = FetchPolicy {
        response_timeout: Duration::from_millis(300),
        ..quick()
    };

    let started = std::time::Instant::now();
    let got = env
        .fetcher(impatient)
        .fetch(&pinned(&urls, &sha(&bytes)), &mirrors, true)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(got.from, urls[0]);
    assert_eq!(
        server.requests("/silent/hello-2.10.tar.gz").len(),
        1,
        "a silent server is not asked again"
    );
    assert_eq!(env.retries(), 0);
    let events = env.events.0.lock().unwrap();
    let failed = events.iter().find_map(|e| match e {
        Event::DownloadFailed { url, error } => Some((url.clone(), error.clone())),
        _ => None,
    });
    let (url, error) = failed.expect("the silent mirror is reported");
    assert_eq!(url, server.url("/silent/hello-2.10.tar.gz"));
    assert!(error.contains("no response within 300ms"), "{error}");
    assert!(error.contains(RESPONSE_TIMEOUT_ENV), "{error}");
}

#[tokio::test]
async fn when_the_only_source_is_silent_the_error_says_it_did_not_answer() {
    let closed_after = Duration::from_secs(30);
    let server = TestServer::start();
    server.serve(PATH, b"x");
    server.fault(PATH, Fault::Silent(closed_after));
    let env = Env::new();
    let urls = [server.url(PATH)];
    let impatient = FetchPolicy {
        response_timeout: Duration::from_millis(200),
        ..quick()
    };

    let err = env
        .fetcher(impatient)
        .fetch(&pinned(&urls, &sha(b"x")), &[], true)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&urls[0]), "{message}");
    assert!(message.contains("no response within 200ms"), "{message}");
    assert!(message.contains("--mirror URL|DIR"), "{message}");
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

#[tokio::test]
async fn a_directory_mirror_comes_before_upstream() {
    let server = TestServer::start();
    let bytes = body(2500, 11);
    server.serve(PATH, &bytes);
    let env = Env::new();
    std::fs::write(env.dir.path().join(NAME), &bytes).unwrap();
    let mirrors = [Mirror::parse(&format!("file://{}", env.dir.path().display())).unwrap()];
    let urls = [server.url(PATH)];

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &sha(&bytes)), &mirrors, true)
        .await
        .unwrap();
    assert_eq!(got.from, env.dir.path().join(NAME).display().to_string());
    assert!(server.requests(PATH).is_empty());
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

    let got = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &hex), &[], true)
        .await
        .unwrap();
    assert!(!got.cached);
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
}

#[tokio::test]
async fn without_sources_the_error_says_how_to_add_a_mirror() {
    let env = Env::new();
    let urls = ["http://127.0.0.1:9/x".to_owned()];
    let err = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &sha(b"x")), &[], false)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::NoSources { .. }));
    assert!(err.to_string().contains("--mirror"), "{err}");
}

#[tokio::test]
async fn when_every_source_fails_the_error_lists_each_and_why() {
    let server = TestServer::start();
    server.serve("/bad/x", b"not the file");
    let env = Env::new();
    let dir = env.dir.path().join("empty");
    let mirrors = [Mirror::Dir(dir.clone())];
    let urls = [server.url("/missing/x"), server.url("/bad/x")];
    let hex = sha(b"the file");

    let err = env
        .fetcher(quick())
        .fetch(&pinned(&urls, &hex), &mirrors, true)
        .await
        .unwrap_err();
    let FetchError::AllSourcesFailed { attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts.len(), 3);
    let message = err.to_string();
    for needle in [
        NAME,
        &dir.display().to_string(),
        "not found",
        &urls[0],
        "404",
        &urls[1],
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    assert!(
        message.contains(&sha(b"not the file")) && message.contains(&hex),
        "{message}"
    );
    assert!(
        message.lines().last().unwrap().contains("--mirror URL|DIR"),
        "{message}"
    );
}
