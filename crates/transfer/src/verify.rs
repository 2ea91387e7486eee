//! Read-only checks: a bundle on a transfer workstation ([`verify_bundle`]) and a whole
//! store ([`verify_store`]). Both hash in parallel across files (rayon); one file is
//! hashed sequentially, so the speed-up comes from having several volumes or objects.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::reporter::Reporter;
use mirror_core::signing::Keyring;
use mirror_core::store::Store;
use rayon::prelude::*;
use serde::Serialize;

use crate::bundle_file::{BundleFile, MAX_MANIFEST, hash_media_file, open_regular, read_bounded};
use crate::error::TransferError;
use crate::hashing::hash_file;
use crate::manifest::{MANIFEST, Manifest, SUMS};
use crate::signed::{read_verified_manifest, sums_agree_with_manifest};

/// What [`verify_bundle`] checked.
#[derive(Debug, Clone, Serialize)]
pub struct BundleVerification {
    /// The bundle.
    pub bundle_id: String,
    /// Its sequence.
    pub sequence: u64,
    /// Fingerprint of the signer, when a keyring was given (`None`: signature not checked).
    pub signer: Option<String>,
    /// Files hashed.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Objects listed in the manifest.
    pub objects: usize,
}

/// Check a bundle without a store: the signature (when `trusted` is given), every file
/// listed in `SHA256SUMS`, SHA256SUMS against the manifest, and each volume's entries
/// (names, types and sizes, read from the tar headers) against the manifest.
pub fn verify_bundle(
    bundle: &Path,
    trusted: Option<&Keyring>,
    reporter: &dyn Reporter,
) -> Result<BundleVerification, TransferError> {
    let (manifest, signer) = match trusted {
        Some(keys) => {
            let v = read_verified_manifest(bundle, keys)?;
            (v.manifest, Some(v.signer))
        }
        None => {
            let path = bundle.join(MANIFEST);
            let bytes = read_bounded(&path, BundleFile::Manifest, MAX_MANIFEST)?;
            (Manifest::from_json(&bytes, &path)?, None)
        }
    };
    let sums_path = bundle.join(SUMS);
    let sums = sums_agree_with_manifest(bundle, &manifest, signer.is_some())?;
    let volume_sizes: BTreeMap<&str, u64> = manifest
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), v.size))
        .collect();
    for name in sums.keys() {
        let path = bundle.join(name);
        if path.exists() && !path.is_file() {
            let which = if volume_sizes.contains_key(name.as_str()) {
                BundleFile::Volume
            } else {
                BundleFile::Sums
            };
            open_regular(&path, which)?;
        }
        if !path.is_file() {
            return Err(if volume_sizes.contains_key(name.as_str()) {
                TransferError::MissingVolume { volume: path }
            } else {
                TransferError::Sums {
                    path: sums_path.clone(),
                    reason: format!("{name} is listed but missing"),
                }
            });
        }
    }
    let total: u64 = sums
        .keys()
        .map(|n| std::fs::metadata(bundle.join(n)).map_or(0, |m| m.len()))
        .sum();
    reporter.begin(
        &format!("hashing bundle {}", manifest.bundle_id),
        Some(total),
    );
    let mut files: Vec<(&String, &Sha256Digest)> = sums.iter().collect();
    // Largest first keeps both cores busy to the end.
    files.sort_by_key(|(n, _)| {
        std::cmp::Reverse(volume_sizes.get(n.as_str()).copied().unwrap_or(0))
    });
    let results: Vec<Result<u64, TransferError>> = files
        .par_iter()
        .map(|(name, want)| {
            let path = bundle.join(name);
            let which = if volume_sizes.contains_key(name.as_str()) {
                BundleFile::Volume
            } else {
                BundleFile::Sums
            };
            let (actual, len) = hash_media_file(&path, which)?;
            reporter.advance(len);
            if actual != **want {
                return Err(TransferError::Mismatch {
                    file: path.display().to_string(),
                    what: "SHA-256",
                    expected: want.to_hex(),
                    actual: actual.to_hex(),
                });
            }
            Ok(len)
        })
        .collect();
    reporter.finish();
    let bytes = results
        .into_iter()
        .collect::<Result<Vec<u64>, _>>()?
        .iter()
        .sum();
    // Entry listing from the headers only (seeking over the data): types, names, sizes.
    let expected = manifest.expected_entries();
    for v in &manifest.volumes {
        check_listing(bundle, &v.name, &expected[&v.name])?;
    }
    Ok(BundleVerification {
        bundle_id: manifest.bundle_id.clone(),
        sequence: manifest.sequence,
        signer,
        files: files.len(),
        bytes,
        objects: manifest.objects.len(),
    })
}

