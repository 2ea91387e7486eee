//! Issue 13, item 1: a no-op sync of an unchanged channel asks each subdir's repodata
//! once, conditionally, and reads no index; a changed subdir is fetched, an unchanged one
//! read back from the store; the cache survives a prune and a damaged cached copy is
//! an error that the next sync repairs; a 304 to a request that named no copy is refused;
//! new validators for the same body are still a no-op (and are kept); a cached body a
//! day old is asked for whole, so validators that lie cannot keep a mirror stale.

use std::path::Path;
use std::time::{Duration, SystemTime};

use mirror_core::sync::SyncOutcome;
use mirror_test_support::{Fault, TestServer};

use crate::support::{
    Channel, Format, Pkg, config, package_requests, published, standard_channel, sync_mirror,
    temp_store,
};

/// Rewrite linux-64's repodata (the channel changed there); noarch's is written again
/// with the same bytes and given back its modification time, as a server that did not
/// touch it would keep it.
fn rewrite_linux(channel: &Channel, dir: &Path) {
    let noarch = dir.join("noarch/repodata.json");
    let modified = std::fs::metadata(&noarch)
        .and_then(|m| m.modified())
        .expect("mtime");
    channel.write_repodata(false);
    std::fs::File::options()
        .write(true)
        .open(&noarch)
        .and_then(|f| f.set_modified(modified))
        .expect("restore mtime");
}

/// Date the repodata files of `subdirs` `ago` in the past: a `Last-Modified` in the
/// second a body is served is not used as a validator (it could change again within
/// that second).
fn age(dir: &Path, subdirs: &[&str], ago: Duration) {
    for subdir in subdirs {
        for name in ["repodata.json", "repodata.json.zst"] {
            let path = dir.join(subdir).join(name);
            if let Ok(file) = std::fs::File::options().write(true).open(&path) {
                file.set_modified(SystemTime::now() - ago)
                    .expect("set mtime");
            }
        }
    }
}

fn index_requests(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|p| p.contains("repodata"))
        .collect()
}

#[tokio::test]
async fn an_unchanged_channel_costs_one_small_request_per_subdir() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut channel = standard_channel(upstream.path());
    // No .zst: a first sync asks for it, gets a 404, and takes repodata.json.
    channel.write_repodata(false);
    age(
        upstream.path(),
        &["linux-64", "noarch"],
        Duration::from_secs(60),
    );
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let mut filtered = config(&server.url());
    filtered.specs = vec!["tool".into()];

    let first = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("sync");
    assert_eq!(first.outcome, SyncOutcome::Synced);

    server.clear_requests();
    let again = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("no-op");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    assert_eq!(
        index_requests(&server),
        ["/linux-64/repodata.json", "/noarch/repodata.json"],
        "one request per subdir, the form that served last time, no .zst probe"
    );
    assert_eq!(again.fetched.requests, 2);
    assert_eq!(again.fetched.bytes, 0, "both answered 304, no body");

    // A prune keeps the cached bodies (the filtered mirror publishes its own index, so
    // no snapshot names upstream's): still a conditional no-op after it.
    store.prune(1).expect("prune");
    server.clear_requests();
    let after_prune = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("no-op");
    assert_eq!(after_prune.outcome, SyncOutcome::Unchanged);
    assert_eq!(after_prune.fetched.bytes, 0);

    // linux-64 changes, noarch does not: linux-64 comes whole, noarch is a 304 read back
    // from the store, and the plan uses both.
    channel.add(&Pkg::new("linux-64", "libzz", "3.0", Format::Conda));
    rewrite_linux(&channel, upstream.path());
    age(upstream.path(), &["linux-64"], Duration::from_secs(30));
    server.clear_requests();
    let changed = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("sync");
    assert_eq!(changed.outcome, SyncOutcome::Synced);
    // A changed sync also asks (HEAD, no body) whether each fetched subdir serves a .bz2.
    assert_eq!(
        index_requests(&server),
        [
            "/linux-64/repodata.json",
            "/noarch/repodata.json",
            "/linux-64/repodata.json.bz2",
            "/noarch/repodata.json.bz2"
        ]
    );
    assert!(
        server
            .request_log()
            .iter()
            .filter(|r| r.path.ends_with(".bz2"))
            .all(|r| r.method == "HEAD"),
        "the .bz2 probes read no body"
    );
    assert_eq!(
        package_requests(&server),
        ["/linux-64/libzz-3.0-h0_0.conda"],
        "tool's closure now takes libzz 3.0"
    );
    let noarch =
        String::from_utf8(published(&store, "chan", "noarch/repodata.json")).expect("utf8");
    assert!(
        noarch.contains("helper-1.0"),
        "noarch planned from its cached copy: {noarch}"
    );

    // A cached copy damaged in the store: the 304 cannot be used, the sync says so and
    // drops the entry, and the next sync fetches that subdir whole.
    channel.add(&Pkg::new("linux-64", "libzz", "4.0", Format::Conda));
    rewrite_linux(&channel, upstream.path());
    age(upstream.path(), &["linux-64"], Duration::from_secs(10));
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.cache_dir().join("chan.json")).expect("cache file"),
    )
    .expect("json");
    let noarch_url = server.url_for("/noarch/repodata.json");
    let object = cache["entries"][&noarch_url]["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("{noarch_url} cached: {cache}"));
    let object = store.objects().path(&object.parse().expect("digest"));
    let mut bytes = std::fs::read(&object).expect("object");
    bytes[0] ^= 1;
    std::fs::remove_file(&object).expect("rm read-only object");
    std::fs::write(&object, &bytes).expect("damage");
    let err = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect_err("damaged cache");
    let message = err.to_string();
    assert!(
        message.contains(&noarch_url) && message.contains("damaged"),
        "{message}"
    );
    server.clear_requests();
    let repaired = sync_mirror(&store, filtered, false)
        .await
        .expect("repaired");
    assert_eq!(repaired.outcome, SyncOutcome::Synced);
    assert!(
        server
            .requests()
            .contains(&"/noarch/repodata.json.zst".to_owned()),
        "noarch asked for as on a first sync: {:?}",
        server.requests()
    );
}

