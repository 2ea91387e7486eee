//! Source package stanzas of a `Sources` index, and the source a binary package was
//! built from.
//!
//! A source stanza names its files by `Directory` and the lines of `Checksums-Sha256`
//! (`<sha256> <size> <name>`); apt downloads `Directory/name` for each and checks the
//! digest, so a mirror needs exactly those files, verified the same way. Each path is
//! checked to stay inside the repository before it is used.

use crate::control::{ControlError, Paragraph, Paragraphs};
use crate::packages::{BinaryPackage, UnsafePathError, check_relative_path};

/// A Sources stanza that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The control file itself is malformed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A required field is absent.
    #[error("source stanza at line {line} ({package}) has no {field} field")]
    MissingField {
        /// The `Package` value, or `?`.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A `Checksums-Sha256` line is not `<sha256> <size> <name>`.
    #[error(
        "source package {package} (stanza at line {line}) has a bad Checksums-Sha256 line {value:?}"
    )]
    BadChecksum {
        /// The source package.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// The line.
        value: String,
    },
    /// A file name in `Checksums-Sha256` is not a plain name: Debian's never hold a `/`
    /// (the directory is `Directory`'s), so one that does is refused whatever it names.
    #[error(
        "source package {package} (stanza at line {line}) names a file {name:?} that is not a plain file name"
    )]
    NotAFileName {
        /// The source package.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// The name as given.
        name: String,
    },
    /// `Directory/name` would leave the repository root.
    #[error("source package {package} (stanza at line {line}) names an unsafe path {path:?}")]
    UnsafePath {
        /// The source package.
        package: String,
        /// 1-based line of the stanza.
        line: usize,
        /// The path.
        path: String,
        /// Why it is unsafe.
        #[source]
        source: UnsafePathError,
    },
}

/// One file of a source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// `pool/main/j/jq/jq_1.6-2.1.dsc`
    pub path: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// A borrowed view of one Sources stanza.
#[derive(Debug, Clone)]
pub struct SourcePackage<'a> {
    paragraph: Paragraph<'a>,
    name: &'a str,
    version: &'a str,
    files: Vec<SourceFile>,
}

impl<'a> SourcePackage<'a> {
    /// Read and check one stanza.
    pub fn from_paragraph(paragraph: Paragraph<'a>) -> Result<Self, SourceError> {
        // Counted only for an error: a line number scans the input from its start, and
        // doing that for every stanza of a 45 MB Sources would be quadratic (the fuzzer
        // found it).
        let line = || paragraph.line();
        let name = paragraph.get_str("Package")?;
        let missing = |field| SourceError::MissingField {
            package: name.unwrap_or("?").to_owned(),
            line: line(),
            field,
        };
        let name = name.ok_or_else(|| missing("Package"))?;
        let version = paragraph
            .get_str("Version")?
            .ok_or_else(|| missing("Version"))?;
        let directory = paragraph
            .get_str("Directory")?
            .ok_or_else(|| missing("Directory"))?;
        let checksums = paragraph
            .get_str("Checksums-Sha256")?
            .ok_or_else(|| missing("Checksums-Sha256"))?;
        let mut files = Vec::new();
        for entry in checksums.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let bad = || SourceError::BadChecksum {
                package: name.to_owned(),
                line: line(),
                value: entry.to_owned(),
            };
            let mut parts = entry.split_ascii_whitespace();
            let (Some(sha256), Some(size), Some(file), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let size = size.parse().map_err(|_| bad())?;
            if file.contains(['/', '\\']) || file == "." || file == ".." {
                return Err(SourceError::NotAFileName {
                    package: name.to_owned(),
                    line: line(),
                    name: file.to_owned(),
                });
            }
            let path = format!("{}/{file}", directory.trim_end_matches('/'));
            check_relative_path(&path).map_err(|source| SourceError::UnsafePath {
                package: name.to_owned(),
                line: line(),
                path: path.clone(),
                source,
            })?;
            files.push(SourceFile {
                path,
                sha256: sha256.to_ascii_lowercase(),
                size,
            });
        }
        Ok(Self {
            paragraph,
            name,
            version,
            files,
        })
    }

    /// `Package`: the source package's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// `Version`, as written.
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The files apt downloads for `apt-get source`.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The stanza's bytes, unchanged.
    pub fn raw(&self) -> &'a [u8] {
        self.paragraph.raw()
    }
}

/// Every stanza of a decoded Sources index.
pub fn parse_sources(input: &[u8]) -> impl Iterator<Item = Result<SourcePackage<'_>, SourceError>> {
    Paragraphs::new(input).map(SourcePackage::from_paragraph)
}

