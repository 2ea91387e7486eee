//! Checking one untrusted record: its file name, the few fields a mirror acts on, and
//! whether it agrees with the subdir it is filed under.
//!
//! Every record a mirror might publish passes [`check_record`] first. A record that fails
//! is skipped (with a [`SkipReason`] for the log and the summary), never published and never
//! a panic: a hostile or broken channel can cost us records, not the mirror.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use mirror_core::digest::Sha256Digest;
use serde::Deserialize;

use crate::repodata::{Key, RawRecord, RecordMap, RepoDataView};

/// Why a record was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The file name has a path separator, `..`, or characters no package name has.
    UnsafeFilename,
    /// The file name is not `<name>-<version>-<build>.tar.bz2|.conda`.
    NotAPackageFilename,
    /// The record's JSON is not an object with string `name`, `version` and `build`.
    Unparsable,
    /// `name`, `version` or `build` disagree with the file name.
    FilenameMismatch,
    /// The record's `subdir` is not the subdir it is filed under.
    WrongSubdir,
    /// No `sha256`: the package could not be verified (old records).
    NoSha256,
    /// A `sha256` that is not a SHA-256 hex digest.
    BadSha256,
    /// The same file name appears in both `packages` and `packages.conda`.
    DuplicateFilename,
}

impl SkipReason {
    /// A short stable label (summary keys, logs).
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::UnsafeFilename => "unsafe_filename",
            SkipReason::NotAPackageFilename => "not_a_package_filename",
            SkipReason::Unparsable => "unparsable",
            SkipReason::FilenameMismatch => "filename_mismatch",
            SkipReason::WrongSubdir => "wrong_subdir",
            SkipReason::NoSha256 => "no_sha256",
            SkipReason::BadSha256 => "bad_sha256",
            SkipReason::DuplicateFilename => "duplicate_filename",
        }
    }
}

impl SkipReason {
    /// True for a record no sound channel serves (malformed or hostile), as opposed to one
    /// that is merely unverifiable (no `sha256`) or filed twice.
    pub fn is_bad(self) -> bool {
        !matches!(self, SkipReason::NoSha256 | SkipReason::DuplicateFilename)
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A package file name split into its parts (all borrowed from the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageFilename<'f> {
    /// Package name.
    pub name: &'f str,
    /// Version string.
    pub version: &'f str,
    /// Build string.
    pub build: &'f str,
    /// `.tar.bz2` or `.conda`.
    pub extension: &'static str,
}

/// Split `<name>-<version>-<build>.tar.bz2|.conda`, refusing anything that could leave the
/// subdir directory once used as a path or URL segment.
///
/// Names may contain `-`; versions and builds may not, so the last two `-` separate them.
pub fn parse_filename(filename: &str) -> Result<PackageFilename<'_>, SkipReason> {
    let safe = !filename.is_empty()
        && filename.len() <= 255
        && !filename.starts_with('.')
        && !filename.contains("..")
        && filename
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'!'));
    if !safe {
        return Err(SkipReason::UnsafeFilename);
    }
    let (stem, extension) = if let Some(stem) = filename.strip_suffix(".tar.bz2") {
        (stem, ".tar.bz2")
    } else if let Some(stem) = filename.strip_suffix(".conda") {
        (stem, ".conda")
    } else {
        return Err(SkipReason::NotAPackageFilename);
    };
    let mut parts = stem.rsplitn(3, '-');
    let (Some(build), Some(version), Some(name)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SkipReason::NotAPackageFilename);
    };
    if name.is_empty() || version.is_empty() || build.is_empty() {
        return Err(SkipReason::NotAPackageFilename);
    }
    Ok(PackageFilename {
        name,
        version,
        build,
        extension,
    })
}

/// The fields of a record the mirror reads for every published record, borrowed from the
/// record text (serde skips the other fields; `Key` keeps optional strings borrowed).
#[derive(Debug, Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    build: Cow<'a, str>,
    #[serde(borrow, default)]
    subdir: Option<Key<'a>>,
    #[serde(borrow, default)]
    sha256: Option<Key<'a>>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(borrow, default)]
    license: Option<Key<'a>>,
}

/// What a record that passed the checks tells the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRecord {
    /// The digest the package must have.
    pub sha256: Sha256Digest,
    /// Its size, when the record states one.
    pub size: Option<u64>,
    /// Whether its license passes the allow-list (always true without one).
    pub license_allowed: bool,
}

/// A record that failed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The category.
    pub reason: SkipReason,
    /// Specifics for the log (the offending value).
    pub detail: String,
}

