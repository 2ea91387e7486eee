//! A cheap structural check of a package archive, beyond its digest.
//!
//! The digest says the bytes are the ones upstream's index promised; it cannot say that
//! upstream promised a usable package. This check reads a few bytes (the bzip2 magic of a
//! `.tar.bz2`, the zip central directory of a `.conda`) and refuses archives no conda
//! client could install, such as a `.conda` whose members sit under a directory instead
//! of at the root of the zip.
//!
//! The sync driver runs it on every package it downloads, through
//! `CondaMirror`'s `Repository::check_download`, before any snapshot names the file: a
//! digest-correct but malformed package fails the sync instead of being published.

use std::io::{Read, Seek};
use std::path::Path;

/// A package archive that is not what its name says.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the file failed (names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A `.tar.bz2` that does not start with the bzip2 magic `BZh`.
    #[error("{file}: not a bzip2 stream (a .tar.bz2 starts with \"BZh\")")]
    NotBzip2 {
        /// The package file.
        file: String,
    },
    /// A `.conda` that is not a readable zip archive.
    #[error("{file}: not a valid .conda (zip) archive: {source}")]
    NotZip {
        /// The package file.
        file: String,
        /// The zip reader's error.
        source: zip::result::ZipError,
    },
    /// A `.conda` zip without the members every `.conda` has at its root.
    #[error("{file}: malformed .conda: missing {missing} at the archive root (members: {members})")]
    MissingMember {
        /// The package file.
        file: String,
        /// What is missing (`metadata.json`, `info-*.tar.zst`, `pkg-*.tar.zst`).
        missing: &'static str,
        /// The first members found, for the message.
        members: String,
    },
    /// Neither `.conda` nor `.tar.bz2`.
    #[error("{file}: not a conda package file name (.conda or .tar.bz2)")]
    UnknownFormat {
        /// The package file.
        file: String,
    },
}

/// Check an archive read from `reader`; `filename` (the package file name) decides the
/// format and names the file in errors.
pub fn check_package<R: Read + Seek>(filename: &str, mut reader: R) -> Result<(), PackageError> {
    if filename.ends_with(".tar.bz2") {
        let mut magic = [0u8; 3];
        let read = read_up_to(&mut reader, &mut magic)?;
        if read < 3 || &magic != b"BZh" {
            return Err(PackageError::NotBzip2 {
                file: filename.to_owned(),
            });
        }
        return Ok(());
    }
    if !filename.ends_with(".conda") {
        return Err(PackageError::UnknownFormat {
            file: filename.to_owned(),
        });
    }
    let archive = zip::ZipArchive::new(reader).map_err(|source| PackageError::NotZip {
        file: filename.to_owned(),
        source,
    })?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|source| PackageError::NotZip {
            file: filename.to_owned(),
            source,
        })?;
    let at_root = |pred: &dyn Fn(&str) -> bool| names.iter().any(|n| !n.contains('/') && pred(n));
    let missing = if !at_root(&|n| n == "metadata.json") {
        Some("metadata.json")
    } else if !at_root(&|n| n.starts_with("info-") && n.ends_with(".tar.zst")) {
        Some("info-*.tar.zst")
    } else if !at_root(&|n| n.starts_with("pkg-") && n.ends_with(".tar.zst")) {
        Some("pkg-*.tar.zst")
    } else {
        None
    };
    match missing {
        Some(missing) => {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            let mut members = sorted
                .iter()
                .take(4)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if sorted.len() > 4 {
                members.push_str(", ...");
            }
            Err(PackageError::MissingMember {
                file: filename.to_owned(),
                missing,
                members,
            })
        }
        None => Ok(()),
    }
}

/// Check a package file on disk (`filename` is its package name, e.g. from the index).
pub fn check_package_file(path: &Path, filename: &str) -> Result<(), PackageError> {
    check_package(filename, fs_err::File::open(path)?)
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn conda_zip(names: &[&str]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for name in names {
            zip.start_file(*name, options).expect("start");
            zip.write_all(b"x").expect("write");
        }
        zip.finish().expect("finish").into_inner()
    }

    #[test]
    fn accepts_well_formed_and_refuses_malformed() {
        let good = conda_zip(&["metadata.json", "info-a-1-0.tar.zst", "pkg-a-1-0.tar.zst"]);
        check_package("a-1-0.conda", Cursor::new(&good)).expect("well formed");
        let nested = conda_zip(&[
            "dir/metadata.json",
            "dir/info-a-1-0.tar.zst",
            "dir/pkg-a-1-0.tar.zst",
        ]);
        let err = check_package("a-1-0.conda", Cursor::new(&nested)).expect_err("nested");
        assert!(err.to_string().contains("a-1-0.conda"), "{err}");
        assert!(err.to_string().contains("metadata.json"), "{err}");
        let err =
            check_package("a-1-0.conda", Cursor::new(b"PK but not really")).expect_err("junk");
        assert!(matches!(err, PackageError::NotZip { .. }), "{err}");
        check_package("a-1-0.tar.bz2", Cursor::new(b"BZh91AY&SY")).expect("bzip2 magic");
        let err = check_package("a-1-0.tar.bz2", Cursor::new(b"PK")).expect_err("short");
        assert!(matches!(err, PackageError::NotBzip2 { .. }));
    }

    #[test]
    fn real_malformed_fixture_is_refused() {
        let Some(fixtures) = mirror_test_support::fixtures() else {
            return;
        };
        let name = "ca-certificates-2024.7.4-hbcca054_0.conda";
        let path = fixtures
            .join("conda/conda+rattler/crates/rattler_package_streaming/tests/resources")
            .join(name);
        let err = check_package_file(&path, name).expect_err("malformed fixture");
        // Its members sit under "Users/.../ca-certificates-2024.7.4-hbcca054_0/".
        assert!(
            matches!(
                err,
                PackageError::MissingMember {
                    missing: "metadata.json",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("Users/"), "{err}");
        // The real well-formed .conda of the format fixture passes.
        let good = fixtures.join("conda/conda+conda/tests/data/conda_format_repo/linux-64");
        check_package_file(
            &good.join("zlib-1.2.11-h7b6447c_3.conda"),
            "zlib-1.2.11-h7b6447c_3.conda",
        )
        .expect("real .conda");
        check_package_file(
            &good.join("zlib-1.2.11-h7b6447c_3.tar.bz2"),
            "zlib-1.2.11-h7b6447c_3.tar.bz2",
        )
        .expect("real .tar.bz2");
    }
}
