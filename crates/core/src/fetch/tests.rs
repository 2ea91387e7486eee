//! The fetcher against a loopback upstream ([`TestServer`]) that misbehaves on request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mirror_test_support::{Fault, TestServer};

use super::*;
use crate::digest::Sha256Digest;
use crate::reporter::NoReporter;
use crate::store::{Store, StoreError};

/// Pseudo-random content of `len` bytes (xorshift32); different seeds, different content.
fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

fn expected(bytes: &[u8]) -> Expected {
    Expected {
        sha256: Sha256Digest::of(bytes),
        size: Some(bytes.len() as u64),
    }
}

/// Short timeouts and backoff so failure paths stay fast.
fn fast_options() -> FetchOptions {
    FetchOptions {
        retries: 4,
        retry_base_delay: Duration::from_millis(5),
        read_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        ..FetchOptions::default()
    }
}

struct Upstream {
    _dir: tempfile::TempDir,
    server: TestServer,
    _store_dir: tempfile::TempDir,
    store: Store,
}

fn upstream(files: &[(&str, &[u8])]) -> Upstream {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write upstream file");
    }
    let server = TestServer::serve_dir(dir.path());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path()).expect("store");
    Upstream {
        _dir: dir,
        server,
        _store_dir: store_dir,
        store,
    }
}

fn temp_files(store: &Store) -> usize {
    std::fs::read_dir(store.tmp_dir()).expect("tmp dir").count()
}

/// Sums what the fetcher reports.
#[derive(Default)]
struct CountingReporter(AtomicU64);

impl Reporter for CountingReporter {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

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
        source:
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
                source: StoreError::SizeMismatch {
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

    let fetched = fetcher
        .fetch_object(
            &up.server.url_for("big.deb"),
            expected(&body),
            up.store.objects(),
            &NoReporter,
        )
        .await
        .expect("resumed download");
    assert_eq!(fetched, Fetched::Downloaded { bytes: 200_000 });
    let log = up.server.request_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].range, None);
    assert_eq!(log[1].range.as_deref(), Some("bytes=50000-"));
    // Every byte crossed the wire once: nothing was downloaded twice.
    assert_eq!(fetcher.stats().bytes, 200_000);
    assert_eq!(
        up.store
            .objects()
            .read(&Sha256Digest::of(&body))
            .expect("object"),
        body
    );
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

    fetcher
        .fetch_object(
            &up.server.url_for("big.deb"),
            expected(&body),
            up.store.objects(),
            &NoReporter,
        )
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
    assert_eq!(
        up.store
            .objects()
            .read(&Sha256Digest::of(&body))
            .expect("object"),
        body
    );
}

#[tokio::test]
async fn fetch_retries_server_errors_then_succeeds() {
    let body = content(1_000, 6);
    let up = upstream(&[("pkg.deb", &body)]);
    up.server.inject("/pkg.deb", Fault::Status(500));
    up.server.inject("/pkg.deb", Fault::Status(503));
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    fetcher
        .fetch_object(
            &up.server.url_for("pkg.deb"),
            expected(&body),
            up.store.objects(),
            &NoReporter,
        )
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
    up.server.inject_always("/pkg.deb", Fault::Status(403));
    let error = fetcher.get(&url, 1 << 20).await.expect_err("403");
    assert!(
        matches!(error, FetchError::Http { status: 403, .. }),
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
    fetcher
        .fetch_object(
            &up.server.url_for("slow.deb"),
            expected(&body),
            up.store.objects(),
            &NoReporter,
        )
        .await
        .expect("resumed after the stall");
    assert!(started.elapsed() >= fast_options().read_timeout);
    let log = up.server.request_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(
        up.store
            .objects()
            .read(&Sha256Digest::of(&body))
            .expect("object"),
        body
    );
}

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
async fn fetch_objects_respects_the_concurrency_bound_across_calls() {
    let bodies: Vec<Vec<u8>> = (0..12).map(|i| content(2_000, 100 + i)).collect();
    let names: Vec<String> = (0..12).map(|i| format!("f{i}.deb")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let up = upstream(&files);
    for name in &names {
        up.server
            .inject(name, Fault::Delay(Duration::from_millis(100)));
    }
    let fetcher = Fetcher::new(FetchOptions {
        concurrency: 3,
        ..fast_options()
    })
    .expect("fetcher");
    let jobs: Vec<FetchJob> = names
        .iter()
        .zip(&bodies)
        .map(|(name, body)| FetchJob {
            url: up.server.url_for(name),
            expected: expected(body),
        })
        .collect();
    let (first, second) = jobs.split_at(6);
    let reporter = CountingReporter::default();
    let other = fetcher.clone();
    let (a, b) = tokio::join!(
        fetcher.fetch_objects(first.to_vec(), up.store.objects(), &reporter),
        other.fetch_objects(second.to_vec(), up.store.objects(), &reporter),
    );
    let (a, b) = (a.expect("first batch"), b.expect("second batch"));
    assert_eq!((a.objects, b.objects), (6, 6));
    assert_eq!(a.bytes + b.bytes, 24_000);
    assert_eq!(
        fetcher.stats(),
        FetchStats {
            requests: 12,
            bytes: 24_000,
            objects: 12
        }
    );
    assert_eq!(reporter.0.load(Ordering::Relaxed), 24_000);
    let max = up.server.max_concurrent();
    assert!((2..=3).contains(&max), "max concurrent requests {max}");
    for body in &bodies {
        assert!(
            up.store
                .objects()
                .verify(&Sha256Digest::of(body))
                .expect("verify")
        );
    }
}

#[tokio::test]
async fn fetch_objects_dedupes_and_stops_at_the_first_error() {
    let good = content(1_000, 20);
    let up = upstream(&[("good.deb", &good)]);
    let fetcher = Fetcher::new(fast_options()).expect("fetcher");
    let good_job = FetchJob {
        url: up.server.url_for("good.deb"),
        expected: expected(&good),
    };
    let stats = fetcher
        .fetch_objects(
            vec![good_job.clone(), good_job.clone()],
            up.store.objects(),
            &NoReporter,
        )
        .await
        .expect("batch");
    assert_eq!(
        stats,
        FetchStats {
            requests: 1,
            bytes: 1_000,
            objects: 1
        }
    );

    let missing_url = up.server.url_for("missing.deb");
    let jobs = vec![
        good_job,
        FetchJob {
            url: missing_url.clone(),
            expected: expected(b"never served"),
        },
    ];
    let error = fetcher
        .fetch_objects(jobs, up.store.objects(), &NoReporter)
        .await
        .expect_err("one job fails");
    assert!(
        matches!(&error, FetchError::NotFound { url } if *url == missing_url),
        "{error:?}"
    );
    assert_eq!(
        up.server.request_count("good.deb"),
        1,
        "already present: not fetched again"
    );
    assert_eq!(
        up.store.objects().list().expect("list"),
        [Sha256Digest::of(&good)]
    );
}

#[test]
fn fetch_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let fetcher = Fetcher::new(FetchOptions::default()).expect("fetcher");
    let e = expected(b"x");
    assert_send(&fetcher.get("http://127.0.0.1:9/", 1));
    assert_send(&fetcher.get_optional("http://127.0.0.1:9/", 1));
    assert_send(&fetcher.fetch_object("http://127.0.0.1:9/", e, store.objects(), &NoReporter));
    assert_send(&fetcher.fetch_objects(Vec::new(), store.objects(), &NoReporter));
}
