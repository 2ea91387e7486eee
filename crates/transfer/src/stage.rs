//! Reading volumes: stream each tar once, hashing the whole volume and every object in
//! it, refusing any entry that is not a plain file at a well-formed object path, and
//! writing the objects the store lacks into a staging directory.
//!
//! Entries are iterated by hand (never `unpack`): the path is checked with
//! [`parse_entry_name`] and must be one the manifest announced for this volume, with the
//! announced size. Nothing is ever created from an entry's path; staged files are named
//! from the parsed digest.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::digest::HashingWriter;
use mirror_core::reporter::Reporter;

use crate::bundle_file::{BundleFile, MEDIA_READ_TIMEOUT, SilenceGuard, open_regular};
use crate::error::TransferError;
use crate::hashing::HashingReader;
use crate::manifest::{ExpectedEntry, Volume, parse_entry_name};

/// Where staged objects go, and which ones to skip (already in the store).
pub(crate) struct Staging<'a> {
    /// The staging directory (on the store's filesystem).
    pub(crate) dir: &'a Path,
    /// Objects the store already has: checked in passing, not written.
    pub(crate) skip: &'a HashSet<Sha256Digest>,
}

/// The staged file of an object or part.
pub(crate) fn staged_name(digest: &Sha256Digest, part: Option<u32>) -> String {
    match part {
        None => digest.to_hex(),
        Some(n) => format!("{}.part-{n:04}", digest.to_hex()),
    }
}

/// Read one volume completely; see the module docs. `staging` None checks only.
pub(crate) fn read_volume(
    bundle: &Path,
    volume: &Volume,
    expected: &BTreeMap<String, ExpectedEntry>,
    staging: Option<&Staging<'_>>,
    reporter: &dyn Reporter,
) -> Result<(), TransferError> {
    let path = bundle.join(&volume.name);
    let file = open_regular(&path, BundleFile::Volume)?;
    // The signed manifest states the size: a longer (or sparse, huge) file is refused
    // before a byte of it is read.
    let stated = file.metadata()?.len();
    if stated != volume.size {
        return Err(TransferError::Mismatch {
            file: path.display().to_string(),
            what: "size",
            expected: format!("{} bytes", volume.size),
            actual: format!("{stated} bytes"),
        });
    }
    let mut archive = tar::Archive::new(HashingReader::new(SilenceGuard::new(
        file,
        &path,
        MEDIA_READ_TIMEOUT,
    )));
    let result = read_entries(&mut archive, &volume.name, expected, staging, reporter);
    // The volume's own hash decides what a failure means: a volume that does not match
    // the signed manifest was damaged or tampered with, whatever the entry looked like.
    let reader = archive.into_inner();
    let before = reader.len();
    let (actual, len) = reader.finish()?;
    reporter.advance(len - before);
    let volume_ok = actual == volume.sha256 && len == volume.size;
    match result {
        Err(e @ TransferError::UnsafeEntry { .. }) => Err(e),
        _ if !volume_ok => Err(TransferError::Mismatch {
            file: path.display().to_string(),
            what: "SHA-256",
            expected: format!("{} ({} bytes)", volume.sha256, volume.size),
            actual: format!("{actual} ({len} bytes)"),
        }),
        other => other,
    }
}

/// Check one volume's tar entries, read from `reader`, against what the manifest expects
/// of the volume called `volume` (see [`crate::Manifest::expected_entries`]), writing
/// nothing: every entry a plain file at a well-formed object path, listed, once, of the
/// stated size and digest, and none missing. `import` and `verify --bundle` read volume
/// files the same way; this entry point is for callers (and the fuzzer) holding bytes.
pub fn check_volume_entries(
    reader: impl std::io::Read,
    volume: &str,
    expected: &BTreeMap<String, ExpectedEntry>,
) -> Result<(), TransferError> {
    let mut archive = tar::Archive::new(reader);
    read_entries(
        &mut archive,
        volume,
        expected,
        None,
        &mirror_core::reporter::NoReporter,
    )
}

