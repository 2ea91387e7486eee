//! The outside: plan what a bundle must carry, write its volumes, manifest, signature,
//! `SHA256SUMS` and `README.txt`, then record it in the ledger.
//!
//! Planning ([`plan_export`]) reads the newest snapshot of each chosen mirror and subtracts
//! what the inside is known to hold: every object of every earlier bundle (incremental),
//! nothing (`full`), or the objects of exactly the bundles the inside reports
//! (`since`, for a rebuilt inside or a lost bundle). Writing ([`write_bundle`]) streams
//! objects from the store into volumes, hashing each object and volume on the way.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::audit::AuditRecord;
use mirror_core::reporter::Reporter;
use mirror_core::signing::SigningKey;
use mirror_core::snapshot::Snapshot;
use mirror_core::store::{Store, write_atomic};
use serde::Serialize;

use crate::error::TransferError;
use crate::manifest::{FORMAT_VERSION, MANIFEST, Manifest, README, SIGNATURE, SUMS};
use crate::record::{InsideState, Ledger, LedgerEntry};
use crate::volume_writer::VolumeWriter;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Mirrors to carry (empty: every mirror with a snapshot).
    pub mirrors: Vec<String>,
    /// Carry every object the snapshots need, whatever earlier bundles carried.
    pub full: bool,
    /// Carry what this inside state lacks instead of what the ledger's last bundle lacks.
    pub since: Option<(PathBuf, InsideState)>,
}

/// A planned bundle: the snapshots and objects it will carry.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPlan {
    /// Its sequence.
    pub sequence: u64,
    /// The sequence the inside must have imported.
    pub base_sequence: u64,
    /// The bundle at `base_sequence`.
    pub follows: Option<String>,
    /// Carries everything.
    pub full: bool,
    /// The snapshots carried.
    #[serde(skip)]
    pub snapshots: Vec<Snapshot>,
    /// `mirror/id` of each.
    pub snapshot_ids: Vec<String>,
    /// Objects carried, sorted by digest, with sizes.
    #[serde(skip)]
    pub objects: Vec<(Sha256Digest, u64)>,
    /// How many objects.
    pub object_count: usize,
    /// Their bytes.
    pub payload_bytes: u64,
}

/// Decide what the next bundle carries. Reads only.
pub fn plan_export(store: &Store, options: &ExportOptions) -> Result<ExportPlan, TransferError> {
    let ledger = Ledger::load(store)?;
    let mirrors = if options.mirrors.is_empty() {
        store.mirrors_with_snapshots()?
    } else {
        options.mirrors.clone()
    };
    let mut snapshots = Vec::new();
    let mut needed: BTreeMap<Sha256Digest, u64> = BTreeMap::new();
    for mirror in &mirrors {
        let snapshot = store
            .latest_snapshot(mirror)?
            .ok_or_else(|| TransferError::NoSnapshot {
                mirror: mirror.clone(),
            })?;
        for f in &snapshot.files {
            needed.insert(f.sha256, f.size);
        }
        snapshots.push(snapshot);
    }
    if snapshots.is_empty() {
        return Err(TransferError::NoSnapshot {
            mirror: "(any)".into(),
        });
    }

    let (base_sequence, follows, known) = if options.full {
        (0, None, HashSet::new())
    } else if let Some((path, state)) = &options.since {
        let mut known = HashSet::new();
        for (sequence, id) in &state.bundles {
            let entry = ledger
                .bundles
                .iter()
                .find(|b| b.sequence == *sequence)
                .ok_or_else(|| TransferError::Since {
                    path: path.clone(),
                    reason: format!("the inside imported sequence {sequence} ({id}), which this outside never exported"),
                })?;
            if &entry.bundle_id != id {
                return Err(TransferError::Since {
                    path: path.clone(),
                    reason: format!(
                        "the inside imported {id} as sequence {sequence}, this outside exported {}: another outside store",
                        entry.bundle_id
                    ),
                });
            }
            known.extend(ledger.carried(store, entry)?);
        }
        // What the inside actually holds beats what it was sent: it may have pruned
        // objects an older bundle carried that the new snapshots need again.
        if let Some(held) = &state.held {
            known = held.clone();
        }
        let base = state.last_sequence();
        let follows = state
            .bundles
            .iter()
            .find(|b| b.0 == base)
            .map(|b| b.1.clone());
        (base, follows, known)
    } else {
        let mut known = HashSet::new();
        for entry in &ledger.bundles {
            known.extend(ledger.carried(store, entry)?);
        }
        (
            ledger.last_sequence(),
            ledger.last().map(|b| b.bundle_id.clone()),
            known,
        )
    };

    let objects: Vec<(Sha256Digest, u64)> = needed
        .into_iter()
        .filter(|(d, _)| !known.contains(d))
        .collect();
    Ok(ExportPlan {
        sequence: ledger.last_sequence() + 1,
        base_sequence,
        follows,
        full: options.full,
        snapshot_ids: snapshots
            .iter()
            .map(|s| format!("{}/{}", s.mirror, s.id))
            .collect(),
        object_count: objects.len(),
        payload_bytes: objects.iter().map(|o| o.1).sum(),
        snapshots,
        objects,
    })
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The new bundle's id.
    pub bundle_id: String,
    /// The plan it carried out.
    #[serde(flatten)]
    pub plan: ExportPlan,
    /// Volumes written.
    pub volumes: usize,
    /// Bytes of all files in the bundle directory.
    pub bundle_bytes: u64,
    /// The bundle directory.
    pub out: PathBuf,
}

