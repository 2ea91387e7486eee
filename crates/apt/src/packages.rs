//! Binary package stanzas of a `Packages` index, as borrowed typed views.
//!
//! [`BinaryPackage::from_paragraph`] reads the stanza once, checks what a mirror relies
//! on (the fields that locate and verify the `.deb`, and that its `Filename` cannot
//! escape the repository root), and keeps the relationship fields as text: they are
//! parsed on demand, because a dependency closure looks at a few hundred of 60,000.

use crate::control::{ControlError, Paragraph, Paragraphs};
use crate::relation::{Relation, RelationError, Relations};
use crate::version::{Version, VersionError};

/// A Packages stanza that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// The control file itself is malformed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A required field is absent.
    #[error("{} has no {field} field", describe(package, *line))]
    MissingField {
        /// The package name, when the stanza has one.
        package: Option<String>,
        /// 1-based line of the stanza.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A field has an unusable value.
    #[error("{} has an invalid {field} {value:?}: {reason}", describe(package, *line))]
    InvalidField {
        /// The package name, when the stanza has one.
        package: Option<String>,
        /// 1-based line of the stanza.
        line: usize,
        /// The field.
        field: &'static str,
        /// The value (lossily decoded).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Version field is not a Debian version.
    #[error("package {package} (stanza at line {line}) has an invalid Version")]
    Version {
        /// The package name.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// Why the version is invalid.
        #[source]
        source: VersionError,
    },
    /// Filename would leave the repository root.
    #[error("package {package} (stanza at line {line}) has an unsafe Filename")]
    UnsafeFilename {
        /// The package name.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// Why the path is unsafe.
        #[source]
        source: UnsafePathError,
    },
}

impl PackageError {
    /// The same error with its line counted `lines` further on: for a stanza parsed from
    /// a buffer that started after `lines` lines of the file.
    pub fn after_lines(self, lines: usize) -> Self {
        match self {
            PackageError::Control(error) => PackageError::Control(error.after_lines(lines)),
            PackageError::MissingField {
                package,
                line,
                field,
            } => PackageError::MissingField {
                package,
                line: line + lines,
                field,
            },
            PackageError::InvalidField {
                package,
                line,
                field,
                value,
                reason,
            } => PackageError::InvalidField {
                package,
                line: line + lines,
                field,
                value,
                reason,
            },
            PackageError::Version {
                package,
                line,
                source,
            } => PackageError::Version {
                package,
                line: line + lines,
                source,
            },
            PackageError::UnsafeFilename {
                package,
                line,
                source,
            } => PackageError::UnsafeFilename {
                package,
                line: line + lines,
                source,
            },
        }
    }
}

fn describe(package: &Option<String>, line: usize) -> String {
    match package {
        Some(name) => format!("package {name} (stanza at line {line})"),
        None => format!("stanza at line {line}"),
    }
}

/// A repository-relative path that could point outside the repository (the workspace's
/// one rule, from `mirror-paths`).
pub use mirror_paths::UnsafePathError;

/// Checks that `path` (a `Filename` or a Release entry) is a plain relative path: not
/// empty or absolute, no `.`/`..`/empty components, no backslashes or control characters.
/// Upstream indices are signed, but a compromised or buggy upstream must still not make
/// us write outside the mirror tree.
pub fn check_relative_path(path: &str) -> Result<(), UnsafePathError> {
    mirror_paths::check_relative(path).map(drop)
}

/// `Multi-Arch` of a binary package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    /// Absent or `no`: only satisfies dependencies from its own architecture.
    #[default]
    No,
    /// `same`: co-installable with itself for other architectures.
    Same,
    /// `foreign`: satisfies dependencies from any architecture.
    Foreign,
    /// `allowed`: satisfies `:any` dependencies from any architecture.
    Allowed,
}

