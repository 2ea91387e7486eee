//! Sharded repodata (CEP-16) for a published subdir: what rattler, pixi and other
//! current clients fetch instead of the whole `repodata.json` (the index, then one small
//! shard per package name the solve reaches).
//!
//! The shards are made from the `repodata.json` the mirror publishes, after it is
//! written: the same records, byte for byte the same values (patches included), so a
//! client solves the same whichever it reads. Per CEP-16 and as rattler-index writes it:
//!
//! - `<subdir>/shards/<sha256>.msgpack.zst`: a zstd-compressed msgpack map
//!   `{packages, packages.conda, removed}` holding every record of one package name,
//!   named by the SHA-256 of the compressed file (content-addressed: a shard that did not
//!   change keeps its name and its object);
//! - `<subdir>/repodata_shards.msgpack.zst`: `{version: 1, info: {subdir, base_url,
//!   shards_base_url}, shards: {name: sha256 as 32 bytes}}`, with both URLs relative
//!   (`./`, `./shards/`), so a client never leaves the mirror.
//!
//! A record's `sha256`, `md5` and `legacy_bz2_md5` become bytes (CEP-16: hex to binary);
//! every other value keeps its JSON type. Maps are written with sorted keys and no
//! creation time, so the same records always give the same bytes (a no-op sync
//! publishes the same objects). Shards are built and compressed on every core.

use std::collections::BTreeMap;

use mirror_core::compression::{Compression, compress};
use mirror_core::digest::Sha256Digest;
use rayon::prelude::*;
use rmpv::Value;
use serde_json::Value as Json;

use crate::repodata::{RecordMap, RepoDataView};

/// The files of one subdir's sharded repodata.
#[derive(Debug)]
pub struct ShardedRepodata {
    /// `repodata_shards.msgpack.zst`.
    pub index: Vec<u8>,
    /// Each shard's compressed bytes and their SHA-256 (its file name).
    pub shards: Vec<(Sha256Digest, Vec<u8>)>,
    /// The package names, sorted (one shard each).
    pub names: Vec<String>,
}

/// A record that cannot be sharded (the published repodata is ours, so this means a
/// bug, not hostile input: every record was checked before it was published).
#[derive(Debug, thiserror::Error)]
#[error("record {file:?} cannot be sharded: {reason}")]
pub struct ShardError {
    /// The record's file name.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Shard `view` (the published `repodata.json` of `subdir`, parsed).
pub fn shard(view: &RepoDataView<'_>, subdir: &str) -> Result<ShardedRepodata, ShardError> {
    // Group first by name, borrowing (only each record's name is parsed here), then
    // build, encode and compress one name's shard at a time on every core: msgpack values
    // of a whole conda-forge subdir at once were ~4x its JSON in memory.
    let named: Vec<(std::borrow::Cow<'_, str>, &crate::repodata::RawRecord<'_>)> = view
        .records
        .par_iter()
        .map(|record| {
            let name: NameOnly<'_> =
                serde_json::from_str(record.raw.get()).map_err(|e| ShardError {
                    file: record.filename.to_string(),
                    reason: format!("no name: {e}"),
                })?;
            Ok((name.name, record))
        })
        .collect::<Result<_, ShardError>>()?;
    let mut by_name: BTreeMap<std::borrow::Cow<'_, str>, Vec<&crate::repodata::RawRecord<'_>>> =
        BTreeMap::new();
    for (name, record) in named {
        by_name.entry(name).or_default().push(record);
    }
    let shards: Vec<(String, Sha256Digest, Vec<u8>)> = by_name
        .into_par_iter()
        .map(|(name, records)| {
            let mut packages = BTreeMap::new();
            let mut conda = BTreeMap::new();
            for record in records {
                let file = record.filename.to_string();
                let error = |reason: String| ShardError {
                    file: file.clone(),
                    reason,
                };
                let json: Json =
                    serde_json::from_str(record.raw.get()).map_err(|e| error(e.to_string()))?;
                let value = record_value(&json).map_err(error)?;
                match record.map {
                    RecordMap::Packages => packages.insert(file, value),
                    RecordMap::PackagesConda => conda.insert(file, value),
                };
            }
            let shard = map([
                ("packages", map_of(packages)),
                ("packages.conda", map_of(conda)),
                ("removed", Value::Array(Vec::new())),
            ]);
            let bytes = compressed(&shard);
            Ok((name.into_owned(), Sha256Digest::of(&bytes), bytes))
        })
        .collect::<Result<_, ShardError>>()?;
    let index = index_bytes(
        subdir,
        shards
            .iter()
            .map(|(name, digest, _)| (name.as_str(), digest)),
    );
    let (names, shards) = shards
        .into_iter()
        .map(|(name, digest, bytes)| (name, (digest, bytes)))
        .unzip();
    Ok(ShardedRepodata {
        index,
        shards,
        names,
    })
}

/// A shard index (`repodata_shards.msgpack.zst`, compressed) naming each shard by its
/// digest, its URLs relative so a client never leaves the mirror.
pub(crate) fn index_bytes<'n>(
    subdir: &str,
    shards: impl Iterator<Item = (&'n str, &'n Sha256Digest)>,
) -> Vec<u8> {
    let index = map([
        ("version", Value::from(1)),
        (
            "info",
            map([
                ("base_url", Value::from("./")),
                ("shards_base_url", Value::from("./shards/")),
                ("subdir", Value::from(subdir)),
            ]),
        ),
        (
            "shards",
            Value::Map(
                shards
                    .map(|(name, digest)| (Value::from(name), Value::Binary(digest.0.to_vec())))
                    .collect(),
            ),
        ),
    ]);
    compressed(&index)
}

