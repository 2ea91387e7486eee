//! Release files: the signed table of contents of a suite, parsed and written.
//!
//! [`Release::parse`] reads the body (the text whose signature was checked elsewhere):
//! the descriptive fields and the `MD5Sum`/`SHA256` lists, merged into one
//! [`ReleaseFile`] per path. [`write_release`] produces the same format in the field order
//! Debian's archive software uses, so a Release we generate looks like upstream's and
//! parsing it gives back what was written.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::control::{ControlError, Field, Paragraph};
use crate::packages::{UnsafePathError, check_relative_path};

mod date;
#[cfg(test)]
mod tests;
mod write;

pub use date::{format_release_date, parse_release_date};
pub use write::write_release;

/// A Release body that cannot be used, or fields that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The control syntax is broken.
    #[error("Release: {0}")]
    Control(#[from] ControlError),
    /// The body has no fields at all.
    #[error("Release is empty")]
    Empty,
    /// There is no SHA256 list; apt refuses such a Release (MD5 alone is not trusted).
    #[error("Release has no SHA256 file list")]
    NoSha256,
    /// A line of a file list is not `hash size path`.
    #[error("Release {list} entry {line:?}: {reason}")]
    InvalidEntry {
        /// `MD5Sum` or `SHA256`.
        list: &'static str,
        /// The offending line.
        line: String,
        /// What is wrong.
        reason: String,
    },
    /// A file is listed with different sizes, or twice in one list.
    #[error("Release lists {path} inconsistently: {reason}")]
    Inconsistent {
        /// The file.
        path: String,
        /// What disagrees.
        reason: String,
    },
    /// A listed path could escape the repository root.
    #[error("Release lists an unsafe path")]
    UnsafePath(#[source] UnsafePathError),
    /// A date field is not an RFC 2822 date.
    #[error("Release {field} {value:?} is not a date like \"Sat, 11 Jul 2026 10:16:37 UTC\"")]
    InvalidDate {
        /// `Date` or `Valid-Until`.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// One file a Release vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseFile<'a> {
    /// Path relative to the suite directory (`main/binary-amd64/Packages.xz`).
    pub path: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: &'a str,
    /// MD5, 32 lowercase hex digits, when listed.
    pub md5: Option<&'a str>,
}

/// The descriptive fields of a Release, all optional; used for parsing and writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFields<'a> {
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Label`.
    pub label: Option<&'a str>,
    /// `Suite` (`stable`, `oldstable`, ...).
    pub suite: Option<&'a str>,
    /// `Version` (`12.15`).
    pub version: Option<&'a str>,
    /// `Codename` (`bookworm`).
    pub codename: Option<&'a str>,
    /// `Changelogs` URL template.
    pub changelogs: Option<&'a str>,
    /// `Date`, RFC 2822 in UTC (see [`format_release_date`]).
    pub date: Option<&'a str>,
    /// `Valid-Until`, same format.
    pub valid_until: Option<&'a str>,
    /// Fields without a slot here (`NotAutomatic`, `Signed-By`, ...), in input order.
    /// They are written after `Valid-Until`, where Debian's archive puts such flags.
    pub extra: Vec<(&'a str, &'a str)>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all` (`Packages`).
    pub no_support_for_architecture_all: Option<&'a str>,
    /// `Architectures`, space separated.
    pub architectures: Vec<&'a str>,
    /// `Components`, space separated.
    pub components: Vec<&'a str>,
    /// `Description`.
    pub description: Option<&'a str>,
}

/// A parsed Release body.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    /// Everything but the file lists.
    pub fields: ReleaseFields<'a>,
    files: Vec<ReleaseFile<'a>>,
    by_path: HashMap<&'a str, usize>,
}

/// Hash lists we read; SHA1 and SHA512 lists are ignored (and not written back).
const IGNORED_LISTS: [&str; 2] = ["SHA1", "SHA512"];

