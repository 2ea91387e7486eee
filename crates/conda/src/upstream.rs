//! Getting one subdir's `repodata.json` from upstream: `repodata.json.zst` when the channel
//! has it (a tenth of the bytes), else `repodata.json`, else `repodata.json.bz2`; every form
//! decompressed under a hard size bound.
//!
//! Conda channels are not signed, so there is nothing to verify the index against: it is
//! trusted as served (over https when the URL says so), and every package is then checked
//! against the sha256 its record gives.

use bytes::Bytes;
use mirror_core::compression::{Compression, decompress};
use mirror_core::fetch::Fetcher;

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

/// One subdir's index as fetched.
#[derive(Debug, Clone)]
pub struct UpstreamIndex {
    /// The subdir.
    pub subdir: String,
    /// The URL the index was read from (for an absent one, the plain URL).
    pub url: String,
    /// Which form it was.
    pub source: IndexSource,
    /// The compressed bytes as served, for `.zst` (published unchanged when possible).
    pub zst: Option<Bytes>,
    /// The decompressed JSON.
    pub json: Bytes,
}

/// Fetch `subdir`'s index from `channel` (no trailing slash).
pub async fn fetch_index(
    fetcher: &Fetcher,
    channel: &str,
    subdir: &str,
) -> Result<UpstreamIndex, CondaError> {
    let base = format!("{channel}/{subdir}/repodata.json");
    let mut tried = Vec::new();
    for (source, format) in [
        (IndexSource::Zstd, Compression::Zstd),
        (IndexSource::Plain, Compression::None),
        (IndexSource::Bzip2, Compression::Bzip2),
    ] {
        let url = format!("{base}{}", format.extension());
        // Compressed or decoded, no index is held above `[fetch] max_index_size`.
        let cap = fetcher.options().max_index_size;
        let too_large = |url: String| CondaError::RepodataTooLarge { url, cap };
        let fetched = fetcher.get_optional(&url, cap).await.map_err(|e| match e {
            mirror_core::fetch::FetchError::TooLarge { url, .. } => too_large(url),
            other => other.into(),
        });
        let Some(body) = fetched? else {
            tried.push(url);
            continue;
        };
        tracing::debug!(%url, bytes = body.len(), "fetched repodata");
        let (json, zst) = match format {
            Compression::None => (body, None),
            _ => {
                let json = decompress(&body, format, cap, &url).map_err(|e| match e {
                    mirror_core::compression::CompressionError::TooLarge { .. } => {
                        too_large(url.clone())
                    }
                    other => other.into(),
                })?;
                let zst = (format == Compression::Zstd).then_some(body);
                (Bytes::from(json), zst)
            }
        };
        return Ok(UpstreamIndex {
            subdir: subdir.to_owned(),
            url,
            source,
            zst,
            json,
        });
    }
    if subdir == NOARCH {
        tracing::info!(url = %base, "upstream has no noarch index; publishing an empty one");
        return Ok(UpstreamIndex {
            subdir: subdir.to_owned(),
            url: base,
            source: IndexSource::Absent,
            zst: None,
            json: Bytes::from(empty_repodata(subdir)),
        });
    }
    Err(CondaError::RepodataMissing {
        subdir: subdir.to_owned(),
        tried: tried.join(", "),
    })
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
