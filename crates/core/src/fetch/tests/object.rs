//! One object into the store: verification, retries, resume.

use std::sync::atomic::Ordering;
use std::time::Instant;

use mirror_test_support::Fault;

use super::*;

#[tokio::test]
async fn fetch_object_downloads_verifies_and_then_skips() {
    let body = content(100_000, 1);
    let up = upstream(&[("pkg.deb", &body)]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let reporter = CountingReporter::default();
    let url = up.server.url_for("pkg.deb");

    let fetched = fetcher
        .fetch_object(&url, expected(&body), up.store.objects(), &reporter)
        .await
        .expect("download");
    assert_eq!(
        fetched,
        Fetched::Downloaded {
            bytes: body.len() as u64
        }
    );
    let digest = Sha256Digest::of(&body);
    assert_eq!(up.store.objects().read(&digest).expect("object"), body);
    assert_eq!(reporter.0.load(Ordering::Relaxed), body.len() as u64);
    assert_eq!(
        fetcher.stats(),
        FetchStats {
            requests: 1,
            bytes: body.len() as u64,
            objects: 1
        }
    );
    assert_eq!(temp_files(&up.store), 0);

    let again = fetcher
        .fetch_object(&url, expected(&body), up.store.objects(), &NoReporter)
        .await
        .expect("present");
    assert_eq!(again, Fetched::AlreadyPresent);
    assert_eq!(up.server.requests(), ["/pkg.deb"], "no second request");
}

#[tokio::test]
async fn fetch_wrong_bytes_are_refused_naming_url_and_digests() {
    let body = content(10_000, 2);
    let up = upstream(&[("pkg.deb", &body)]);
    up.server.inject("/pkg.deb", Fault::WrongBytes);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let url = up.server.url_for("pkg.deb");

    let error = fetcher
        .fetch_object(&url, expected(&body), up.store.objects(), &NoReporter)
        .await
        .expect_err("corrupted content");
    let FetchError::Verify {
        mismatch:
            StoreError::DigestMismatch {
                expected: want,
                actual,
                ..
            },
        ..
    } = &error
    else {
        panic!("expected a digest mismatch, got {error:?}");
    };
    assert_eq!(*want, Sha256Digest::of(&body));
    assert_ne!(actual, want);
    let message = error.to_string();
    for part in [url.as_str(), &want.to_hex(), &actual.to_hex()] {
        assert!(message.contains(part), "{message:?} lacks {part}");
    }
    assert_eq!(up.server.requests().len(), 1, "a mismatch is not retried");
    assert!(up.store.objects().list().expect("list").is_empty());
    assert_eq!(temp_files(&up.store), 0, "the temp file is removed");
}

#[tokio::test]
async fn fetch_wrong_size_announced_is_refused_before_download() {
    let body = content(10_000, 3);
    let up = upstream(&[("pkg.deb", &body)]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let mut wrong = expected(&body);
    wrong.size = Some(9_999);
    let error = fetcher
        .fetch_object(
            &up.server.url_for("pkg.deb"),
            wrong,
            up.store.objects(),
            &NoReporter,
        )
        .await
        .expect_err("size");
    assert!(
        matches!(
            &error,
            FetchError::Verify {
                mismatch: StoreError::SizeMismatch {
                    expected: 9_999,
                    actual: 10_000,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(up.store.objects().list().expect("list").is_empty());
}

#[tokio::test]
async fn fetch_truncated_body_resumes_with_range() {
    let body = content(200_000, 4);
    let up = upstream(&[("big.deb", &body)]);
    up.server.inject(
        "/big.deb",
        Fault::Truncate {
            after_bytes: 50_000,
            times: 1,
        },
    );
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");

    let fetched = up
        .fetch(&fetcher, "big.deb", &body)
        .await
        .expect("resumed download");
    assert_eq!(fetched, Fetched::Downloaded { bytes: 200_000 });
    let log = up.server.request_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].range, None);
    assert_eq!(log[1].range.as_deref(), Some("bytes=50000-"));
    // Every byte crossed the wire once: nothing was downloaded twice.
    assert_eq!(fetcher.stats().bytes, 200_000);
    assert_eq!(up.stored(&body), body);
}

#[tokio::test]
async fn fetch_restarts_whole_when_server_ignores_range() {
    let body = content(200_000, 5);
    let up = upstream(&[("big.deb", &body)]);
    up.server.inject(
        "/big.deb",
        Fault::Truncate {
            after_bytes: 50_000,
            times: 1,
        },
    );
    up.server.inject("/big.deb", Fault::IgnoreRange);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");

    up.fetch(&fetcher, "big.deb", &body)
        .await
        .expect("restarted download");
    let log = up.server.request_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range.as_deref(), Some("bytes=50000-"));
    assert_eq!(
        fetcher.stats().bytes,
        250_000,
        "the prefix, then the whole file"
    );
    assert_eq!(up.stored(&body), body);
}

#[tokio::test]
async fn fetch_retries_server_errors_then_succeeds() {
    let body = content(1_000, 6);
    let up = upstream(&[("pkg.deb", &body)]);
    up.server.inject("/pkg.deb", Fault::Status(500));
    up.server.inject("/pkg.deb", Fault::Status(503));
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    up.fetch(&fetcher, "pkg.deb", &body)
        .await
        .expect("third attempt succeeds");
    assert_eq!(up.server.request_count("/pkg.deb"), 3);
    assert_eq!(fetcher.stats().requests, 3);

    // metadata gets retry too
    up.server.inject("/pkg.deb", Fault::Status(502));
    let got = fetcher
        .get(&up.server.url_for("pkg.deb"), 1 << 20)
        .await
        .expect("get");
    assert_eq!(got.as_ref(), body.as_slice());
    assert_eq!(up.server.request_count("/pkg.deb"), 5);
}

#[tokio::test]
async fn retry_after_is_honoured_and_an_excessive_one_gives_up() {
    let body = content(1_000, 8);
    let up = upstream(&[("pkg.deb", &body)]);
    up.server.inject(
        "/pkg.deb",
        Fault::RetryAfter {
            status: 429,
            seconds: 1,
        },
    );
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let started = std::time::Instant::now();
    up.fetch(&fetcher, "pkg.deb", &body)
        .await
        .expect("the second attempt succeeds");
    // The backoff alone (fast_options) is milliseconds; the server asked for a second.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(up.server.request_count("/pkg.deb"), 2);

    up.server.inject_always(
        "/pkg.deb",
        Fault::RetryAfter {
            status: 503,
            seconds: 3600,
        },
    );
    let error = fetcher
        .get(&up.server.url_for("pkg.deb"), 1 << 20)
        .await
        .expect_err("an hour is longer than we wait");
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(
        up.server.request_count("/pkg.deb"),
        3,
        "gave up without retrying"
    );
}

#[tokio::test]
async fn fetch_persistent_server_error_gives_up_after_retries() {
    let body = content(1_000, 7);
    let up = upstream(&[("pkg.deb", &body)]);
    up.server.inject_always("/pkg.deb", Fault::Status(500));
    let fetcher = Fetcher::new(FetchOptions {
        retries: 3,
        ..fast_options()
    })
    .expect("fetcher");
    let url = up.server.url_for("pkg.deb");
    let error = fetcher
        .fetch_object(&url, expected(&body), up.store.objects(), &NoReporter)
        .await
        .expect_err("always 500");
    assert!(
        matches!(&error, FetchError::Http { status: 500, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&url), "{error}");
    assert_eq!(
        up.server.request_count("/pkg.deb"),
        4,
        "one attempt + 3 retries"
    );

    // a client error is final at once
    up.server.clear_faults();
    up.server.clear_requests();
    up.server.inject_always("/pkg.deb", Fault::Status(400));
    let error = fetcher.get(&url, 1 << 20).await.expect_err("400");
    assert!(
        matches!(error, FetchError::Http { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(up.server.request_count("/pkg.deb"), 1);

    // so is a refusal to authorise, with its own error
    up.server.clear_faults();
    up.server.clear_requests();
    up.server.inject_always("/pkg.deb", Fault::Status(403));
    let error = fetcher.get(&url, 1 << 20).await.expect_err("403");
    assert!(
        matches!(
            error,
            FetchError::Unauthorized {
                status: 403,
                sent_credentials: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(up.server.request_count("/pkg.deb"), 1);
}

#[tokio::test]
async fn fetch_not_found_is_not_retried() {
    let up = upstream(&[]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let url = up.server.url_for("missing.deb");
    let error = fetcher.get(&url, 1 << 20).await.expect_err("404");
    assert!(
        matches!(&error, FetchError::NotFound { url: u } if *u == url),
        "{error:?}"
    );
    assert_eq!(
        fetcher.get_optional(&url, 1 << 20).await.expect("optional"),
        None
    );
    let error = fetcher
        .fetch_object(&url, expected(b"x"), up.store.objects(), &NoReporter)
        .await
        .expect_err("404");
    assert!(matches!(error, FetchError::NotFound { .. }), "{error:?}");
    up.server.inject("/gone", Fault::Status(410));
    assert_eq!(
        fetcher
            .get_optional(&up.server.url_for("gone"), 10)
            .await
            .expect("410"),
        None
    );
    assert_eq!(up.server.requests().len(), 4, "one request each");
}

#[tokio::test]
async fn fetch_stall_times_out_and_resumes() {
    let body = content(100_000, 8);
    let up = upstream(&[("slow.deb", &body)]);
    up.server.inject(
        "/slow.deb",
        Fault::Stall {
            after_bytes: 30_000,
            times: 1,
        },
    );
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let started = Instant::now();
    up.fetch(&fetcher, "slow.deb", &body)
        .await
        .expect("resumed after the stall");
    assert!(started.elapsed() >= fast_options().read_timeout);
    let log = up.server.request_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(up.stored(&body), body);
}

#[tokio::test]
async fn fetch_mismatch_after_resume_starts_over_once() {
    // The resumed piece comes back wrong (as if upstream changed between attempts): the
    // spliced file fails verification, and one clean download from zero is tried.
    let body = content(100_000, 12);
    let up = upstream(&[("big.deb", &body)]);
    up.server.inject(
        "/big.deb",
        Fault::Truncate {
            after_bytes: 40_000,
            times: 1,
        },
    );
    up.server.inject("/big.deb", Fault::WrongBytes);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    up.fetch(&fetcher, "big.deb", &body)
        .await
        .expect("the clean restart succeeds");
    let ranges: Vec<Option<String>> = up
        .server
        .request_log()
        .into_iter()
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=40000-".to_owned()), None]);
    assert_eq!(up.stored(&body), body);

    // A second mismatch is final.
    let other = content(100_000, 13);
    std::fs::write(up.dir().join("other.deb"), &other).expect("write");
    up.server.inject(
        "/other.deb",
        Fault::Truncate {
            after_bytes: 40_000,
            times: 1,
        },
    );
    up.server.inject_always("/other.deb", Fault::WrongBytes);
    let error = up
        .fetch(&fetcher, "other.deb", &other)
        .await
        .expect_err("wrong every time");
    assert!(matches!(error, FetchError::Verify { .. }), "{error:?}");
    assert_eq!(up.server.request_count("other.deb"), 3);
    assert_eq!(temp_files(&up.store), 0);
}

/// The largest file under `dir` (recursively), with its size.
fn largest_file(dir: &std::path::Path) -> Option<(std::path::PathBuf, u64)> {
    let mut best: Option<(std::path::PathBuf, u64)> = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let candidate = if path.is_dir() {
            largest_file(&path)
        } else {
            let len = std::fs::metadata(&path).ok()?.len();
            Some((path, len))
        };
        if let Some(candidate) = candidate
            && best.as_ref().is_none_or(|b| candidate.1 > b.1)
        {
            best = Some(candidate);
        }
    }
    best
}

#[tokio::test]
async fn fetch_real_fixture_package_resumes_over_http_and_copies_over_file() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let root = fixtures.join("debian-bookworm");
    let (deb, size) = largest_file(&root.join("pool")).expect("the fixture has packages");
    let bytes = std::fs::read(&deb).expect("read fixture");
    let want = expected(&bytes);
    let relative = deb.strip_prefix(&root).expect("under root");
    let path = format!("/{}", relative.to_str().expect("utf-8 fixture path"));

    let server = TestServer::serve_dir(&root);
    server.inject(
        &path,
        Fault::Truncate {
            after_bytes: size / 3,
            times: 1,
        },
    );
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path()).expect("store");
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let fetched = fetcher
        .fetch_object(&server.url_for(&path), want, store.objects(), &NoReporter)
        .await
        .expect("real package");
    assert_eq!(fetched, Fetched::Downloaded { bytes: size });
    assert_eq!(
        server.request_log()[1].range.as_deref(),
        Some(format!("bytes={}-", size / 3).as_str())
    );
    assert!(store.objects().verify(&want.sha256).expect("verify"));

    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Store::open(other_dir.path()).expect("store");
    let url = url::Url::from_file_path(&deb)
        .expect("absolute")
        .to_string();
    fetcher
        .fetch_object(&url, want, other.objects(), &NoReporter)
        .await
        .expect("file:// copy");
    assert_eq!(other.objects().read(&want.sha256).expect("object"), bytes);
}
