//! Issue 13, item 4: upstream's `channeldata.json` is published, cut down to the names
//! the mirror publishes (upstream's bytes when every record is kept); an upstream
//! without one publishes none; a malformed one fails the sync naming its URL; a no-op
//! sync does not ask for it.

use mirror_conda::CondaConfig;
use mirror_core::sync::SyncOutcome;
use mirror_test_support::TestServer;

use crate::support::{config, published, standard_channel, sync_mirror, temp_store};

/// What upstream says of its names: every name of the standard channel, one it no longer
/// carries, and an osx-64 subdir the mirror does not take.
const CHANNELDATA: &str = r#"{
  "channeldata_version": 1,
  "packages": {
    "bigthing": {"description": "big", "subdirs": ["linux-64"], "version": "1.0"},
    "gpl-lib": {"license": "GPL-3.0", "subdirs": ["linux-64"], "version": "1.0"},
    "helper": {"home": "https://example.invalid/helper", "subdirs": ["noarch"], "version": "1.0"},
    "libzz": {"subdirs": ["linux-64", "osx-64"], "version": "2.0"},
    "gone": {"subdirs": ["linux-64"], "version": "0.1"},
    "tool": {"description": "the tool", "subdirs": ["linux-64", "osx-64"], "version": "1.0"}
  },
  "subdirs": ["linux-64", "noarch", "osx-64"]
}
"#;

fn published_json(store: &mirror_core::store::Store) -> serde_json::Value {
    serde_json::from_slice(&published(store, "chan", "channeldata.json")).expect("json")
}

#[tokio::test]
async fn filtered_channeldata_names_only_what_is_published() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    std::fs::write(upstream.path().join("channeldata.json"), CHANNELDATA).expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let filtered = CondaConfig {
        specs: vec!["tool".into()],
        ..config(&server.url())
    };
    let report = sync_mirror(&store, filtered.clone(), false)
        .await
        .expect("sync");
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(
        published_json(&store),
        serde_json::json!({
            "channeldata_version": 1,
            "packages": {
                "helper": {"home": "https://example.invalid/helper", "subdirs": ["noarch"], "version": "1.0"},
                "libzz": {"subdirs": ["linux-64"], "version": "2.0"},
                "tool": {"description": "the tool", "subdirs": ["linux-64"], "version": "1.0"}
            },
            "subdirs": ["linux-64", "noarch"]
        })
    );

    // A no-op sync stops at the fingerprint: channeldata.json is not asked for.
    server.clear_requests();
    let again = sync_mirror(&store, filtered, false).await.expect("no-op");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    assert!(
        !server.requests().iter().any(|p| p.contains("channeldata")),
        "{:?}",
        server.requests()
    );
}

#[tokio::test]
async fn an_unfiltered_mirror_keeps_upstream_bytes_and_none_is_published_without_one() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    let server = TestServer::serve_dir(upstream.path());

    // Upstream has none: the mirror publishes none, and the sync succeeds.
    let (_without_dir, without) = temp_store();
    sync_mirror(&without, config(&server.url()), false)
        .await
        .expect("sync");
    assert!(!without.public_dir().join("chan/channeldata.json").exists());

    std::fs::write(upstream.path().join("channeldata.json"), CHANNELDATA).expect("write");
    let (_store_dir, store) = temp_store();
    sync_mirror(&store, config(&server.url()), false)
        .await
        .expect("sync");
    assert_eq!(
        published(&store, "chan", "channeldata.json"),
        CHANNELDATA.as_bytes(),
        "every record kept: upstream's bytes"
    );
}

#[tokio::test]
async fn a_malformed_channeldata_fails_the_sync_naming_its_url() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    std::fs::write(
        upstream.path().join("channeldata.json"),
        r#"{"packages": ["not", "a", "map"]}"#,
    )
    .expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let error = sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["tool".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect_err("malformed");
    let message = error.to_string();
    assert!(
        message.contains(&server.url_for("/channeldata.json"))
            && message.contains("invalid channeldata.json"),
        "{message}"
    );
    assert!(
        !store.public_dir().join("chan").exists(),
        "nothing published"
    );
}
