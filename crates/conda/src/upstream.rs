//! Getting one subdir's `repodata.json` from upstream: `repodata.json.zst` when the channel
//! has it (a tenth of the bytes), else `repodata.json`, else `repodata.json.bz2`; every form
//! decompressed under a hard size bound.
//!
//! Conda channels are not signed, so there is nothing to verify the index against: it is
//! trusted as served (over https when the URL says so), and every package is then checked
//! against the sha256 its record gives.

use bytes::Bytes;
use mirror_core::compression::{Compression, decompress};
use mirror_core::digest::Sha256Digest;
use mirror_core::fetch::{Conditional, Fetcher, Validators};
use mirror_core::store::Store;
use mirror_core::upstream_cache::{CachedBody, UpstreamCache};

use crate::error::CondaError;
use crate::select::NOARCH;
use crate::writer::empty_repodata;

/// Largest repodata accepted, compressed or not (conda-forge linux-64 is ~300 MB today).
pub const MAX_REPODATA_BYTES: u64 = 4 << 30;

/// Which form of the index was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    /// `repodata.json.zst`.
    Zstd,
    /// `repodata.json`.
    Plain,
    /// `repodata.json.bz2`.
    Bzip2,
    /// Upstream has none (allowed for `noarch` only): an empty index was generated.
    Absent,
}

impl IndexSource {
    /// The file name it was read from (`absent` when generated).
    pub fn label(self) -> &'static str {
        match self {
            IndexSource::Zstd => "repodata.json.zst",
            IndexSource::Plain => "repodata.json",
            IndexSource::Bzip2 => "repodata.json.bz2",
            IndexSource::Absent => "absent",
        }
    }
}

/// One subdir's index as fetched (or read back from the store after a 304).
#[derive(Debug, Clone)]
pub struct UpstreamIndex {
    /// The subdir.
    pub subdir: String,
    /// The URL the index was read from (for an absent one, the plain URL).
    pub url: String,
    /// Which form it was.
    pub source: IndexSource,
    /// SHA-256 of the body as served (`None` for an absent `noarch`): what the mirror's
    /// fingerprint is made of, the decoded JSON being a function of it.
    pub served: Option<Sha256Digest>,
    /// The compressed bytes as served, for `.zst` (published unchanged when possible).
    pub zst: Option<Bytes>,
    /// The decompressed JSON.
    pub json: Bytes,
}

/// A subdir's index after the probe: fetched, or unchanged upstream (304) and still to
/// be read back from the store, which a no-op sync never does.
#[derive(Debug, Clone)]
pub enum Probed {
    /// Fetched now (or generated for an absent `noarch`).
    Fetched(UpstreamIndex),
    /// Upstream answered `304 Not Modified` to the validators the cache held.
    Unchanged {
        /// The subdir.
        subdir: String,
        /// The URL asked.
        url: String,
        /// Which form it is.
        source: IndexSource,
        /// The body as the cache names it.
        cached: CachedBody,
    },
}

impl Probed {
    /// The subdir.
    pub fn subdir(&self) -> &str {
        match self {
            Probed::Fetched(index) => &index.subdir,
            Probed::Unchanged { subdir, .. } => subdir,
        }
    }

    /// Which form of the index.
    pub fn source(&self) -> IndexSource {
        match self {
            Probed::Fetched(index) => index.source,
            Probed::Unchanged { source, .. } => *source,
        }
    }

    /// SHA-256 of the body as served.
    pub fn served(&self) -> Option<Sha256Digest> {
        match self {
            Probed::Fetched(index) => index.served,
            Probed::Unchanged { cached, .. } => Some(cached.sha256),
        }
    }

    /// Bytes received for it in this sync (0 after a 304).
    pub fn received(&self) -> u64 {
        match self {
            Probed::Fetched(index) => {
                index.zst.as_ref().map_or(index.json.len(), Bytes::len) as u64
            }
            Probed::Unchanged { .. } => 0,
        }
    }

