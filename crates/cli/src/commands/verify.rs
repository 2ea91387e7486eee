//! `verify [--bundle DIR [--key FILE]]`: re-hash a bundle (no store needed) or the whole
//! store and its published trees. Read-only; never takes the lock.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mirror_core::signing::Keyring;
use mirror_core::store::Store;
use mirror_transfer::{verify_bundle, verify_store};

use super::{Context, Output, bytes};
use crate::exit::ConfigError;
use crate::progress::Progress;

pub fn run(ctx: &Context, bundle: Option<&Path>, keys: &[PathBuf]) -> anyhow::Result<Output> {
    let progress = Progress::new(ctx.json);
    let started = Instant::now();
    match bundle {
        Some(dir) => {
            let keyring = if !keys.is_empty() {
                Some(
                    Keyring::load_all(keys)
                        .map_err(|e| anyhow::Error::new(ConfigError(format!("--key: {e}"))))?,
                )
            } else if ctx.config_path.exists() {
                super::import::trusted_keys(&ctx.config()?)?
            } else {
                None
            };
            let report = verify_bundle(dir, keyring.as_ref(), &progress)?;
            let seconds = started.elapsed().as_secs_f64();
            let signature = match &report.signer {
                Some(fp) => format!("signature good (key {fp})"),
                None => "signature NOT checked (no trusted key: pass --key FILE or set [transfer] trusted_keys)".to_owned(),
            };
            let text = format!(
                "bundle {} (sequence {}): {} files, {} hashed in {seconds:.2}s ({:.2} GB/s), all match; {} objects listed; {signature}",
                report.bundle_id,
                report.sequence,
                report.files,
                bytes(report.bytes),
                report.bytes as f64 / seconds / 1e9,
                report.objects,
            );
            let mut json = serde_json::to_value(&report)?;
            json["signature_checked"] = report.signer.is_some().into();
            json["seconds"] = seconds.into();
            Ok(Output::new(json, text))
        }
        None => {
            let config = ctx.config()?;
            let store = Store::open_existing(config.store_dir())?;
            let report = verify_store(&store, &progress)?;
            let seconds = started.elapsed().as_secs_f64();
            for problem in report.missing.iter().chain(&report.corrupt) {
                tracing::error!("{problem}");
                if !ctx.json {
                    // A stderr that cannot be written must not turn the verdict into a panic.
                    let _ = writeln!(std::io::stderr(), "problem: {problem}");
                }
            }
            let report = report.into_result()?;
            let text = format!(
                "store {}: {} objects ({}) and {} published tree files verified in {seconds:.2}s; nothing missing or wrong",
                store.root().display(),
                report.objects,
                bytes(report.bytes),
                report.tree_files
            );
            let mut json = serde_json::to_value(&report)?;
            json["seconds"] = seconds.into();
            Ok(Output::new(json, text))
        }
    }
}