impl<'a> Release<'a> {
    /// Parses a Release body (one stanza).
    pub fn parse(text: &'a str) -> Result<Self, ReleaseError> {
        let paragraph = Paragraph::parse_single(text.as_bytes())?.ok_or(ReleaseError::Empty)?;
        let mut fields = ReleaseFields::default();
        let mut md5_list = None;
        let mut sha256_list = None;
        for field in paragraph.fields() {
            let field = field?;
            let name = field.name();
            let value = field.value_str().map_err(|source| ControlError::NotUtf8 {
                line: paragraph.line(),
                name: name.to_owned(),
                source,
            })?;
            let is = |known: &str| name.eq_ignore_ascii_case(known);
            let slot = if is("Origin") {
                &mut fields.origin
            } else if is("Label") {
                &mut fields.label
            } else if is("Suite") {
                &mut fields.suite
            } else if is("Version") {
                &mut fields.version
            } else if is("Codename") {
                &mut fields.codename
            } else if is("Changelogs") {
                &mut fields.changelogs
            } else if is("Date") {
                &mut fields.date
            } else if is("Valid-Until") {
                &mut fields.valid_until
            } else if is("No-Support-for-Architecture-all") {
                &mut fields.no_support_for_architecture_all
            } else if is("Description") {
                &mut fields.description
            } else {
                if is("Acquire-By-Hash") {
                    fields.acquire_by_hash = value.eq_ignore_ascii_case("yes");
                } else if is("Architectures") {
                    fields.architectures = value.split_ascii_whitespace().collect();
                } else if is("Components") {
                    fields.components = value.split_ascii_whitespace().collect();
                } else if is("MD5Sum") {
                    md5_list.get_or_insert(field);
                } else if is("SHA256") {
                    sha256_list.get_or_insert(field);
                } else if !IGNORED_LISTS.iter().any(|list| is(list)) {
                    fields.extra.push((name, value));
                }
                continue;
            };
            slot.get_or_insert(value);
        }
        let sha256_list = sha256_list.ok_or(ReleaseError::NoSha256)?;
        let mut files = Vec::new();
        let mut by_path = HashMap::new();
        for (hash, size, path) in entries(sha256_list, "SHA256", 64)? {
            if by_path.insert(path, files.len()).is_some() {
                return Err(inconsistent(path, "listed twice in SHA256"));
            }
            files.push(ReleaseFile {
                path,
                size,
                sha256: hash,
                md5: None,
            });
        }
        if let Some(md5_list) = md5_list {
            for (hash, size, path) in entries(md5_list, "MD5Sum", 32)? {
                // A file with only an MD5 cannot be verified safely: leave it out.
                let Some(&index) = by_path.get(path) else {
                    continue;
                };
                let file = &mut files[index];
                if file.md5.replace(hash).is_some() {
                    return Err(inconsistent(path, "listed twice in MD5Sum"));
                }
                if file.size != size {
                    return Err(inconsistent(
                        path,
                        &format!("size {} in SHA256, {size} in MD5Sum", file.size),
                    ));
                }
            }
        }
        Ok(Release {
            fields,
            files,
            by_path,
        })
    }

    /// The files in the order of the SHA256 list.
    pub fn files(&self) -> &[ReleaseFile<'a>] {
        &self.files
    }

    /// The entry for `path` (relative to the suite directory).
    pub fn file(&self, path: &str) -> Option<&ReleaseFile<'a>> {
        self.by_path.get(path).map(|&index| &self.files[index])
    }

    /// `Date`, parsed.
    pub fn date(&self) -> Result<Option<OffsetDateTime>, ReleaseError> {
        self.fields
            .date
            .map(|value| parse_release_date("Date", value))
            .transpose()
    }

    /// `Valid-Until`, parsed.
    pub fn valid_until(&self) -> Result<Option<OffsetDateTime>, ReleaseError> {
        self.fields
            .valid_until
            .map(|value| parse_release_date("Valid-Until", value))
            .transpose()
    }
}

fn inconsistent(path: &str, reason: &str) -> ReleaseError {
    ReleaseError::Inconsistent {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The `hash size path` lines of a file list.
fn entries<'a>(
    field: Field<'a>,
    list: &'static str,
    hash_length: usize,
) -> Result<Vec<(&'a str, u64, &'a str)>, ReleaseError> {
    let text = field
        .value_str()
        .map_err(|error| ReleaseError::InvalidEntry {
            list,
            line: String::from_utf8_lossy(field.value()).into_owned(),
            reason: error.to_string(),
        })?;
    let mut entries = Vec::new();
    for line in text
        .lines()
        .map(str::trim_ascii)
        .filter(|line| !line.is_empty())
    {
        let invalid = |reason: String| ReleaseError::InvalidEntry {
            list,
            line: line.to_owned(),
            reason,
        };
        let mut parts = line.split_ascii_whitespace();
        let (Some(hash), Some(size), Some(path), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("expected `hash size path`".into()));
        };
        if hash.len() != hash_length
            || !hash
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(format!(
                "expected {hash_length} lowercase hex digits"
            )));
        }
        let size = size
            .parse()
            .map_err(|error| invalid(format!("bad size: {error}")))?;
        check_relative_path(path).map_err(ReleaseError::UnsafePath)?;
        entries.push((hash, size, path));
    }
    Ok(entries)
}
