//! Upstream's sharded repodata (CEP-16), taken as it is by an unfiltered mirror
//! (`upstream_shards = true`) instead of made again from `repodata.json`.
//!
//! Only the shard index is read here: the names and the SHA-256 of each shard, and where
//! the shards are (`info.shards_base_url`, relative to the index's URL). Each shard is
//! then planned as a download named by that digest, so the sync checks every shard
//! against it before the shard is stored or published (the digest of a CEP-16 shard is
//! the SHA-256 of its compressed file, which is also its object's name here). The index
//! the mirror publishes is its own: the same names and digests, its URLs relative
//! (`./`, `./shards/`), so no client leaves the mirror.
//!
//! An index listing a name twice, a digest that is not 32 bytes, or names that disagree
//! with the `repodata.json` of the same sync fail the sync, naming the index's URL.

use std::collections::BTreeSet;

use mirror_core::compression::{Compression, decompress};
use mirror_core::digest::Sha256Digest;
use rmpv::Value;

/// The shard index of one subdir, as upstream serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamShards {
    /// The index's URL.
    pub url: String,
    /// Where the shards are: an absolute URL ending in `/`.
    pub shards_base: String,
    /// Each package name and its shard's digest, in the index's order.
    pub shards: Vec<(String, Sha256Digest)>,
}

/// A shard index that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{url}: unusable shard index: {reason}")]
pub struct ShardIndexError {
    /// The index's URL.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

impl UpstreamShards {
    /// Reads `raw` (the compressed `repodata_shards.msgpack.zst` served at `url`),
    /// decoding at most `limit` bytes.
    pub fn parse(raw: &[u8], url: &str, limit: u64) -> Result<Self, ShardIndexError> {
        let error = |reason: String| ShardIndexError {
            url: url.to_owned(),
            reason,
        };
        let decoded =
            decompress(raw, Compression::Zstd, limit, url).map_err(|e| error(e.to_string()))?;
        let value = rmpv::decode::read_value(&mut decoded.as_slice())
            .map_err(|e| error(format!("not msgpack: {e}")))?;
        let top = as_map(&value).ok_or_else(|| error("not a map".into()))?;
        let field = |name: &str| {
            top.iter()
                .find(|(key, _)| key.as_str() == Some(name))
                .map(|(_, value)| value)
        };
        let relative = match field("info").and_then(as_map) {
            Some(info) => match info
                .iter()
                .find(|(k, _)| k.as_str() == Some("shards_base_url"))
            {
                Some((_, value)) => value
                    .as_str()
                    .ok_or_else(|| error("info.shards_base_url is not a string".into()))?
                    .to_owned(),
                None => "./shards/".to_owned(),
            },
            None => return Err(error("no info map".into())),
        };
        let base = url::Url::parse(url)
            .and_then(|index| index.join(&relative))
            .map_err(|e| error(format!("shards_base_url {relative:?}: {e}")))?;
        let mut shards_base = base.to_string();
        if !shards_base.ends_with('/') {
            shards_base.push('/');
        }
        let entries = field("shards")
            .and_then(as_map)
            .ok_or_else(|| error("no shards map".into()))?;
        let mut seen = BTreeSet::new();
        let mut shards = Vec::with_capacity(entries.len());
        for (name, digest) in entries {
            let name = name
                .as_str()
                .ok_or_else(|| error("a package name that is not a string".into()))?;
            if !seen.insert(name) {
                return Err(error(format!("lists {name:?} twice")));
            }
            let digest = match digest {
                Value::Binary(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).ok(),
                _ => None,
            }
            .ok_or_else(|| error(format!("the digest of {name:?} is not 32 bytes")))?;
            shards.push((name.to_owned(), Sha256Digest(digest)));
        }
        Ok(UpstreamShards {
            url: url.to_owned(),
            shards_base,
            shards,
        })
    }

