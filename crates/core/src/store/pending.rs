//! The journal that makes a multi-step change all-or-nothing.
//!
//! A change that must add objects, snapshots and trees before its commit (an import)
//! first writes `pending.json`: everything it will add that the store lacks, and the
//! generation its [`Store::switch_live`] will create. Then it adds them, switches `live`
//! (the commit), writes its audit record and removes the journal.
//!
//! When a crash (kill -9, power loss) cuts this short, the journal decides:
//! - `live` is older than the journal's generation: the change never committed. The next
//!   writer ([`Store::lock`]) removes exactly what the journal lists, so the store is
//!   byte for byte what it was. Until then readers skip what it lists
//!   ([`Store::pending`]), so nothing uncommitted is ever visible.
//! - `live` has reached it: the change committed; the next writer appends the audit
//!   record if it is missing and removes the journal.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, sync_dir, write_atomic};
use crate::audit::AuditRecord;
use crate::digest::Sha256Digest;

/// What an uncommitted change adds, so it can be taken back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// What the change is (for messages), e.g. `import <bundle id>`.
    pub operation: String,
    /// The generation whose switch commits the change.
    pub commits_generation: u64,
    /// Objects the store did not have.
    pub objects: Vec<Sha256Digest>,
    /// `(mirror, id)` of snapshots the store did not have.
    pub snapshots: Vec<(String, String)>,
    /// `(mirror, id)` of trees not yet materialised.
    pub trees: Vec<(String, String)>,
    /// Appended to the audit log once committed.
    pub audit: Option<AuditRecord>,
}

impl Pending {
    /// Whether `mirror/id` is a snapshot this change adds.
    pub fn adds_snapshot(&self, mirror: &str, id: &str) -> bool {
        self.snapshots.iter().any(|(m, i)| m == mirror && i == id)
    }
}

impl Store {
    fn pending_path(&self) -> std::path::PathBuf {
        self.root().join("pending.json")
    }

    /// Start an all-or-nothing change: journal what it will add (only what the store
    /// lacks now) before anything is written. The caller holds the writer lock and must
    /// end with [`Store::switch_live`] then [`Store::finish_pending`], or
    /// [`Store::roll_back_pending`] on error.
    pub fn begin_pending(
        &self,
        operation: &str,
        objects: &[Sha256Digest],
        snapshots: &[(String, String)],
        audit: Option<AuditRecord>,
    ) -> Result<Pending, StoreError> {
        let pending = Pending {
            operation: operation.to_owned(),
            commits_generation: self.live_generation()?.map_or(1, |n| n + 1),
            objects: objects
                .iter()
                .filter(|d| !self.objects().contains(d))
                .copied()
                .collect(),
            snapshots: snapshots
                .iter()
                .filter(|(m, id)| !self.snapshot_path(m, id).exists())
                .cloned()
                .collect(),
            trees: snapshots
                .iter()
                .filter(|(m, id)| !self.trees_dir(m).join(id).exists())
                .cloned()
                .collect(),
            audit,
        };
        let json = serde_json::to_vec_pretty(&pending).expect("a journal always serialises");
        write_atomic(&self.pending_path(), &json)?;
        Ok(pending)
    }