/// Write the bundle planned by `plan` into `out` (new or empty), sign it with `key`, and
/// record it in the ledger. The caller holds the store lock.
///
/// A non-empty `out` left by an export that was killed is recovered rather than refused:
/// a partial bundle (no `SHA256SUMS` yet, nothing recorded) is removed and written
/// again; a complete one that the ledger or the audit log does not name yet
/// is checked against its own signature and sums and recorded. Anything else in `out` is
/// refused ([`TransferError::OutputNotEmpty`]).
pub fn write_bundle(
    store: &Store,
    plan: ExportPlan,
    key: &SigningKey,
    out: &Path,
    volume_size: u64,
    reporter: &dyn Reporter,
) -> Result<ExportReport, TransferError> {
    if out.exists() && fs_err::read_dir(out)?.next().is_some() {
        match resume(store, &plan, key, out)? {
            Resumed::Finished(report) => return Ok(*report),
            Resumed::Cleared => {}
        }
    }
    let created = !out.exists();
    fs_err::create_dir_all(out)?;
    let written = write_bundle_files(store, plan, key, out, volume_size, reporter);
    if written.is_err() {
        // A partial bundle must not be carried across by mistake: remove what this
        // export wrote (the directory was empty or new).
        let cleaned = if created {
            std::fs::remove_dir_all(out)
        } else {
            std::fs::read_dir(out).and_then(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .try_for_each(|e| std::fs::remove_file(e.path()))
            })
        };
        if let Err(e) = cleaned {
            tracing::warn!(path = %out.display(), "removing the partial bundle: {e}");
        }
    }
    written
}

/// What [`resume`] made of a non-empty output directory.
enum Resumed {
    /// It held a partial bundle, now removed: write the plan.
    Cleared,
    /// It held a complete bundle an interrupted export had not recorded; now recorded.
    Finished(Box<ExportReport>),
}

/// A file an export writes: volumes, the manifest, its signature, the README, the sums,
/// and the temp files `write_atomic` leaves when killed.
fn written_by_export(name: &str) -> bool {
    crate::manifest::is_volume_name(name)
        || [MANIFEST, SIGNATURE, README, SUMS].contains(&name)
        || name.starts_with(".tmp-")
}