/// A typed, borrowed view of one Packages stanza.
///
/// A selection holds one per package of every index (63k for Debian main/amd64), so it is
/// kept small: the hot `name`, `architecture` and `filename` are slices, the other values
/// are `Span`s into the stanza (8 bytes instead of a 16-byte slice).
#[derive(Debug, Clone)]
pub struct BinaryPackage<'a> {
    // The stanza's bytes (a slice, not its `Paragraph`: 16 bytes fewer, 63k times).
    raw: &'a [u8],
    name: &'a str,
    version: Version<'a>,
    architecture: &'a str,
    // Checked to be a safe relative path; a slice because every selected package reads it.
    filename: &'a str,
    size: u64,
    // Checked to be lowercase hex.
    sha256: Span,
    md5sum: Span,
    multi_arch: MultiArch,
    // Kept as bytes and decoded on demand: most callers never look at them.
    priority: Span,
    source: Span,
    depends: Span,
    pre_depends: Span,
    recommends: Span,
    provides: Span,
}

/// Where a field's value sits in its stanza; [`Span::ABSENT`] for a missing field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const ABSENT: Span = Span {
        start: u32::MAX,
        len: 0,
    };

    /// The span of `value`, a sub-slice of `stanza` (checked to be under 4 GiB).
    fn of(stanza: &[u8], value: Option<&[u8]>) -> Span {
        value.map_or(Span::ABSENT, |value| Span {
            start: (value.as_ptr() as usize - stanza.as_ptr() as usize) as u32,
            len: value.len() as u32,
        })
    }

    fn get(self, stanza: &[u8]) -> Option<&[u8]> {
        (self.start != u32::MAX).then(|| &stanza[self.start as usize..][..self.len as usize])
    }
}

/// Field slots filled by the single pass over a stanza.
#[derive(Default)]
struct Slots<'a> {
    name: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    architecture: Option<&'a [u8]>,
    filename: Option<&'a [u8]>,
    size: Option<&'a [u8]>,
    sha256: Option<&'a [u8]>,
    md5sum: Option<&'a [u8]>,
    multi_arch: Option<&'a [u8]>,
    priority: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    depends: Option<&'a [u8]>,
    pre_depends: Option<&'a [u8]>,
    recommends: Option<&'a [u8]>,
    provides: Option<&'a [u8]>,
}

/// The fields of a compact stanza, in the order written, with their one-letter names
/// (saving ~60 bytes a package, 4 MB on Debian's main).
const COMPACT_NAMES: [(u8, &str); 12] = [
    (b'P', "Package"),
    (b'V', "Version"),
    (b'A', "Architecture"),
    (b'M', "Multi-Arch"),
    (b'I', "Priority"),
    (b'E', "Pre-Depends"),
    (b'D', "Depends"),
    (b'R', "Recommends"),
    (b'O', "Provides"),
    (b'F', "Filename"),
    (b'S', "Size"),
    (b'H', "SHA256"),
];

impl<'a> Slots<'a> {
    /// The slot of `COMPACT_NAMES[number]`.
    fn by_number(&mut self, number: usize) -> &mut Option<&'a [u8]> {
        match number {
            0 => &mut self.name,
            1 => &mut self.version,
            2 => &mut self.architecture,
            3 => &mut self.multi_arch,
            4 => &mut self.priority,
            5 => &mut self.pre_depends,
            6 => &mut self.depends,
            7 => &mut self.recommends,
            8 => &mut self.provides,
            9 => &mut self.filename,
            10 => &mut self.size,
            _ => &mut self.sha256,
        }
    }
}

impl<'a> BinaryPackage<'a> {
    /// Reads a stanza; Package, Version, Architecture, Filename, Size and SHA256 are
    /// required, MD5sum is optional but must be well formed when present.
    pub fn from_paragraph(paragraph: Paragraph<'a>) -> Result<Self, PackageError> {
        Self::read(paragraph, false)
    }

