//! Summaries of an APT index for a person (`mirror-cli inspect FILE|URL`): what a
//! `Release`/`InRelease` says, and how many packages a `Packages` index holds, for how
//! many bytes of `.deb`s, and how fast it decoded and parsed.
//!
//! Nothing here verifies a signature (that needs a keyring, and `sync` does it): an
//! `InRelease` is shown as its signer wrote it, dash-escaping undone, with the same framing
//! rules as verification (no text outside the signed block).

use std::collections::{BTreeMap, HashSet};

use foldhash::fast::RandomState;
use std::fmt;
use std::time::Instant;

use mirror_core::compression::{Compression, decompress};
use mirror_core::signing::cleartext_body;
use serde::Serialize;

use crate::control::Paragraphs;
use crate::error::AptError;
use crate::release::Release;

/// The most an index may decode to (Debian's largest Packages is ~100 MB; Contents
/// indices are larger).
pub const MAX_DECODED_BYTES: u64 = 8 << 30;

/// What [`inspect_index`] found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum IndexSummary {
    /// A `Release` or `InRelease`.
    Release(ReleaseSummary),
    /// A `Packages` index (any compression).
    Packages(PackagesSummary),
}

impl fmt::Display for IndexSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexSummary::Release(summary) => summary.fmt(f),
            IndexSummary::Packages(summary) => summary.fmt(f),
        }
    }
}

/// A Release file's fields.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// The file or URL.
    pub file: String,
    /// Always `release`.
    pub kind: &'static str,
    /// An `InRelease` (clear-signed) rather than a plain `Release`.
    pub clearsigned: bool,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Suite`.
    pub suite: Option<String>,
    /// `Codename`.
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Date`.
    pub date: Option<String>,
    /// `Valid-Until`.
    pub valid_until: Option<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// How many index files it lists.
    pub files: usize,
}

impl fmt::Display for ReleaseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |value: &Option<String>, default: &'static str| {
            value.clone().unwrap_or_else(|| default.to_owned())
        };
        write!(
            f,
            "Release of {} {} ({}), {}; {} files listed; architectures {}; components {}{}",
            or(&self.origin, "?"),
            or(&self.suite, "?"),
            or(&self.codename, "?"),
            or(&self.date, "undated"),
            self.files,
            self.architectures.join(" "),
            self.components.join(" "),
            if self.clearsigned {
                "; clear-signed (not verified here)"
            } else {
                ""
            },
        )
    }
}

/// A Packages index, counted.
#[derive(Debug, Clone, Serialize)]
pub struct PackagesSummary {
    /// The file or URL.
    pub file: String,
    /// Always `packages`.
    pub kind: &'static str,
    /// Stanzas.
    pub stanzas: usize,
    /// Distinct package names.
    pub names: usize,
    /// Stanzas per `Architecture`.
    pub architectures: BTreeMap<String, usize>,
    /// Sum of every `Size`: what mirroring all of it would download.
    pub deb_bytes: u64,
    /// The index as read.
    pub compressed_bytes: usize,
    /// The index decoded.
    pub decoded_bytes: usize,
    /// Time to decode.
    pub decode_seconds: f64,
    /// Time to parse every field.
    pub parse_seconds: f64,
}

impl fmt::Display for PackagesSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb_per_s = self.decoded_bytes as f64 / 1e6 / self.parse_seconds.max(1e-9);
        write!(
            f,
            "{} packages ({} names), architectures {:?}, {} of .debs; index {} decoded ({:.2}s), parsed in {:.3}s ({mb_per_s:.0} MB/s)",
            self.stanzas,
            self.names,
            self.architectures,
            mirror_core::sync::human_bytes(self.deb_bytes),
            mirror_core::sync::human_bytes(self.decoded_bytes as u64),
            self.decode_seconds,
            self.parse_seconds
        )
    }
}

