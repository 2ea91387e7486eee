//! `prune [--keep N]`: keep the newest N snapshots of each mirror (and always the
//! published one), delete the rest, their materialised trees, and every object no
//! remaining snapshot references.

use std::collections::HashSet;

use mirror_core::audit::AuditRecord;
use mirror_core::store::Store;

use super::{Context, Output, bytes};

pub fn run(ctx: &Context, keep: usize) -> anyhow::Result<Output> {
    anyhow::ensure!(keep >= 1, "--keep must be at least 1");
    let config = ctx.config()?;
    let store = Store::open(config.store_dir())?;
    let _lock = store.lock()?;

    let mut removed_snapshots = Vec::new();
    let mut referenced = HashSet::new();
    let mut trees_removed = 0;
    for mirror in store.mirrors_with_snapshots()? {
        let ids = store.snapshot_ids(&mirror)?;
        let published = store.published_snapshot(&mirror)?;
        let cut = ids.len().saturating_sub(keep);
        let mut kept = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if i < cut && Some(id) != published.as_ref() {
                store.remove_snapshot(&mirror, id)?;
                removed_snapshots.push(format!("{mirror}/{id}"));
            } else {
                for f in store.load_snapshot(&mirror, id)?.files {
                    referenced.insert(f.sha256);
                }
                kept.push(id.clone());
            }
        }
        trees_removed += store.remove_trees_except(&mirror, &kept)?;
    }

    let mut objects_removed = 0u64;
    let mut bytes_freed = 0u64;
    for digest in store.objects().list()? {
        if !referenced.contains(&digest) {
            bytes_freed += store.objects().size(&digest).unwrap_or(0);
            store.objects().remove(&digest)?;
            objects_removed += 1;
        }
    }
    let details = serde_json::json!({
        "keep": keep,
        "removed_snapshots": removed_snapshots,
        "removed_trees": trees_removed,
        "removed_objects": objects_removed,
        "bytes_freed": bytes_freed,
    });
    store.audit(&AuditRecord::new("prune", None, details.clone()))?;
    Ok(Output::new(
        details,
        format!(
            "removed {} snapshots, {trees_removed} trees, {objects_removed} objects ({} freed)",
            removed_snapshots.len(),
            bytes(bytes_freed)
        ),
    ))
}
