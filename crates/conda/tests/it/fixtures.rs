//! Mirroring the real channels in `MIRROR_FIXTURES` (skipped when it is unset): the
//! conda_format_repo channel, the hotfix channel with patched records, and the malformed
//! package.

use std::path::Path;

use crate::support::{config, package_requests, published, raw_records, sync_mirror, temp_store};
use mirror_conda::CondaConfig;
use mirror_conda::package_check::{PackageError, check_package_file};
use mirror_core::digest::Sha256Digest;
use mirror_test_support::{TestServer, copy_tree, fixtures};
use serde_json::Value;

fn conda_fixtures() -> Option<std::path::PathBuf> {
    fixtures().map(|f| f.join("conda"))
}

#[tokio::test]
async fn conda_format_repo_mirrors_with_verified_packages() {
    let Some(fixtures) = conda_fixtures() else {
        return;
    };
    let repo = fixtures.join("conda+conda/tests/data/conda_format_repo");
    let server = TestServer::serve_dir(&repo);
    let (_store_dir, store) = temp_store();

    // The fixture lists libgcc-ng but does not ship its file: an unfiltered mirror must
    // fail, naming it, and publish nothing.
    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("libgcc-ng is listed but absent");
    assert!(
        err.to_string()
            .contains("libgcc-ng-8.2.0-hdf63c60_1.tar.bz2"),
        "{err}"
    );
    assert!(!store.public_dir().join("chan").exists());

    // zlib without libgcc-ng: both archives, verified against the records.
    let report = sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["zlib".into()],
            exclude: vec!["libgcc-ng".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    assert_eq!(report.summary_json()["selected"], 2);
    assert_eq!(
        report.summary_json()["unresolved_dependencies"],
        1,
        "libgcc-ng >=7.3.0"
    );
    let linux = published(&store, "chan", "linux-64/repodata.json");
    let upstream = std::fs::read(repo.join("linux-64/repodata.json")).expect("read");
    let upstream_records = raw_records(&upstream);
    let ours = raw_records(&linux);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        [
            "zlib-1.2.11-h7b6447c_3.conda",
            "zlib-1.2.11-h7b6447c_3.tar.bz2"
        ]
    );
    for (filename, raw) in &ours {
        assert_eq!(Some(raw), upstream_records.get(filename));
        let record: Value = serde_json::from_str(raw).expect("json");
        let package = published(&store, "chan", &format!("linux-64/{filename}"));
        assert_eq!(
            Some(Sha256Digest::of(&package).to_hex().as_str()),
            record["sha256"].as_str()
        );
        assert_eq!(Some(package.len() as u64), record["size"].as_u64());
    }
    // noarch is upstream's (empty) index, unchanged.
    assert_eq!(
        published(&store, "chan", "noarch/repodata.json"),
        std::fs::read(repo.join("noarch/repodata.json")).expect("read")
    );
    // A real client's typed parse accepts what we publish.
    let typed: rattler_conda_types::RepoData = serde_json::from_slice(&linux).expect("typed");
    assert_eq!(typed.conda_packages.len(), 1);
}

/// Rewrite `repodata.json` of `subdir` in the channel at `dir` with `patch`.
fn patch_index(dir: &Path, subdir: &str, patch: impl FnOnce(&mut Value)) -> Vec<u8> {
    let path = dir.join(subdir).join("repodata.json");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    patch(&mut doc);
    let text = serde_json::to_vec_pretty(&doc).expect("json");
    std::fs::write(&path, &text).expect("write");
    // The fixture also serves a .bz2 of the unpatched index; the mirror must not prefer it.
    let _ = std::fs::remove_file(dir.join(subdir).join("repodata.json.bz2"));
    text
}

