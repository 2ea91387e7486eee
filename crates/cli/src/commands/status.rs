//! `status`: mirrors, snapshots, sizes, and the last sync/publish/export/import from the
//! audit log, as a [`StoreStatus`] (the type `export --since` reads back on the other
//! side of the gap). Read-only; never takes the lock.

use mirror_core::store::Store;
use mirror_transfer::{ExportedStatus, ImportRecord, MirrorStatus, STATUS_VERSION, StoreStatus};

use super::{Context, Output};

pub fn run(ctx: &Context) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store_dir = config.store_dir();
    if !store_dir.join("objects").is_dir() {
        let status = StoreStatus {
            status_version: STATUS_VERSION,
            store: store_dir,
            mirrors: Vec::new(),
            objects: 0,
            uncommitted: None,
            imported: ImportRecord::default(),
            inventory: Vec::new(),
            exported: ExportedStatus::default(),
            note: Some("not created yet (run `mirror-cli sync`)".into()),
        };
        return output(&status);
    }
    let store = Store::open_existing(&store_dir)?;
    let audit = store.audit_records()?;
    let mut mirrors = Vec::new();
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
        let last = |action: &str| {
            audit
                .iter()
                .rev()
                .find(|r| r.action == action && r.mirror.as_deref() == Some(name.as_str()))
                .map(|r| r.time.clone())
        };
        mirrors.push(MirrorStatus {
            kind: latest.as_ref().map(|s| s.kind.clone()),
            latest: latest.as_ref().map(|s| s.id.clone()),
            files: latest.as_ref().map_or(0, |s| s.files.len()),
            bytes: latest.as_ref().map_or(0, |s| s.total_size()),
            published: store.published_snapshot(&name)?,
            last_sync: last("sync"),
            last_publish: last("publish"),
            unpublished: store.unpublished_snapshot(&name)?,
            snapshots: ids,
            name,
        });
    }
    // A change that has not committed (running now, or cut short by a crash) is not part
    // of the store: its objects are not counted; if it was cut short, the next writer
    // command takes it back.
    let uncommitted = store.pending()?;
    let mut objects = store.objects().list()?;
    if let Some(p) = &uncommitted {
        let uncommitted: std::collections::HashSet<_> = p.objects.iter().collect();
        objects.retain(|d| !uncommitted.contains(d));
    }
    // Carried back to the outside for `export --since`: what this store really holds,
    // after any prune, so the next bundle brings again what was pruned and is needed.
    objects.sort_unstable_by_key(|d| d.to_hex());
    let ledger = mirror_transfer::Ledger::load(&store)?;
    let status = StoreStatus {
        status_version: STATUS_VERSION,
        store: store_dir,
        mirrors,
        objects: objects.len(),
        uncommitted: uncommitted.map(|p| p.operation),
        imported: ImportRecord::load(&store)?,
        inventory: objects,
        exported: ExportedStatus {
            last_sequence: ledger.last_sequence(),
            bundles: ledger.bundles,
        },
        note: None,
    };
    output(&status)
}

fn output(status: &StoreStatus) -> anyhow::Result<Output> {
    Ok(Output::new(
        serde_json::to_value(status)?,
        status.lines().join("\n"),
    ))
}
