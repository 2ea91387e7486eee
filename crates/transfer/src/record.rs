//! What each side remembers across the gap, under `<store>/transfer/`.
//!
//! - [`Ledger`] (outside, `ledger.json` + `ledger/<bundle>.objects`): every bundle
//!   exported and the objects it carried, so the next export carries only new objects.
//! - [`ImportRecord`] (inside, `imported.json` in the store's live state): every bundle
//!   imported, in order. It switches live in the same rename as the trees the import
//!   publishes, so it only ever names complete imports.
//!   `status --json` shows it, and `export --since FILE` reads it back on the outside
//!   ([`InsideState`]).

use std::collections::HashSet;
use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::store::{Store, write_atomic};
use serde::{Deserialize, Serialize};

use crate::error::TransferError;

/// One bundle in the outside's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Its sequence.
    pub sequence: u64,
    /// Its id.
    pub bundle_id: String,
    /// When it was written.
    pub created: String,
    /// Carried everything its snapshots need.
    pub full: bool,
    /// The sequence it builds on.
    pub base_sequence: u64,
    /// `mirror/snapshot-id` of each snapshot carried.
    pub snapshots: Vec<String>,
    /// Objects carried.
    pub objects: u64,
    /// Bytes of objects carried.
    pub bytes: u64,
}

/// The outside's export ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Every bundle exported, oldest first.
    pub bundles: Vec<LedgerEntry>,
}

impl Ledger {
    /// `<store>/transfer/ledger.json` (empty when absent).
    pub fn load(store: &Store) -> Result<Self, TransferError> {
        load_json(&store.transfer_dir().join("ledger.json"))
    }

    /// The newest bundle, if any.
    pub fn last(&self) -> Option<&LedgerEntry> {
        self.bundles.last()
    }

    /// Sequence of the newest bundle (0 when none).
    pub fn last_sequence(&self) -> u64 {
        self.last().map_or(0, |b| b.sequence)
    }

    /// The objects bundle `entry` carried.
    pub fn carried(
        &self,
        store: &Store,
        entry: &LedgerEntry,
    ) -> Result<HashSet<Sha256Digest>, TransferError> {
        let path = objects_file(store, &entry.bundle_id);
        let text = fs_err::read_to_string(&path)?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.parse().map_err(|_| TransferError::Since {
                    path: path.clone(),
                    reason: format!("not a SHA-256: {l:?}"),
                })
            })
            .collect()
    }

    /// Add a bundle: its object list first, then `ledger.json` atomically, so a crash
    /// never leaves the ledger naming a bundle without its object list.
    pub fn record(
        &mut self,
        store: &Store,
        entry: LedgerEntry,
        carried: &[Sha256Digest],
    ) -> Result<(), TransferError> {
        let mut list = String::with_capacity(carried.len() * 65);
        for d in carried {
            list.push_str(&d.to_hex());
            list.push('\n');
        }
        write_atomic(&objects_file(store, &entry.bundle_id), list.as_bytes())?;
        self.bundles.push(entry);
        write_atomic(&store.transfer_dir().join("ledger.json"), &pretty(&self))?;
        Ok(())
    }
}

fn objects_file(store: &Store, bundle_id: &str) -> std::path::PathBuf {
    store
        .transfer_dir()
        .join("ledger")
        .join(format!("{bundle_id}.objects"))
}

/// One bundle the inside imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedBundle {
    /// Its sequence.
    pub sequence: u64,
    /// Its id.
    pub bundle_id: String,
    /// When the import completed.
    pub imported_at: String,
    /// Fingerprint of the key that signed it.
    #[serde(default)]
    pub signer: String,
    /// `mirror/snapshot-id` of each snapshot it published.
    #[serde(default)]
    pub snapshots: Vec<String>,
}

/// The inside's record of imports (also the `--since` state format).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// Sequence of the newest import (0 when none); informative, derived from `bundles`.
    #[serde(default)]
    pub last_sequence: u64,
    /// Every bundle imported, oldest first.
    #[serde(default)]
    pub bundles: Vec<ImportedBundle>,
}

impl ImportRecord {
    /// Name of the record among the store's live state files: it switches together with
    /// the trees an import publishes, in one rename (mirror-core's `store/live.rs`).
    pub const STATE_FILE: &'static str = "imported.json";

    /// The live record (empty when nothing was imported). A store from before the
    /// generation layout kept it at `<store>/transfer/imported.json`; that is read when
    /// the live state has none.
    pub fn load(store: &Store) -> Result<Self, TransferError> {
        let mut record: Self = match store.read_live_file(Self::STATE_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| TransferError::json(store.live_link().join(Self::STATE_FILE), e))?,
            None => load_json(&store.transfer_dir().join(Self::STATE_FILE))?,
        };
        record.last_sequence = record.bundles.last().map_or(0, |b| b.sequence);
        Ok(record)
    }

    /// The newest import.
    pub fn last(&self) -> Option<&ImportedBundle> {
        self.bundles.last()
    }

    /// The import with `bundle_id`, if any.
    pub fn find(&self, bundle_id: &str) -> Option<&ImportedBundle> {
        self.bundles.iter().find(|b| b.bundle_id == bundle_id)
    }

    /// This record with `bundle` appended, as the bytes of the state file.
    pub fn with(&self, bundle: ImportedBundle) -> Vec<u8> {
        let mut next = self.clone();
        next.last_sequence = bundle.sequence;
        next.bundles.push(bundle);
        pretty(&next)
    }
}

