//! `CondaMirror` through the real sync driver against a loopback upstream: selection,
//! publishing, integrity, untrusted input and idempotence.

use crate::support::{
    Format, Pkg, config, package_requests, published, raw_records, standard_channel, sync_mirror,
    temp_store,
};
use mirror_conda::CondaConfig;
use mirror_core::store::Store;
use mirror_core::sync::SyncOutcome;
use mirror_test_support::TestServer;

fn names(json: &[u8]) -> Vec<String> {
    raw_records(json).into_keys().collect()
}

#[tokio::test]
async fn filtered_mirror_publishes_the_closure_with_records_unchanged() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();

    let report = sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["tool".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    assert_eq!(report.outcome, SyncOutcome::Synced);

    let linux = published(&store, "chan", "linux-64/repodata.json");
    let noarch = published(&store, "chan", "noarch/repodata.json");
    // A filtered subdir's shards hold exactly its selected records.
    for subdir in ["linux-64", "noarch"] {
        crate::support::assert_shards_match_repodata(&store, "chan", subdir);
    }
    // current_repodata.json: the newest version of each selected name.
    assert_eq!(
        names(&published(&store, "chan", "linux-64/current_repodata.json")),
        ["libzz-2.0-h0_0.conda", "tool-1.0-h0_0.conda"]
    );
    // tool 1.0 -> libzz >=1 (both), helper (noarch) -> libzz >=2; tool 0.9 -> libzz <2.
    assert_eq!(
        names(&linux),
        [
            "libzz-1.0-h0_0.tar.bz2",
            "libzz-2.0-h0_0.conda",
            "tool-0.9-h0_0.tar.bz2",
            "tool-1.0-h0_0.conda"
        ]
    );
    assert_eq!(names(&noarch), ["helper-1.0-pyh_0.conda"]);
    // Every record is byte for byte the upstream one.
    for (subdir, ours) in [("linux-64", &linux), ("noarch", &noarch)] {
        let upstream_records = raw_records(&channel.repodata(subdir));
        for (filename, raw) in raw_records(ours) {
            assert_eq!(
                Some(&raw),
                upstream_records.get(&filename),
                "{subdir}/{filename}"
            );
            // And the package itself is there, identical to upstream's.
            let package = published(&store, "chan", &format!("{subdir}/{filename}"));
            let original =
                std::fs::read(upstream.path().join(subdir).join(&filename)).expect("read");
            assert_eq!(package, original, "{filename}");
        }
    }
    // The .zst is the same index.
    let zst = published(&store, "chan", "linux-64/repodata.json.zst");
    assert_eq!(zstd::decode_all(&zst[..]).expect("zstd"), linux);
    // Unselected packages were never downloaded.
    assert!(
        !package_requests(&server)
            .iter()
            .any(|p| p.contains("bigthing"))
    );
    let summary = report.summary_json();
    assert_eq!(summary["selected"], 5);
    assert_eq!(summary["records"], 7);
    assert_eq!(summary["unresolved_dependencies"], 0, "{summary}");
}

