//! `publish [MIRROR...] [--snapshot ID]`: make a snapshot the live tree (newest by
//! default; an older id rolls back).

use anyhow::bail;
use mirror_core::store::Store;
use mirror_core::sync::publish_snapshot;

use super::{Context, Output};

pub fn run(ctx: &Context, wanted: &[String], snapshot: Option<&str>) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store = Store::open(config.store_dir())?;
    // Imported mirrors too: rolling back is what the inside needs most.
    let names = config.select_stored(wanted, &store)?;
    if snapshot.is_some() && names.len() != 1 {
        return Err(
            crate::exit::UsageError("--snapshot needs exactly one mirror name".into()).into(),
        );
    }
    let _lock = store.lock()?;
    let mut done = Vec::new();
    let mut lines = Vec::new();
    for name in &names {
        let snap = match snapshot {
            Some(id) => store.load_snapshot(name, id)?,
            None => match store.latest_snapshot(name)? {
                Some(s) => s,
                None => bail!("{name}: no snapshot yet; run `mirror-cli sync {name}` first"),
            },
        };
        let published = publish_snapshot(&store, &snap)?;
        lines.push(format!(
            "{name}: published snapshot {} (was {})",
            published.snapshot,
            published.previous.as_deref().unwrap_or("none")
        ));
        done.push(serde_json::json!({
            "mirror": name, "snapshot": published.snapshot, "previous": published.previous,
        }));
    }
    Ok(Output::new(
        serde_json::json!({ "published": done }),
        lines.join("\n"),
    ))
}
