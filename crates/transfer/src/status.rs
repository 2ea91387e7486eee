//! [`StoreStatus`]: what `mirror-cli status --json` writes, and the one file that crosses
//! the gap back to the outside (`export --since` reads it to learn what the inside holds).
//!
//! A type, not a JSON object built by hand and read back by field name: both sides use
//! this struct, a round-trip test pins it, and [`STATUS_VERSION`] says which shape a file
//! has. Files from before the version field (today's shape, `status_version` absent) are
//! read as version 0; a file from a newer `mirror-cli` is refused with a message saying
//! so; a hand-edited file missing a member is refused naming it, never read as "the
//! inside holds nothing".

use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use serde::{Deserialize, Serialize};

use crate::error::TransferError;
use crate::record::{ImportRecord, LedgerEntry};

/// The shape this build writes (and the newest it reads).
pub const STATUS_VERSION: u32 = 1;

/// A store as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreStatus {
    /// [`STATUS_VERSION`] when written; 0 (absent) for files from before it existed.
    #[serde(default)]
    pub status_version: u32,
    /// The store directory.
    pub store: PathBuf,
    /// Every mirror of the config and every mirror the store holds snapshots of.
    pub mirrors: Vec<MirrorStatus>,
    /// Objects committed to the store.
    pub objects: usize,
    /// A change that has not committed (running now, or cut short), if any.
    #[serde(default)]
    pub uncommitted: Option<String>,
    /// What this store imported.
    pub imported: ImportRecord,
    /// Every object the store holds, as carried back to the outside: what was pruned is
    /// not in it, so `export --since` sends it again.
    pub inventory: Vec<Sha256Digest>,
    /// What this store exported.
    pub exported: ExportedStatus,
    /// Set when there is no store yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One mirror in [`StoreStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorStatus {
    /// The mirror's name.
    pub name: String,
    /// `apt`, `conda`, ... (of its newest snapshot).
    pub kind: Option<String>,
    /// Every snapshot id, oldest first.
    pub snapshots: Vec<String>,
    /// The newest snapshot id.
    pub latest: Option<String>,
    /// Files of the newest snapshot.
    pub files: usize,
    /// Bytes of the newest snapshot.
    pub bytes: u64,
    /// The published snapshot id.
    pub published: Option<String>,
    /// When the last sync ran (RFC 3339), from the audit log.
    pub last_sync: Option<String>,
    /// When the last publish ran.
    pub last_publish: Option<String>,
    /// The newest snapshot when it was saved and never published.
    pub unpublished: Option<String>,
}

/// The exports in [`StoreStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedStatus {
    /// Sequence of the newest export (0 when none).
    pub last_sequence: u64,
    /// Every bundle exported, oldest first.
    pub bundles: Vec<LedgerEntry>,
}

