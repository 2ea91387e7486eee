//! Talking to an APT upstream: fetch a suite's signed Release and check it against the
//! keyring, then fetch Packages indices and check each against the Release hashes.
//!
//! Trust flows from the keyring to the Release (signature), from the Release to every
//! index (SHA256 + size), and from the indices to every .deb (SHA256 + size): nothing is
//! used before the link above it has been checked.

use bytes::Bytes;
use mirror_core::Sha256Digest;
use mirror_core::compression::{Compression, CompressionError, Input, decompress_verified};
use mirror_core::fetch::{FetchError, Fetcher};
use mirror_core::reporter::Reporter;
use mirror_core::signing::{Keyring, verify_cleartext, verify_detached};
use mirror_core::store::{Expected, ObjectStore};

use std::path::Path;

use crate::compact::CompactIndex;
use crate::error::AptError;
use crate::release::{Release, ReleaseFile};

/// Upper bound for a Release/InRelease download.
pub(crate) const RELEASE_LIMIT: u64 = 64 << 20;

/// A suite's Release after its signature verified.
#[derive(Debug)]
pub struct VerifiedRelease {
    /// The suite name as configured (`bookworm`).
    pub suite: String,
    /// The signed text.
    pub text: String,
    /// Fingerprint of the key that signed it.
    pub signer: String,
    /// Upstream files as served, for keeping byte for byte: `(name, bytes)` with name
    /// `InRelease`, `Release` or `Release.gpg`; only files that verified.
    pub raw: Vec<(&'static str, Bytes)>,
}

/// `<base>/dists/<suite>`
pub fn dists_url(base: &str, suite: &str) -> String {
    format!("{}/dists/{suite}", base.trim_end_matches('/'))
}

/// Fetch and verify a suite's InRelease (preferred) or Release + Release.gpg.
///
/// `keep_detached`: also fetch Release + Release.gpg when InRelease exists (a full
/// mirror republishes all three); a filtered mirror needs only the one that verifies,
/// so its no-op re-sync is a single request per suite.
pub async fn fetch_release(
    fetcher: &Fetcher,
    keyring: &Keyring,
    base: &str,
    suite: &str,
    keep_detached: bool,
) -> Result<VerifiedRelease, AptError> {
    let dists = dists_url(base, suite);
    let in_release_url = format!("{dists}/InRelease");
    let release_url = format!("{dists}/Release");
    let gpg_url = format!("{dists}/Release.gpg");
    let in_release = fetcher.get_optional(&in_release_url, RELEASE_LIMIT).await?;
    let (release, gpg) = if in_release.is_none() || keep_detached {
        futures_util::try_join!(
            fetcher.get_optional(&release_url, RELEASE_LIMIT),
            fetcher.get_optional(&gpg_url, RELEASE_LIMIT),
        )?
    } else {
        (None, None)
    };
    if in_release.is_none() && release.is_some() && gpg.is_none() {
        return Err(AptError::Unsigned { url: release_url });
    }
    let mut raw = Vec::new();
    let mut verified = None;
    if let Some(bytes) = in_release {
        let v = verify_cleartext(keyring, &bytes, &in_release_url)?;
        verified = Some((v.text, v.signer));
        raw.push(("InRelease", bytes));
    }
    if let (Some(release), Some(gpg)) = (release, gpg) {
        match verify_detached(keyring, &release, &gpg, &gpg_url) {
            Ok(signer) => {
                if verified.is_none() {
                    let text =
                        String::from_utf8(release.to_vec()).map_err(|_| AptError::Malformed {
                            origin: release_url.clone(),
                            message: "not UTF-8".into(),
                        })?;
                    verified = Some((text, signer));
                }
                raw.push(("Release", release));
                raw.push(("Release.gpg", gpg));
            }
            // With a good InRelease, a bad detached pair is dropped, not fatal.
            Err(e) if verified.is_some() => {
                // The error names the URL.
                tracing::warn!("{e}; keeping InRelease only");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (text, signer) = verified.ok_or_else(|| AptError::NoRelease {
        url: dists.clone(),
        suite: suite.to_owned(),
    })?;
    Ok(VerifiedRelease {
        suite: suite.to_owned(),
        text,
        signer,
        raw,
    })
}

/// One Packages index, verified and decoded.
#[derive(Debug)]
pub struct FetchedIndex {
    /// Path below `dists/<suite>/` of the variant fetched (`main/binary-amd64/Packages.xz`).
    /// The bytes as served are in the object store (`expected.sha256`); they are not kept
    /// in memory, which holds the decoded index for the whole selection.
    pub path: String,
    /// Digest and size the Release states for it.
    pub expected: Expected,
    /// Decompressed content.
    pub decoded: Vec<u8>,
}

/// The Release entries for `<component>/binary-<arch>/Packages*`, in the order we prefer
/// to download them: gzip decodes six times faster than xz; plain is largest.
pub fn index_variants<'r>(
    release: &Release<'r>,
    component: &str,
    architecture: &str,
) -> Vec<ReleaseFile<'r>> {
    variants(
        release,
        &format!("{component}/binary-{architecture}/Packages"),
    )
}

/// The same for `<component>/debian-installer/binary-<arch>/Packages*` (the udebs).
pub fn installer_variants<'r>(
    release: &Release<'r>,
    component: &str,
    architecture: &str,
) -> Vec<ReleaseFile<'r>> {
    index_variants(
        release,
        &format!("{component}/debian-installer"),
        architecture,
    )
}