fn check_listing(
    bundle: &Path,
    volume: &str,
    expected: &BTreeMap<String, crate::manifest::ExpectedEntry>,
) -> Result<(), TransferError> {
    let path = bundle.join(volume);
    let mut archive = tar::Archive::new(open_regular(&path, BundleFile::Volume)?);
    let corrupt = |entry: &str, reason: String| TransferError::UnexpectedEntry {
        volume: volume.to_owned(),
        entry: entry.to_owned(),
        reason,
    };
    let mut seen = HashSet::new();
    for entry in archive
        .entries_with_seek()
        .map_err(|e| corrupt("", e.to_string()))?
    {
        let entry = entry.map_err(|e| corrupt("", format!("unreadable tar header: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(TransferError::UnsafeEntry {
                volume: volume.to_owned(),
                entry: shown,
                reason: "not a regular file",
            });
        }
        crate::manifest::parse_entry_name(&raw).map_err(|reason| TransferError::UnsafeEntry {
            volume: volume.to_owned(),
            entry: shown.clone(),
            reason,
        })?;
        match expected.get(&shown) {
            Some(e) if e.size == entry.size() && seen.insert(shown.clone()) => {}
            _ => return Err(corrupt(&shown, "not as the manifest lists it".into())),
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

/// What [`verify_store`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreVerification {
    /// Objects re-hashed.
    pub objects: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Published tree files checked.
    pub tree_files: usize,
    /// Objects whose content no longer matches their name.
    pub corrupt: Vec<String>,
    /// Objects snapshots need but the store lacks, and tree files that are missing.
    pub missing: Vec<String>,
}

impl StoreVerification {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }

    /// The report as an error when something is wrong.
    pub fn into_result(self) -> Result<Self, TransferError> {
        if self.is_ok() {
            return Ok(self);
        }
        Err(TransferError::StoreDamaged {
            missing: self.missing.len(),
            corrupt: self.corrupt.len(),
            first: self
                .corrupt
                .first()
                .or(self.missing.first())
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// Re-hash every object, check every snapshot's objects exist, and check every file of
/// every published tree (a hard link to a good object is good; anything else is hashed).
pub fn verify_store(
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<StoreVerification, TransferError> {
    let objects = store.objects().list()?;
    let total = objects
        .iter()
        .map(|d| store.objects().size(d).unwrap_or(0))
        .sum();
    reporter.begin("re-hashing the store", Some(total));
    type Hashed = (Sha256Digest, std::io::Result<(Sha256Digest, u64)>);
    let hashed: Vec<Hashed> = objects
        .par_iter()
        .map(|d| {
            let r = hash_file(&store.objects().path(d));
            if let Ok((_, n)) = &r {
                reporter.advance(*n);
            }
            (*d, r)
        })
        .collect();
    reporter.finish();
    let mut report = StoreVerification {
        objects: objects.len(),
        ..Default::default()
    };
    let mut good = HashSet::new();
    let mut sizes = std::collections::HashMap::new();
    for (d, r) in hashed {
        match r {
            Ok((actual, n)) if actual == d => {
                report.bytes += n;
                good.insert(d);
                sizes.insert(d, n);
            }
            Ok((actual, _)) => report
                .corrupt
                .push(format!("object {d}: content hashes to {actual}")),
            Err(e) => report.corrupt.push(format!("object {d}: {e}")),
        }
    }
    if let Some(broken) = store.audit_chain_break()? {
        report
            .corrupt
            .push(format!("audit.jsonl {broken}: the audit trail was altered"));
    } else if let Some(broken) = store.audit_anchor_break()? {
        report
            .corrupt
            .push(format!("audit.jsonl {broken}: the audit trail was altered"));
    }
    for mirror in store.mirrors_with_snapshots()? {
        let published = store.published_snapshot(&mirror)?;
        for id in store.snapshot_ids(&mirror)? {
            let snapshot = store.load_snapshot(&mirror, &id)?;
            for f in &snapshot.files {
                if !store.objects().contains(&f.sha256) {
                    report
                        .missing
                        .push(format!("object {} ({mirror}/{id}: {})", f.sha256, f.path));
                } else if let Some(&n) = sizes.get(&f.sha256)
                    && n != f.size
                {
                    // A snapshot that lies about a size would publish the lie in its
                    // indices and fail `export` later.
                    report.corrupt.push(format!(
                        "snapshot {mirror}/{id}: {} lists {} bytes, its object has {n}",
                        f.path, f.size
                    ));
                }
            }
            let tree = store.trees_dir(&mirror).join(&id);
            // Every tree, published or kept for a rollback: a file planted in one would be
            // served the moment it is published.
            for planted in files_not_listed(&tree, &snapshot) {
                report.corrupt.push(format!(
                    "tree file {}: not in snapshot {mirror}/{id} (planted?)",
                    tree.join(planted).display()
                ));
            }
            if published.as_deref() != Some(id.as_str()) {
                continue;
            }
            let problems: Vec<(bool, String)> = snapshot
                .files
                .par_iter()
                .filter_map(|f| check_tree_file(store, &tree, f, &good))
                .collect();
            report.tree_files += snapshot.files.len();
            for (missing, text) in problems {
                if missing {
                    report.missing.push(text);
                } else {
                    report.corrupt.push(text);
                }
            }
        }
    }
    Ok(report)
}

/// Files (and links) under `tree` that `snapshot` does not list, as relative paths; a
/// tree that does not exist has none.
fn files_not_listed(tree: &Path, snapshot: &mirror_core::snapshot::Snapshot) -> Vec<String> {
    let listed: HashSet<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    let mut extra = Vec::new();
    let mut stack = vec![tree.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(tree)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !listed.contains(rel.as_str()) {
                extra.push(rel);
            }
        }
    }
    extra.sort();
    extra
}

/// `None` when the tree file is fine; else (is-missing, description).
fn check_tree_file(
    store: &Store,
    tree: &Path,
    file: &mirror_core::snapshot::SnapshotFile,
    good: &HashSet<Sha256Digest>,
) -> Option<(bool, String)> {
    let path: PathBuf = tree.join(&file.path);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Some((true, format!("tree file {} is missing", path.display())));
    };
    // Same inode as a verified object: already checked.
    if good.contains(&file.sha256)
        && let Ok(object) = std::fs::metadata(store.objects().path(&file.sha256))
        && object.ino() == meta.ino()
        && object.dev() == meta.dev()
    {
        return None;
    }
    match hash_file(&path) {
        Ok((actual, _)) if actual == file.sha256 => None,
        Ok((actual, _)) => Some((
            false,
            format!(
                "tree file {}: expected {}, got {actual}",
                path.display(),
                file.sha256
            ),
        )),
        Err(e) => Some((false, format!("tree file {}: {e}", path.display()))),
    }
}