#[tokio::test]
async fn a_304_to_a_request_that_named_no_copy_is_refused() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(true);
    let server = TestServer::serve_dir(upstream.path());
    server.inject_always("/linux-64/repodata.json.zst", Fault::Status(304));
    let (_store_dir, store) = temp_store();
    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("304 without validators");
    let message = err.to_string();
    assert!(
        message.contains("/linux-64/repodata.json.zst") && message.contains("304"),
        "{message}"
    );
    assert!(
        !store.public_dir().join("chan").exists(),
        "nothing published"
    );
}

/// A filtered mirror of the standard channel (files dated two minutes back), synced once.
struct Synced {
    upstream: tempfile::TempDir,
    server: TestServer,
    _store_dir: tempfile::TempDir,
    store: mirror_core::store::Store,
    filtered: mirror_conda::CondaConfig,
}

async fn synced_once() -> Synced {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_channel(upstream.path()).write_repodata(false);
    age(
        upstream.path(),
        &["linux-64", "noarch"],
        Duration::from_secs(120),
    );
    let server = TestServer::serve_dir(upstream.path());
    let (store_dir, store) = temp_store();
    let mut filtered = config(&server.url());
    filtered.specs = vec!["tool".into()];
    sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("sync");
    Synced {
        upstream,
        server,
        _store_dir: store_dir,
        store,
        filtered,
    }
}

#[tokio::test]
async fn new_validators_for_the_same_body_are_still_a_no_op() {
    let Synced {
        upstream,
        server,
        _store_dir,
        store,
        filtered,
    } = synced_once().await;

    // Upstream rewrites its files with the same bytes: new Last-Modified (and ETag), so
    // the conditional requests get whole bodies, whose digests are those of last time.
    age(
        upstream.path(),
        &["linux-64", "noarch"],
        Duration::from_secs(60),
    );
    server.clear_requests();
    let same = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("sync");
    assert_eq!(
        same.outcome,
        SyncOutcome::Unchanged,
        "same bodies: nothing to do"
    );
    assert!(same.fetched.bytes > 0, "the bodies came whole");
    // Their new validators were kept: the next sync is a 304 again.
    let again = sync_mirror(&store, filtered, false).await.expect("no-op");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    assert_eq!(
        again.fetched.bytes, 0,
        "answered 304 with the new validators"
    );
}

#[tokio::test]
async fn a_cached_body_a_day_old_is_asked_for_whole() {
    let Synced {
        upstream: _upstream,
        server,
        _store_dir,
        store,
        filtered,
    } = synced_once().await;

    // The cache says linux-64 came 25 hours ago: a server whose validators claim
    // "unchanged" for a changed body could otherwise keep the mirror stale, so it is
    // asked for without them.
    let path = store.cache_dir().join("chan.json");
    let mut cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("cache")).expect("json");
    let linux = server.url_for("/linux-64/repodata.json");
    let received = cache["entries"][&linux]["received"]
        .as_u64()
        .unwrap_or_else(|| panic!("{linux} cached: {cache}"));
    cache["entries"][&linux]["received"] = (received - 25 * 3600).into();
    std::fs::write(&path, serde_json::to_vec(&cache).expect("json")).expect("write");
    server.clear_requests();
    let report = sync_mirror(&store, filtered, false).await.expect("sync");
    assert_eq!(report.outcome, SyncOutcome::Unchanged, "same body");
    let asked: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.path == "/linux-64/repodata.json")
        .collect();
    assert_eq!(asked.len(), 1);
    assert!(
        report.fetched.bytes > 0,
        "linux-64 came whole, not as a 304"
    );
}
