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