    /// Reads a stanza [`write_compact`](Self::write_compact) wrote: its one-letter
    /// field names, and without the file (Filename, Size, SHA256) when it was written
    /// without: then [`filename`](Self::filename) and [`sha256`](Self::sha256) are empty
    /// and [`size`](Self::size) is 0. Values are checked as in
    /// [`from_paragraph`](Self::from_paragraph); [`raw`](Self::raw) is the compact
    /// stanza.
    pub fn from_compact(paragraph: Paragraph<'a>) -> Result<Self, PackageError> {
        Self::read(paragraph, true)
    }

    fn read(paragraph: Paragraph<'a>, compact: bool) -> Result<Self, PackageError> {
        let mut slots = Slots::default();
        for field in paragraph.fields() {
            let field = field?;
            let name = field.name_bytes();
            // Compact names only in a compact stanza: in upstream's, a field `P` is
            // nobody's and ignored, as apt ignores it.
            if compact {
                let Some(slot) = COMPACT_NAMES
                    .iter()
                    .position(|(letter, _)| name == [*letter])
                    .map(|slot| slots.by_number(slot))
                else {
                    continue;
                };
                slot.get_or_insert(field.value());
                continue;
            }
            let slot = match name.len() {
                4 if name.eq_ignore_ascii_case(b"Size") => &mut slots.size,
                6 if name.eq_ignore_ascii_case(b"SHA256") => &mut slots.sha256,
                6 if name.eq_ignore_ascii_case(b"MD5sum") => &mut slots.md5sum,
                6 if name.eq_ignore_ascii_case(b"Source") => &mut slots.source,
                7 if name.eq_ignore_ascii_case(b"Package") => &mut slots.name,
                7 if name.eq_ignore_ascii_case(b"Version") => &mut slots.version,
                7 if name.eq_ignore_ascii_case(b"Depends") => &mut slots.depends,
                8 if name.eq_ignore_ascii_case(b"Filename") => &mut slots.filename,
                8 if name.eq_ignore_ascii_case(b"Priority") => &mut slots.priority,
                8 if name.eq_ignore_ascii_case(b"Provides") => &mut slots.provides,
                10 if name.eq_ignore_ascii_case(b"Multi-Arch") => &mut slots.multi_arch,
                10 if name.eq_ignore_ascii_case(b"Recommends") => &mut slots.recommends,
                11 if name.eq_ignore_ascii_case(b"Pre-Depends") => &mut slots.pre_depends,
                12 if name.eq_ignore_ascii_case(b"Architecture") => &mut slots.architecture,
                _ => continue,
            };
            // The first occurrence wins, as in `Paragraph::get`.
            slot.get_or_insert(field.value());
        }
        // Counting lines costs a scan of the buffer: only error paths do it.
        let line = || paragraph.line();
        let stanza = paragraph.raw();
        if u32::try_from(stanza.len()).is_err() {
            return Err(PackageError::InvalidField {
                package: None,
                line: line(),
                field: "Package",
                value: String::new(),
                reason: "stanza larger than 4 GiB".into(),
            });
        }
        let text = |field: &'static str, value: &'a [u8], package: Option<&str>| {
            std::str::from_utf8(value).map_err(|error| PackageError::InvalidField {
                package: package.map(str::to_owned),
                line: line(),
                field,
                value: String::from_utf8_lossy(value).into_owned(),
                reason: error.to_string(),
            })
        };
        let name = slots.name.ok_or_else(|| PackageError::MissingField {
            package: None,
            line: line(),
            field: "Package",
        })?;
        let name = text("Package", name, None)?;
        let package = Some(name);
        let missing = |field| PackageError::MissingField {
            package: package.map(str::to_owned),
            line: line(),
            field,
        };
        let required = |field: &'static str, slot: Option<&'a [u8]>| match slot {
            Some(value) => text(field, value, package),
            None => Err(missing(field)),
        };
        let invalid =
            |field: &'static str, value: &str, reason: String| PackageError::InvalidField {
                package: package.map(str::to_owned),
                line: line(),
                field,
                value: value.to_owned(),
                reason,
            };
        let lossy = |value: &[u8]| String::from_utf8_lossy(value).into_owned();
        let version = required("Version", slots.version)?;
        let version = Version::parse(version).map_err(|source| PackageError::Version {
            package: name.to_owned(),
            line: line(),
            source,
        })?;
        let architecture = required("Architecture", slots.architecture)?;
        let (filename, size, sha256) = if !compact || slots.filename.is_some() {
            let filename = required("Filename", slots.filename)?;
            check_relative_path(filename).map_err(|source| PackageError::UnsafeFilename {
                package: name.to_owned(),
                line: line(),
                source,
            })?;
            let size = slots.size.ok_or_else(|| missing("Size"))?;
            let size = parse_decimal(size).ok_or_else(|| {
                invalid("Size", &lossy(size), "expected a decimal byte count".into())
            })?;
            let sha256 = slots.sha256.ok_or_else(|| missing("SHA256"))?;
            let sha256 = lower_hex(sha256, 64).ok_or_else(|| {
                invalid(
                    "SHA256",
                    &lossy(sha256),
                    "expected 64 lowercase hex digits".into(),
                )
            })?;
            (filename, size, Some(sha256))
        } else {
            ("", 0, None)
        };
        let md5sum = match slots.md5sum {
            None => None,
            Some(md5sum) => Some(lower_hex(md5sum, 32).ok_or_else(|| {
                invalid(
                    "MD5sum",
                    &lossy(md5sum),
                    "expected 32 lowercase hex digits".into(),
                )
            })?),
        };
        let multi_arch = match slots.multi_arch {
            None | Some(b"no") => MultiArch::No,
            Some(b"same") => MultiArch::Same,
            Some(b"foreign") => MultiArch::Foreign,
            Some(b"allowed") => MultiArch::Allowed,
            Some(other) => {
                return Err(invalid(
                    "Multi-Arch",
                    &lossy(other),
                    "expected no, same, foreign or allowed".into(),
                ));
            }
        };
        let span = |value| Span::of(stanza, value);
        Ok(BinaryPackage {
            raw: stanza,
            name,
            version,
            architecture,
            filename,
            size,
            sha256: span(sha256),
            md5sum: span(md5sum),
            multi_arch,
            priority: span(slots.priority),
            source: span(slots.source),
            depends: span(slots.depends),
            pre_depends: span(slots.pre_depends),
            recommends: span(slots.recommends),
            provides: span(slots.provides),
        })
    }

    /// Appends the stanza cut down to the fields a selection reads (everything this type
    /// has an accessor for but `MD5sum` and `Source`; the file's `Filename`, `Size` and
    /// `SHA256` only `with_file`), values byte for byte under one-letter names, as a
    /// stanza of its own followed by a blank line: 44% of a Debian stanza with the file,
    /// 26% without (the rest is text for people: Description, Maintainer, Homepage,
    /// Tag...). Read back with [`from_compact`](Self::from_compact), it gives the same
    /// name, version, architecture, priority, relations and file.
    pub fn write_compact(&self, out: &mut Vec<u8>, with_file: bool) {
        let multi_arch: &[u8] = match self.multi_arch {
            MultiArch::No => b"",
            MultiArch::Same => b"same",
            MultiArch::Foreign => b"foreign",
            MultiArch::Allowed => b"allowed",
        };
        let mut digits = [0u8; 20];
        let size = decimal(self.size, &mut digits);
        let values: [Option<&[u8]>; 12] = [
            Some(self.name.as_bytes()),
            Some(self.version.as_str().as_bytes()),
            Some(self.architecture.as_bytes()),
            (!multi_arch.is_empty()).then_some(multi_arch),
            self.field(self.priority),
            self.field(self.pre_depends),
            self.field(self.depends),
            self.field(self.recommends),
            self.field(self.provides),
            with_file.then_some(self.filename.as_bytes()),
            with_file.then_some(size),
            with_file.then_some(self.sha256().as_bytes()),
        ];
        for ((letter, _), value) in COMPACT_NAMES.iter().zip(values) {
            if let Some(value) = value {
                out.extend_from_slice(&[*letter, b':', b' ']);
                out.extend_from_slice(value);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }

    /// The stanza's exact bytes (see [`Paragraph::raw`]), for copying it into a filtered
    /// index unchanged.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The underlying stanza, for fields without an accessor. Its line numbers count from
    /// the stanza's first line, not the file's.
    pub fn paragraph(&self) -> Paragraph<'a> {
        Paragraph::of_stanza(self.raw)
    }

    /// `Package`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// `Version`.
    pub fn version(&self) -> &Version<'a> {
        &self.version
    }

    /// `Architecture` (`all` for architecture-independent packages).
    pub fn architecture(&self) -> &'a str {
        self.architecture
    }

    /// `Filename`: the `.deb` path relative to the repository root, checked by
    /// [`check_relative_path`].
    pub fn filename(&self) -> &'a str {
        self.filename
    }

    /// `Size` of the `.deb` in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `SHA256` of the `.deb`, 64 lowercase hex digits.
    pub fn sha256(&self) -> &'a str {
        hex_text(self.field(self.sha256).unwrap_or_default())
    }

    /// `MD5sum` of the `.deb`, 32 lowercase hex digits, when listed.
    pub fn md5sum(&self) -> Option<&'a str> {
        self.field(self.md5sum).map(hex_text)
    }

    /// `Multi-Arch`.
    pub fn multi_arch(&self) -> MultiArch {
        self.multi_arch
    }

    /// `Priority` (`required`, `important`, `standard`, `optional`, `extra`); `None` when
    /// absent or not UTF-8.
    pub fn priority(&self) -> Option<&'a str> {
        self.field(self.priority)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// `Source`, when it differs from the package name (may carry a version in parens);
    /// `None` when absent or not UTF-8.
    pub fn source(&self) -> Option<&'a str> {
        self.field(self.source)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// `Depends`, parsed now.
    pub fn depends(&self) -> Result<Relations<'a>, RelationError> {
        parse_optional(self.field(self.depends))
    }

    /// `Pre-Depends`, parsed now.
    pub fn pre_depends(&self) -> Result<Relations<'a>, RelationError> {
        parse_optional(self.field(self.pre_depends))
    }

    /// `Recommends`, parsed now.
    pub fn recommends(&self) -> Result<Relations<'a>, RelationError> {
        parse_optional(self.field(self.recommends))
    }

    /// `Provides`, parsed now.
    pub fn provides(&self) -> Result<Vec<Relation<'a>>, RelationError> {
        self.field(self.provides).map_or(Ok(Vec::new()), |value| {
            Relations::parse_provides(relation_text(value)?)
        })
    }

    fn field(&self, span: Span) -> Option<&'a [u8]> {
        span.get(self.raw)
    }
}