/// Summarise the index `raw` read from `origin` (a path or URL): its name says what it
/// is (`Release`, `InRelease`, else a Packages index) and how it is compressed.
pub fn inspect_index(raw: &[u8], origin: &str) -> Result<IndexSummary, AptError> {
    let name = origin.rsplit('/').next().unwrap_or(origin);
    let compression = Compression::from_path(name);
    let stem = name.trim_end_matches(compression.extension());
    let started = Instant::now();
    // A plain index is parsed where it lies: a copy would double the peak memory.
    let decoded: std::borrow::Cow<'_, [u8]> = match compression {
        Compression::None => raw.into(),
        _ => decompress(raw, compression, MAX_DECODED_BYTES, origin)?.into(),
    };
    let decode_seconds = started.elapsed().as_secs_f64();
    if stem == "Release" || stem == "InRelease" {
        return inspect_release(&decoded, origin).map(IndexSummary::Release);
    }
    let mut summary = inspect_packages(&decoded, origin)?;
    summary.compressed_bytes = raw.len();
    summary.decode_seconds = decode_seconds;
    Ok(IndexSummary::Packages(summary))
}

/// Summarise a `Release` or (clear-signed) `InRelease`.
pub fn inspect_release(bytes: &[u8], origin: &str) -> Result<ReleaseSummary, AptError> {
    let malformed = |message: String| AptError::Malformed {
        origin: origin.to_owned(),
        message,
    };
    let clearsigned = bytes
        .trim_ascii_start()
        .starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----");
    let body = if clearsigned {
        // The error names its origin; ours is already in `Malformed`'s message prefix.
        cleartext_body(bytes, "clear-signed message").map_err(|e| malformed(e.to_string()))?
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("not UTF-8".into()))?
    };
    let parsed =
        Release::parse(&body).map_err(|e| malformed(format!("not a Release file: {e}")))?;
    let fields = &parsed.fields;
    let owned = |value: Option<&str>| value.map(str::to_owned);
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    Ok(ReleaseSummary {
        file: origin.to_owned(),
        kind: "release",
        clearsigned,
        origin: owned(fields.origin),
        suite: owned(fields.suite),
        codename: owned(fields.codename),
        version: owned(fields.version),
        date: owned(fields.date),
        valid_until: owned(fields.valid_until),
        acquire_by_hash: fields.acquire_by_hash,
        architectures: strings(&fields.architectures),
        components: strings(&fields.components),
        files: parsed.files().len(),
    })
}

/// Count a decoded Packages index in borrowed passes, one per core over ranges cut at
/// stanza boundaries: no allocation per stanza or field, so it runs at the parser's speed
/// times the cores.
pub fn inspect_packages(decoded: &[u8], origin: &str) -> Result<PackagesSummary, AptError> {
    use rayon::prelude::*;
    let started = Instant::now();
    // Several ranges per thread, so one slow range (long descriptions) does not leave
    // the other cores idle; a small index is one range.
    let parts = if decoded.len() < 1 << 20 {
        1
    } else {
        rayon::current_num_threads() * 4
    };
    let counts: Vec<Result<Counts<'_>, AptError>> = crate::control::stanza_ranges(decoded, parts)
        .into_par_iter()
        .map(|range| Counts::of(decoded, range, origin))
        .collect();
    let mut total = Counts::default();
    for counts in counts {
        // The first error in file order, whichever core found it first.
        total.add(counts?);
    }
    let parse_seconds = started.elapsed().as_secs_f64();
    Ok(PackagesSummary {
        file: origin.to_owned(),
        kind: "packages",
        stanzas: total.stanzas,
        names: total.names.len(),
        architectures: total
            .architectures
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v))
            .collect(),
        deb_bytes: total.deb_bytes,
        compressed_bytes: decoded.len(),
        decoded_bytes: decoded.len(),
        decode_seconds: 0.0,
        parse_seconds,
    })
}

