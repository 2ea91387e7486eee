//! The inside: verify a bundle completely, then apply it.
//!
//! Order matters, and is the whole design:
//! 1. the manifest signature against the trusted keys only (keys that arrive in a bundle
//!    are never trusted), before anything else of the bundle is parsed;
//! 2. the sequence against the import record: already imported = no-op, older = replay,
//!    not following = gap (naming the missing sequence numbers);
//! 3. every volume present, every object the snapshots need in the bundle or the store,
//!    and enough free space: refused before anything is written;
//! 4. every volume streamed once into `<store>/tmp/import-<bundle>/` (same filesystem),
//!    hashing volumes and objects; split objects joined and hashed;
//! 5. only then the change is applied as one all-or-nothing step (mirror-core's
//!    `store/pending.rs`): a journal names what the store lacks; objects move in by
//!    rename (not read again), snapshots are saved and their trees built; then one
//!    `rename()` of the store's `live` link switches every mirror's tree *and* the import
//!    record together. That rename is the commit.
//!
//! A crash before the commit leaves the live state exactly as it was, and readers skip
//! what the journal lists; the next writer (this import run again, or any other) removes
//! it, so the store is byte for byte what it was, and the re-run imports the bundle. A
//! crash after the commit leaves the import done; the next writer only writes the audit
//! record if it is missing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::audit::AuditRecord;
use mirror_core::reporter::Reporter;
use mirror_core::signing::Keyring;
use mirror_core::store::Store;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::TransferError;
use crate::manifest::Manifest;
use crate::record::{ImportRecord, ImportedBundle};
use crate::signed::{VerifiedManifest, read_verified_manifest};
use crate::stage::{Staging, join_parts, read_volume, staged_name};

/// Reports the bytes available on the filesystem holding a path.
pub type FreeSpaceFn = fn(&Path) -> std::io::Result<u64>;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Free-space probe (tests inject a small one). Default: statvfs.
    pub free_space: FreeSpaceFn,
    /// Stop dead right after this step, as a `kill -9` there would: no clean-up, no
    /// roll-back (to test that an interrupted import leaves the inside as it was).
    #[doc(hidden)]
    pub crash_after: Option<ImportStep>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            free_space: crate::space::available_space,
            crash_after: None,
        }
    }
}

/// The steps of an import, in order (for [`ImportOptions::crash_after`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStep {
    /// Every volume read, hashed and staged; nothing outside `tmp/` written.
    Staged,
    /// The journal written.
    Journaled,
    /// New objects moved into the store.
    Adopted,
    /// Snapshots saved.
    SnapshotsSaved,
    /// Trees built (not live).
    TreesBuilt,
    /// `live` switched: the import is done but for its audit record and clean-up.
    Committed,
}

impl ImportStep {
    /// Every step, in order (so a test of each crash point cannot miss a new one).
    pub const ALL: [ImportStep; 6] = [
        ImportStep::Staged,
        ImportStep::Journaled,
        ImportStep::Adopted,
        ImportStep::SnapshotsSaved,
        ImportStep::TreesBuilt,
        ImportStep::Committed,
    ];
}

impl ImportOptions {
    fn crash_point(&self, step: ImportStep) -> Result<(), TransferError> {
        if self.crash_after == Some(step) {
            return Err(TransferError::Io(std::io::Error::other(format!(
                "import stopped after {step:?} (test hook)"
            ))));
        }
        Ok(())
    }
}

/// Whether an import changed the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportOutcome {
    /// The bundle's objects and snapshots are now in the store and published.
    Imported,
    /// The bundle was imported before (a re-run after success, or after a crash past the
    /// commit point); nothing was done.
    AlreadyImported,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Whether anything was done.
    pub outcome: ImportOutcome,
    /// The bundle.
    pub bundle_id: String,
    /// Its sequence.
    pub sequence: u64,
    /// The key that signed it.
    pub signer: String,
    /// `mirror/id` of each snapshot published.
    pub snapshots: Vec<String>,
    /// Objects the store lacked and received.
    pub new_objects: usize,
    /// Their bytes.
    pub new_bytes: u64,
}

impl ImportReport {
    /// One line for a person: what was imported, or that nothing was to do.
    pub fn line(&self) -> String {
        match self.outcome {
            ImportOutcome::AlreadyImported => format!(
                "bundle {} (sequence {}) was already imported; nothing to do",
                self.bundle_id, self.sequence
            ),
            ImportOutcome::Imported => format!(
                "imported bundle {} (sequence {}, signed by {}): {} new objects ({}); published {}",
                self.bundle_id,
                self.sequence,
                self.signer,
                self.new_objects,
                mirror_core::sync::human_bytes(self.new_bytes),
                self.snapshots.join(", ")
            ),
        }
    }
}