/// `value` in decimal, written into the end of `buffer`.
fn decimal(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[start..];
        }
    }
}

fn relation_text(value: &[u8]) -> Result<&str, RelationError> {
    std::str::from_utf8(value).map_err(|_| RelationError::Syntax {
        text: String::from_utf8_lossy(value).into_owned(),
        reason: "not valid UTF-8".into(),
    })
}

fn parse_optional(value: Option<&[u8]>) -> Result<Relations<'_>, RelationError> {
    value.map_or_else(
        || Ok(Relations::default()),
        |value| Relations::parse(relation_text(value)?),
    )
}

/// `value` when it is exactly `length` lowercase hex digits (a branch-free check).
fn lower_hex(value: &[u8], length: usize) -> Option<&[u8]> {
    let valid = value.len() == length
        && value.iter().fold(true, |valid, &byte| {
            valid & (byte.is_ascii_digit() | (b'a'..=b'f').contains(&byte))
        });
    valid.then_some(value)
}

fn hex_text(value: &[u8]) -> &str {
    std::str::from_utf8(value).expect("checked to be hex digits when the package was read")
}

/// A plain decimal number (no sign, no spaces) that fits in a u64.
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |number, &byte| {
        let digit = byte.checked_sub(b'0').filter(|digit| *digit < 10)?;
        number.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Parses every stanza of a Packages file.
pub fn parse_packages(
    input: &[u8],
) -> impl Iterator<Item = Result<BinaryPackage<'_>, PackageError>> {
    Paragraphs::new(input).map(BinaryPackage::from_paragraph)
}

