//! `import DIR`: verify a bundle completely against `[transfer] trusted_keys`, then
//! apply it (objects, snapshots, publish, import record). Refuses gaps and tampering.

use std::path::Path;

use anyhow::Context as _;
use mirror_core::signing::Keyring;
use mirror_core::store::Store;
use mirror_transfer::{ImportOptions, import};

use super::{Context, Output};
use crate::config::Config;
use crate::exit::ConfigError;
use crate::progress::Progress;

pub fn run(ctx: &Context, dir: &Path) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let trusted = trusted_keys(&config)?.ok_or_else(|| {
        ConfigError(
            "import accepts only bundles signed by a trusted key: set [transfer] trusted_keys \
             (the outside's public key file)"
                .into(),
        )
    })?;
    let store = Store::open(config.store_dir())?;
    let _lock = store.lock()?;
    let progress = Progress::new(ctx.json);
    let report = import(&store, &trusted, dir, &ImportOptions::default(), &progress)
        .with_context(|| format!("importing {}", dir.display()))?;
    let text = report.line();
    Ok(Output::new(serde_json::to_value(&report)?, text))
}

/// `[transfer] trusted_keys` as a keyring (`None` when none are configured).
pub fn trusted_keys(config: &Config) -> anyhow::Result<Option<Keyring>> {
    let paths: Vec<_> = config
        .transfer
        .iter()
        .flat_map(|t| t.trusted_keys.iter())
        .map(|p| config.resolve(p))
        .collect();
    if paths.is_empty() {
        return Ok(None);
    }
    let keyring = Keyring::load_all(&paths)
        .map_err(|e| anyhow::Error::new(ConfigError(format!("[transfer] trusted_keys: {e}"))))?;
    Ok(Some(keyring))
}