/// Check one record filed under `subdir`; `licenses` is the allow-list (empty: no
/// filter). A record without a `license` field fails a non-empty allow-list.
pub fn check_record(
    record: &RawRecord<'_>,
    subdir: &str,
    licenses: &[String],
) -> Result<CheckedRecord, Skipped> {
    let skip = |reason, detail: String| Skipped { reason, detail };
    let parts = parse_filename(&record.filename)
        .map_err(|reason| skip(reason, format!("{:?}", record.filename)))?;
    let head: Head<'_> = serde_json::from_str(record.raw.get())
        .map_err(|e| skip(SkipReason::Unparsable, e.to_string()))?;
    if head.name != parts.name || head.version != parts.version || head.build != parts.build {
        return Err(skip(
            SkipReason::FilenameMismatch,
            format!("record says {}-{}-{}", head.name, head.version, head.build),
        ));
    }
    if let Some(Key(record_subdir)) = &head.subdir
        && record_subdir != subdir
    {
        return Err(skip(
            SkipReason::WrongSubdir,
            format!("record says subdir {record_subdir:?}"),
        ));
    }
    let sha256 = head
        .sha256
        .as_ref()
        .map(|Key(k)| k.as_ref())
        .ok_or_else(|| skip(SkipReason::NoSha256, "no sha256 field".into()))?
        .parse::<Sha256Digest>()
        .map_err(|e| skip(SkipReason::BadSha256, e.to_string()))?;
    let license_allowed = licenses.is_empty()
        || head
            .license
            .as_ref()
            .is_some_and(|Key(l)| licenses.iter().any(|allowed| allowed == l));
    Ok(CheckedRecord {
        sha256,
        size: head.size,
        license_allowed,
    })
}

/// The check results of one subdir's records, computed on demand: a filtered mirror looks
/// at the few records its selection considers, not at the whole channel; an unfiltered one
/// checks everything up front, in parallel ([`RecordChecks::check_all`]). Failures are
/// logged (once each) as warnings.
#[derive(Debug)]
pub struct RecordChecks<'v, 'a> {
    view: &'v RepoDataView<'a>,
    subdir: &'v str,
    licenses: &'v [String],
    cells: Vec<OnceLock<Result<CheckedRecord, Skipped>>>,
}

impl<'v, 'a> RecordChecks<'v, 'a> {
    /// Nothing checked yet, except that a file name filed under both maps is refused in
    /// `packages.conda` (kept in `packages`).
    pub fn new(view: &'v RepoDataView<'a>, subdir: &'v str, licenses: &'v [String]) -> Self {
        let cells: Vec<OnceLock<Result<CheckedRecord, Skipped>>> =
            view.records.iter().map(|_| OnceLock::new()).collect();
        // Both maps are sorted: a merge walk finds names present in both.
        let split = view
            .records
            .partition_point(|r| r.map == RecordMap::Packages);
        let (packages, conda) = view.records.split_at(split);
        let (mut i, mut j) = (0, 0);
        while i < packages.len() && j < conda.len() {
            match packages[i].filename.cmp(&conda[j].filename) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let skipped = Skipped {
                        reason: SkipReason::DuplicateFilename,
                        detail: "also filed under packages".into(),
                    };
                    log_skip(subdir, &conda[j].filename, &skipped);
                    cells[split + j].get_or_init(|| Err(skipped));
                    j += 1;
                }
            }
        }
        Self {
            view,
            subdir,
            licenses,
            cells,
        }
    }

    /// The result for `view.records[index]`, checking it now if needed.
    pub fn get(&self, index: usize) -> &Result<CheckedRecord, Skipped> {
        self.cells[index].get_or_init(|| {
            let record = &self.view.records[index];
            let result = check_record(record, self.subdir, self.licenses);
            if let Err(skipped) = &result {
                log_skip(self.subdir, &record.filename, skipped);
            }
            result
        })
    }

    /// Check every record, on all cores.
    pub fn check_all(&self) -> &Self {
        use rayon::prelude::*;
        (0..self.cells.len()).into_par_iter().for_each(|i| {
            self.get(i);
        });
        self
    }

    /// The first record checked so far that is malformed or hostile
    /// ([`SkipReason::is_bad`]): its file name and why, and how many such records there are.
    pub fn first_bad(&self) -> Option<(&str, &Skipped, usize)> {
        let mut bad = self
            .cells
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| match cell.get() {
                Some(Err(skipped)) if skipped.reason.is_bad() => Some((i, skipped)),
                _ => None,
            });
        let (first, skipped) = bad.next()?;
        Some((
            self.view.records[first].filename.as_ref(),
            skipped,
            1 + bad.count(),
        ))
    }

    /// The results computed so far.
    pub fn computed(&self) -> impl Iterator<Item = &Result<CheckedRecord, Skipped>> {
        self.cells.iter().filter_map(OnceLock::get)
    }

    /// True when `view.records[index]` passed its checks and the license allow-list.
    pub fn eligible(&self, index: usize) -> bool {
        matches!(self.get(index), Ok(checked) if checked.license_allowed)
    }
}