fn read_entries<R: std::io::Read>(
    archive: &mut tar::Archive<R>,
    volume: &str,
    expected: &BTreeMap<String, ExpectedEntry>,
    staging: Option<&Staging<'_>>,
    reporter: &dyn Reporter,
) -> Result<(), TransferError> {
    let corrupt = |entry: &str, reason: String| TransferError::UnexpectedEntry {
        volume: volume.to_owned(),
        entry: entry.to_owned(),
        reason,
    };
    let mut seen = HashSet::new();
    let entries = archive
        .entries()
        .map_err(|e| corrupt("", format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt("", format!("unreadable tar header: {e}")))?;
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        let unsafe_entry = |reason| TransferError::UnsafeEntry {
            volume: volume.to_owned(),
            entry: shown.clone(),
            reason,
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular => {}
            tar::EntryType::Symlink => return Err(unsafe_entry("symbolic link")),
            tar::EntryType::Link => return Err(unsafe_entry("hard link")),
            tar::EntryType::Directory => return Err(unsafe_entry("directory")),
            _ => return Err(unsafe_entry("not a regular file")),
        }
        let (digest, part) = parse_entry_name(&raw_name).map_err(unsafe_entry)?;
        let Some(want) = expected.get(&shown) else {
            return Err(corrupt(
                &shown,
                "not listed in the manifest for this volume".into(),
            ));
        };
        if !seen.insert(shown.clone()) {
            return Err(corrupt(&shown, "appears twice".into()));
        }
        debug_assert_eq!((want.sha256, want.part), (digest, part));
        let size = entry
            .header()
            .size()
            .map_err(|e| corrupt(&shown, e.to_string()))?;
        if size != want.size {
            return Err(TransferError::Mismatch {
                file: format!("{volume}: {shown}"),
                what: "size",
                expected: want.size.to_string(),
                actual: size.to_string(),
            });
        }
        let write_to = staging.filter(|s| !s.skip.contains(&digest));
        let (actual, len) = match write_to {
            Some(s) => {
                let dest = s.dir.join(staged_name(&digest, part));
                let file = fs_err::File::create(&dest)?;
                let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
                std::io::copy(&mut entry, &mut out)
                    .map_err(|e| corrupt(&shown, format!("reading the entry: {e}")))?;
                let (buffered, digest, len) = out.finish();
                // No fsync: a staged file is made durable with its batch of objects
                // (ObjectStore::make_durable) before anything names it, and a rerun
                // stages afresh.
                buffered.into_inner().map_err(|e| e.into_error())?;
                (digest, len)
            }
            None => {
                let mut sink = HashingWriter::new(std::io::sink());
                std::io::copy(&mut entry, &mut sink)
                    .map_err(|e| corrupt(&shown, format!("reading the entry: {e}")))?;
                let (_, digest, len) = sink.finish();
                (digest, len)
            }
        };
        reporter.advance(len);
        // Whole objects are checked here; split ones once joined.
        if part.is_none() && (actual != digest || len != size) {
            return Err(TransferError::Mismatch {
                file: format!("{volume}: {shown}"),
                what: "SHA-256",
                expected: digest.to_hex(),
                actual: actual.to_hex(),
            });
        }
    }
    if let Some(name) = expected.keys().find(|k| !seen.contains(*k)) {
        return Err(corrupt(
            name,
            "listed in the manifest but missing from the volume".into(),
        ));
    }
    Ok(())
}

/// Join the staged parts of a split object into one staged file, checking its digest.
pub(crate) fn join_parts(
    dir: &Path,
    digest: &Sha256Digest,
    parts: usize,
    size: u64,
) -> Result<(), TransferError> {
    let dest = dir.join(staged_name(digest, None));
    let file = fs_err::File::create(&dest)?;
    let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    for n in 1..=parts {
        let part = dir.join(staged_name(digest, Some(n as u32)));
        std::io::copy(&mut fs_err::File::open(&part)?, &mut out)?;
    }
    out.flush()?;
    let (buffered, actual, len) = out.finish();
    buffered.into_inner().map_err(|e| e.into_error())?;
    if actual != *digest || len != size {
        return Err(TransferError::Mismatch {
            file: format!("object {digest} joined from {parts} parts"),
            what: "SHA-256",
            expected: format!("{digest} ({size} bytes)"),
            actual: format!("{actual} ({len} bytes)"),
        });
    }
    for n in 1..=parts {
        fs_err::remove_file(dir.join(staged_name(digest, Some(n as u32))))?;
    }
    Ok(())
}
