//! What every [`Repository`] must do, checked the same way for every format (feature
//! `test-util`; object_store's shared integration suite is the model).
//!
//! A format's test provides an [`Upstream`] (a loopback upstream it controls, and a
//! repository pointed at it); [`check`] then drives the repository through the trait and
//! the real sync driver and checks:
//!
//! 1. two probes of an unchanged upstream give the same fingerprint;
//! 2. the plan's paths are unique and pass the path rule, and every [`Source::Stored`]
//!    object is in the store;
//! 3. a sync records a snapshot, and a second sync of the unchanged upstream is
//!    [`SyncOutcome::Unchanged`] with no more requests than the format's top-level
//!    indices;
//! 4. a changed upstream gives a new fingerprint;
//! 5. a file served with other bytes than its metadata states is refused with
//!    [`ErrorClass::Verification`], and nothing is published.

use crate::error::{Classify, ErrorClass};
use crate::fetch::{FetchOptions, Fetcher};
use crate::reporter::NoReporter;
use crate::repository::{Repository, Source, SyncContext};
use crate::signing::SigningKey;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::sync::{SyncOptions, SyncOutcome, sync};

/// A loopback upstream a format's test controls, and a repository of it.
pub trait Upstream {
    /// A repository of this upstream, as the format's settings build it.
    fn repository(&self) -> Box<dyn Repository>;
    /// Requests the upstream has answered so far.
    fn requests(&self) -> usize;
    /// How many requests a sync of an unchanged upstream may make (its top-level
    /// indices: APT's InRelease per suite, conda's repodata per subdir).
    fn top_level_requests(&self) -> usize;
    /// Change the upstream's content (a new package): the next probe must differ.
    fn change(&mut self);
    /// Serve one file the metadata names with other bytes of the same length.
    fn lie_about_a_file(&mut self);
}

/// Run every check against `upstream`; panics with what failed.
pub async fn check(upstream: &mut dyn Upstream) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let fetcher = Fetcher::new(FetchOptions {
        retries: 0,
        ..FetchOptions::default()
    })
    .expect("fetcher");
    let key = SigningKey::generate("conformance").expect("key");
    let repo = upstream.repository();
    let name = repo.name().to_owned();

    // 1. The same upstream, the same fingerprint.
    let ctx = contexted(&store, &fetcher, &key, None);
    let first = repo.probe(&ctx).await.expect("probe");
    let fingerprint = first.fingerprint().to_owned();
    let again = repo.probe(&ctx).await.expect("probe again");
    assert_eq!(
        again.fingerprint(),
        fingerprint,
        "{name}: two probes of an unchanged upstream differ"
    );

    // 2. The plan: unique safe paths, stored objects present.
    let plan = first.plan().await.expect("plan");
    let mut seen = std::collections::HashSet::new();
    for file in &plan.files {
        assert!(
            crate::paths::check_relative(&file.path).is_ok(),
            "{name}: planned path {:?} breaks the path rule",
            file.path
        );
        assert!(
            seen.insert(file.path.clone()),
            "{name}: {:?} planned twice",
            file.path
        );
        if file.source == Source::Stored {
            assert!(
                store.objects().contains(&file.expected.sha256),
                "{name}: {:?} is planned as stored but the store lacks it",
                file.path
            );
        }
    }
    assert!(!plan.files.is_empty(), "{name}: an empty plan");

    // 3. A sync, then a no-op sync of the unchanged upstream.
    let options = SyncOptions {
        dry_run: false,
        publish: true,
    };
    let report = sync(&*repo, &contexted(&store, &fetcher, &key, None), options)
        .await
        .expect("first sync");
    assert_eq!(report.outcome, SyncOutcome::Synced, "{name}: {report:?}");
    let snapshot = store
        .latest_snapshot(&name)
        .expect("snapshots")
        .expect("a snapshot");
    let before = upstream.requests();
    let report = sync(
        &*repo,
        &contexted(&store, &fetcher, &key, Some(&snapshot)),
        options,
    )
    .await
    .expect("second sync");
    assert_eq!(
        report.outcome,
        SyncOutcome::Unchanged,
        "{name}: a re-sync of an unchanged upstream did work: {report:?}"
    );
    let made = upstream.requests() - before;
    assert!(
        made <= upstream.top_level_requests(),
        "{name}: an unchanged re-sync made {made} requests, more than its {} top-level indices",
        upstream.top_level_requests()
    );

    // 4. A changed upstream, a new fingerprint.
    upstream.change();
    let ctx = contexted(&store, &fetcher, &key, None);
    let changed = repo.probe(&ctx).await.expect("probe changed");
    assert_ne!(
        changed.fingerprint(),
        fingerprint,
        "{name}: a changed upstream kept its fingerprint"
    );
    drop(changed);

    // 5. A digest lie is refused as verification, and nothing is published.
    upstream.lie_about_a_file();
    let published = store.published_snapshot(&name).expect("published");
    let error = sync(
        &*repo,
        &contexted(&store, &fetcher, &key, Some(&snapshot)),
        options,
    )
    .await
    .expect_err("a file with other bytes than its metadata states");
    assert_eq!(
        error.class(),
        ErrorClass::Verification,
        "{name}: a digest lie is not a verification failure: {error}"
    );
    assert_eq!(
        store.published_snapshot(&name).expect("published"),
        published,
        "{name}: a refused sync published something"
    );
}

/// A sync context over these, with `previous` (a function, so each borrow gets its own
/// lifetime).
fn contexted<'a>(
    store: &'a Store,
    fetcher: &'a Fetcher,
    key: &'a SigningKey,
    previous: Option<&'a Snapshot>,
) -> SyncContext<'a> {
    SyncContext {
        store,
        fetcher,
        signing_key: Some(key),
        reporter: &NoReporter,
        previous,
    }
}