/// Recover what a killed export left in `out`, or refuse a directory that is not that.
///
/// The bundle's files are written first and `SHA256SUMS` last (each atomically and
/// durably), then the ledger records the bundle, then the audit log: so without
/// `SHA256SUMS` nothing was recorded and the files can go; with it, the bundle is whole
/// and only the records may be missing.
fn resume(
    store: &Store,
    plan: &ExportPlan,
    key: &SigningKey,
    out: &Path,
) -> Result<Resumed, TransferError> {
    let refuse = || TransferError::OutputNotEmpty {
        path: out.to_owned(),
    };
    let mut names = Vec::new();
    for entry in fs_err::read_dir(out)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() || !written_by_export(&name) {
            return Err(refuse());
        }
        names.push(name);
    }
    if !names.iter().any(|n| n == SUMS) {
        tracing::warn!(path = %out.display(), "removing the partial bundle an interrupted export left");
        for name in &names {
            fs_err::remove_file(out.join(name))?;
        }
        mirror_core::store::sync_dir(out)?;
        return Ok(Resumed::Cleared);
    }
    let manifest_path = out.join(MANIFEST);
    let manifest = Manifest::from_json(&fs_err::read(&manifest_path)?, &manifest_path)?;
    let recorded = Ledger::load(store)?
        .bundles
        .iter()
        .any(|b| b.bundle_id == manifest.bundle_id);
    let audited = store.audit_records()?.iter().any(|r| {
        r.action == "export" && r.details["bundle_id"].as_str() == Some(&manifest.bundle_id)
    });
    if audited || (!recorded && manifest.sequence != plan.sequence) {
        // A finished bundle (never overwritten), or one this store would not export next.
        return Err(refuse());
    }
    // Whole, and ours: every file against SHA256SUMS and the signed manifest.
    crate::verify::verify_bundle(
        out,
        Some(&key.public_keyring()),
        &mirror_core::reporter::NoReporter,
    )?;
    let plan = ExportPlan {
        sequence: manifest.sequence,
        base_sequence: manifest.base_sequence,
        follows: manifest.follows.clone(),
        full: manifest.full,
        snapshot_ids: manifest
            .snapshots
            .iter()
            .map(|s| format!("{}/{}", s.mirror, s.id))
            .collect(),
        snapshots: manifest.snapshots.clone(),
        objects: manifest
            .objects
            .iter()
            .map(|o| (o.sha256, o.size))
            .collect(),
        object_count: manifest.objects.len(),
        payload_bytes: manifest.payload_bytes(),
    };
    tracing::warn!(bundle = %manifest.bundle_id, "completing the records of an interrupted export");
    let bundle_bytes = names
        .iter()
        .map(|n| fs_err::metadata(out.join(n)).map(|m| m.len()))
        .sum::<Result<u64, _>>()?;
    record_bundle(store, &plan, &manifest, out, recorded)?;
    Ok(Resumed::Finished(Box::new(ExportReport {
        bundle_id: manifest.bundle_id.clone(),
        volumes: manifest.volumes.len(),
        bundle_bytes,
        out: out.to_owned(),
        plan,
    })))
}

/// The body of [`write_bundle`], into the empty directory `out`.
fn write_bundle_files(
    store: &Store,
    plan: ExportPlan,
    key: &SigningKey,
    out: &Path,
    volume_size: u64,
    reporter: &dyn Reporter,
) -> Result<ExportReport, TransferError> {
    let now = time::OffsetDateTime::now_utc();
    let created = mirror_core::time_util::rfc3339(now);
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("UTC timestamps always format");
    let mut content = mirror_core::digest::Hasher::new();
    content.update(created.as_bytes());
    for id in &plan.snapshot_ids {
        content.update(id.as_bytes());
    }
    for (d, _) in &plan.objects {
        content.update(&d.0);
    }
    let bundle_id = format!(
        "{:06}-{stamp}-{}",
        plan.sequence,
        &content.finish().0.to_hex()[..12]
    );

    reporter.begin(
        &format!("writing bundle {bundle_id}"),
        Some(plan.payload_bytes),
    );
    let mut writer = VolumeWriter::new(out, volume_size, reporter);
    let mut objects = Vec::with_capacity(plan.objects.len());
    for (digest, size) in &plan.objects {
        let path = store.objects().path(digest);
        let file = fs_err::File::open(&path)?;
        objects.push(writer.add(
            *digest,
            *size,
            std::io::BufReader::with_capacity(1 << 20, file),
            &path,
        )?);
    }
    let volumes = writer.finish()?;
    reporter.finish();

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        bundle_id: bundle_id.clone(),
        sequence: plan.sequence,
        base_sequence: plan.base_sequence,
        follows: plan.follows.clone(),
        full: plan.full,
        created: created.clone(),
        created_by: key.fingerprint(),
        snapshots: plan.snapshots.clone(),
        objects,
        volumes,
        audit: Some(store.audit_anchor_now()?),
    };
    let manifest_path = out.join(MANIFEST);
    manifest.validate(&manifest_path)?;
    let manifest_bytes = manifest.to_json();
    let signature = key
        .sign_detached_armored(&manifest_bytes)
        .map_err(|source| TransferError::Sign {
            path: manifest_path.clone(),
            source: Box::new(source),
        })?;
    // Each file atomically and durably (a kill leaves it whole or absent, and a `.tmp-`
    // file the next export removes).
    write_atomic(&manifest_path, &manifest_bytes)?;
    write_atomic(&out.join(SIGNATURE), signature.as_bytes())?;
    let readme = readme_text(&manifest);
    write_atomic(&out.join(README), readme.as_bytes())?;

    // SHA256SUMS last: its presence marks a complete bundle, which only then is recorded
    // (the order `resume` relies on).
    let mut sums = String::new();
    let mut bundle_bytes = 0;
    for v in &manifest.volumes {
        sums.push_str(&format!("{}  {}\n", v.sha256, v.name));
        bundle_bytes += v.size;
    }
    for (name, bytes) in [
        (MANIFEST, manifest_bytes.as_slice()),
        (SIGNATURE, signature.as_bytes()),
        (README, readme.as_bytes()),
    ] {
        sums.push_str(&format!("{}  {name}\n", Sha256Digest::of(bytes)));
        bundle_bytes += bytes.len() as u64;
    }
    write_atomic(&out.join(SUMS), sums.as_bytes())?;
    bundle_bytes += sums.len() as u64;

    record_bundle(store, &plan, &manifest, out, false)?;
    tracing::info!(%bundle_id, objects = plan.object_count, "bundle written");
    Ok(ExportReport {
        bundle_id,
        volumes: manifest.volumes.len(),
        bundle_bytes,
        out: out.to_owned(),
        plan,
    })
}