/// The real bookworm index for tests, decompressed once per test binary.
#[cfg(test)]
pub(crate) mod fixture {
    use std::io::Read;
    use std::sync::OnceLock;

    /// The fixture root (`mirror_test_support::fixtures`: skips outside CI, fails in it).
    pub(crate) fn root() -> Option<std::path::PathBuf> {
        mirror_test_support::fixtures()
    }

    /// The uncompressed `main/binary-amd64/Packages` of the bookworm fixture.
    pub(crate) fn packages() -> Option<&'static [u8]> {
        static PACKAGES: OnceLock<Vec<u8>> = OnceLock::new();
        let root = root()?;
        let bytes = PACKAGES.get_or_init(|| {
            let path = root.join("debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz");
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let mut bytes = Vec::new();
            liblzma::read::XzDecoder::new(file)
                .read_to_end(&mut bytes)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            bytes
        });
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANZA: &str = "Package: jq\nVersion: 1.6-2.1+deb12u2\nArchitecture: amd64\n\
        Multi-Arch: foreign\nDepends: libjq1 (= 1.6-2.1+deb12u2), libc6 (>= 2.34)\n\
        Provides: json-tool (= 1)\nFilename: pool/main/j/jq/jq_1.6-2.1+deb12u2_amd64.deb\n\
        Size: 64040\nMD5sum: 2a1d37e5a8b9a0d4d29f5ea4ab8efba1\n\
        SHA256: 8bc0c7c3a7b4bbd7a4ee4a1c85bd3d3f0f6ff5b8f5f1e7e0c0f4d5b4b8f3a2c1\n";

