//! Whole bodies in memory, limits, `file://` and URL handling.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mirror_test_support::Fault;

use super::*;

#[tokio::test]
async fn fetch_get_stall_past_retries_reports_a_stall() {
    let body = content(10_000, 9);
    let up = upstream(&[("Release", &body)]);
    up.server.inject(
        "/Release",
        Fault::Stall {
            after_bytes: 10,
            times: 2,
        },
    );
    let options = FetchOptions {
        retries: 1,
        read_timeout: Duration::from_millis(100),
        ..fast_options()
    };
    let fetcher = Fetcher::new(options).expect("fetcher");
    let error = fetcher
        .get(&up.server.url_for("Release"), 1 << 20)
        .await
        .expect_err("stalls");
    assert!(matches!(error, FetchError::Stalled { .. }), "{error:?}");
    assert!(error.to_string().contains("/Release"), "{error}");
}

#[tokio::test]
async fn fetch_limit_exceeded_is_too_large() {
    let body = content(5_000, 10);
    let up = upstream(&[("Packages", &body)]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let url = up.server.url_for("Packages");
    let error = fetcher.get(&url, 4_999).await.expect_err("too large");
    assert!(
        matches!(&error, FetchError::TooLarge { limit: 4_999, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&url));
    assert_eq!(fetcher.get(&url, 5_000).await.expect("fits").len(), 5_000);
}

#[tokio::test]
async fn fetch_file_urls_are_decoded_verified_and_limited() {
    let body = content(20_000, 11);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a b+c.deb");
    std::fs::write(&path, &body).expect("write");
    let url = url::Url::from_file_path(&path)
        .expect("absolute path")
        .to_string();
    assert!(url.contains("a%20b"), "{url}");
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path()).expect("store");
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");

    assert_eq!(
        fetcher.get(&url, 1 << 20).await.expect("get").as_ref(),
        body.as_slice()
    );
    assert!(matches!(
        fetcher.get(&url, 100).await,
        Err(FetchError::TooLarge { limit: 100, .. })
    ));
    let missing = url.replace("a%20b", "nothing");
    assert_eq!(
        fetcher.get_optional(&missing, 100).await.expect("optional"),
        None
    );

    let mut wrong = expected(&body);
    wrong.sha256 = Sha256Digest::of(b"something else");
    let error = fetcher
        .fetch_object(&url, wrong, store.objects(), &NoReporter)
        .await
        .expect_err("digest");
    assert!(matches!(error, FetchError::Verify { .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
    assert!(store.objects().list().expect("list").is_empty());

    let reporter = CountingReporter::default();
    let fetched = fetcher
        .fetch_object(&url, expected(&body), store.objects(), &reporter)
        .await
        .expect("copy");
    assert_eq!(fetched, Fetched::Downloaded { bytes: 20_000 });
    assert_eq!(reporter.0.load(Ordering::Relaxed), 20_000);
    assert_eq!(
        store
            .objects()
            .read(&Sha256Digest::of(&body))
            .expect("object"),
        body
    );
}

#[tokio::test]
async fn fetch_rejects_other_schemes_and_bad_urls() {
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let error = fetcher
        .get("ftp://host/file", 10)
        .await
        .expect_err("scheme");
    assert!(
        matches!(error, FetchError::UnsupportedScheme { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("ftp://host/file"));
    let error = fetcher.get("not a url", 10).await.expect_err("parse");
    assert!(matches!(error, FetchError::InvalidUrl { .. }), "{error:?}");
    let error = fetcher
        .get("file://remote-host/x", 10)
        .await
        .expect_err("remote");
    assert!(
        matches!(error, FetchError::NotLocalFile { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_trickling_body_is_too_slow_and_an_endless_one_meets_its_deadline() {
    // 10 bytes every 20 ms: never silent for the read timeout, but 500 B/s.
    let body = content(100_000, 3);
    let up = upstream(&[("Packages", &body), ("pool.deb", &body)]);
    for path in ["/Packages", "/pool.deb"] {
        up.server.inject_always(
            path,
            Fault::Trickle {
                bytes: 10,
                every: Duration::from_millis(20),
            },
        );
    }
    let options = FetchOptions {
        retries: 1,
        min_rate: 10_000,
        rate_window: Duration::from_millis(200),
        ..fast_options()
    };
    let fetcher = Fetcher::new(options.clone()).expect("fetcher");
    let started = std::time::Instant::now();
    let error = fetcher
        .get(&up.server.url_for("Packages"), 1 << 20)
        .await
        .expect_err("too slow");
    assert!(matches!(error, FetchError::TooSlow { .. }), "{error:?}");
    assert!(error.to_string().contains("min_rate"), "{error}");
    assert!(error.is_retryable());
    assert_eq!(up.server.requests().len(), 2, "retried once, like a stall");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The same for an object download (the resumable path).
    let error = up
        .fetch(&fetcher, "pool.deb", &body)
        .await
        .expect_err("too slow");
    assert!(error.to_string().contains("too slow"), "{error}");

    // Fast enough, but longer than the deadline allows.
    let options = FetchOptions {
        retries: 0,
        min_rate: 0,
        request_deadline: Duration::from_millis(300),
        ..options
    };
    let fetcher = Fetcher::new(options).expect("fetcher");
    let error = fetcher
        .get(&up.server.url_for("Packages"), 1 << 20)
        .await
        .expect_err("deadline");
    assert!(error.to_string().contains("request_deadline"), "{error}");
}

/// Issue 28, item 1: credentials go only to URLs under their prefix, also after a redirect
/// on the same host; a redirect inside the prefix, or to another host (where reqwest
/// drops the header), is followed.
#[tokio::test]
async fn credentials_never_follow_a_redirect_out_of_their_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["debian/pool", "debian/moved", "elsewhere"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
    }
    std::fs::write(dir.path().join("debian/moved/a.deb"), b"inside").expect("write");
    std::fs::write(dir.path().join("elsewhere/a.deb"), b"outside").expect("write");
    let server = TestServer::serve_dir(dir.path());
    let base = server.url_for("debian");
    let credential = Credential::for_machine(
        &format!("{}/debian", server.url().trim_start_matches("http://")),
        Secret::Bearer("t0ken".into()),
    )
    .expect("entry");
    let fetcher = Fetcher::new(FetchOptions {
        credentials: Credentials::new(vec![credential]),
        ..fast_options()
    })
    .expect("fetcher");

    // Inside the prefix: followed, with the token.
    server.inject(
        "/debian/pool/a.deb",
        Fault::Redirect {
            status: 302,
            location: "/debian/moved/a.deb".into(),
        },
    );
    let body = fetcher
        .get(&format!("{base}/pool/a.deb"), 1 << 20)
        .await
        .expect("redirect inside the prefix");
    assert_eq!(&body[..], b"inside");

    // Out of it on the same host: refused before any request reaches /elsewhere.
    for status in [301, 302, 307, 308] {
        server.clear_requests();
        server.inject(
            "/debian/pool/a.deb",
            Fault::Redirect {
                status,
                location: "/elsewhere/a.deb".into(),
            },
        );
        let error = fetcher
            .get(&format!("{base}/pool/a.deb"), 1 << 20)
            .await
            .expect_err("redirect out of the prefix");
        let message = error.to_string();
        let chain = format!("{message}: {:?}", std::error::Error::source(&error));
        assert!(
            chain.contains("leaves the URL prefix") && chain.contains("/elsewhere/a.deb"),
            "{chain}"
        );
        assert!(!chain.contains("t0ken"), "{chain}");
        assert!(!error.is_retryable());
        let log = server.request_log();
        assert!(
            log.iter().all(|r| !r.path.starts_with("/elsewhere")),
            "{log:?}"
        );
        assert!(
            log.iter()
                .all(|r| r.path.starts_with("/debian/") || r.authorization.is_none()),
            "{log:?}"
        );
    }

    // Without credentials a redirect anywhere is followed as before.
    let plain = Fetcher::new(fast_options()).expect("fetcher");
    server.inject(
        "/debian/pool/a.deb",
        Fault::Redirect {
            status: 302,
            location: "/elsewhere/a.deb".into(),
        },
    );
    let body = plain
        .get(&format!("{base}/pool/a.deb"), 1 << 20)
        .await
        .expect("no credentials, no restriction");
    assert_eq!(&body[..], b"outside");
}

/// Issue 28, item 8: a FIFO or a device in a `file://` upstream fails the fetch at once
/// (it used to block for ever with the store's lock held).
#[tokio::test]
async fn a_file_upstream_refuses_fifos_and_devices_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("InRelease");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    let zero = dir.path().join("a.deb");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path()).expect("store");
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let url = |path: &std::path::Path| url::Url::from_file_path(path).expect("abs").to_string();

    let error = tokio::time::timeout(Duration::from_secs(10), fetcher.get(&url(&fifo), 1 << 20))
        .await
        .expect("answers at once")
        .expect_err("a FIFO");
    assert!(error.to_string().contains("a FIFO"), "{error}");
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        fetcher.fetch_object(&url(&zero), expected(b"x"), store.objects(), &NoReporter),
    )
    .await
    .expect("answers at once")
    .expect_err("a device");
    assert!(error.to_string().contains("a device"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn exists_asks_without_a_body_and_tells_missing_from_failing() {
    let body = content(50_000, 12);
    let up = upstream(&[("repodata.json.bz2", &body)]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let url = up.server.url_for("repodata.json.bz2");
    assert!(fetcher.exists(&url).await.expect("served"));
    assert!(
        !fetcher
            .exists(&up.server.url_for("missing.bz2"))
            .await
            .expect("a 404 is an answer")
    );
    let log = up.server.request_log();
    assert!(log.iter().all(|r| r.method == "HEAD"), "{log:?}");
    assert_eq!(fetcher.stats().bytes, 0, "no body read");
    // A server error is an error (after the retries), not "missing".
    up.server
        .inject_always("/repodata.json.bz2", Fault::Status(500));
    let error = fetcher.exists(&url).await.expect_err("500");
    assert!(error.to_string().contains(&url), "{error}");
    // file:// too.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("here"), b"x").expect("write");
    let here = url::Url::from_file_path(dir.path().join("here")).expect("url");
    let gone = url::Url::from_file_path(dir.path().join("gone")).expect("url");
    assert!(fetcher.exists(here.as_str()).await.expect("file"));
    assert!(!fetcher.exists(gone.as_str()).await.expect("file"));
}
