//! `snapshot --from-proxy MIRROR [--allow-list FILE] [--no-publish]`: what clients pulled
//! through a mirror in proxy mode, made into a snapshot (published unless told not to)
//! that `publish`, `export` and `prune` treat like a synced one; and, with
//! `--allow-list`, the selection that reproduces it on a mirror, so a site learns its
//! selection from use and then carries it across a full air gap.
//!
//! Under the writer lock, offline: it reads the proxy's log and the store only. A proxy
//! serving meanwhile keeps filling (its fills take no lock); what it fills after the log
//! was read is in the next snapshot.

use std::path::Path;

use mirror_core::audit::AuditRecord;
use mirror_core::digest::Hasher;
use mirror_core::proxy::ProxyContext;
use mirror_core::snapshot::Snapshot;
use mirror_core::store::{Store, write_atomic};
use mirror_core::sync::publish_snapshot;

use super::{Context, Output};
use crate::exit::{ConfigError, UsageError};

pub fn run(
    ctx: &Context,
    mirror: &str,
    allow_list: Option<&Path>,
    publish: bool,
) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let Some(settings) = config.mirror(mirror) else {
        return Err(UsageError(format!("no mirror named {mirror} in the config")).into());
    };
    if !settings.is_proxy() {
        return Err(ConfigError(format!(
            "mirror {mirror} is not in proxy mode (mode = \"proxy\"): `sync` makes its snapshots"
        ))
        .into());
    }
    let store = Store::open(config.store_dir())?;
    let _lock = store.lock()?;
    let fetch = super::sync::fetch_options(&config, [settings])?;
    let source = settings
        .proxy(&ProxyContext {
            store: store.clone(),
            fetch,
        })
        .ok_or_else(|| ConfigError(format!("mirror {mirror}: its format has no proxy mode")))??;
    let key = super::sync::load_signing_key(&config)?;
    let pulled = source.pulled(key.as_ref())?;
    // What the tree is made of: its own file list (there is no upstream metadata to
    // fingerprint; the same pulls give the same fingerprint, and the same id is kept).
    let mut hasher = Hasher::new();
    let mut listed: Vec<_> = pulled.files.iter().collect();
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    for file in listed {
        hasher.update(format!("{} {} {}\n", file.path, file.sha256, file.size).as_bytes());
    }
    let fingerprint = format!("proxy:{}", hasher.finish().0.to_hex());
    let previous = store.latest_snapshot(mirror)?;
    let snapshot = match previous {
        Some(previous) if previous.fingerprint == fingerprint => previous,
        _ => {
            let sequence = store.sequence(mirror)?;
            let snapshot = Snapshot::new(
                mirror,
                pulled.kind,
                settings.upstream(),
                &fingerprint,
                pulled.files,
            )?
            .sequenced(sequence);
            store.save_snapshot(&snapshot)?;
            snapshot
        }
    };
    store.audit(&AuditRecord::new(
        "snapshot",
        Some(mirror),
        serde_json::json!({
            "from_proxy": true,
            "upstream": mirror_core::redact::redact_url(settings.upstream()),
            "snapshot": snapshot.id,
            "files": snapshot.files.len(),
            "bytes": snapshot.total_size(),
            "summary": pulled.summary,
        }),
    ))?;
    let published = if publish {
        Some(publish_snapshot(&store, &snapshot)?.snapshot)
    } else {
        None
    };
    if let Some(path) = allow_list {
        write_atomic(path, pulled.allow_list.as_bytes())?;
    }
    let text = format!(
        "{mirror}: snapshot {} of what clients pulled ({} files, {} bytes){}{}",
        snapshot.id,
        snapshot.files.len(),
        snapshot.total_size(),
        if published.is_some() {
            ", published"
        } else {
            ""
        },
        allow_list
            .map(|p| format!("; allow-list written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(Output::new(
        serde_json::json!({
            "mirror": mirror,
            "snapshot": snapshot.id,
            "files": snapshot.files.len(),
            "bytes": snapshot.total_size(),
            "published": published,
            "allow_list": allow_list,
            "summary": pulled.summary,
        }),
        text,
    ))
}