impl StoreStatus {
    /// A status as a JSON value, checked: a newer shape is refused, a member missing or
    /// unknown is named (`path` is for messages).
    pub fn from_value(mut value: serde_json::Value, path: &Path) -> Result<Self, TransferError> {
        let refuse = |reason: String| TransferError::Since {
            path: path.to_owned(),
            reason,
        };
        // The envelope every `--json` output carries: a failed status is no status.
        if let Some(object) = value.as_object_mut() {
            match object.remove("ok") {
                Some(serde_json::Value::Bool(false)) => {
                    return Err(refuse(format!(
                        "the status command that wrote it failed: {}",
                        object
                            .get("error")
                            .and_then(|e| e.as_str())
                            .unwrap_or("(no message)")
                    )));
                }
                None | Some(serde_json::Value::Bool(true)) => {}
                Some(_) => return Err(refuse("\"ok\" is not true or false".into())),
            }
        }
        let version = value
            .get("status_version")
            .map(|v| {
                v.as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| refuse("status_version is not a number".into()))
            })
            .transpose()?
            .unwrap_or(0);
        if version > STATUS_VERSION {
            return Err(refuse(format!(
                "written by a newer mirror-cli (status_version {version}; this one reads up to \
                 {STATUS_VERSION}): upgrade this side, or run the inside's `status --json` with \
                 this version"
            )));
        }
        serde_json::from_value(value).map_err(|e| {
            refuse(format!(
                "not `mirror-cli status --json` output: {e} (run `mirror-cli --json status > \
                 FILE` on the inside again)"
            ))
        })
    }

    /// The status as people read it, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("store {}", self.store.display())];
        if let Some(note) = &self.note {
            lines.push(note.clone());
        }
        for m in &self.mirrors {
            lines.push(format!(
                "{}: {} snapshots, newest {} ({} files, {}), published {}, last sync {}",
                m.name,
                m.snapshots.len(),
                m.latest.as_deref().unwrap_or("-"),
                m.files,
                mirror_core::sync::human_bytes(m.bytes),
                m.published.as_deref().unwrap_or("-"),
                m.last_sync.as_deref().unwrap_or("never"),
            ));
            if let Some(id) = &m.unpublished {
                lines.push(format!(
                    "{}: snapshot {id} was saved but never published (a run stopped before \
                     publishing); the next `sync` publishes it, or `publish` now",
                    m.name
                ));
            }
        }
        if let Some(operation) = &self.uncommitted {
            lines.push(format!(
                "uncommitted: {operation} (running, or interrupted: the next sync, publish, \
                 import or prune rolls it back)"
            ));
        }
        lines.push(format!("{} objects in the store", self.objects));
        if let Some(last) = self.imported.last() {
            lines.push(format!(
                "imported {} bundles, last sequence {} ({}) at {}",
                self.imported.bundles.len(),
                last.sequence,
                last.bundle_id,
                last.imported_at
            ));
        }
        if let Some(last) = self.exported.bundles.last() {
            lines.push(format!(
                "exported {} bundles, last sequence {} ({}) at {}",
                self.exported.bundles.len(),
                last.sequence,
                last.bundle_id,
                last.created
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ImportedBundle;

    fn sample() -> StoreStatus {
        StoreStatus {
            status_version: STATUS_VERSION,
            store: "/srv/mirror".into(),
            mirrors: vec![MirrorStatus {
                name: "debian".into(),
                kind: Some("apt".into()),
                snapshots: vec!["000001-a".into(), "000002-b".into()],
                latest: Some("000002-b".into()),
                files: 3,
                bytes: 1234,
                published: Some("000002-b".into()),
                last_sync: Some("2026-12-07T00:00:00Z".into()),
                last_publish: None,
                unpublished: None,
            }],
            objects: 2,
            uncommitted: None,
            imported: ImportRecord {
                last_sequence: 1,
                bundles: vec![ImportedBundle {
                    sequence: 1,
                    bundle_id: "000001-x".into(),
                    imported_at: "2026-12-07T00:00:00Z".into(),
                    signer: "ABCD".into(),
                    snapshots: vec!["debian/000002-b".into()],
                }],
            },
            inventory: vec![Sha256Digest::of(b"a"), Sha256Digest::of(b"b")],
            exported: ExportedStatus::default(),
            note: None,
        }
    }

    #[test]
    fn round_trips_and_reads_the_shape_from_before_the_version() {
        let status = sample();
        let json = serde_json::to_value(&status).expect("json");
        assert_eq!(json["status_version"], STATUS_VERSION);
        let back = StoreStatus::from_value(json.clone(), Path::new("s.json")).expect("reads");
        assert_eq!(back, status);

        // As `--json` prints it.
        let mut printed = json.clone();
        printed["ok"] = true.into();
        assert_eq!(
            StoreStatus::from_value(printed, Path::new("s.json")).expect("reads"),
            status
        );
        let failed = serde_json::json!({"ok": false, "error": "store locked", "exit_code": 6});
        let error = StoreStatus::from_value(failed, Path::new("s.json")).expect_err("failed");
        assert!(error.to_string().contains("store locked"), "{error}");

        let mut old = json.clone();
        old.as_object_mut()
            .expect("object")
            .remove("status_version");
        let back = StoreStatus::from_value(old, Path::new("s.json")).expect("old shape");
        assert_eq!(back.status_version, 0);
        assert_eq!(back.inventory, status.inventory);
    }

    #[test]
    fn a_newer_or_hand_edited_status_is_refused_naming_what_is_wrong() {
        let json = serde_json::to_value(sample()).expect("json");
        let mut newer = json.clone();
        newer["status_version"] = (STATUS_VERSION + 1).into();
        let error = StoreStatus::from_value(newer, Path::new("s.json")).expect_err("newer");
        assert!(error.to_string().contains("newer mirror-cli"), "{error}");

        for (member, needle) in [("inventory", "inventory"), ("imported", "imported")] {
            let mut edited = json.clone();
            edited.as_object_mut().expect("object").remove(member);
            let error = StoreStatus::from_value(edited, Path::new("s.json")).expect_err(member);
            assert!(error.to_string().contains(needle), "{error}");
        }
        let mut typo = json;
        typo["inventroy"] = serde_json::json!([]);
        let error = StoreStatus::from_value(typo, Path::new("s.json")).expect_err("unknown");
        assert!(error.to_string().contains("inventroy"), "{error}");
    }
}