/// Import the bundle in `bundle` into `store`. The caller holds the lock from
/// [`Store::lock`], which also settles an import a crash interrupted.
pub fn import(
    store: &Store,
    trusted: &Keyring,
    bundle: &Path,
    options: &ImportOptions,
    reporter: &dyn Reporter,
) -> Result<ImportReport, TransferError> {
    let VerifiedManifest {
        manifest,
        signer,
        sha256: manifest_sha256,
    } = read_verified_manifest(bundle, trusted)?;
    // The volumes are checked against the signed manifest below; a SHA256SUMS that
    // contradicts it is refused as `verify --bundle` refuses it.
    crate::signed::sums_agree_with_manifest(bundle, &manifest, true)?;
    let record = ImportRecord::load(store)?;
    let report = |outcome, new_objects, new_bytes| ImportReport {
        outcome,
        bundle_id: manifest.bundle_id.clone(),
        sequence: manifest.sequence,
        signer: signer.clone(),
        snapshots: manifest
            .snapshots
            .iter()
            .map(|s| format!("{}/{}", s.mirror, s.id))
            .collect(),
        new_objects,
        new_bytes,
    };
    let staging_dir = store
        .tmp_dir()
        .join(format!("import-{}", manifest.bundle_id));
    if record.find(&manifest.bundle_id).is_some() {
        // A run killed after its commit may have left its staging directory.
        if staging_dir.exists() {
            fs_err::remove_dir_all(&staging_dir)?;
        }
        tracing::info!(bundle = %manifest.bundle_id, "already imported; nothing to do");
        return Ok(report(ImportOutcome::AlreadyImported, 0, 0));
    }
    check_sequence(&manifest, &record)?;
    let new = preflight(store, bundle, &manifest, options)?;

    if staging_dir.exists() {
        // Left by an interrupted run: its content is re-verified anyway, so start clean.
        fs_err::remove_dir_all(&staging_dir)?;
    }
    fs_err::create_dir_all(&staging_dir)?;
    let result = stage_and_apply(
        store,
        bundle,
        (&manifest, &manifest_sha256),
        &signer,
        &new,
        &staging_dir,
        options,
        reporter,
        &record,
    );
    if options.crash_after.is_none() {
        let _ = fs_err::remove_dir_all(&staging_dir);
    }
    result?;
    let by_digest = sizes(&manifest);
    let new_bytes = new.iter().map(|d| by_digest[d]).sum();
    Ok(report(ImportOutcome::Imported, new.len(), new_bytes))
}

fn sizes(manifest: &Manifest) -> HashMap<Sha256Digest, u64> {
    manifest
        .objects
        .iter()
        .map(|o| (o.sha256, o.size))
        .collect()
}

/// Refuse bundles that do not follow what was imported.
fn check_sequence(manifest: &Manifest, record: &ImportRecord) -> Result<(), TransferError> {
    let last = record.last_sequence;
    if manifest.sequence <= last {
        return Err(TransferError::Replay {
            bundle_id: manifest.bundle_id.clone(),
            sequence: manifest.sequence,
            last,
        });
    }
    if manifest.full {
        return Ok(());
    }
    if last < manifest.base_sequence {
        return Err(TransferError::SequenceGap {
            bundle_id: manifest.bundle_id.clone(),
            sequence: manifest.sequence,
            base: manifest.base_sequence,
            last,
            missing: (last + 1..=manifest.base_sequence).collect(),
        });
    }
    if let Some(follows) = &manifest.follows {
        match record
            .bundles
            .iter()
            .find(|b| b.sequence == manifest.base_sequence)
        {
            Some(b) if &b.bundle_id == follows => {}
            Some(b) => {
                return Err(TransferError::Lineage {
                    bundle_id: manifest.bundle_id.clone(),
                    follows: follows.clone(),
                    imported: b.bundle_id.clone(),
                    sequence: b.sequence,
                });
            }
            // The inside started from a later full bundle: the objects check decides.
            None => {}
        }
    }
    Ok(())
}

/// Volumes present, base objects present, space available. Returns the objects to add.
fn preflight(
    store: &Store,
    bundle: &Path,
    manifest: &Manifest,
    options: &ImportOptions,
) -> Result<Vec<Sha256Digest>, TransferError> {
    for v in &manifest.volumes {
        let path = bundle.join(&v.name);
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => {
                // Opened the way every volume is, for its message and exit code.
                crate::bundle_file::open_regular(&path, crate::BundleFile::Volume)?;
            }
            Ok(m) if m.len() == v.size => {}
            Ok(m) => {
                return Err(TransferError::Mismatch {
                    file: path.display().to_string(),
                    what: "size",
                    expected: v.size.to_string(),
                    actual: m.len().to_string(),
                });
            }
            Err(_) => return Err(TransferError::MissingVolume { volume: path }),
        }
    }
    let carried: HashSet<Sha256Digest> = manifest.objects.iter().map(|o| o.sha256).collect();
    let mut lacking = manifest.snapshots.iter().flat_map(|s| {
        s.files
            .iter()
            .filter(|f| !carried.contains(&f.sha256) && !store.objects().contains(&f.sha256))
            .map(move |f| (s.mirror.clone(), f))
    });
    if let Some((mirror, first)) = lacking.next() {
        return Err(TransferError::MissingBase {
            bundle_id: manifest.bundle_id.clone(),
            count: 1 + lacking.count(),
            digest: first.sha256,
            mirror,
            path: first.path.clone(),
        });
    }
    let new: Vec<Sha256Digest> = manifest
        .objects
        .iter()
        .filter(|o| !store.objects().contains(&o.sha256))
        .map(|o| o.sha256)
        .collect();
    // Split objects exist twice while joined (parts + whole); 1 MiB for metadata.
    let needed: u64 = manifest
        .objects
        .iter()
        .filter(|o| !store.objects().contains(&o.sha256))
        .map(|o| {
            if o.parts.is_empty() {
                o.size
            } else {
                2 * o.size
            }
        })
        .sum::<u64>()
        + (1 << 20);
    let tmp = store.tmp_dir();
    let available = (options.free_space)(&tmp)?;
    if available < needed {
        return Err(TransferError::NoSpace {
            path: tmp,
            needed,
            available,
        });
    }
    Ok(new)
}

