//! Which source a file comes from: mirrors before upstream, retries of a server error or a stall,
//! moving on past a 404, a dead mirror or a silent one, and errors that list every source tried.

use super::*;

#[tokio::test]
async fn an_unreachable_mirror_is_skipped_for_a_directory_mirror() {
    // A port bound and not listening: connecting is refused, and no other test can take it.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = format!("http://{}/dist", closed.local_addr().unwrap());
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

    let got = env.fetch_pinned(&urls, &sha(&bytes)).await;
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

    let got = env.fetch_pinned(&urls, &sha(&bytes)).await;
    assert_eq!(got.from, urls[1]);
    assert_eq!(server.requests("/missing/x").len(), 1);
    assert_eq!(env.retries(), 0);
}

#[tokio::test]
async fn a_stalled_response_times_out_and_is_retried() {
    let server = TestServer::start();
    let bytes = body(4000, 8);
    server.serve(PATH, &bytes);
    server.fault(PATH, Fault::Stall(Duration::from_secs(5)));
    let env = Env::new();
    let urls = [server.url(PATH)];
    // Long enough for the retry's head and body, written apart, on a loaded machine.
    let impatient = FetchPolicy {
        read_timeout: Duration::from_secs(1),
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
    // Long enough for the good upstream to answer on a loaded machine, short against the silence.
    let impatient = FetchPolicy {
        response_timeout: Duration::from_secs(2),
        ..quick()
    };

    let started = std::time::Instant::now();
    let got = env
        .fetcher(impatient)
        .fetch(&pinned(&urls, &sha(&bytes)), &mirrors, true)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
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
    assert!(error.contains("no response within 2s"), "{error}");
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
    std::fs::create_dir(&dir).unwrap();
    let nowhere = env.dir.path().join("nowhere");
    let mirrors = [Mirror::Dir(dir.clone()), Mirror::Dir(nowhere.clone())];
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
    assert_eq!(attempts.len(), 4);
    let message = err.to_string();
    for needle in [
        NAME,
        &dir.display().to_string(),
        "not found",
        &urls[0],
        "404",
        &urls[1],
        &format!("the mirror folder {} does not exist", nowhere.display()),
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
