//! `publish [MIRROR...] [--snapshot ID]`: make a snapshot the live tree (newest by
//! default; an older id rolls back).

use anyhow::bail;
use mirror_core::publish::Published;
use mirror_core::store::Store;
use mirror_core::sync::publish_snapshot;

use super::{Context, Output};

pub fn run(ctx: &Context, wanted: &[String], snapshot: Option<&str>) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    // Imported mirrors too: rolling back is what the inside needs most. (A name nobody
    // knows is refused before anything is created.)
    let names = match Store::open_existing(config.store_dir()) {
        Ok(existing) => config.select_stored(wanted, &existing)?,
        Err(_) => config.select(wanted)?,
    };
    let store = Store::open(config.store_dir())?;
    if snapshot.is_some() && names.len() != 1 {
        return Err(
            crate::exit::UsageError("--snapshot needs exactly one mirror name".into()).into(),
        );
    }
    let _lock = store.lock()?;
    let mut published = Vec::new();
    for name in &names {
        let snap = match snapshot {
            Some(id) => store.load_snapshot(name, id)?,
            None => match store.latest_snapshot(name)? {
                Some(s) => s,
                None => bail!("{name}: no snapshot yet; run `mirror-cli sync {name}` first"),
            },
        };
        published.push(publish_snapshot(&store, &snap)?);
    }
    let lines: Vec<String> = published.iter().map(Published::line).collect();
    Ok(Output::new(
        serde_json::to_value(PublishReport { published })?,
        lines.join("\n"),
    ))
}

/// What `publish --json` prints.
#[derive(serde::Serialize)]
struct PublishReport {
    published: Vec<Published>,
}