#[allow(clippy::too_many_arguments)]
fn stage_and_apply(
    store: &Store,
    bundle: &Path,
    (manifest, manifest_sha256): (&Manifest, &Sha256Digest),
    signer: &str,
    new: &[Sha256Digest],
    staging_dir: &Path,
    options: &ImportOptions,
    reporter: &dyn Reporter,
    record: &ImportRecord,
) -> Result<(), TransferError> {
    let new_set: HashSet<Sha256Digest> = new.iter().copied().collect();
    let skip: HashSet<Sha256Digest> = manifest
        .objects
        .iter()
        .map(|o| o.sha256)
        .filter(|d| !new_set.contains(d))
        .collect();
    let staging = Staging {
        dir: staging_dir,
        skip: &skip,
    };
    let expected = manifest.expected_entries();
    let total: u64 = manifest.volumes.iter().map(|v| v.size).sum();
    reporter.begin(
        &format!("verifying bundle {}", manifest.bundle_id),
        Some(total),
    );
    // Volumes in parallel; report the first failure in volume order (deterministic).
    let results: Vec<Result<(), TransferError>> = manifest
        .volumes
        .par_iter()
        .map(|v| read_volume(bundle, v, &expected[&v.name], Some(&staging), reporter))
        .collect();
    reporter.finish();
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    manifest
        .objects
        .par_iter()
        .filter(|o| !o.parts.is_empty() && new_set.contains(&o.sha256))
        .try_for_each(|o| join_parts(staging_dir, &o.sha256, o.parts.len(), o.size))?;
    options.crash_point(ImportStep::Staged)?;

    // Everything verified: apply as one all-or-nothing change.
    let published: Vec<String> = manifest
        .snapshots
        .iter()
        .map(|s| format!("{}/{}", s.mirror, s.id))
        .collect();
    let audit = AuditRecord::new(
        "import",
        None,
        serde_json::json!({
            "bundle_id": manifest.bundle_id,
            "manifest_sha256": manifest_sha256.to_hex(),
            "sequence": manifest.sequence,
            "signer": signer,
            "snapshots": published,
            "new_objects": new.len(),
            "bundle": PathBuf::from(bundle),
        }),
    );
    let snapshot_refs: Vec<(String, String)> = manifest
        .snapshots
        .iter()
        .map(|s| (s.mirror.clone(), s.id.clone()))
        .collect();
    let pending = store.begin_pending(
        &format!("import {}", manifest.bundle_id),
        new,
        &snapshot_refs,
        Some(audit),
    )?;
    let record_bytes = record.with(ImportedBundle {
        sequence: manifest.sequence,
        bundle_id: manifest.bundle_id.clone(),
        imported_at: mirror_core::time_util::now_rfc3339(),
        signer: signer.to_owned(),
        snapshots: published,
    });
    match apply(store, manifest, new, staging_dir, &record_bytes, options) {
        Ok(()) => store.finish_pending(&pending)?,
        // A simulated kill leaves everything where it stopped.
        Err(e) if options.crash_after.is_some() => return Err(e),
        Err(e) => {
            store.roll_back_pending(&pending)?;
            return Err(e);
        }
    }
    tracing::info!(bundle = %manifest.bundle_id, "imported");
    Ok(())
}

/// Steps 5: objects in, snapshots saved, trees built, then the one switch that commits.
fn apply(
    store: &Store,
    manifest: &Manifest,
    new: &[Sha256Digest],
    staging_dir: &Path,
    record_bytes: &[u8],
    options: &ImportOptions,
) -> Result<(), TransferError> {
    options.crash_point(ImportStep::Journaled)?;
    new.par_iter().try_for_each(|d| {
        store
            .objects()
            .adopt_verified(&staging_dir.join(staged_name(d, None)), d)
    })?;
    options.crash_point(ImportStep::Adopted)?;
    for snapshot in &manifest.snapshots {
        store.save_snapshot(snapshot)?;
    }
    options.crash_point(ImportStep::SnapshotsSaved)?;
    for snapshot in &manifest.snapshots {
        store.materialise(snapshot)?;
    }
    options.crash_point(ImportStep::TreesBuilt)?;
    store.publish_all(
        &manifest.snapshots,
        &[(ImportRecord::STATE_FILE, record_bytes)],
    )?;
    options.crash_point(ImportStep::Committed)
}