fn log_skip(subdir: &str, filename: &str, skipped: &Skipped) {
    tracing::warn!(
        subdir,
        file = filename,
        reason = %skipped.reason,
        detail = %skipped.detail,
        "skipping record"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("valid json")
    }

    const SHA: &str = "1f07873d6aa0cd18760a7b215d9956f7fa63c2f2761b03f293c659fe982923fa";

    fn check(filename: &str, json: &str, licenses: &[String]) -> Result<CheckedRecord, SkipReason> {
        let raw = raw(json);
        let record = RawRecord {
            filename: filename.into(),
            map: RecordMap::Packages,
            raw: &raw,
        };
        check_record(&record, "linux-64", licenses).map_err(|s| s.reason)
    }

    #[test]
    fn filenames() {
        let p = parse_filename("python-dateutil-2.8.2-pyhd8ed1ab_0.conda").expect("valid");
        assert_eq!(
            (p.name, p.version, p.build, p.extension),
            ("python-dateutil", "2.8.2", "pyhd8ed1ab_0", ".conda")
        );
        for bad in [
            "../x-1-0.conda",
            "a/b-1-0.conda",
            "a\\b-1-0.conda",
            "",
            ".hidden-1-0.conda",
            "x y-1-0.conda",
        ] {
            assert_eq!(
                parse_filename(bad),
                Err(SkipReason::UnsafeFilename),
                "{bad}"
            );
        }
        for bad in ["x-1-0.zip", "x-1.tar.bz2", "-1-0.conda", "x--0.conda"] {
            assert_eq!(
                parse_filename(bad),
                Err(SkipReason::NotAPackageFilename),
                "{bad}"
            );
        }
    }

    #[test]
    fn records() {
        let good = format!(
            r#"{{"name":"zlib","version":"1.2.11","build":"h_3","subdir":"linux-64","sha256":"{SHA}","size":5,"license":"Zlib"}}"#
        );
        let ok = check("zlib-1.2.11-h_3.tar.bz2", &good, &[]).expect("valid");
        assert_eq!(ok.sha256.to_hex(), SHA);
        assert_eq!(ok.size, Some(5));
        assert!(ok.license_allowed);
        let allowed = check("zlib-1.2.11-h_3.tar.bz2", &good, &["MIT".into()]).expect("valid");
        assert!(!allowed.license_allowed);
        let allowed = check("zlib-1.2.11-h_3.tar.bz2", &good, &["Zlib".into()]).expect("valid");
        assert!(allowed.license_allowed);

        let wrong_subdir = good.replace("linux-64", "osx-64");
        assert_eq!(
            check("zlib-1.2.11-h_3.tar.bz2", &wrong_subdir, &[]),
            Err(SkipReason::WrongSubdir)
        );
        assert_eq!(
            check("zlib-1.2.12-h_3.tar.bz2", &good, &[]),
            Err(SkipReason::FilenameMismatch)
        );
        let bad_sha = good.replace(SHA, "abc");
        assert_eq!(
            check("zlib-1.2.11-h_3.tar.bz2", &bad_sha, &[]),
            Err(SkipReason::BadSha256)
        );
        let no_sha = good.replace(&format!(",\"sha256\":\"{SHA}\""), "");
        assert_ne!(no_sha, good);
        assert_eq!(
            check("zlib-1.2.11-h_3.tar.bz2", &no_sha, &[]),
            Err(SkipReason::NoSha256)
        );
        assert!(SkipReason::BadSha256.is_bad() && !SkipReason::NoSha256.is_bad());
        assert_eq!(
            check("zlib-1.2.11-h_3.tar.bz2", "[1]", &[]),
            Err(SkipReason::Unparsable)
        );
        assert_eq!(
            check(
                "zlib-1.2.11-h_3.tar.bz2",
                r#"{"name":"zlib","version":1}"#,
                &[]
            ),
            Err(SkipReason::Unparsable)
        );
        // No subdir field (old channels): accepted. No license with an allow-list: refused.
        let old = format!(r#"{{"name":"zlib","version":"1.2.11","build":"h_3","sha256":"{SHA}"}}"#);
        let ok = check("zlib-1.2.11-h_3.tar.bz2", &old, &["Zlib".into()]).expect("valid");
        assert!(!ok.license_allowed);
    }
}
