//! `sync [MIRROR...]`: fetch, verify, snapshot and (unless --no-publish) publish.
//!
//! Mirrors are synced one after another under the store lock. A mirror that fails
//! publishes nothing and does not stop the others: each outcome is reported, and the run
//! exits with the code of the most serious failure (see `exit::severity`).

use anyhow::Context as _;
use mirror_core::fetch::{Credentials, FetchOptions, Fetcher};
use mirror_core::repository::SyncContext;
use mirror_core::signing::SigningKey;
use mirror_core::store::Store;
use mirror_core::sync::{SyncOptions, sync};

use super::{Context, Output};
use crate::config::Config;
use crate::exit::{self, ConfigError};
use crate::progress::Progress;

pub async fn run(
    ctx: &Context,
    wanted: &[String],
    publish: bool,
    dry_run: bool,
) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let names = config.select(wanted)?;
    // A proxy mirror is filled by `serve` as clients ask: there is nothing to sync. Named
    // on its own it is a usage error; among all mirrors it is passed over (and said so).
    let (proxies, names): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|name| config.mirror(name).is_some_and(|m| m.is_proxy()));
    if let Some(proxy) = proxies.iter().find(|name| wanted.contains(name)) {
        return Err(anyhow::Error::new(ConfigError(format!(
            "mirror {proxy} is in proxy mode: `serve` fills it as clients ask, `sync` has nothing to do"
        ))));
    }
    // A dry run changes nothing: no lock, no store created, nothing written into it. It
    // plans against the real store (read only) with a scratch store above it for what
    // planning stores, and a throwaway key when none is configured.
    let (store, real, _lock, _scratch) = if dry_run {
        let real = Store::open_existing(config.store_dir()).ok();
        let dir =
            Store::dry_run_scratch(real.as_ref()).context("a scratch directory for the dry run")?;
        let scratch = Store::scratch_over(dir.path(), real.as_ref())?;
        (scratch, real, None, Some(dir))
    } else {
        let store = Store::open(config.store_dir())?;
        let lock = store.lock()?;
        (store, None, Some(lock), None)
    };
    let signing_key = match load_signing_key(&config)? {
        None if dry_run => Some(SigningKey::generate("mirror-cli dry run")?),
        key => key,
    };
    let fetcher = Fetcher::new(fetch_options(&config, config.mirrors.iter().map(|m| &**m))?)?;
    let progress = Progress::new(ctx.json);
    let options = SyncOptions { dry_run, publish };

    let mut reports = Vec::new();
    let mut lines = Vec::new();
    for proxy in proxies {
        lines.push(format!(
            "{proxy}: proxy mode, filled by `serve` (not synced)"
        ));
        reports.push(MirrorOutcome::Proxy(ProxyMirror {
            mirror: proxy,
            outcome: "proxy",
        }));
    }
    let mut worst: Option<anyhow::Error> = None;
    for name in &names {
        let sync_one = async {
            // A dry run's previous snapshot is the real store's (the scratch has none).
            let previous = match (&real, dry_run) {
                (Some(real), true) => real.latest_snapshot(name)?,
                (None, true) => None,
                (_, false) => store.latest_snapshot(name)?,
            };
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
            anyhow::Ok(sync(&*repo, &sync_ctx, options).await?)
        };
        match sync_one.await {
            Ok(report) => {
                lines.push(report.line());
                reports.push(MirrorOutcome::Synced(Box::new(report)));
            }
            Err(error) => {
                let class = exit::class_for(&error);
                let message = exit::render(&error);
                let code = exit::code_for(&error);
                // Said once, on stderr, where every other command's error goes; the
                // report line on stdout only points at it.
                if !ctx.json {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stderr(), "error: {message}");
                }
                lines.push(format!("{name}: failed (exit code {code})"));
                reports.push(MirrorOutcome::Failed(FailedMirror {
                    mirror: name.clone(),
                    outcome: "failed",
                    error: message,
                    exit_code: code,
                }));
                if worst
                    .as_ref()
                    .is_none_or(|w| exit::severity(class) > exit::severity(exit::class_for(w)))
                {
                    worst = Some(error);
                }
            }
        }
    }
    let report = SyncRunReport { mirrors: reports };
    Ok(Output::new(serde_json::to_value(&report)?, lines.join("\n")).failed(worst))
}

/// `[fetch]` of the config, with the credentials of `mirrors` (read from the files their
/// settings name).
pub fn fetch_options<'m>(
    config: &Config,
    mirrors: impl IntoIterator<Item = &'m dyn mirror_core::settings::MirrorSettings>,
) -> anyhow::Result<FetchOptions> {
    let mut credentials = Credentials::default();
    for settings in mirrors {
        credentials.extend(
            settings
                .credentials()
                .with_context(|| format!("mirror {}", settings.name()))?,
        );
    }
    // (The config loader has checked these settings already.)
    let options = config
        .fetch
        .options()
        .map_err(|e| anyhow::Error::new(ConfigError(e)))?;
    Ok(FetchOptions {
        credentials,
        ..options
    })
}

/// What `sync --json` prints: each mirror's outcome, in the order synced.
#[derive(serde::Serialize)]
struct SyncRunReport {
    mirrors: Vec<MirrorOutcome>,
}

/// One mirror's outcome: the library's report, or why it failed.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum MirrorOutcome {
    Synced(Box<mirror_core::sync::SyncReport>),
    Failed(FailedMirror),
    Proxy(ProxyMirror),
}

/// A mirror in proxy mode: `serve` fills it, there is nothing to sync.
#[derive(serde::Serialize)]
struct ProxyMirror {
    mirror: String,
    /// Always `proxy`.
    outcome: &'static str,
}

/// A mirror whose sync failed; the others went on.
#[derive(serde::Serialize)]
struct FailedMirror {
    mirror: String,
    /// Always `failed` (a synced mirror's report says what happened).
    outcome: &'static str,
    error: String,
    exit_code: u8,
}

/// The `[signing]` key, when configured.
pub fn load_signing_key(config: &Config) -> anyhow::Result<Option<SigningKey>> {
    match &config.signing {
        Some(s) => {
            let path = config.resolve(&s.key);
            // A key that cannot be read is the configuration's fault (exit 3), not a
            // failed verification.
            let key = SigningKey::load(&path).map_err(|e| {
                anyhow::Error::new(ConfigError(format!(
                    "[signing] key {}: {}",
                    path.display(),
                    exit::render(&anyhow::Error::new(e))
                )))
            })?;
            Ok(Some(key))
        }
        None => Ok(None),
    }
}
