//! `fetch_objects`: the concurrency bound, dedup, first-error stop.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mirror_test_support::Fault;

use super::*;

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