#[tokio::test]
async fn keep_versions_exclude_and_licenses() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(true);
    let server = TestServer::serve_dir(upstream.path());

    // keep_versions = 1: tool 1.0 only; libzz >=1 and libzz >=2 both keep 2.0.
    let (_store_dir, store) = temp_store();
    sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["tool".into()],
            keep_versions: Some(1),
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    let linux = published(&store, "chan", "linux-64/repodata.json");
    assert_eq!(
        names(&linux),
        ["libzz-2.0-h0_0.conda", "tool-1.0-h0_0.conda"]
    );

    // keep_versions applies to the roots, not the universe: a root pinning an older
    // dependency still gets it.
    let (_store_dir, store) = temp_store();
    sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["tool <1".into()],
            keep_versions: Some(1),
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    let linux = published(&store, "chan", "linux-64/repodata.json");
    assert_eq!(
        names(&linux),
        ["libzz-1.0-h0_0.tar.bz2", "tool-0.9-h0_0.tar.bz2"]
    );

    // Everything but excluded and non-allowed licenses.
    let (_store_dir, store) = temp_store();
    let report = sync_mirror(
        &store,
        CondaConfig {
            exclude: vec!["bigthing".into()],
            licenses: vec!["MIT".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    let linux = published(&store, "chan", "linux-64/repodata.json");
    let kept = names(&linux);
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert!(
        !kept
            .iter()
            .any(|n| n.starts_with("bigthing") || n.starts_with("gpl-lib"))
    );
    assert_eq!(report.summary_json()["selected"], 5);
    assert_eq!(
        report.summary_json()["subdirs"][0]["license_refused"],
        1,
        "gpl-lib"
    );
}

#[tokio::test]
async fn unfiltered_mirror_keeps_upstream_index_bytes_and_second_sync_is_a_no_op() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(true);
    // noarch only as .bz2: the third fallback.
    let noarch_json = channel.repodata("noarch");
    std::fs::remove_file(upstream.path().join("noarch/repodata.json")).expect("rm");
    std::fs::remove_file(upstream.path().join("noarch/repodata.json.zst")).expect("rm");
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    std::io::Write::write_all(&mut enc, &noarch_json).expect("bz2");
    std::fs::write(
        upstream.path().join("noarch/repodata.json.bz2"),
        enc.finish().expect("bz2"),
    )
    .expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();

    let report = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect("sync");
    // The indices were stored while planning: only the 7 packages were missing.
    assert_eq!(report.missing_files, 7);
    assert_eq!(
        report.files,
        7 + 2 * 4 + 5 + 1,
        "7 packages; repodata.json, its .zst, current_repodata.json and the shard index per \
         subdir; a shard per name (libzz, tool, bigthing, gpl-lib; helper); noarch's .bz2"
    );
    // noarch is served upstream as .bz2 only: its clients get one from the mirror too.
    let mut bz2 = Vec::new();
    std::io::Read::read_to_end(
        &mut bzip2::read::BzDecoder::new(
            &published(&store, "chan", "noarch/repodata.json.bz2")[..],
        ),
        &mut bz2,
    )
    .expect("bz2");
    assert_eq!(bz2, noarch_json);
    assert!(
        !store
            .public_dir()
            .join("chan/linux-64/repodata.json.bz2")
            .exists(),
        "linux-64 is served as .zst upstream: no .bz2"
    );
    assert_eq!(
        published(&store, "chan", "linux-64/repodata.json"),
        channel.repodata("linux-64")
    );
    assert_eq!(
        published(&store, "chan", "linux-64/repodata.json.zst"),
        std::fs::read(upstream.path().join("linux-64/repodata.json.zst")).expect("read"),
        "upstream's .zst is published as served"
    );
    assert_eq!(
        published(&store, "chan", "noarch/repodata.json"),
        noarch_json
    );
    assert_eq!(
        report.summary_json()["subdirs"][1]["index"],
        "repodata.json.bz2"
    );
    assert_eq!(
        report.summary_json()["subdirs"][0]["upstream_index_kept"],
        true
    );
    for subdir in ["linux-64", "noarch"] {
        crate::support::assert_shards_match_repodata(&store, "chan", subdir);
    }

    server.clear_requests();
    let again = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect("sync");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    assert_eq!(again.snapshot, report.snapshot);
    assert!(
        package_requests(&server).is_empty(),
        "{:?}",
        server.requests()
    );

    // A changed upstream record gives a new snapshot that downloads only what is new.
    let mut channel = channel;
    channel.add(&Pkg::new("linux-64", "newcomer", "1.0", Format::Conda));
    channel.write_repodata(true);
    server.clear_requests();
    let third = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect("sync");
    assert_eq!(third.outcome, SyncOutcome::Synced);
    assert_eq!(
        package_requests(&server),
        ["/linux-64/newcomer-1.0-h0_0.conda"]
    );
}

#[tokio::test]
async fn dry_run_counts_without_downloading_packages() {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_channel(upstream.path()).write_repodata(false);
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let report = sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["helper".into()],
            ..config(&server.url())
        },
        true,
    )
    .await
    .expect("dry run");
    assert_eq!(report.outcome, SyncOutcome::DryRun);
    // helper + libzz 2.0, plus 4 index files already stored during planning.
    assert_eq!(report.missing_files, 2);
    let expected: u64 = [
        "noarch/helper-1.0-pyh_0.conda",
        "linux-64/libzz-2.0-h0_0.conda",
    ]
    .iter()
    .map(|p| {
        std::fs::metadata(upstream.path().join(p))
            .expect("stat")
            .len()
    })
    .sum();
    assert_eq!(report.missing_bytes, expected);
    assert!(package_requests(&server).is_empty());
    assert!(!store.public_dir().join("chan").exists());
}