/// A record's name, borrowed unless the JSON escapes it.
#[derive(serde::Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
}

/// A record as msgpack: its JSON value, with the digests as bytes.
fn record_value(json: &Json) -> Result<Value, String> {
    let Json::Object(fields) = json else {
        return Err("not an object".into());
    };
    let mut packed = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let value = match (key.as_str(), value) {
            ("sha256" | "md5" | "legacy_bz2_md5", Json::String(text)) => Value::Binary(
                hex::decode(text).map_err(|e| format!("{key} is not hex: {text:?} ({e})"))?,
            ),
            _ => json_value(value),
        };
        packed.push((Value::from(key.as_str()), value));
    }
    Ok(Value::Map(packed))
}

/// A JSON value as msgpack, type for type.
fn json_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, Some(f)) => Value::F64(f),
            (None, None, None) => Value::Nil,
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(json_value).collect()),
        Json::Object(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_value(v)))
                .collect(),
        ),
    }
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn map_of(entries: BTreeMap<String, Value>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// msgpack, then zstd at the workspace's fixed level (byte-for-byte reproducible).
fn compressed(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value).expect("writing to a Vec cannot fail");
    compress(&bytes, Compression::Zstd).expect("zstd compresses any bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Value {
        let raw = zstd::decode_all(bytes).expect("zstd");
        rmpv::decode::read_value(&mut &raw[..]).expect("msgpack")
    }

    fn get<'a>(value: &'a Value, key: &str) -> &'a Value {
        value
            .as_map()
            .expect("a map")
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {value}"))
    }

    #[test]
    fn one_shard_per_name_with_the_records_and_binary_digests() {
        let sha = "a".repeat(64);
        let json = format!(
            r#"{{"info": {{"subdir": "linux-64"}},
              "packages": {{"zlib-1.0-0.tar.bz2": {{"name": "zlib", "version": "1.0", "build": "0", "build_number": 0, "sha256": "{sha}", "md5": "00112233445566778899aabbccddeeff", "size": 10, "depends": [], "timestamp": 1700000000000}}}},
              "packages.conda": {{"zlib-1.1-0.conda": {{"name": "zlib", "version": "1.1", "build": "0", "build_number": 0, "sha256": "{sha}", "size": 11, "depends": ["libc >=2"], "noarch": null}},
                                  "curl-8.0-0.conda": {{"name": "curl", "version": "8.0", "build": "0", "build_number": 0, "sha256": "{sha}", "size": 12, "depends": ["zlib"]}}}}}}"#
        );
        let view = RepoDataView::parse(json.as_bytes()).expect("parses");
        let sharded = shard(&view, "linux-64").expect("shards");
        assert_eq!(sharded.shards.len(), 2, "zlib and curl");
        for (digest, bytes) in &sharded.shards {
            assert_eq!(*digest, Sha256Digest::of(bytes), "named by their content");
        }

        let index = decode(&sharded.index);
        assert_eq!(get(&index, "version").as_u64(), Some(1));
        let info = get(&index, "info");
        assert_eq!(get(info, "base_url").as_str(), Some("./"));
        assert_eq!(get(info, "shards_base_url").as_str(), Some("./shards/"));
        assert_eq!(get(info, "subdir").as_str(), Some("linux-64"));
        let Value::Binary(zlib) = get(get(&index, "shards"), "zlib") else {
            panic!("the digest is 32 bytes, not hex")
        };
        let zlib_shard = sharded
            .shards
            .iter()
            .find(|(d, _)| d.0[..] == zlib[..])
            .map(|(_, b)| decode(b))
            .expect("the index names an existing shard");
        let tar = get(get(&zlib_shard, "packages"), "zlib-1.0-0.tar.bz2");
        assert_eq!(get(tar, "version").as_str(), Some("1.0"));
        assert_eq!(get(tar, "timestamp").as_u64(), Some(1_700_000_000_000));
        assert_eq!(get(tar, "sha256"), &Value::Binary(vec![0xaa; 32]));
        assert_eq!(get(tar, "md5").as_slice().map(<[u8]>::len), Some(16));
        let conda = get(get(&zlib_shard, "packages.conda"), "zlib-1.1-0.conda");
        assert_eq!(get(conda, "noarch"), &Value::Nil);
        assert_eq!(
            get(conda, "depends"),
            &Value::Array(vec![Value::from("libc >=2")])
        );
        assert_eq!(get(&zlib_shard, "removed"), &Value::Array(Vec::new()));

        // The same records, the same bytes.
        let again = shard(&view, "linux-64").expect("shards");
        assert_eq!(again.index, sharded.index);
    }

    #[test]
    fn a_digest_that_is_not_hex_is_named() {
        let json = r#"{"packages": {"a-1-0.tar.bz2": {"name": "a", "sha256": "xyz"}}}"#;
        let view = RepoDataView::parse(json.as_bytes()).expect("parses");
        let err = shard(&view, "noarch").expect_err("not hex");
        assert!(err.to_string().contains("a-1-0.tar.bz2"), "{err}");
    }
}