/// What one range of a Packages index holds.
#[derive(Default)]
struct Counts<'a> {
    stanzas: usize,
    deb_bytes: u64,
    /// SipHash was a fifth of the whole run; names are not attacker-chosen keys here
    /// (a summary, not a long-lived table), so a fast hash will do.
    names: HashSet<&'a [u8], RandomState>,
    architectures: BTreeMap<&'a [u8], usize>,
}

impl<'a> Counts<'a> {
    fn of(
        decoded: &'a [u8],
        range: std::ops::Range<usize>,
        origin: &str,
    ) -> Result<Self, AptError> {
        let mut counts = Counts::default();
        for paragraph in Paragraphs::within(decoded, range) {
            counts.stanzas += 1;
            for field in paragraph.fields() {
                let field = field.map_err(|e| AptError::Malformed {
                    origin: origin.to_owned(),
                    message: format!("malformed control data: {e}"),
                })?;
                match field.name() {
                    "Package" => {
                        counts.names.insert(field.value());
                    }
                    "Architecture" => *counts.architectures.entry(field.value()).or_default() += 1,
                    "Size" => {
                        counts.deb_bytes += std::str::from_utf8(field.value())
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                            .unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
        Ok(counts)
    }

    fn add(&mut self, other: Counts<'a>) {
        self.stanzas += other.stanzas;
        self.deb_bytes += other.deb_bytes;
        if self.names.len() < other.names.len() {
            let smaller = std::mem::replace(&mut self.names, other.names);
            self.names.extend(smaller);
        } else {
            self.names.extend(other.names);
        }
        for (arch, n) in other.architectures {
            *self.architectures.entry(arch).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::signing::SigningKey;

    const PACKAGES: &[u8] = b"Package: a\nArchitecture: amd64\nSize: 10\n\nPackage: a\nArchitecture: i386\nSize: 5\n\nPackage: b\nArchitecture: all\nSize: 1\n";

    #[test]
    fn packages_are_counted() {
        let summary = inspect_packages(PACKAGES, "Packages").expect("parses");
        assert_eq!(
            (summary.stanzas, summary.names, summary.deb_bytes),
            (3, 2, 16)
        );
        assert_eq!(summary.architectures["amd64"], 1);
        let packed = mirror_core::compression::compress(PACKAGES, Compression::Gzip).expect("gzip");
        let IndexSummary::Packages(summary) =
            inspect_index(&packed, "dists/x/main/binary-amd64/Packages.gz").expect("gz")
        else {
            panic!("not a Packages summary")
        };
        assert_eq!(summary.stanzas, 3);
        assert_eq!(summary.compressed_bytes, packed.len());
        assert!(
            summary.to_string().starts_with("3 packages (2 names)"),
            "{summary}"
        );
    }

    #[test]
    fn inrelease_body_is_shown_unescaped_and_framing_is_enforced() {
        let release = "Origin: Test\nSuite: stable\nCodename: x\nDate: Sat, 01 Jan 2000 00:00:00 UTC\nArchitectures: amd64\nComponents: main\nDescription: a\n -----a continuation line with dashes\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 0 main/binary-amd64/Packages\n";
        let key = SigningKey::generate("Test <test@example.invalid>").expect("key");
        let signed = key.clearsign(release).expect("sign");
        let summary = inspect_release(signed.as_bytes(), "InRelease").expect("parses");
        assert!(summary.clearsigned);
        assert_eq!(summary.origin.as_deref(), Some("Test"));
        assert_eq!(summary.files, 1);
        assert!(
            summary
                .to_string()
                .ends_with("clear-signed (not verified here)")
        );

        let mut prepended = b"Origin: Evil\n\n".to_vec();
        prepended.extend_from_slice(signed.as_bytes());
        let err = inspect_release(&prepended, "InRelease").expect_err("text before the block");
        assert!(err.to_string().starts_with("InRelease: "), "{err}");
    }
}