    /// Checks that the index names exactly the package names of `names` (those of the
    /// `repodata.json` published beside it).
    pub fn check_names<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ShardIndexError> {
        let listed: BTreeSet<&str> = self.shards.iter().map(|(n, _)| n.as_str()).collect();
        let published: BTreeSet<&str> = names.into_iter().collect();
        if listed == published {
            return Ok(());
        }
        let only_index: Vec<&&str> = listed.difference(&published).take(3).collect();
        let only_repodata: Vec<&&str> = published.difference(&listed).take(3).collect();
        Err(ShardIndexError {
            url: self.url.clone(),
            reason: format!(
                "its names disagree with repodata.json (only in the index: {only_index:?}, \
                 only in repodata.json: {only_repodata:?})"
            ),
        })
    }

    /// The URL of the shard with `digest`.
    pub fn shard_url(&self, digest: &Sha256Digest) -> String {
        format!("{}{}.msgpack.zst", self.shards_base, digest.to_hex())
    }
}

fn as_map(value: &Value) -> Option<&Vec<(Value, Value)>> {
    match value {
        Value::Map(entries) => Some(entries),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(shards: Vec<(Value, Value)>, info: Vec<(Value, Value)>) -> Vec<u8> {
        let value = Value::Map(vec![
            (Value::from("version"), Value::from(1)),
            (Value::from("info"), Value::Map(info)),
            (Value::from("shards"), Value::Map(shards)),
        ]);
        let mut raw = Vec::new();
        rmpv::encode::write_value(&mut raw, &value).expect("encode");
        zstd::encode_all(raw.as_slice(), 3).expect("zstd")
    }

    const URL: &str = "http://up/chan/linux-64/repodata_shards.msgpack.zst";

    #[test]
    fn reads_names_digests_and_resolves_the_shards_url() {
        let digest = Value::Binary(vec![7; 32]);
        let base = |url: &str| vec![(Value::from("shards_base_url"), Value::from(url))];
        for (given, expected) in [
            ("./shards/", "http://up/chan/linux-64/shards/"),
            ("https://cdn/x/shards", "https://cdn/x/shards/"),
            ("../../elsewhere/", "http://up/elsewhere/"),
        ] {
            let raw = index(vec![(Value::from("zlib"), digest.clone())], base(given));
            let parsed = UpstreamShards::parse(&raw, URL, 1 << 20).expect("parses");
            assert_eq!(parsed.shards_base, expected);
            assert_eq!(parsed.shards, [("zlib".to_owned(), Sha256Digest([7; 32]))]);
            assert_eq!(
                parsed.shard_url(&Sha256Digest([7; 32])),
                format!("{expected}{}.msgpack.zst", "07".repeat(32))
            );
        }
        let raw = index(vec![(Value::from("zlib"), digest)], vec![]);
        assert_eq!(
            UpstreamShards::parse(&raw, URL, 1 << 20)
                .expect("parses")
                .shards_base,
            "http://up/chan/linux-64/shards/"
        );
    }

    #[test]
    fn a_name_twice_or_a_short_digest_is_refused_naming_the_url() {
        let twice = index(
            vec![
                (Value::from("zlib"), Value::Binary(vec![1; 32])),
                (Value::from("zlib"), Value::Binary(vec![2; 32])),
            ],
            vec![],
        );
        let short = index(
            vec![(Value::from("zlib"), Value::Binary(vec![1; 31]))],
            vec![],
        );
        for (raw, reason) in [
            (twice, "lists \"zlib\" twice"),
            (short, "is not 32 bytes"),
            (b"not zstd".to_vec(), "cannot decompress"),
        ] {
            let error = UpstreamShards::parse(&raw, URL, 1 << 20).expect_err(reason);
            let message = error.to_string();
            assert!(
                message.starts_with(URL) && message.contains(reason),
                "{message}"
            );
        }
    }

    #[test]
    fn names_must_match_the_repodata() {
        let raw = index(
            vec![(Value::from("zlib"), Value::Binary(vec![1; 32]))],
            vec![],
        );
        let parsed = UpstreamShards::parse(&raw, URL, 1 << 20).expect("parses");
        parsed.check_names(["zlib"]).expect("same names");
        let message = parsed
            .check_names(["zlib", "zstd"])
            .expect_err("differ")
            .to_string();
        assert!(
            message.contains("only in repodata.json: [\"zstd\"]"),
            "{message}"
        );
    }
}