    /// The journal of a change that has not committed, if one is in progress or was cut
    /// short. Readers use it to skip what it adds.
    pub fn pending(&self) -> Result<Option<Pending>, StoreError> {
        match self.read_journal()? {
            Some(p) if !self.has_committed(&p)? => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    fn has_committed(&self, pending: &Pending) -> Result<bool, StoreError> {
        Ok(self
            .live_generation()?
            .is_some_and(|n| n >= pending.commits_generation))
    }

    fn read_journal(&self) -> Result<Option<Pending>, StoreError> {
        let path = self.pending_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::BadJournal { path, source: e })
    }

    /// After the commit: append the audit record and drop the journal.
    pub fn finish_pending(&self, pending: &Pending) -> Result<(), StoreError> {
        if let Some(record) = &pending.audit {
            self.audit(record)?;
        }
        self.remove_journal()
    }

    /// Take back everything an uncommitted change added, then drop the journal.
    pub fn roll_back_pending(&self, pending: &Pending) -> Result<(), StoreError> {
        tracing::warn!(operation = %pending.operation, "rolling back an uncommitted change");
        let generation = self
            .state_dir()
            .join(format!("{:010}", pending.commits_generation));
        if generation.exists() {
            crate::failpoint::step("remove");
            fs_err::remove_dir_all(&generation)?;
        }
        for (mirror, id) in &pending.trees {
            let tree = self.trees_dir(mirror).join(id);
            if tree.exists() {
                crate::failpoint::step("remove");
                fs_err::remove_dir_all(&tree)?;
            }
            remove_if_empty(&self.trees_dir(mirror));
        }
        for (mirror, id) in &pending.snapshots {
            match self.remove_snapshot(mirror, id) {
                Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
            remove_if_empty(&self.snapshots_dir().join(mirror));
        }
        for digest in &pending.objects {
            self.objects().remove(digest)?;
            if let Some(fan_out) = self.objects().path(digest).parent() {
                remove_if_empty(fan_out);
            }
        }
        self.remove_journal()
    }

    /// Run by [`Store::lock`]: settle a change a crash interrupted.
    pub(super) fn recover_pending(&self) -> Result<(), StoreError> {
        match self.read_journal()? {
            None => Ok(()),
            // Committed, then cut short: the audit record may be written already (only
            // here is the log read back, to append it once).
            Some(p) if self.has_committed(&p)? => {
                // (The log adds the chain link when it appends; compare without it.)
                let written = p.audit.is_some()
                    && self.audit_records()?.last().map(AuditRecord::unchained) == p.audit;
                if written {
                    self.remove_journal()
                } else {
                    self.finish_pending(&p)
                }
            }
            Some(p) => self.roll_back_pending(&p),
        }
    }

    fn remove_journal(&self) -> Result<(), StoreError> {
        crate::failpoint::step("remove");
        fs_err::remove_file(self.pending_path())?;
        sync_dir(self.root())
    }
}

/// Directories the change created for what it added go with it (a no-op when not empty).
fn remove_if_empty(dir: &std::path::Path) {
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Snapshot, SnapshotFile};

    fn snapshot(id: &str, content: &[u8]) -> Snapshot {
        let mut s = Snapshot::new(
            "m",
            "apt",
            "u",
            "fp",
            vec![SnapshotFile {
                path: "f".into(),
                sha256: Sha256Digest::of(content),
                size: content.len() as u64,
            }],
        )
        .expect("valid");
        s.id = id.into();
        s
    }

    fn tree_of(store: &Store) -> Vec<(String, Vec<u8>)> {
        mirror_test_support::dir_state(store.root(), &["lock"])
    }

    /// Begin, add, crash: readers never see the change, and the next writer takes it back
    /// so the store is byte for byte what it was.
    #[test]
    fn crash_before_commit_is_rolled_back_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let old = snapshot("0001", b"old");
        store.objects().insert_bytes(b"old").expect("insert");
        store.save_snapshot(&old).expect("save");
        store.publish(&old).expect("publish");
        let before = tree_of(&store);

        let new = snapshot("0002", b"new");
        let pending = store
            .begin_pending(
                "test",
                &[Sha256Digest::of(b"new"), Sha256Digest::of(b"old")],
                &[("m".into(), "0002".into()), ("m".into(), "0001".into())],
                None,
            )
            .expect("begin");
        assert_eq!(
            pending.objects,
            vec![Sha256Digest::of(b"new")],
            "only what is new"
        );
        assert_eq!(pending.snapshots, vec![("m".into(), "0002".into())]);
        store.objects().insert_bytes(b"new").expect("insert");
        store.save_snapshot(&new).expect("save");
        // Killed here. Readers see only committed state.
        assert_eq!(store.snapshot_ids("m").expect("ids"), vec!["0001"]);
        assert_eq!(
            store.published_snapshot("m").expect("live"),
            Some("0001".into())
        );

        drop(store.lock().expect("lock recovers"));
        assert_eq!(tree_of(&store), before);
    }

    /// Crash after the switch: the change stands, and its audit record is written once.
    #[test]
    fn crash_after_commit_is_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let new = snapshot("0002", b"new");
        let record = AuditRecord::new("test", None, serde_json::json!({"n": 1}));
        store
            .begin_pending(
                "test",
                &[Sha256Digest::of(b"new")],
                &[("m".into(), "0002".into())],
                Some(record.clone()),
            )
            .expect("begin");
        store.objects().insert_bytes(b"new").expect("insert");
        store.save_snapshot(&new).expect("save");
        store.publish(&new).expect("commit");
        assert_eq!(store.pending().expect("read"), None, "committed");
        store.audit(&record).expect("audit"); // killed after the audit, before the cleanup
        drop(store.lock().expect("lock recovers"));
        assert!(!store.root().join("pending.json").exists());
        assert_eq!(store.audit_records().expect("audit"), vec![record]);
        assert_eq!(store.snapshot_ids("m").expect("ids"), vec!["0002"]);
    }
}