/// The same for `<component>/source/Sources*` (the source packages).
pub fn source_variants<'r>(release: &Release<'r>, component: &str) -> Vec<ReleaseFile<'r>> {
    variants(release, &format!("{component}/source/Sources"))
}

fn variants<'r>(release: &Release<'r>, stem: &str) -> Vec<ReleaseFile<'r>> {
    [".gz", ".xz", "", ".bz2", ".zst"]
        .iter()
        .filter_map(|ext| release.file(&format!("{stem}{ext}")).copied())
        .collect()
}

/// The digest and size a Release entry states.
pub fn expected_of(entry: &ReleaseFile<'_>, origin: &str) -> Result<Expected, AptError> {
    let sha256 = entry.sha256.parse().map_err(|_| AptError::Malformed {
        origin: origin.to_owned(),
        message: format!("bad SHA256 for {}", entry.path),
    })?;
    Ok(Expected {
        sha256,
        size: Some(entry.size),
    })
}

/// URL of a file listed in the Release: by-hash when the Release says Acquire-By-Hash.
pub fn by_hash_path(path: &str, sha256: &Sha256Digest) -> String {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/by-hash/SHA256/{sha256}")
}

/// Fetch one Packages index (first variant upstream has), verify it against the Release
/// and decode it compact for selection ([`CompactIndex`]): its full text is spooled to
/// `spool_dir` when given. The verified compressed bytes are also stored as an object.
pub async fn fetch_index(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    dists: &str,
    parsed: &Release<'_>,
    component: &str,
    architecture: &str,
    spool_dir: Option<&Path>,
) -> Result<CompactFetched, AptError> {
    let variants = index_variants(parsed, component, architecture);
    if variants.is_empty() {
        return Err(AptError::NoIndex {
            origin: format!("{dists}/Release"),
            component: component.to_owned(),
            architecture: architecture.to_owned(),
        });
    }
    fetch_compact(fetcher, objects, dists, parsed, &variants, spool_dir).await
}

/// One Packages index, verified and decoded compact.
#[derive(Debug)]
pub struct CompactFetched {
    /// Path below `dists/<suite>/` of the variant fetched.
    pub path: String,
    /// Its packages.
    pub packages: CompactIndex,
}

