//! `status`: mirrors, snapshots, sizes, and the last sync/publish/export/import from the
//! audit log. Read-only; never takes the lock.

use mirror_core::store::Store;

use super::{Context, Output, bytes};

pub fn run(ctx: &Context) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store_dir = config.store_dir();
    if !store_dir.join("objects").is_dir() {
        return Ok(Output::new(
            serde_json::json!({
                "store": store_dir,
                "mirrors": [],
                "imported": {"last_sequence": 0, "bundles": []},
                "note": "store not created yet",
            }),
            format!(
                "store {}: not created yet (run `mirror-cli sync`)",
                store_dir.display()
            ),
        ));
    }
    let store = Store::open_existing(&store_dir)?;
    let audit = store.audit_records()?;
    let mut mirrors = Vec::new();
    let mut lines = vec![format!("store {}", store_dir.display())];
    let mut names = config.mirror_names();
    for extra in store.mirrors_with_snapshots()? {
        if !names.contains(&extra) {
            names.push(extra);
        }
    }
    for name in names {
        let ids = store.snapshot_ids(&name)?;
        let latest = match ids.last() {
            Some(id) => Some(store.load_snapshot(&name, id)?),
            None => None,
        };
        let published = store.published_snapshot(&name)?;
        let last = |action: &str| {
            audit
                .iter()
                .rev()
                .find(|r| r.action == action && r.mirror.as_deref() == Some(name.as_str()))
                .map(|r| r.time.clone())
        };
        let unpublished = store.unpublished_snapshot(&name)?;
        let (files, size) = latest
            .as_ref()
            .map_or((0, 0), |s| (s.files.len(), s.total_size()));
        lines.push(format!(
            "{name}: {} snapshots, newest {} ({files} files, {}), published {}, last sync {}",
            ids.len(),
            latest.as_ref().map_or("-", |s| s.id.as_str()),
            bytes(size),
            published.as_deref().unwrap_or("-"),
            last("sync").as_deref().unwrap_or("never"),
        ));
        if let Some(id) = &unpublished {
            lines.push(format!(
                "{name}: snapshot {id} was saved but never published (a run stopped before \
                 publishing); the next `sync` publishes it, or `publish` now"
            ));
        }
        mirrors.push(serde_json::json!({
            "name": name,
            "kind": latest.as_ref().map(|s| s.kind.clone()),
            "snapshots": ids,
            "latest": latest.as_ref().map(|s| s.id.clone()),
            "files": files,
            "bytes": size,
            "published": published,
            "last_sync": last("sync"),
            "last_publish": last("publish"),
            "unpublished": unpublished,
        }));
    }
    // A change that has not committed (running now, or cut short by a crash) is not part
    // of the store: its objects are not counted; if it was cut short, the next writer
    // command takes it back.
    let uncommitted = store.pending()?;
    let mut objects = store.objects().list()?;
    if let Some(p) = &uncommitted {
        let uncommitted: std::collections::HashSet<_> = p.objects.iter().collect();
        objects.retain(|d| !uncommitted.contains(d));
        lines.push(format!(
            "uncommitted: {} (running, or interrupted: the next sync, publish, import or prune \
             rolls it back)",
            p.operation
        ));
    }
    // Carried back to the outside for `export --since`: what this store really holds,
    // after any prune, so the next bundle brings again what was pruned and is needed.
    let mut inventory: Vec<String> = objects.iter().map(|d| d.to_hex()).collect();
    inventory.sort_unstable();
    let objects = objects.len();
    lines.push(format!("{objects} objects in the store"));
    // Bundles: what the inside imported (carried back for `export --since`), and what
    // the outside exported.
    let imported = mirror_transfer::ImportRecord::load(&store)?;
    let ledger = mirror_transfer::Ledger::load(&store)?;
    if let Some(last) = imported.last() {
        lines.push(format!(
            "imported {} bundles, last sequence {} ({}) at {}",
            imported.bundles.len(),
            last.sequence,
            last.bundle_id,
            last.imported_at
        ));
    }
    if let Some(last) = ledger.last() {
        lines.push(format!(
            "exported {} bundles, last sequence {} ({}) at {}",
            ledger.bundles.len(),
            last.sequence,
            last.bundle_id,
            last.created
        ));
    }
    Ok(Output::new(
        serde_json::json!({
            "store": store_dir,
            "mirrors": mirrors,
            "objects": objects,
            "uncommitted": uncommitted.map(|p| p.operation),
            "imported": imported,
            "inventory": inventory,
            "exported": {
                "last_sequence": ledger.last_sequence(),
                "bundles": ledger.bundles,
            },
        }),
        lines.join("\n"),
    ))
}
