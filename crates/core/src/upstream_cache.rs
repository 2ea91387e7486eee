//! What a mirror remembers about its upstream between syncs, so that it can ask less:
//! per URL, the validators the server sent with a body (`ETag`, `Last-Modified`) and the
//! object holding that body as served. The next sync asks with those validators
//! ([`Fetcher::get_conditional`](crate::fetch::Fetcher::get_conditional)); a `304 Not
//! Modified` then costs one small request, and the body is read back from the store
//! only if the plan needs it.
//!
//! It is a cache, never a source of truth:
//! - an entry is used only while its object is in the store, and an object read back is
//!   hashed again before use ([`Store::cached_body`]); anything else is a cache miss,
//!   which costs one full fetch;
//! - a missing file is an empty cache, and an unreadable or unparsable one is an empty
//!   cache with a warning (the next sync rewrites it);
//! - `prune` keeps the objects the caches name ([`Store::cached_digests`]), so a
//!   filtered mirror, whose published tree does not hold upstream's index, keeps its
//!   no-op after a prune.
//!
//! One file per mirror, `<store>/cache/<mirror>.json`, written atomically by the sync
//! that holds the writer lock. It is not part of snapshots, bundles or the audit log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::fetch::Validators;
use crate::store::{Store, StoreError, write_atomic};

/// The cache file's format version; another version is read as an empty cache.
const VERSION: u32 = 1;

/// One mirror's cache: URL -> what we hold of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamCache {
    version: u32,
    entries: BTreeMap<String, CachedBody>,
}

/// A body as an upstream served it, and how to ask whether it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedBody {
    /// What the server sent with it.
    pub validators: Validators,
    /// The object holding the body, byte for byte as served.
    pub sha256: Sha256Digest,
    /// Its length.
    pub size: u64,
    /// When it was last received whole (seconds since the Unix epoch).
    pub received: u64,
}

impl CachedBody {
    /// A body received whole just now.
    pub fn received_now(validators: Validators, sha256: Sha256Digest, size: u64) -> Self {
        Self {
            validators,
            sha256,
            size,
            received: unix_now(),
        }
    }

    /// True while the body was received whole less than `max_age` ago: after that a
    /// format asks without validators, so that a server answering 304 for a changed
    /// body (a broken ETag) cannot keep a mirror stale for longer.
    pub fn younger_than(&self, max_age: std::time::Duration) -> bool {
        unix_now().saturating_sub(self.received) < max_age.as_secs()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl UpstreamCache {
    /// What is cached for `url` (as requested, credentials never in it).
    pub fn get(&self, url: &str) -> Option<&CachedBody> {
        self.entries.get(url)
    }

    /// Remember `body` for `url`.
    pub fn insert(&mut self, url: &str, body: CachedBody) {
        self.entries.insert(url.to_owned(), body);
    }

    /// Forget `url` (its body is gone upstream, or another form replaced it).
    pub fn remove(&mut self, url: &str) {
        self.entries.remove(url);
    }

    /// Keep only the URLs `keep` accepts (those the mirror still asks for).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|url, _| keep(url));
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Store {
    /// `cache/`: each mirror's [`UpstreamCache`].
    pub fn cache_dir(&self) -> PathBuf {
        self.root().join("cache")
    }

    fn upstream_cache_path(&self, mirror: &str) -> PathBuf {
        self.cache_dir().join(format!("{mirror}.json"))
    }

    /// `mirror`'s cache; empty when there is none or it cannot be read (see the module
    /// docs: a damaged cache costs a full fetch, nothing else).
    pub fn upstream_cache(&self, mirror: &str) -> UpstreamCache {
        let path = self.upstream_cache_path(mirror);
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return UpstreamCache::default(),
            Err(error) => {
                tracing::warn!(%error, "upstream cache unreadable; fetching everything again");
                return UpstreamCache::default();
            }
        };
        match serde_json::from_slice::<UpstreamCache>(&bytes) {
            Ok(cache) if cache.version == VERSION => cache,
            Ok(cache) => {
                tracing::info!(
                    path = %path.display(),
                    version = cache.version,
                    "upstream cache of another version; fetching everything again"
                );
                UpstreamCache::default()
            }
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    %error,
                    "upstream cache unparsable; fetching everything again"
                );
                UpstreamCache::default()
            }
        }
    }

    /// Write `mirror`'s cache (atomically). The caller holds the writer lock.
    pub fn save_upstream_cache(
        &self,
        mirror: &str,
        cache: &UpstreamCache,
    ) -> Result<(), StoreError> {
        let cache = UpstreamCache {
            version: VERSION,
            entries: cache.entries.clone(),
        };
        let json = serde_json::to_vec_pretty(&cache).expect("a cache always serialises");
        write_atomic(&self.upstream_cache_path(mirror), &json)
    }

    /// The body `cached` names, read from the store and hashed again; `None` when the
    /// object is gone or does not hash to its digest (a cache miss, never an error).
    pub fn cached_body(&self, cached: &CachedBody) -> Option<Vec<u8>> {
        let bytes = self.objects().read(&cached.sha256).ok()?;
        (bytes.len() as u64 == cached.size && Sha256Digest::of(&bytes) == cached.sha256)
            .then_some(bytes)
    }

    /// Every object any mirror's cache names (what `prune` keeps besides snapshots).
    pub fn cached_digests(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let dir = self.cache_dir();
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut digests = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(mirror) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            digests.extend(
                self.upstream_cache(mirror)
                    .entries
                    .values()
                    .map(|body| body.sha256),
            );
        }
        Ok(digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_round_trips_and_a_damaged_one_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        assert!(store.upstream_cache("m").is_empty(), "none yet");
        let body = b"{\"packages\": {}}".to_vec();
        let digest = store.objects().insert_bytes(&body).expect("insert");
        let mut cache = UpstreamCache::default();
        let cached = CachedBody {
            validators: Validators {
                etag: Some("\"abc\"".into()),
                last_modified: None,
            },
            sha256: digest,
            size: body.len() as u64,
            received: 0,
        };
        assert!(!cached.younger_than(std::time::Duration::from_secs(86_400)));
        cache.insert("http://up/linux-64/repodata.json", cached.clone());
        store.save_upstream_cache("m", &cache).expect("save");
        let loaded = store.upstream_cache("m");
        assert_eq!(
            loaded.get("http://up/linux-64/repodata.json"),
            Some(&cached)
        );
        assert_eq!(store.cached_body(&cached), Some(body.clone()));
        assert_eq!(store.cached_digests().expect("digests"), vec![digest]);

        // An object that no longer hashes right is a miss, not an error.
        let wrong = CachedBody {
            size: 3,
            ..cached.clone()
        };
        assert_eq!(store.cached_body(&wrong), None);

        std::fs::write(store.cache_dir().join("m.json"), b"{ not json").expect("write");
        assert!(store.upstream_cache("m").is_empty());
        std::fs::write(
            store.cache_dir().join("m.json"),
            br#"{"version": 99, "entries": {}}"#,
        )
        .expect("write");
        assert!(store.upstream_cache("m").is_empty());
    }
}