/// What the inside has imported, as carried back to the outside for `export --since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsideState {
    /// Sequence and id of every bundle imported.
    pub bundles: Vec<(u64, String)>,
    /// Every object the inside holds (`status --json`'s `inventory`), when the state
    /// carries it: what the inside pruned is not in it, so `export --since` sends it again.
    pub held: Option<HashSet<Sha256Digest>>,
}

impl InsideState {
    /// Read either the inside's `status --json` output ([`crate::StoreStatus`]: its
    /// imports and inventory) or its `imported.json` (`<store>/live/imported.json`, which
    /// has no inventory). A file that is neither, or a status missing a member, is
    /// refused naming what is wrong (exit 3): never read as "the inside holds nothing".
    pub fn from_file(path: &Path) -> Result<Self, TransferError> {
        let bytes = fs_err::read(path)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| TransferError::Since {
                path: path.to_owned(),
                reason: format!("not JSON: {e}"),
            })?;
        let is_import_record = value.get("bundles").is_some() && value.get("imported").is_none();
        if is_import_record {
            let record: ImportRecord =
                serde_json::from_value(value).map_err(|e| TransferError::Since {
                    path: path.to_owned(),
                    reason: format!("not an import record: {e}"),
                })?;
            return Ok(Self {
                bundles: record
                    .bundles
                    .into_iter()
                    .map(|b| (b.sequence, b.bundle_id))
                    .collect(),
                held: None,
            });
        }
        let failed = value.get("ok") == Some(&serde_json::Value::Bool(false));
        if value.get("imported").is_none() && !failed {
            return Err(TransferError::Since {
                path: path.to_owned(),
                reason: "neither an import record nor `mirror-cli status --json` output \
                         (no \"bundles\" or \"imported\" member)"
                    .into(),
            });
        }
        let status = crate::StoreStatus::from_value(value, path)?;
        Ok(Self {
            bundles: status
                .imported
                .bundles
                .into_iter()
                .map(|b| (b.sequence, b.bundle_id))
                .collect(),
            held: Some(status.inventory.into_iter().collect()),
        })
    }

    /// The last sequence imported (0 when none).
    pub fn last_sequence(&self) -> u64 {
        self.bundles.iter().map(|b| b.0).max().unwrap_or(0)
    }
}

fn load_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TransferError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TransferError::json(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(TransferError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))),
    }
}

fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("records always serialise");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_and_record_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let mut ledger = Ledger::load(&store).expect("empty");
        assert_eq!(ledger.last_sequence(), 0);
        let entry = LedgerEntry {
            sequence: 1,
            bundle_id: "000001-x".into(),
            created: "t".into(),
            full: false,
            base_sequence: 0,
            snapshots: vec!["m/1".into()],
            objects: 1,
            bytes: 1,
        };
        let d = Sha256Digest::of(b"1");
        ledger.record(&store, entry.clone(), &[d]).expect("record");
        let back = Ledger::load(&store).expect("load");
        assert_eq!(back.bundles, vec![entry.clone()]);
        assert!(back.carried(&store, &entry).expect("carried").contains(&d));

        let record = ImportRecord::load(&store).expect("empty");
        let bytes = record.with(ImportedBundle {
            sequence: 1,
            bundle_id: "000001-x".into(),
            imported_at: "t".into(),
            signer: "F".into(),
            snapshots: vec![],
        });
        store
            .switch_live(&[], &[(ImportRecord::STATE_FILE, &bytes)])
            .expect("switch");
        let live = store.live_link().join(ImportRecord::STATE_FILE);
        let state = InsideState::from_file(&live).expect("state");
        assert_eq!(state.bundles, vec![(1, "000001-x".to_owned())]);
        assert_eq!(ImportRecord::load(&store).expect("load").last_sequence, 1);
        // the same record nested in status output, as `--json status` prints it
        let status = dir.path().join("status.json");
        let mut printed = serde_json::to_value(crate::StoreStatus {
            status_version: crate::STATUS_VERSION,
            store: dir.path().to_owned(),
            mirrors: Vec::new(),
            objects: 0,
            uncommitted: None,
            imported: ImportRecord::load(&store).expect("load"),
            inventory: Vec::new(),
            exported: crate::ExportedStatus::default(),
            note: None,
        })
        .expect("json");
        printed["ok"] = true.into();
        fs_err::write(&status, printed.to_string()).expect("write");
        let state = InsideState::from_file(&status).expect("state");
        assert_eq!(state.last_sequence(), 1);
        assert_eq!(
            state.held.map(|h| h.len()),
            Some(0),
            "an empty inventory is read as such"
        );
        // Hand-edited down to its imports: refused naming what is missing, never read as
        // "the inside holds nothing".
        let partial =
            serde_json::json!({"ok": true, "imported": ImportRecord::load(&store).expect("load")});
        fs_err::write(&status, partial.to_string()).expect("write");
        let error = InsideState::from_file(&status).expect_err("partial");
        assert!(error.to_string().contains("missing field"), "{error}");
        assert_eq!(
            mirror_core::error::Classify::class(&error),
            mirror_core::error::ErrorClass::Config
        );
        fs_err::write(&status, "{\"mirrors\": []}").expect("write");
        assert!(InsideState::from_file(&status).is_err());
    }
}
