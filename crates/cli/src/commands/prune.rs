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

    // Plan everything first, and say it in the audit log before removing anything: a
    // prune killed after its removals committed must still have its record (a re-run
    // finds nothing left to remove and records that, too).
    let mut doomed = Vec::new();
    let mut kept_by_mirror = Vec::new();
    let mut referenced = HashSet::new();
    for mirror in store.mirrors_with_snapshots()? {
        let ids = store.snapshot_ids(&mirror)?;
        let published = store.published_snapshot(&mirror)?;
        let cut = ids.len().saturating_sub(keep);
        let mut kept = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if i < cut && Some(id) != published.as_ref() {
                doomed.push((mirror.clone(), id.clone()));
            } else {
                for f in store.load_snapshot(&mirror, id)?.files {
                    referenced.insert(f.sha256);
                }
                kept.push(id.clone());
            }
        }
        kept_by_mirror.push((mirror, kept));
    }
    let mut unreferenced = Vec::new();
    let mut bytes_freed = 0u64;
    for digest in store.objects().list()? {
        if !referenced.contains(&digest) {
            bytes_freed += store.objects().size(&digest).unwrap_or(0);
            unreferenced.push(digest);
        }
    }
    let removed_snapshots: Vec<String> = doomed.iter().map(|(m, id)| format!("{m}/{id}")).collect();
    let objects_removed = unreferenced.len() as u64;
    store.audit(&AuditRecord::new(
        "prune",
        None,
        serde_json::json!({
            "keep": keep,
            "removed_snapshots": removed_snapshots,
            "removed_objects": objects_removed,
            "bytes_freed": bytes_freed,
        }),
    ))?;

    for (mirror, id) in &doomed {
        store.remove_snapshot(mirror, id)?;
    }
    let mut trees_removed = 0;
    for (mirror, kept) in &kept_by_mirror {
        trees_removed += store.remove_trees_except(mirror, kept)?;
    }
    for digest in &unreferenced {
        store.objects().remove(digest)?;
    }
    let details = serde_json::json!({
        "keep": keep,
        "removed_snapshots": removed_snapshots,
        "removed_trees": trees_removed,
        "removed_objects": objects_removed,
        "bytes_freed": bytes_freed,
    });
    Ok(Output::new(
        details,
        format!(
            "removed {} snapshots, {trees_removed} trees, {objects_removed} objects ({} freed)",
            removed_snapshots.len(),
            bytes(bytes_freed)
        ),
    ))
}