#[tokio::test]
async fn tampered_package_is_refused_naming_file_and_digests() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(false);
    let victim = upstream.path().join("linux-64/libzz-2.0-h0_0.conda");
    let mut bytes = std::fs::read(&victim).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, &bytes).expect("tamper");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();

    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("tampered package must be refused");
    let message = err.to_string();
    let record = &channel.records["linux-64"]["packages.conda"]["libzz-2.0-h0_0.conda"];
    let expected = record["sha256"].as_str().expect("sha256");
    let actual = mirror_core::digest::Sha256Digest::of(&bytes).to_hex();
    assert!(message.contains("libzz-2.0-h0_0.conda"), "{message}");
    assert!(message.contains(expected), "{message}");
    assert!(message.contains(&actual), "{message}");
    assert!(
        !store.public_dir().join("chan").exists(),
        "nothing published"
    );
    assert!(
        store.latest_snapshot("chan").expect("load").is_none(),
        "no snapshot"
    );
}

#[tokio::test]
async fn hostile_records_fail_the_sync_or_are_skipped_and_invalid_json_names_the_url() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut channel = standard_channel(upstream.path());
    // A record filed under linux-64 that says it is osx-64, and file names that escape.
    channel.record_mut("linux-64", "bigthing-1.0-h0_0.conda")["subdir"] = "osx-64".into();
    let good = channel
        .record_mut("linux-64", "libzz-1.0-h0_0.tar.bz2")
        .clone();
    let maps = channel.records.get_mut("linux-64").expect("linux-64");
    let packages = maps.get_mut("packages").expect("packages");
    packages.insert("../../escape-1.0-h0_0.tar.bz2".into(), good.clone());
    packages.insert("sub/dir-1.0-h0_0.tar.bz2".into(), good.clone());
    packages.insert("libzz-9.0-h0_0.tar.bz2".into(), good);
    channel.write_repodata(false);
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();

    // By default a channel serving such records is refused: nothing is published.
    let refused = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("bad records fail the sync");
    let message = format!("{refused:#}");
    assert!(
        message.contains("linux-64/repodata.json") && message.contains("skip_bad_records"),
        "{message}"
    );
    assert!(store.latest_snapshot("chan").expect("load").is_none());

    // `skip_bad_records = true`: skipped, counted, never published.
    let skipping = || CondaConfig {
        skip_bad_records: true,
        ..config(&server.url())
    };
    let report = sync_mirror(&store, skipping(), false).await.expect("sync");
    let linux = published(&store, "chan", "linux-64/repodata.json");
    let kept = names(&linux);
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert!(
        !kept
            .iter()
            .any(|n| n.contains('/') || n.starts_with("bigthing") || n.contains("9.0"))
    );
    let skipped = &report.summary_json()["subdirs"][0]["skipped"];
    assert_eq!(skipped["unsafe_filename"], 2, "{skipped}");
    assert_eq!(skipped["wrong_subdir"], 1, "{skipped}");
    assert_eq!(skipped["filename_mismatch"], 1, "{skipped}");
    assert_eq!(
        report.summary_json()["subdirs"][0]["upstream_index_kept"],
        false
    );
    let tree = std::fs::canonicalize(store.public_dir().join("chan")).expect("tree");
    assert!(
        !tree
            .parent()
            .expect("parent")
            .join("escape-1.0-h0_0.tar.bz2")
            .exists()
    );

    // A filtered mirror checks the records it considers: the wrong-subdir bigthing is
    // refused, not selected.
    let filtered_dir = tempfile::tempdir().expect("tempdir");
    let filtered = Store::open(filtered_dir.path()).expect("store");
    let report = sync_mirror(
        &filtered,
        CondaConfig {
            specs: vec!["bigthing".into(), "libzz".into()],
            ..skipping()
        },
        false,
    )
    .await
    .expect("sync");
    assert_eq!(
        report.summary_json()["subdirs"][0]["skipped"]["wrong_subdir"],
        1
    );
    assert_eq!(report.summary_json()["unmatched_specs"][0], "bigthing");
    assert_eq!(
        names(&published(&filtered, "chan", "linux-64/repodata.json")),
        ["libzz-1.0-h0_0.tar.bz2", "libzz-2.0-h0_0.conda"]
    );

    // Invalid JSON: an error naming the URL, nothing published over the good tree.
    std::fs::write(
        upstream.path().join("linux-64/repodata.json"),
        b"{\"packages\": {",
    )
    .expect("write");
    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("invalid json");
    assert!(
        err.to_string()
            .contains(&server.url_for("/linux-64/repodata.json")),
        "{err}"
    );
    assert_eq!(published(&store, "chan", "linux-64/repodata.json"), linux);
}

