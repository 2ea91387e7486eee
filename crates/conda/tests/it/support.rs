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

/// Issue 13: every record of a published subdir's `repodata.json` is in the shard of its
/// name, with the same value (digests as bytes there, hex here), and every shard the index
/// names is published and named by the SHA-256 of its bytes.
pub fn assert_shards_match_repodata(store: &Store, mirror: &str, subdir: &str) {
    use mirror_core::digest::Sha256Digest;
    use rmpv::Value;
    /// msgpack back to JSON; bytes (as hex) only under a digest key, or anywhere when
    /// `any_bytes` (the index: a name -> its shard's digest).
    fn to_json(value: &Value, key: Option<&str>, any_bytes: bool) -> serde_json::Value {
        match value {
            Value::Nil => serde_json::Value::Null,
            Value::Boolean(b) => (*b).into(),
            Value::Integer(i) => i
                .as_u64()
                .map(Into::into)
                .or_else(|| i.as_i64().map(Into::into))
                .expect("an integer"),
            Value::F64(f) => (*f).into(),
            Value::String(s) => s.as_str().expect("utf-8").into(),
            Value::Binary(b) => {
                assert!(
                    any_bytes || matches!(key, Some("sha256" | "md5" | "legacy_bz2_md5")),
                    "bytes only for digests, not {key:?}"
                );
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
                    .into()
            }
            Value::Array(items) => items.iter().map(|v| to_json(v, None, any_bytes)).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("string keys");
                    (k.to_owned(), to_json(v, Some(k), any_bytes))
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => panic!("unexpected msgpack value {other}"),
        }
    }
    let unpack = |bytes: &[u8]| {
        let raw = zstd::decode_all(bytes).expect("zstd");
        rmpv::decode::read_value(&mut &raw[..]).expect("msgpack")
    };
    let repodata: serde_json::Value = serde_json::from_slice(&published(
        store,
        mirror,
        &format!("{subdir}/repodata.json"),
    ))
    .expect("json");
    let index = unpack(&published(
        store,
        mirror,
        &format!("{subdir}/repodata_shards.msgpack.zst"),
    ));
    let index = to_json(&index, None, true);
    let mut seen = 0;
    for (name, digest) in index["shards"].as_object().expect("shards") {
        let digest = digest.as_str().expect("hex");
        let bytes = published(
            store,
            mirror,
            &format!("{subdir}/shards/{digest}.msgpack.zst"),
        );
        assert_eq!(
            Sha256Digest::of(&bytes).to_hex(),
            digest,
            "{name}: content-addressed"
        );
        let shard = to_json(&unpack(&bytes), None, false);
        for key in ["packages", "packages.conda"] {
            for (file, record) in shard[key].as_object().expect("a map") {
                assert_eq!(record["name"], name.as_str(), "{file} in {name}'s shard");
                assert_eq!(
                    record, &repodata[key][file],
                    "{file}: the shard's record is the published one"
                );
                seen += 1;
            }
        }
    }
    let published_records: usize = ["packages", "packages.conda"]
        .iter()
        .map(|k| repodata[*k].as_object().map_or(0, serde_json::Map::len))
        .sum();
    assert_eq!(
        seen, published_records,
        "every published record is in a shard"
    );
}