/// Record a complete bundle: in the ledger (unless `in_ledger`), then in the audit log.
fn record_bundle(
    store: &Store,
    plan: &ExportPlan,
    manifest: &Manifest,
    out: &Path,
    in_ledger: bool,
) -> Result<(), TransferError> {
    if !in_ledger {
        let carried: Vec<Sha256Digest> = plan.objects.iter().map(|o| o.0).collect();
        let mut ledger = Ledger::load(store)?;
        ledger.record(
            store,
            LedgerEntry {
                sequence: plan.sequence,
                bundle_id: manifest.bundle_id.clone(),
                created: manifest.created.clone(),
                full: plan.full,
                base_sequence: plan.base_sequence,
                snapshots: plan.snapshot_ids.clone(),
                objects: plan.object_count as u64,
                bytes: plan.payload_bytes,
            },
            &carried,
        )?;
    }
    store.audit(&AuditRecord::new(
        "export",
        None,
        serde_json::json!({
            "bundle_id": manifest.bundle_id,
            "sequence": plan.sequence,
            "base_sequence": plan.base_sequence,
            "full": plan.full,
            "snapshots": plan.snapshot_ids,
            "objects": plan.object_count,
            "payload_bytes": plan.payload_bytes,
            "volumes": manifest.volumes.len(),
            "out": out,
            "signer": manifest.created_by,
        }),
    ))?;
    Ok(())
}

fn readme_text(manifest: &Manifest) -> String {
    format!(
        "Mirror bundle {id}
=====================================================================
Sequence {seq}{follows}. Created {created}, signed by key {signer}.
Format: mirror bundle format {version} (see docs/bundle-format.md of mirror-cli).

To check this bundle by hand, in this directory:

  1. Every file is intact:
       sha256sum -c SHA256SUMS
  2. The manifest was signed by the outside (import its public key first,
     e.g. gpg --import outside.pub, and check the fingerprint is {signer}):
       gpg --verify manifest.json.asc manifest.json
  3. The volumes are the ones the signed manifest names: each line
     \"<sha256>  data-NNNN.tar\" of SHA256SUMS must match a \"volumes\" entry
     of manifest.json, e.g.
       jq -r '.volumes[] | .sha256 + \"  \" + .name' manifest.json | sha256sum -c

On a transfer workstation with mirror-cli:
  mirror-cli verify --bundle . --key outside.pub
On the inside:
  mirror-cli import /path/to/this/directory

Volumes are plain tar files holding objects/sha256/<ab>/<sha256>; an object larger
than a volume is split into <sha256>.part-0001, .part-0002, ... in order.
",
        id = manifest.bundle_id,
        seq = manifest.sequence,
        follows = match &manifest.follows {
            Some(f) => format!(", follows bundle {f} (sequence {})", manifest.base_sequence),
            None => String::from(", the first of its line (or full)"),
        },
        created = manifest.created,
        signer = manifest.created_by,
        version = manifest.format_version,
    )
}