#[tokio::test]
async fn base_url_packages_are_fetched_from_there_and_published_beside_the_index() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path().join("pkgstore").as_path());
    // The index lives elsewhere and points at the packages with a relative base_url.
    for subdir in ["linux-64", "noarch"] {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&channel.repodata(subdir)).expect("json");
        doc["info"]["base_url"] = format!("../../pkgstore/{subdir}/").into();
        doc["repodata_version"] = 2.into();
        let dir = upstream.path().join("chan").join(subdir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("repodata.json"),
            serde_json::to_vec(&doc).expect("json"),
        )
        .expect("write");
    }
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let report = sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["helper".into()],
            ..config(&server.url_for("/chan"))
        },
        false,
    )
    .await
    .expect("sync");
    assert_eq!(report.summary_json()["selected"], 2);
    let mut requested = package_requests(&server);
    requested.sort();
    assert_eq!(
        requested,
        [
            "/pkgstore/linux-64/libzz-2.0-h0_0.conda",
            "/pkgstore/noarch/helper-1.0-pyh_0.conda"
        ]
    );
    let linux = published(&store, "chan", "linux-64/repodata.json");
    let view = mirror_conda::repodata::RepoDataView::parse(&linux).expect("valid");
    assert_eq!(view.info.base_url, None);
    assert_eq!(view.repodata_version, Some(2));
    published(&store, "chan", "linux-64/libzz-2.0-h0_0.conda");
}

#[tokio::test]
async fn missing_platform_index_is_an_error_and_missing_noarch_is_generated() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut channel = crate::support::Channel::new(upstream.path());
    channel.add(&Pkg::new("linux-64", "solo", "1.0", Format::Conda));
    channel.write_repodata(false);
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    sync_mirror(&store, config(&server.url()), false)
        .await
        .expect("sync");
    let noarch = published(&store, "chan", "noarch/repodata.json");
    let typed: rattler_conda_types::RepoData = serde_json::from_slice(&noarch).expect("valid");
    assert!(typed.packages.is_empty() && typed.conda_packages.is_empty());

    let err = sync_mirror(
        &store,
        CondaConfig {
            subdirs: vec!["osx-arm64".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect_err("no osx-arm64 upstream");
    let message = err.to_string();
    assert!(message.contains("osx-arm64"), "{message}");
    assert!(message.contains("repodata.json.zst"), "{message}");
}

#[tokio::test]
async fn a_bz2_served_beside_the_json_is_published_too() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let channel = standard_channel(upstream.path());
    channel.write_repodata(true);
    // linux-64 also as .bz2 (stale on purpose: the mirror's is made from what it
    // publishes, not copied).
    std::fs::write(upstream.path().join("linux-64/repodata.json.bz2"), b"stale").expect("bz2");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let filtered = CondaConfig {
        specs: vec!["tool".into()],
        ..config(&server.url())
    };
    sync_mirror(&store, filtered, false).await.expect("sync");
    let mut bz2 = Vec::new();
    std::io::Read::read_to_end(
        &mut bzip2::read::BzDecoder::new(
            &published(&store, "chan", "linux-64/repodata.json.bz2")[..],
        ),
        &mut bz2,
    )
    .expect("bz2");
    assert_eq!(bz2, published(&store, "chan", "linux-64/repodata.json"));
    assert!(
        !store
            .public_dir()
            .join("chan/noarch/repodata.json.bz2")
            .exists(),
        "noarch serves no .bz2: none published"
    );
}
