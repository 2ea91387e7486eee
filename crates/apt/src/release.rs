//! Release files: the signed table of contents of a suite, parsed and written.
//!
//! [`Release::parse`] reads the body (the text whose signature was checked elsewhere):
//! the descriptive fields and the `MD5Sum`/`SHA256` lists, merged into one
//! [`ReleaseFile`] per path. [`write_release`] produces the same format in the field order
//! Debian's archive software uses, so a Release we generate looks like upstream's and
//! parsing it gives back what was written.

use std::collections::HashMap;
use std::fmt::Write as _;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::control::{ControlError, ControlWriter, Field, Paragraph};
use crate::packages::{UnsafePathError, check_relative_path};

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

/// Writes a Release body: the fields in Debian's order, then the `MD5Sum` list (files
/// that have an MD5) and the `SHA256` list, each line ` hash size path` with the size
/// right-aligned in 8 columns as Debian's archive writes it. No trailing blank line.
pub fn write_release(
    fields: &ReleaseFields<'_>,
    files: &[ReleaseFile<'_>],
) -> Result<String, ReleaseError> {
    let mut writer = ControlWriter::new();
    let single = [
        ("Origin", fields.origin),
        ("Label", fields.label),
        ("Suite", fields.suite),
        ("Version", fields.version),
        ("Codename", fields.codename),
        ("Changelogs", fields.changelogs),
        ("Date", fields.date),
        ("Valid-Until", fields.valid_until),
    ];
    for (name, value) in single {
        if let Some(value) = value {
            writer.field(name, value.as_bytes())?;
        }
    }
    for (name, value) in &fields.extra {
        writer.field(name, value.as_bytes())?;
    }
    if fields.acquire_by_hash {
        writer.field("Acquire-By-Hash", b"yes")?;
    }
    if let Some(value) = fields.no_support_for_architecture_all {
        writer.field("No-Support-for-Architecture-all", value.as_bytes())?;
    }
    for (name, list) in [
        ("Architectures", &fields.architectures),
        ("Components", &fields.components),
    ] {
        if !list.is_empty() {
            writer.field(name, list.join(" ").as_bytes())?;
        }
    }
    if let Some(value) = fields.description {
        writer.field("Description", value.as_bytes())?;
    }
    let mut seen = HashMap::with_capacity(files.len());
    for file in files {
        check_relative_path(file.path).map_err(ReleaseError::UnsafePath)?;
        if seen.insert(file.path, ()).is_some() {
            return Err(inconsistent(file.path, "listed twice"));
        }
    }
    let mut md5_list = String::new();
    let mut sha256_list = String::new();
    for file in files {
        if let Some(md5) = file.md5 {
            write_entry(&mut md5_list, "MD5Sum", md5, 32, file)?;
        }
        write_entry(&mut sha256_list, "SHA256", file.sha256, 64, file)?;
    }
    if !md5_list.is_empty() {
        writer.field("MD5Sum", md5_list.as_bytes())?;
    }
    writer.field("SHA256", sha256_list.as_bytes())?;
    Ok(String::from_utf8(writer.finish()).expect("written from str pieces"))
}

fn write_entry(
    list_text: &mut String,
    list: &'static str,
    hash: &str,
    hash_length: usize,
    file: &ReleaseFile<'_>,
) -> Result<(), ReleaseError> {
    if hash.len() != hash_length
        || !hash
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ReleaseError::InvalidEntry {
            list,
            line: format!("{hash} {} {}", file.size, file.path),
            reason: format!("expected {hash_length} lowercase hex digits"),
        });
    }
    write!(list_text, "\n {hash} {:>8} {}", file.size, file.path)
        .expect("writing to a String cannot fail");
    Ok(())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Formats `moment` the way Debian writes `Date`: `Sat, 11 Jul 2026 10:16:37 UTC`.