#[tokio::test]
async fn hotfix_channel_keeps_patched_records_exactly() {
    let Some(fixtures) = conda_fixtures() else {
        return;
    };
    let original = fixtures.join("conda+conda-index/tests/index_hotfix_pkgs");

    // As served: an unfiltered mirror publishes the index bytes unchanged, all four
    // packages verified.
    let server = TestServer::serve_dir(&original);
    let (_store_dir, store) = temp_store();
    let osx = || CondaConfig {
        subdirs: vec!["osx-64".into()],
        ..config(&server.url())
    };
    let report = sync_mirror(&store, osx(), false).await.expect("sync");
    assert_eq!(report.summary_json()["selected"], 4);
    assert_eq!(
        published(&store, "chan", "osx-64/repodata.json"),
        std::fs::read(original.join("osx-64/repodata.json")).expect("read")
    );
    drop(server);

    // Patched upstream (what repodata hotfixes do: changed depends, revoked and removed
    // records): the mirror keeps the patched records, not what the packages say.
    let upstream = tempfile::tempdir().expect("tempdir");
    copy_tree(&original, upstream.path()).expect("copy fixture");
    let patched = patch_index(upstream.path(), "osx-64", |doc| {
        let packages = doc["packages"].as_object_mut().expect("packages");
        packages["hotfix_depends_test-1.0-dummy_0.tar.bz2"]["depends"] =
            serde_json::json!(["zlib >=1.2.11,<1.3.0a0"]);
        packages["revoke_test-1.0-0.tar.bz2"]["revoked"] = true.into();
        packages.remove("remove_test-1.0-0.tar.bz2");
        doc["removed"] = serde_json::json!(["remove_test-1.0-0.tar.bz2"]);
    });
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["hotfix_depends_test".into(), "revoke_test".into()],
            subdirs: vec!["osx-64".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    let ours = published(&store, "chan", "osx-64/repodata.json");
    let ours_records = raw_records(&ours);
    let patched_records = raw_records(&patched);
    let from_packages = raw_records(
        &std::fs::read(original.join("osx-64/repodata_from_packages.json")).expect("read"),
    );
    assert_eq!(ours_records.len(), 2);
    for (filename, raw) in &ours_records {
        assert_eq!(
            Some(raw),
            patched_records.get(filename),
            "{filename} kept as patched"
        );
        assert_ne!(
            Some(raw),
            from_packages.get(filename),
            "{filename} differs from the package"
        );
    }
    let view = mirror_conda::repodata::RepoDataView::parse(&ours).expect("valid");
    assert_eq!(view.removed, ["remove_test-1.0-0.tar.bz2"]);
    assert!(
        !package_requests(&server)
            .iter()
            .any(|p| p.contains("remove_test"))
    );
}

#[tokio::test]
async fn malformed_package_fixture_is_refused() {
    let Some(fixtures) = conda_fixtures() else {
        return;
    };
    let name = "ca-certificates-2024.7.4-hbcca054_0.conda";
    let malformed = fixtures
        .join("conda+rattler/crates/rattler_package_streaming/tests/resources")
        .join(name);
    let upstream = tempfile::tempdir().expect("tempdir");
    let linux = upstream.path().join("linux-64");
    std::fs::create_dir_all(&linux).expect("mkdir");
    let bytes = std::fs::read(&malformed).expect("read fixture");
    std::fs::write(linux.join(name), &bytes).expect("copy");
    // The index promises the well-formed package (a different digest) of the same size.
    let promised = Sha256Digest::of(b"the genuine package").to_hex();
    let index = serde_json::json!({
        "info": {"subdir": "linux-64"},
        "packages.conda": {name: {
            "name": "ca-certificates", "version": "2024.7.4", "build": "hbcca054_0",
            "build_number": 0, "depends": [], "license": "MPL-2.0", "subdir": "linux-64",
            "sha256": promised, "size": bytes.len(),
        }},
        "repodata_version": 1,
    });
    std::fs::write(
        linux.join("repodata.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("digest mismatch");
    let message = err.to_string();
    assert!(message.contains(name), "{message}");
    assert!(message.contains(&promised), "{message}");
    assert!(
        message.contains(&Sha256Digest::of(&bytes).to_hex()),
        "{message}"
    );
    assert!(!store.public_dir().join("chan").exists());

    // Even with a matching digest the archive is not a usable .conda: the structural check
    // says why (members under a directory, no metadata.json at the root).
    let err = check_package_file(&malformed, name).expect_err("malformed");
    assert!(matches!(err, PackageError::MissingMember { .. }), "{err}");

    // And the sync runs that check: an index promising exactly these bytes still does not
    // get them published.
    let mut honest = index.clone();
    honest["packages.conda"][name]["sha256"] = Sha256Digest::of(&bytes).to_hex().into();
    std::fs::write(
        linux.join("repodata.json"),
        serde_json::to_vec(&honest).expect("json"),
    )
    .expect("write");
    let err = sync_mirror(&store, config(&server.url()), false)
        .await
        .expect_err("malformed package refused");
    let message = err.to_string();
    assert!(message.contains("malformed package"), "{message}");
    assert!(message.contains(name), "{message}");
    assert!(!store.public_dir().join("chan").exists());
}
