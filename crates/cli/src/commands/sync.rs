//! `sync [MIRROR...]`: fetch, verify, snapshot and (unless --no-publish) publish.
//!
//! Mirrors are synced one after another under the store lock; the first failure stops
//! the run with a non-zero exit, and nothing of the failed mirror is published.

use anyhow::Context as _;
use mirror_core::fetch::{FetchOptions, Fetcher};
use mirror_core::repository::{Repository, SyncContext};
use mirror_core::signing::SigningKey;
use mirror_core::store::Store;
use mirror_core::sync::{SyncOptions, SyncReport, sync};

use super::{Context, Output, bytes};
use crate::config::Config;
use crate::progress::Progress;

pub async fn run(
    ctx: &Context,
    wanted: &[String],
    publish: bool,
    dry_run: bool,
) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let names = config.select(wanted)?;
    let store = Store::open(config.store_dir())?;
    let _lock = store.lock()?;
    let signing_key = load_signing_key(&config)?;
    let fetcher = Fetcher::new(FetchOptions {
        concurrency: config.fetch.concurrency,
        retries: config.fetch.retries,
        ..FetchOptions::default()
    })?;
    let progress = Progress::new(ctx.json);
    let options = SyncOptions { dry_run, publish };

    let mut reports = Vec::new();
    for name in &names {
        let previous = store.latest_snapshot(name)?;
        let sync_ctx = SyncContext {
            store: &store,
            fetcher: &fetcher,
            signing_key: signing_key.as_ref(),
            reporter: &progress,
            previous: previous.as_ref(),
        };
        let report = if let Some(m) = config.apt.iter().find(|m| &m.name == name) {
            let repo = super::repos::apt(&config, m)?;
            run_one(&repo, &sync_ctx, options).await?
        } else if let Some(m) = config.conda.iter().find(|m| &m.name == name) {
            let repo = super::repos::conda(&config, m)?;
            run_one(&repo, &sync_ctx, options).await?
        } else {
            unreachable!("Config::select only returns configured names")
        };
        reports.push(report);
    }

    let text = reports.iter().map(describe).collect::<Vec<_>>().join("\n");
    Ok(Output::new(serde_json::json!({ "mirrors": reports }), text))
}

async fn run_one<R: Repository>(
    repo: &R,
    ctx: &SyncContext<'_>,
    options: SyncOptions,
) -> anyhow::Result<SyncReport> {
    Ok(sync(repo, ctx, options).await?)
}

fn describe(r: &SyncReport) -> String {
    let fetched = format!(
        "{} requests, {} received, {} new objects",
        r.fetched.requests,
        bytes(r.fetched.bytes),
        r.fetched.objects
    );
    match r.outcome {
        "unchanged" => format!(
            "{}: unchanged upstream; snapshot {} still current ({fetched})",
            r.mirror,
            r.snapshot.as_deref().unwrap_or("-")
        ),
        "dry-run" => format!(
            "{}: would fetch {} files ({}) of {} files ({}) in the tree",
            r.mirror,
            r.missing_files,
            bytes(r.missing_bytes),
            r.files,
            bytes(r.bytes)
        ),
        _ => format!(
            "{}: snapshot {} with {} files ({}); downloaded {} files ({}); {}{fetched}",
            r.mirror,
            r.snapshot.as_deref().unwrap_or("-"),
            r.files,
            bytes(r.bytes),
            r.missing_files,
            bytes(r.missing_bytes),
            if r.published.is_some() {
                "published; "
            } else {
                "not published; "
            },
        ),
    }
}

/// The `[signing]` key, when configured.
pub fn load_signing_key(config: &Config) -> anyhow::Result<Option<SigningKey>> {
    match &config.signing {
        Some(s) => {
            let path = config.resolve(&s.key);
            Ok(Some(SigningKey::load(&path).with_context(|| {
                format!("loading the [signing] key {}", path.display())
            })?))
        }
        None => Ok(None),
    }
}
