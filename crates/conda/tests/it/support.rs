//! The channel most tests use (built with `mirror_test_support::conda_channel`, the one
//! conda package builder of the workspace) and the sync plumbing every test uses.

use std::collections::BTreeMap;
use std::path::Path;

use mirror_conda::{CondaConfig, CondaMirror};
use mirror_core::fetch::{FetchOptions, Fetcher};
use mirror_core::reporter::NoReporter;
use mirror_core::repository::SyncContext;
use mirror_core::store::Store;
use mirror_core::sync::{SyncError, SyncOptions, SyncReport, sync};

pub use mirror_test_support::conda_channel::{Channel, PackageFormat as Format, Pkg};

/// The channel most tests use. linux-64: `libzz` 1.0 (.tar.bz2) and 2.0 (.conda), `tool`
/// 0.9 (needs `libzz <2`) and 1.0 (needs `libzz >=1`, noarch `helper`, `__glibc`),
/// `bigthing`, `gpl-lib` (GPL). noarch: `helper` (needs `libzz >=2` from linux-64).
pub fn standard_channel(dir: &Path) -> Channel {
    let mut channel = Channel::new(dir);
    channel
        .add(&Pkg::new("linux-64", "libzz", "1.0", Format::TarBz2))
        .add(&Pkg::new("linux-64", "libzz", "2.0", Format::Conda))
        .add(&Pkg::new("linux-64", "tool", "0.9", Format::TarBz2).depends(&["libzz <2"]))
        .add(
            &Pkg::new("linux-64", "tool", "1.0", Format::Conda).depends(&[
                "libzz >=1",
                "helper",
                "__glibc >=2.17",
            ]),
        )
        .add(&Pkg::new("linux-64", "bigthing", "1.0", Format::Conda))
        .add(&Pkg::new("linux-64", "gpl-lib", "1.0", Format::TarBz2).license(Some("GPL-3.0")))
        .add(&Pkg::new("noarch", "helper", "1.0", Format::Conda).depends(&["libzz >=2"]));
    channel
}

/// A mirror config for a channel served at `url`.
pub fn config(url: &str) -> CondaConfig {
    CondaConfig {
        name: "chan".into(),
        url: url.into(),
        subdirs: vec!["linux-64".into()],
        ..CondaConfig::default()
    }
}

/// Sync (and publish unless `dry_run`) one mirror into `store`.
/// A store in a fresh temp dir; keep the dir alive as long as the store.
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    (dir, store)
}

pub async fn sync_mirror(
    store: &Store,
    config: CondaConfig,
    dry_run: bool,
) -> Result<SyncReport, SyncError> {
    let mirror = CondaMirror::new(config).expect("valid config");
    let fetcher = Fetcher::new(FetchOptions {
        retries: 1,
        retry_base_delay: std::time::Duration::from_millis(10),
        ..FetchOptions::default()
    })
    .expect("fetcher");
    let previous = store
        .latest_snapshot(&mirror.config().name)
        .expect("load previous snapshot");
    let ctx = SyncContext {
        store,
        fetcher: &fetcher,
        signing_key: None,
        reporter: &NoReporter,
        previous: previous.as_ref(),
    };
    sync(
        &mirror,
        &ctx,
        SyncOptions {
            dry_run,
            publish: !dry_run,
        },
    )
    .await
}

/// A published file's bytes.
pub fn published(store: &Store, mirror: &str, path: &str) -> Vec<u8> {
    let file = store.public_dir().join(mirror).join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The raw text of every record in a repodata.json, by file name.
pub fn raw_records(json: &[u8]) -> BTreeMap<String, String> {
    let view = mirror_conda::repodata::RepoDataView::parse(json).expect("valid repodata");
    view.records
        .iter()
        .map(|r| (r.filename.to_string(), r.raw.get().to_owned()))
        .collect()
}

/// The package paths requested from the server (anything that is not an index).
pub fn package_requests(server: &mirror_test_support::TestServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|p| p.ends_with(".conda") || p.ends_with(".tar.bz2"))
        .collect()
}
