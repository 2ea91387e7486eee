//! Pruning: keep the newest N snapshots of each mirror (and always the published one),
//! remove the rest, their materialised trees, and every object no remaining snapshot
//! references and no mirror's upstream cache names (`upstream_cache`).
//!
//! Everything is planned first and said in the audit log before anything is removed: a
//! prune killed after its removals committed still has its record (a re-run finds what
//! is left and records that too). The caller holds the writer lock.

use std::collections::HashSet;

use serde::Serialize;

use crate::audit::AuditRecord;
use crate::store::{Store, StoreError};

/// What a prune removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Snapshots kept per mirror.
    pub keep: usize,
    /// `mirror/id` of every snapshot removed.
    pub removed_snapshots: Vec<String>,
    /// Materialised trees removed.
    pub removed_trees: usize,
    /// Objects removed (referenced by no remaining snapshot).
    pub removed_objects: u64,
    /// Bytes those objects held.
    pub bytes_freed: u64,
}

impl PruneReport {
    /// The report as people read it.
    pub fn line(&self) -> String {
        format!(
            "removed {} snapshots, {} trees, {} objects ({} freed)",
            self.removed_snapshots.len(),
            self.removed_trees,
            self.removed_objects,
            crate::sync::human_bytes(self.bytes_freed)
        )
    }
}

impl Store {
    /// Prune to the newest `keep` snapshots per mirror (at least 1; the published one is
    /// always kept). The caller holds the lock from [`Store::lock`].
    pub fn prune(&self, keep: usize) -> Result<PruneReport, StoreError> {
        let keep = keep.max(1);
        let mut doomed = Vec::new();
        let mut kept_by_mirror = Vec::new();
        let mut referenced = HashSet::new();
        for mirror in self.mirrors_with_snapshots()? {
            let ids = self.snapshot_ids(&mirror)?;
            let published = self.published_snapshot(&mirror)?;
            let cut = ids.len().saturating_sub(keep);
            let mut kept = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                if i < cut && Some(id) != published.as_ref() {
                    doomed.push((mirror.clone(), id.clone()));
                } else {
                    for f in self.load_snapshot(&mirror, id)?.files {
                        referenced.insert(f.sha256);
                    }
                    kept.push(id.clone());
                }
            }
            kept_by_mirror.push((mirror, kept));
        }
        // Upstream's bodies that a mirror's cache names (a filtered conda mirror's
        // repodata as served): without them the next sync would fetch everything again.
        referenced.extend(self.cached_digests()?);
        // What proxies filled and serve (`proxy::ProxyLog`).
        referenced.extend(self.proxy_digests()?);
        let mut unreferenced = Vec::new();
        let mut bytes_freed = 0u64;
        for digest in self.objects().list()? {
            if !referenced.contains(&digest) {
                bytes_freed += self.objects().size(&digest).unwrap_or(0);
                unreferenced.push(digest);
            }
        }
        let removed_snapshots: Vec<String> =
            doomed.iter().map(|(m, id)| format!("{m}/{id}")).collect();
        let removed_objects = unreferenced.len() as u64;
        // Said before it is done (see the module docs).
        self.audit(&AuditRecord::new(
            "prune",
            None,
            serde_json::json!({
                "keep": keep,
                "removed_snapshots": removed_snapshots,
                "removed_objects": removed_objects,
                "bytes_freed": bytes_freed,
            }),
        ))?;
        for (mirror, id) in &doomed {
            self.remove_snapshot(mirror, id)?;
        }
        let mut removed_trees = 0;
        for (mirror, kept) in &kept_by_mirror {
            removed_trees += self.remove_trees_except(mirror, kept)?;
        }
        for digest in &unreferenced {
            self.objects().remove(digest)?;
        }
        Ok(PruneReport {
            keep,
            removed_snapshots,
            removed_trees,
            removed_objects,
            bytes_freed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Snapshot, SnapshotFile};

    #[test]
    fn keeps_the_newest_and_the_published_and_records_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let mut ids = Vec::new();
        for n in 0..3u8 {
            let digest = store.objects().insert_bytes(&[n]).expect("insert");
            let file = SnapshotFile {
                path: "f".into(),
                sha256: digest,
                size: 1,
            };
            let mut snapshot =
                Snapshot::new("m", "apt", "file:///x", &format!("fp{n}"), vec![file])
                    .expect("snapshot");
            snapshot.id = format!("{:06}-x-{n}", n + 1);
            store.save_snapshot(&snapshot).expect("save");
            if n == 0 {
                store.publish(&snapshot).expect("publish");
            }
            ids.push(snapshot.id);
        }
        let report = store.prune(1).expect("prune");
        assert_eq!(report.removed_snapshots, [format!("m/{}", ids[1])]);
        assert_eq!((report.removed_objects, report.bytes_freed), (1, 1));
        assert_eq!(
            store.snapshot_ids("m").expect("ids"),
            [ids[0].clone(), ids[2].clone()],
            "the published (oldest) and the newest stay"
        );
        let last = store
            .audit_records()
            .expect("audit")
            .pop()
            .expect("a record");
        assert_eq!(last.action, "prune");
        assert_eq!(
            last.details["removed_snapshots"][0],
            format!("m/{}", ids[1])
        );
        assert!(report.line().starts_with("removed 1 snapshots, "));
    }
}
