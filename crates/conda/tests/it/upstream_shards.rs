//! Issue 13, item 3: with `upstream_shards = true`, an unfiltered mirror publishes
//! upstream's CEP-16 shards, each downloaded from where upstream's index says and
//! checked against the digest it gives; the index it publishes points inside the
//! mirror. A tampered shard fails the sync; an index listing a name twice is refused;
//! a filtered mirror cannot ask for it.

use std::path::Path;

use mirror_conda::repodata::RepoDataView;
use mirror_conda::{CondaConfig, CondaMirror};
use mirror_core::digest::Sha256Digest;
use mirror_core::sync::SyncOutcome;
use mirror_test_support::TestServer;
use rmpv::Value;

use crate::support::{
    assert_shards_match_repodata, config, published, standard_channel, sync_mirror, temp_store,
};

fn unpack(bytes: &[u8]) -> Value {
    let raw = zstd::decode_all(bytes).expect("zstd");
    rmpv::decode::read_value(&mut &raw[..]).expect("msgpack")
}

fn pack(value: &Value) -> Vec<u8> {
    let mut raw = Vec::new();
    rmpv::encode::write_value(&mut raw, value).expect("encode");
    zstd::encode_all(raw.as_slice(), 3).expect("zstd")
}

fn entry<'v>(map: &'v Value, key: &str) -> &'v Value {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key}")),
        other => panic!("not a map: {other}"),
    }
}

/// Upstream shards its linux-64 itself (made here from its own repodata.json), with the
/// shards under `elsewhere/shards/`, not beside the index. Returns each shard's digest
/// and bytes.
fn shard_upstream(dir: &Path) -> Vec<(Sha256Digest, Vec<u8>)> {
    let json = std::fs::read(dir.join("linux-64/repodata.json")).expect("repodata");
    let view = RepoDataView::parse(&json).expect("parses");
    let sharded = mirror_conda::shards::shard(&view, "linux-64").expect("shards");
    std::fs::create_dir_all(dir.join("elsewhere/shards")).expect("mkdir");
    for (digest, bytes) in &sharded.shards {
        let path = dir.join(format!("elsewhere/shards/{}.msgpack.zst", digest.to_hex()));
        std::fs::write(path, bytes).expect("shard");
    }
    let mut index = unpack(&sharded.index);
    if let Value::Map(entries) = &mut index {
        for (key, value) in entries.iter_mut() {
            if key.as_str() == Some("info") {
                *value = Value::Map(vec![
                    (Value::from("base_url"), Value::from("./")),
                    (
                        Value::from("shards_base_url"),
                        Value::from("../elsewhere/shards/"),
                    ),
                    (Value::from("subdir"), Value::from("linux-64")),
                ]);
            }
        }
    }
    std::fs::write(
        dir.join("linux-64/repodata_shards.msgpack.zst"),
        pack(&index),
    )
    .expect("index");
    sharded.shards
}

fn unfiltered(url: &str) -> CondaConfig {
    CondaConfig {
        upstream_shards: true,
        ..config(url)
    }
}

#[tokio::test]
async fn upstream_shards_are_published_as_served_checked_against_their_index() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    let shards = shard_upstream(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();

    let report = sync_mirror(&store, unfiltered(&server.url()), false)
        .await
        .expect("sync");
    assert_eq!(report.outcome, SyncOutcome::Synced);
    // Every shard came from where upstream's index said, and is published unchanged.
    let requests = server.requests();
    for (digest, bytes) in &shards {
        let name = format!("{}.msgpack.zst", digest.to_hex());
        assert!(
            requests.contains(&format!("/elsewhere/shards/{name}")),
            "{name} fetched: {requests:?}"
        );
        assert_eq!(
            &published(&store, "chan", &format!("linux-64/shards/{name}")),
            bytes
        );
    }
    // The published index names the same shards and points inside the mirror.
    let index = unpack(&published(
        &store,
        "chan",
        "linux-64/repodata_shards.msgpack.zst",
    ));
    let info = entry(&index, "info");
    assert_eq!(entry(info, "shards_base_url").as_str(), Some("./shards/"));
    assert_eq!(entry(info, "base_url").as_str(), Some("./"));
    let Value::Map(listed) = entry(&index, "shards") else {
        panic!("shards is a map");
    };
    assert_eq!(listed.len(), shards.len());
    // And they hold the published records (upstream's, every one kept); noarch, which
    // upstream does not shard, gets ours.
    assert_shards_match_repodata(&store, "chan", "linux-64");
    assert_shards_match_repodata(&store, "chan", "noarch");
}

#[tokio::test]
async fn a_tampered_shard_fails_the_sync_and_publishes_nothing() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    let shards = shard_upstream(upstream.path());
    let (digest, _) = &shards[0];
    let victim = upstream
        .path()
        .join(format!("elsewhere/shards/{}.msgpack.zst", digest.to_hex()));
    std::fs::write(&victim, pack(&Value::from("not the records"))).expect("tamper");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let error = sync_mirror(&store, unfiltered(&server.url()), false)
        .await
        .expect_err("tampered");
    let message = error.to_string();
    assert!(message.contains(&digest.to_hex()), "{message}");
    assert!(
        !store.public_dir().join("chan").exists(),
        "nothing published"
    );
}

#[tokio::test]
async fn an_index_listing_a_name_twice_is_refused_naming_it() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    shard_upstream(upstream.path());
    let path = upstream.path().join("linux-64/repodata_shards.msgpack.zst");
    let mut index = unpack(&std::fs::read(&path).expect("index"));
    if let Value::Map(entries) = &mut index {
        for (key, value) in entries.iter_mut() {
            if key.as_str() == Some("shards")
                && let Value::Map(shards) = value
            {
                let first = shards[0].clone();
                shards.push(first);
            }
        }
    }
    std::fs::write(&path, pack(&index)).expect("index");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let error = sync_mirror(&store, unfiltered(&server.url()), false)
        .await
        .expect_err("twice");
    let message = error.to_string();
    assert!(
        message.contains(&server.url_for("/linux-64/repodata_shards.msgpack.zst"))
            && message.contains("twice"),
        "{message}"
    );
    assert!(
        !store.public_dir().join("chan").exists(),
        "nothing published"
    );
}

#[test]
fn a_filtered_mirror_cannot_take_upstream_shards() {
    let error = CondaMirror::new(CondaConfig {
        specs: vec!["tool".into()],
        ..unfiltered("http://127.0.0.1:9/chan")
    })
    .expect_err("filtered");
    assert!(error.to_string().contains("upstream_shards"), "{error}");
}
