//! `prune [--keep N]`: keep the newest N snapshots of each mirror (and always the
//! published one), delete the rest, their materialised trees, and every object no
//! remaining snapshot references.

use mirror_core::store::Store;

use super::{Context, Output};

pub fn run(ctx: &Context, keep: usize) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store = Store::open(config.store_dir())?;
    let _lock = store.lock()?;
    let report = store.prune(keep)?;
    Ok(Output::new(serde_json::to_value(&report)?, report.line()))
}