pub fn format_release_date(moment: OffsetDateTime) -> String {
    let utc = moment.to_offset(UtcOffset::UTC);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[usize::from(utc.weekday().number_days_from_monday())],
        utc.day(),
        MONTHS[usize::from(u8::from(utc.month()) - 1)],
        utc.year(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Parses an RFC 2822 date as apt accepts it in `Date` and `Valid-Until`: optional
/// weekday, day, English month abbreviation, year, `HH:MM:SS`, and a zone of `UTC`,
/// `GMT`, `Z` or `±HHMM`.
pub fn parse_release_date(
    field: &'static str,
    value: &str,
) -> Result<OffsetDateTime, ReleaseError> {
    let invalid = || ReleaseError::InvalidDate {
        field,
        value: value.to_owned(),
    };
    let mut tokens: Vec<&str> = value.split_ascii_whitespace().collect();
    if tokens.first().is_some_and(|token| token.ends_with(',')) {
        tokens.remove(0);
    }
    let [day, month, year, clock, zone] = tokens[..] else {
        return Err(invalid());
    };
    let day: u8 = day.parse().map_err(|_| invalid())?;
    let month = MONTHS
        .iter()
        .position(|name| name.eq_ignore_ascii_case(month))
        .ok_or_else(invalid)?;
    let month =
        Month::try_from(u8::try_from(month + 1).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let year: i32 = year.parse().map_err(|_| invalid())?;
    let mut clock = clock
        .split(':')
        .map(|part| part.parse::<u8>().map_err(|_| invalid()));
    let (Some(hour), Some(minute), Some(second), None) =
        (clock.next(), clock.next(), clock.next(), clock.next())
    else {
        return Err(invalid());
    };
    let offset = match zone {
        "UTC" | "GMT" | "Z" => UtcOffset::UTC,
        _ => {
            let (sign, digits) = zone.split_at_checked(1).ok_or_else(invalid)?;
            let sign = match sign {
                "+" => 1,
                "-" => -1,
                _ => return Err(invalid()),
            };
            if digits.len() != 4 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid());
            }
            let hours: i8 = digits[..2].parse().map_err(|_| invalid())?;
            let minutes: i8 = digits[2..].parse().map_err(|_| invalid())?;
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| invalid())?
        }
    };
    let date = Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
    let time = Time::from_hms(hour?, minute?, second?).map_err(|_| invalid())?;
    Ok(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "0ed6d4c8891eb86358b94bb35d9e4da4";
    const SHA: &str = "5d27e4146c269f89eb420bd8884da52498658fcf9612bb2725aeacb051fe905a";

    fn sample_files() -> Vec<ReleaseFile<'static>> {
        vec![
            ReleaseFile {
                path: "main/binary-amd64/Packages",
                size: 50_060_337,
                sha256: SHA,
                md5: Some(MD5),
            },
            ReleaseFile {
                path: "main/binary-amd64/Packages.xz",
                size: 0,
                sha256: SHA,
                md5: None,
            },
            ReleaseFile {
                path: "main/Contents-all",
                size: 519_622_348,
                sha256: SHA,
                md5: Some(MD5),
            },
        ]
    }

    #[test]
    fn write_then_parse_round_trips() {
        let fields = ReleaseFields {
            origin: Some("Mirror"),
            label: Some("Mirror of Debian"),
            suite: Some("stable"),
            codename: Some("bookworm"),
            date: Some("Sat, 11 Jul 2026 10:16:37 UTC"),
            valid_until: Some("Sat, 18 Jul 2026 10:16:37 UTC"),
            extra: vec![("NotAutomatic", "yes")],
            acquire_by_hash: true,
            architectures: vec!["amd64", "all"],
            components: vec!["main"],
            description: Some("Filtered for the inside"),
            ..ReleaseFields::default()
        };
        let files = sample_files();
        let text = write_release(&fields, &files).expect("valid");
        assert!(
            text.contains(&format!(
                "\n {SHA}        0 main/binary-amd64/Packages.xz\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n {MD5} 50060337 main/binary-amd64/Packages\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n {MD5} 519622348 main/Contents-all\n")),
            "{text}"
        );
        assert!(text.ends_with("main/Contents-all\n"), "{text}");
        assert!(
            text.find("NotAutomatic").expect("written")
                < text.find("Acquire-By-Hash").expect("written")
        );
        let release = Release::parse(&text).expect("parses");
        assert_eq!(release.fields, fields);
        assert_eq!(release.files(), &files[..]);
        assert_eq!(
            release.file("main/binary-amd64/Packages.xz"),
            Some(&files[1])
        );
        assert_eq!(release.file("main/missing"), None);
        let date = release.date().expect("valid").expect("present");
        assert_eq!(format_release_date(date), "Sat, 11 Jul 2026 10:16:37 UTC");
        assert!(release.valid_until().expect("valid").expect("present") > date);
    }

    #[test]
    fn writer_rejects_bad_input() {
        let fields = ReleaseFields::default();
        let mut files = sample_files();
        files[0].path = "../escape";
        assert!(matches!(
            write_release(&fields, &files),
            Err(ReleaseError::UnsafePath(_))
        ));
        let mut files = sample_files();
        files[2].path = files[0].path;
        assert!(matches!(
            write_release(&fields, &files),
            Err(ReleaseError::Inconsistent { .. })
        ));
        let mut files = sample_files();
        files[1].sha256 = "abc";
        assert!(matches!(
            write_release(&fields, &files),
            Err(ReleaseError::InvalidEntry { .. })
        ));
        let fields = ReleaseFields {
            description: Some("two\nlines"),
            ..ReleaseFields::default()
        };
        assert!(matches!(
            write_release(&fields, &sample_files()),
            Err(ReleaseError::Control(_))
        ));
    }

    #[test]
    fn parse_rejects_inconsistent_lists() {
        let sha = format!("SHA256:\n {SHA} 10 a\n");
        assert!(matches!(
            Release::parse("Origin: x\n"),
            Err(ReleaseError::NoSha256)
        ));
        assert!(matches!(Release::parse(""), Err(ReleaseError::Empty)));
        let twice = format!("{sha} {SHA} 10 a\n");
        assert!(matches!(
            Release::parse(&twice),
            Err(ReleaseError::Inconsistent { .. })
        ));
        let sizes = format!("MD5Sum:\n {MD5} 11 a\n{sha}");
        assert!(matches!(
            Release::parse(&sizes),
            Err(ReleaseError::Inconsistent { .. })
        ));
        let escape = format!("SHA256:\n {SHA} 10 ../a\n");
        assert!(matches!(
            Release::parse(&escape),
            Err(ReleaseError::UnsafePath(_))
        ));
        let short = "SHA256:\n abc 10 a\n";
        assert!(matches!(
            Release::parse(short),
            Err(ReleaseError::InvalidEntry { list: "SHA256", .. })
        ));
        let md5_only = format!("MD5Sum:\n {MD5} 5 b\n{sha}");
        let release = Release::parse(&md5_only).expect("valid");
        assert_eq!(release.files().len(), 1, "an MD5-only file is left out");
    }

    #[test]
    fn dates() {
        let parse = |text| parse_release_date("Date", text);
        let utc = parse("Sat, 11 Jul 2026 10:16:37 UTC").expect("valid");
        assert_eq!(parse("11 Jul 2026 12:16:37 +0200").expect("valid"), utc);
        assert_eq!(parse("Sat, 11 Jul 2026 10:16:37 GMT").expect("valid"), utc);
        assert_eq!(utc.unix_timestamp(), 1_783_764_997);
        for bad in [
            "",
            "Sat, 11 Jul 2026",
            "Sat, 32 Jul 2026 10:16:37 UTC",
            "Sat, 11 Foo 2026 10:16:37 UTC",
            "11 Jul 2026 10:16 UTC",
            "11 Jul 2026 10:16:37 CEST",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn real_release_parses_and_is_rewritten_byte_for_byte() {
        let Some(root) = crate::packages::fixture::root() else {
            return;
        };
        let path = root.join("debian-bookworm/dists/bookworm/Release");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let release = Release::parse(&text).expect("real Release parses");
        let fields = &release.fields;
        assert_eq!(
            (fields.origin, fields.suite, fields.codename),
            (Some("Debian"), Some("oldstable"), Some("bookworm"))
        );
        assert_eq!(fields.version, Some("12.15"));
        assert!(fields.acquire_by_hash);
        assert_eq!(fields.no_support_for_architecture_all, Some("Packages"));
        assert_eq!(
            fields.components,
            vec!["main", "contrib", "non-free-firmware", "non-free"]
        );
        assert!(fields.architectures.contains(&"amd64"));
        assert_eq!(
            release
                .date()
                .expect("valid")
                .map(format_release_date)
                .as_deref(),
            fields.date
        );
        let packages = release.file("main/binary-amd64/Packages").expect("listed");
        assert_eq!(packages.size, 50_060_337, "the fixture README's size");
        assert_eq!(
            packages.sha256,
            "515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"
        );
        assert!(packages.md5.is_some());
        assert_eq!(
            release.files().len(),
            text.lines().filter(|line| line.starts_with(' ')).count() / 2
        );
        assert_eq!(
            write_release(&release.fields, release.files()).expect("writes"),
            text
        );
    }
}
