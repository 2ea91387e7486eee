//! `sync [MIRROR...]`: fetch, verify, snapshot and (unless --no-publish) publish.
//!
//! Mirrors are synced one after another under the store lock; the first failure stops
//! the run with a non-zero exit, and nothing of the failed mirror is published.

use anyhow::Context as _;
use mirror_core::fetch::{Credentials, FetchOptions, Fetcher};
use mirror_core::repository::SyncContext;
use mirror_core::signing::SigningKey;
use mirror_core::store::Store;
use mirror_core::sync::{SyncOptions, SyncReport, sync};

use super::{Context, Output};
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
    let mut credentials = Credentials::default();
    for settings in &config.mirrors {
        credentials.extend(
            settings
                .credentials()
                .with_context(|| format!("mirror {}", settings.name()))?,
        );
    }
    let fetcher = Fetcher::new(FetchOptions {
        concurrency: config.fetch.concurrency,
        retries: config.fetch.retries,
        credentials,
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
        let settings = config
            .mirror(name)
            .expect("Config::select only returns configured names");
        let repo = settings.build().with_context(|| format!("mirror {name}"))?;
        reports.push(sync(&*repo, &sync_ctx, options).await?);
    }

    let text = reports
        .iter()
        .map(SyncReport::line)
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::new(serde_json::json!({ "mirrors": reports }), text))
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
