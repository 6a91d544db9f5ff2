//! A download cut short is resumed with a range request, in the same run or a later one, and
//! started again when the partial file cannot be trusted or the server ignores ranges.

use super::*;

#[tokio::test]
async fn a_dropped_connection_is_resumed_with_a_range_request() {
    let server = TestServer::start();
    let bytes = body(1_000_000, 6);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::DropAfter(300_000));
    let env = Env::new();
    let urls = [server.url(PATH)];

    let got = env.fetch_pinned(&urls, &sha(&bytes)).await;
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

    let got = env.fetch_pinned(&urls, &hex).await;
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
    env.leave_partial(&hex, &body(1000, 99));
    let urls = [server.url(PATH)];

    let got = env.fetch_pinned(&urls, &hex).await;
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
    env.leave_partial(&hex, &bytes[..20_000]);
    let urls = [server.url(PATH)];

    let got = env.fetch_pinned(&urls, &hex).await;
    assert_eq!(std::fs::read(got.path).unwrap(), bytes);
    assert_eq!(server.requests(PATH).len(), 1);
    assert_eq!(
        server.requests(PATH)[0].range.as_deref(),
        Some("bytes=20000-")
    );
}