    /// A selection holds one view per package of every index (63k for Debian's main):
    /// each byte here is 63 KB of its peak memory.
    #[test]
    fn a_view_stays_small() {
        assert_eq!(std::mem::size_of::<Version<'_>>(), 32);
        assert_eq!(std::mem::size_of::<BinaryPackage<'_>>(), 176);
    }

    fn package(text: &str) -> Result<BinaryPackage<'_>, PackageError> {
        let paragraph = Paragraph::parse_single(text.as_bytes())?.expect("non-empty stanza");
        BinaryPackage::from_paragraph(paragraph)
    }

    #[test]
    fn reads_the_fields_a_mirror_needs() {
        let jq = package(STANZA).expect("valid");
        assert_eq!(
            (jq.name(), jq.version().as_str(), jq.architecture()),
            ("jq", "1.6-2.1+deb12u2", "amd64")
        );
        assert_eq!(jq.filename(), "pool/main/j/jq/jq_1.6-2.1+deb12u2_amd64.deb");
        assert_eq!(jq.size(), 64040);
        assert_eq!(jq.md5sum(), Some("2a1d37e5a8b9a0d4d29f5ea4ab8efba1"));
        assert!(jq.sha256().starts_with("8bc0"));
        assert_eq!(jq.multi_arch(), MultiArch::Foreign);
        assert_eq!(jq.raw(), STANZA.as_bytes());
        let depends = jq.depends().expect("valid");
        let names: Vec<&str> = depends.groups.iter().map(|group| group[0].name).collect();
        assert_eq!(names, vec!["libjq1", "libc6"]);
        assert!(jq.recommends().expect("absent is empty").groups.is_empty());
        assert_eq!(jq.provides().expect("valid")[0].name, "json-tool");
    }

    #[test]
    fn missing_required_fields_name_the_package() {
        for field in ["Version", "Architecture", "Filename", "Size", "SHA256"] {
            let text: String = STANZA
                .lines()
                .filter(|line| !line.starts_with(&format!("{field}:")))
                .map(|line| format!("{line}\n"))
                .collect();
            let error = package(&text).expect_err(field);
            assert!(
                matches!(&error, PackageError::MissingField { field: missing, .. } if *missing == field)
            );
            assert_eq!(
                error.to_string(),
                format!("package jq (stanza at line 1) has no {field} field")
            );
        }
        let error = package("Version: 1\n").expect_err("no Package");
        assert_eq!(error.to_string(), "stanza at line 1 has no Package field");
    }

    #[test]
    fn invalid_values_are_reported() {
        let cases = [
            ("Size: 64040", "Size: -1", "Size"),
            ("Size: 64040", "Size: 12 kB", "Size"),
            ("SHA256: 8bc0", "SHA256: 8BC0", "SHA256"),
            (
                "MD5sum: 2a1d37e5a8b9a0d4d29f5ea4ab8efba1",
                "MD5sum: 2a1d",
                "MD5sum",
            ),
            ("Multi-Arch: foreign", "Multi-Arch: sometimes", "Multi-Arch"),
        ];
        for (from, to, field) in cases {
            let error = package(&STANZA.replace(from, to)).expect_err(to);
            assert!(
                matches!(&error, PackageError::InvalidField { field: bad, .. } if *bad == field),
                "{error}"
            );
        }
        let error = package(&STANZA.replace("Version: 1.6", "Version: :1.6")).expect_err("version");
        assert!(matches!(error, PackageError::Version { .. }), "{error}");
    }

    #[test]
    fn unsafe_filenames_are_rejected() {
        for bad in [
            "/etc/passwd",
            "pool/../../x.deb",
            "pool//x.deb",
            "pool\\x.deb",
            "./x.deb",
            "pool/x/",
            "",
        ] {
            let error =
                package(&STANZA.replace("pool/main/j/jq/jq_1.6-2.1+deb12u2_amd64.deb", bad))
                    .expect_err(bad);
            if bad.is_empty() {
                assert!(
                    matches!(error, PackageError::UnsafeFilename { .. }),
                    "{error}"
                );
            } else {
                assert!(
                    matches!(&error, PackageError::UnsafeFilename { source, .. } if source.path == bad),
                    "{error}"
                );
            }
        }
        assert!(check_relative_path("pool/main/j/jq/jq_1.6_amd64.deb").is_ok());
        assert!(check_relative_path("a/..b/c..").is_ok());
    }

    #[test]
    fn every_fixture_stanza_is_a_valid_package() {
        let Some(bytes) = fixture::packages() else {
            return;
        };
        let packages: Vec<BinaryPackage<'_>> = parse_packages(bytes)
            .collect::<Result<_, _>>()
            .expect("valid index");
        assert_eq!(packages.len(), 63_440, "the fixture README's package count");
        let jq = packages
            .iter()
            .find(|package| package.name() == "jq")
            .expect("jq is in main");
        assert_eq!(jq.version().as_str(), "1.6-2.1+deb12u2");
        assert_eq!(jq.filename(), "pool/main/j/jq/jq_1.6-2.1+deb12u2_amd64.deb");
        // raw() of consecutive stanzas plus separators reproduces the index exactly.
        let mut copy = crate::control::ControlWriter::new();
        for package in &packages {
            copy.paragraph(package.raw());
        }
        assert!(
            copy.finish() == bytes,
            "re-emitting raw stanzas must reproduce the file"
        );
    }
}