/// [`fetch_decoded`] for a Packages index, parsed while decoding into a [`CompactIndex`]
/// (its text spooled to `spool_dir` when given) instead of held whole.
///
/// The decoded text's own digest is not computed (it would need the whole text in order,
/// where the blocks decode in parallel): the compressed bytes matched the signed Release,
/// and the text is what they decode to. Its size is checked against the Release.
pub async fn fetch_compact(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    dists: &str,
    parsed: &Release<'_>,
    variants: &[ReleaseFile<'_>],
    spool_dir: Option<&Path>,
) -> Result<CompactFetched, AptError> {
    let mut verified = fetch_verified(fetcher, objects, dists, parsed, variants).await?;
    // Decoded from the stored object, read where it lies: the compressed bytes (9 MB for
    // Debian's main/amd64) are not held beside the decoders and the compact index.
    let object = verified.open_stored(objects)?;
    let (origin, format, limit) = (verified.url.clone(), verified.format, verified.limit);
    let spool_dir = spool_dir.map(Path::to_path_buf);
    let packages = tokio::task::spawn_blocking(move || {
        let input = Input::File(&object);
        CompactIndex::decode(input, format, limit, &origin, spool_dir.as_deref())
    })
    .await
    .map_err(|e| AptError::Internal(e.to_string()))?
    .map_err(|e| verified.too_large(e))?;
    verified.check_decoded(None, packages.decoded_len())?;
    Ok(CompactFetched {
        path: verified.path,
        packages,
    })
}

/// An index fetched (or found in the store) and verified against its Release entry, not
/// yet decoded.
pub(crate) struct Verified {
    /// Path below `dists/<suite>/`.
    pub(crate) path: String,
    pub(crate) url: String,
    pub(crate) expected: Expected,
    /// The body, when it was downloaded now (else it is read from the store).
    pub(crate) fetched: Option<Bytes>,
    pub(crate) format: Compression,
    /// Bound on the decoded size: the Release's statement, never above `cap`.
    pub(crate) limit: u64,
    /// The operator's cap on an index's size.
    pub(crate) cap: u64,
    /// The uncompressed variant's path and Release entry, when listed.
    pub(crate) plain: Option<(String, Expected)>,
}

impl Verified {
    /// The stored object, read where it lies; the body downloaded now (if any) is let go.
    pub(crate) fn open_stored(&mut self, objects: &ObjectStore) -> Result<std::fs::File, AptError> {
        self.fetched = None;
        Ok(objects.open(&self.expected.sha256)?.into_parts().0)
    }

    /// A decode over the operator's cap with no stated size is [`AptError::IndexTooLarge`]
    /// (a bomb, or a cap set too low); other errors are kept.
    pub(crate) fn too_large(&self, error: AptError) -> AptError {
        match error {
            AptError::Compression(CompressionError::TooLarge { .. }) if self.limit == self.cap => {
                AptError::IndexTooLarge {
                    url: self.url.clone(),
                    stated: None,
                    cap: self.cap,
                }
            }
            other => other,
        }
    }

    /// Checks what the index decoded to against the Release's entry for the uncompressed
    /// file: its size, and its SHA-256 when the caller could compute it (`digest`).
    pub(crate) fn check_decoded(
        &self,
        digest: Option<Sha256Digest>,
        len: u64,
    ) -> Result<(), AptError> {
        let Some((plain_path, plain)) = &self.plain else {
            return Ok(());
        };
        if self.format == Compression::None {
            return Ok(()); // the file itself, checked when fetched
        }
        match digest {
            Some(actual) if actual != plain.sha256 || Some(len) != plain.size => Err(
                AptError::Store(mirror_core::store::StoreError::DigestMismatch {
                    what: format!(
                        "{} (decompressed, vs {plain_path} in the Release)",
                        self.url
                    ),
                    expected: plain.sha256,
                    actual,
                }),
            ),
            None if plain.size.is_some_and(|size| size != len) => Err(AptError::Malformed {
                origin: self.url.clone(),
                message: format!(
                    "decodes to {len} bytes, where the Release lists {plain_path} at {}",
                    plain.size.unwrap_or_default()
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Fetch the first of `variants` (compressions of one index, in preference order) that
/// upstream serves, verify it against the Release, store it and decode it.
/// [`AptError::IndexMissing`] when upstream serves none of them.
pub async fn fetch_decoded(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    dists: &str,
    parsed: &Release<'_>,
    variants: &[ReleaseFile<'_>],
) -> Result<FetchedIndex, AptError> {
    let mut verified = fetch_verified(fetcher, objects, dists, parsed, variants).await?;
    let bytes = match verified.fetched.take() {
        Some(bytes) => bytes,
        None => Bytes::from(objects.read(&verified.expected.sha256)?),
    };
    let (origin, format, limit) = (verified.url.clone(), verified.format, verified.limit);
    // The compressed bytes move into the decoder and are freed as soon as it is done.
    // Their SHA-256 matched the signed Release above (or when they were stored), so
    // xz's own CRC64 is skipped (`decompress_verified`).
    let decoded =
        tokio::task::spawn_blocking(move || decompress_verified(&bytes, format, limit, &origin))
            .await
            .map_err(|e| AptError::Internal(e.to_string()))?
            .map_err(|e| verified.too_large(e.into()))?;
    verified.check_decoded(Some(Sha256Digest::of(&decoded)), decoded.len() as u64)?;
    Ok(FetchedIndex {
        path: verified.path,
        expected: verified.expected,
        decoded,
    })
}

/// The first of `variants` upstream serves (or the store holds), verified against the
/// Release and stored; its decoding bounded by what the Release states.
pub(crate) async fn fetch_verified(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    dists: &str,
    parsed: &Release<'_>,
    variants: &[ReleaseFile<'_>],
) -> Result<Verified, AptError> {
    let release_url = format!("{dists}/Release");
    for entry in variants {
        let expected = expected_of(entry, &release_url)?;
        let by_hash = parsed.fields.acquire_by_hash;
        let url = format!("{dists}/{}", entry.path);
        // The body is held in memory: a stated size above the cap is refused before a
        // byte is read (the read is bounded by the stated size).
        let cap = fetcher.options().max_index_size;
        if let Some(stated) = expected.size
            && stated > cap
        {
            return Err(AptError::IndexTooLarge {
                url,
                stated: Some(stated),
                cap,
            });
        }
        // An index already in the store (an earlier sync, or a group member's sync) was
        // verified when it went in; objects are immutable.
        let fetched = if objects.contains(&expected.sha256) {
            None
        } else {
            let Some(bytes) = fetch_listed(fetcher, dists, by_hash, entry.path, &expected).await?
            else {
                continue;
            };
            objects.insert_verified_bytes(&bytes, &expected, &url)?;
            Some(bytes)
        };
        let format = Compression::from_path(entry.path);
        // The Release also lists the uncompressed index: its size bounds decoding and
        // its digest checks the decoder's output.
        let plain_path = entry.path.trim_end_matches(format.extension()).to_owned();
        let plain = match parsed.file(&plain_path) {
            Some(p) => Some(expected_of(p, &release_url)?),
            None => None,
        };
        // A stated size bounds decoding exactly, but never above the cap: a signed
        // Release stating 5 GB must not make us try (the cap is the operator's).
        let limit = match plain.and_then(|p| p.size) {
            Some(stated) if stated > cap => {
                return Err(AptError::IndexTooLarge {
                    url: format!("{dists}/{plain_path}"),
                    stated: Some(stated),
                    cap,
                });
            }
            Some(stated) => stated,
            None => cap,
        };
        return Ok(Verified {
            path: entry.path.to_owned(),
            url,
            expected,
            fetched,
            format,
            limit,
            cap,
            plain: plain.map(|plain| (plain_path, plain)),
        });
    }
    Err(AptError::IndexMissing {
        url: format!("{dists}/{}", variants.first().map_or("", |v| v.path)),
        tried: variants.iter().map(|v| v.path.to_owned()).collect(),
    })
}

/// Put a listed file into the object store, streamed and verified against its Release
/// entry: from the store when present, else by-hash (when offered), else the plain path.
/// `Ok(false)` when upstream serves neither; a wrong digest or size is an error.
pub async fn keep_listed(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    reporter: &dyn Reporter,
    dists: &str,
    by_hash: bool,
    path: &str,
    expected: Expected,
) -> Result<bool, AptError> {
    if objects.contains(&expected.sha256) {
        return Ok(true);
    }
    let mut urls = Vec::with_capacity(2);
    if by_hash {
        urls.push(format!("{dists}/{}", by_hash_path(path, &expected.sha256)));
    }
    let plain = format!("{dists}/{path}");
    urls.push(plain.clone());
    for url in urls {
        match fetcher
            .fetch_object(&url, expected, objects, reporter)
            .await
        {
            Ok(_) => return Ok(true),
            Err(FetchError::NotFound { .. }) => {
                tracing::debug!("{url}: not served upstream");
            }
            Err(source) => {
                return Err(AptError::Listed {
                    url: plain,
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(false)
}

/// Fetch a file the Release lists, by-hash first when offered; `None` when upstream
/// has neither. The body is read only up to the size the Release states (and never
/// beyond `max_index_size`); the caller verifies the bytes.
pub async fn fetch_listed(
    fetcher: &Fetcher,
    dists: &str,
    by_hash: bool,
    path: &str,
    expected: &Expected,
) -> Result<Option<Bytes>, AptError> {
    let cap = fetcher.options().max_index_size;
    let limit = expected.size.unwrap_or(cap).min(cap);
    let get = async |url: String| match fetcher.get_optional(&url, limit).await {
        Err(FetchError::TooLarge { .. }) if expected.size == Some(limit) => {
            Err(AptError::Oversized { url, stated: limit })
        }
        other => other.map_err(AptError::from),
    };
    if by_hash {
        let url = format!("{dists}/{}", by_hash_path(path, &expected.sha256));
        if let Some(bytes) = get(url.clone()).await? {
            return Ok(Some(bytes));
        }
        tracing::debug!("{url}: no by-hash copy upstream; trying the plain path");
    }
    get(format!("{dists}/{path}")).await
}