/// The source package (name, version) `package` was built from: its `Source` field
/// (`name` or `name (version)`, the version given when it differs, as for binNMUs),
/// else its own name and version.
pub fn built_from<'a>(package: &BinaryPackage<'a>) -> (&'a str, &'a str) {
    let own_version = package.version().as_str();
    match package.source().map(str::trim) {
        None | Some("") => (package.name(), own_version),
        Some(source) => match source.split_once('(') {
            Some((name, version)) => (name.trim(), version.trim_end_matches(')').trim()),
            None => (source, own_version),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::parse_packages;

    const SOURCES: &[u8] = b"Package: jq\nBinary: jq, libjq1, libjq-dev\nVersion: 1.6-2.1\n\
Directory: pool/main/j/jq\nChecksums-Sha256:\n \
1111111111111111111111111111111111111111111111111111111111111111 2105 jq_1.6-2.1.dsc\n \
2222222222222222222222222222222222222222222222222222222222222222 1750813 jq_1.6.orig.tar.gz\n\n\
Package: evil\nVersion: 1\nDirectory: pool/main/e/evil\nChecksums-Sha256:\n \
3333333333333333333333333333333333333333333333333333333333333333 1 ../../../../etc/passwd\n";

    #[test]
    fn reads_the_files_apt_fetches_and_refuses_a_path_out_of_the_tree() {
        let mut stanzas = parse_sources(SOURCES);
        let jq = stanzas.next().expect("one").expect("valid");
        assert_eq!((jq.name(), jq.version()), ("jq", "1.6-2.1"));
        assert_eq!(
            jq.files()
                .iter()
                .map(|f| (f.path.as_str(), f.size))
                .collect::<Vec<_>>(),
            [
                ("pool/main/j/jq/jq_1.6-2.1.dsc", 2105),
                ("pool/main/j/jq/jq_1.6.orig.tar.gz", 1750813)
            ]
        );
        assert!(jq.raw().starts_with(b"Package: jq\n"));
        let evil = stanzas.next().expect("two").expect_err("unsafe");
        assert!(
            evil.to_string().contains("../../../../etc/passwd"),
            "{evil}"
        );
    }

    #[test]
    fn a_file_name_with_a_slash_is_refused_even_inside_the_tree() {
        let nested = b"Package: a\nVersion: 1\nDirectory: pool/main/a/a\nChecksums-Sha256:\n \
4444444444444444444444444444444444444444444444444444444444444444 1 sub/a.dsc\n";
        let error = parse_sources(nested)
            .next()
            .expect("one")
            .expect_err("a slash");
        assert!(
            matches!(&error, SourceError::NotAFileName { name, .. } if name == "sub/a.dsc"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_or_malformed_checksum_is_an_error_naming_the_package() {
        let missing = b"Package: a\nVersion: 1\nDirectory: pool/main/a/a\n";
        let error = parse_sources(missing)
            .next()
            .expect("stanza")
            .expect_err("no sums");
        assert!(error.to_string().contains("Checksums-Sha256"), "{error}");
        let short = b"Package: a\nVersion: 1\nDirectory: d\nChecksums-Sha256:\n abc 1 a.dsc\n";
        let error = parse_sources(short)
            .next()
            .expect("stanza")
            .expect_err("bad");
        assert!(error.to_string().contains("package a"), "{error}");
    }

    #[test]
    fn the_source_of_a_binary_is_its_source_field_or_itself() {
        let index = b"Package: jq\nVersion: 1.6-2.1\nArchitecture: amd64\nFilename: pool/j.deb\nSize: 1\n\
SHA256: 1111111111111111111111111111111111111111111111111111111111111111\n\n\
Package: libjq1\nSource: jq\nVersion: 1.6-2.1\nArchitecture: amd64\nFilename: pool/l.deb\nSize: 1\n\
SHA256: 1111111111111111111111111111111111111111111111111111111111111111\n\n\
Package: libc6\nSource: glibc (2.36-9)\nVersion: 2.36-9+b1\nArchitecture: amd64\nFilename: pool/c.deb\n\
Size: 1\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n";
        let packages: Vec<_> = parse_packages(index).map(|p| p.expect("valid")).collect();
        let sources: Vec<_> = packages.iter().map(built_from).collect();
        assert_eq!(
            sources,
            [("jq", "1.6-2.1"), ("jq", "1.6-2.1"), ("glibc", "2.36-9")]
        );
    }
}