    /// The index itself: as fetched, or read back from the store and decoded. A cached
    /// copy that is gone or damaged is an error, and its entry is dropped from `cache`.
    pub fn load(
        self,
        store: &Store,
        cache: &mut UpstreamCache,
        cap: u64,
    ) -> Result<UpstreamIndex, CondaError> {
        match self {
            Probed::Fetched(index) => Ok(index),
            Probed::Unchanged {
                subdir,
                url,
                source,
                cached,
            } => {
                let Some(body) = store.cached_body(&cached) else {
                    cache.remove(&url);
                    return Err(CondaError::CachedIndexDamaged {
                        url,
                        sha256: cached.sha256.to_hex(),
                    });
                };
                let (json, zst) = decode(Bytes::from(body), source, cap, &url)?;
                Ok(UpstreamIndex {
                    subdir,
                    url,
                    source,
                    served: Some(cached.sha256),
                    zst,
                    json,
                })
            }
        }
    }
}

/// How long a `304` is trusted: a body last received whole longer ago than this is
/// asked for without validators, so that an upstream whose ETag stays while its body
/// changes (a broken server or CDN) cannot keep the mirror stale beyond a day.
pub const REVALIDATE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The forms of a subdir's index, in the order a first sync asks for them.
const FORMS: [(IndexSource, Compression); 3] = [
    (IndexSource::Zstd, Compression::Zstd),
    (IndexSource::Plain, Compression::None),
    (IndexSource::Bzip2, Compression::Bzip2),
];

/// Fetch `subdir`'s index from `channel` (no trailing slash).
///
/// When `cache` holds the form that served last time (and the store still holds that
/// body), that URL is asked first, with its validators: a `304` is
/// [`Probed::Unchanged`], one small request for the subdir. Otherwise (no cache entry,
/// a 404 for that form, a body older than [`REVALIDATE_AFTER`]) the forms are tried in
/// order. A body that came with validators is stored as an object and remembered in
/// `cache`.
pub async fn fetch_index(
    fetcher: &Fetcher,
    store: &Store,
    cache: &mut UpstreamCache,
    channel: &str,
    subdir: &str,
) -> Result<Probed, CondaError> {
    let base = format!("{channel}/{subdir}/repodata.json");
    let cap = fetcher.options().max_index_size;
    let url_of = |format: Compression| format!("{base}{}", format.extension());
    let remembered = FORMS.iter().find_map(|&(source, format)| {
        let url = url_of(format);
        let cached = cache.get(&url)?;
        store
            .objects()
            .contains(&cached.sha256)
            .then(|| (source, url, cached.clone()))
    });
    if let Some((source, url, cached)) = remembered {
        let known = if cached.younger_than(REVALIDATE_AFTER) {
            cached.validators.clone()
        } else {
            Validators::default()
        };
        match get(fetcher, &url, &known).await? {
            Some(Conditional::NotModified) => {
                tracing::debug!(%url, "repodata unchanged upstream (304)");
                return Ok(Probed::Unchanged {
                    subdir: subdir.to_owned(),
                    url,
                    source,
                    cached,
                });
            }
            Some(Conditional::Modified {
                body, validators, ..
            }) => {
                return fetched(store, cache, cap, subdir, (url, source, body, validators));
            }
            // That form is gone upstream: ask for each, as on a first sync.
            None => cache.remove(&url),
        }
    }
    let mut tried = Vec::new();
    for (source, format) in FORMS {
        let url = url_of(format);
        match get(fetcher, &url, &Validators::default()).await? {
            Some(Conditional::Modified {
                body, validators, ..
            }) => {
                return fetched(store, cache, cap, subdir, (url, source, body, validators));
            }
            // Unasked, a 304 is refused by the fetcher; absent, try the next form.
            Some(Conditional::NotModified) | None => tried.push(url),
        }
    }
    if subdir == NOARCH {
        tracing::info!(url = %base, "upstream has no noarch index; publishing an empty one");
        return Ok(Probed::Fetched(UpstreamIndex {
            subdir: subdir.to_owned(),
            url: base,
            source: IndexSource::Absent,
            served: None,
            zst: None,
            json: Bytes::from(empty_repodata(subdir)),
        }));
    }
    Err(CondaError::RepodataMissing {
        subdir: subdir.to_owned(),
        tried: tried.join(", "),
    })
}

/// One conditional GET under `[fetch] max_index_size`; `None` for a 404.
async fn get(
    fetcher: &Fetcher,
    url: &str,
    known: &Validators,
) -> Result<Option<Conditional>, CondaError> {
    // Compressed or decoded, no index is held above `[fetch] max_index_size`.
    let cap = fetcher.options().max_index_size;
    fetcher
        .get_conditional(url, cap, known)
        .await
        .map_err(|e| match e {
            mirror_core::fetch::FetchError::TooLarge { url, .. } => {
                CondaError::RepodataTooLarge { url, cap }
            }
            other => other.into(),
        })
}

/// A body just received: decoded, and (when the server gave validators) stored as an
/// object and remembered in `cache` for the next sync's conditional request.
fn fetched(
    store: &Store,
    cache: &mut UpstreamCache,
    cap: u64,
    subdir: &str,
    (url, source, body, validators): (String, IndexSource, Bytes, Validators),
) -> Result<Probed, CondaError> {
    tracing::debug!(%url, bytes = body.len(), "fetched repodata");
    let served = if validators.is_empty() {
        // Nothing to ask with next time: keeping the body would only cost disk.
        cache.remove(&url);
        Sha256Digest::of(&body)
    } else {
        let digest = store.objects().insert_bytes(&body)?;
        cache.insert(
            &url,
            CachedBody::received_now(validators, digest, body.len() as u64),
        );
        digest
    };
    let (json, zst) = decode(body, source, cap, &url)?;
    Ok(Probed::Fetched(UpstreamIndex {
        subdir: subdir.to_owned(),
        url,
        source,
        served: Some(served),
        zst,
        json,
    }))
}

/// Decode a body of `source`'s form under `cap`: the JSON, and the `.zst` bytes as
/// served (kept to publish unchanged).
fn decode(
    body: Bytes,
    source: IndexSource,
    cap: u64,
    url: &str,
) -> Result<(Bytes, Option<Bytes>), CondaError> {
    let format = match source {
        IndexSource::Zstd => Compression::Zstd,
        IndexSource::Bzip2 => Compression::Bzip2,
        IndexSource::Plain | IndexSource::Absent => return Ok((body, None)),
    };
    let json = decompress(&body, format, cap, url).map_err(|e| match e {
        mirror_core::compression::CompressionError::TooLarge { .. } => {
            CondaError::RepodataTooLarge {
                url: url.to_owned(),
                cap,
            }
        }
        other => other.into(),
    })?;
    let zst = (format == Compression::Zstd).then_some(body);
    Ok((Bytes::from(json), zst))
}

/// Where the packages of an index are downloaded from: `info.base_url` (repodata version
/// 2, absolute or relative to the index URL) when set, else the index's own directory.
/// Returns a prefix ending in `/`.
pub fn package_base(index_url: &str, base_url: Option<&str>) -> Result<String, CondaError> {
    let directory = match index_url.rfind('/') {
        Some(i) => &index_url[..=i],
        None => index_url,
    };
    let Some(base_url) = base_url else {
        return Ok(directory.to_owned());
    };
    let with_slash = if base_url.ends_with('/') {
        base_url.to_owned()
    } else {
        format!("{base_url}/")
    };
    let invalid = |source| CondaError::InvalidBaseUrl {
        url: index_url.to_owned(),
        base_url: base_url.to_owned(),
        source,
    };
    let resolved = url::Url::parse(directory)
        .and_then(|dir| dir.join(&with_slash))
        .map_err(invalid)?;
    Ok(resolved.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_bases() {
        let index = "http://127.0.0.1:9/ch/linux-64/repodata.json.zst";
        assert_eq!(
            package_base(index, None).expect("ok"),
            "http://127.0.0.1:9/ch/linux-64/"
        );
        assert_eq!(
            package_base(index, Some("http://127.0.0.1:7/pkgs/linux-64")).expect("ok"),
            "http://127.0.0.1:7/pkgs/linux-64/"
        );
        assert_eq!(
            package_base(index, Some("../../store/linux-64/")).expect("ok"),
            "http://127.0.0.1:9/store/linux-64/"
        );
        let file = "file:///srv/ch/noarch/repodata.json";
        assert_eq!(
            package_base(file, None).expect("ok"),
            "file:///srv/ch/noarch/"
        );
    }
}
