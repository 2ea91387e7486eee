//! `export --out DIR [--full] [--volume-size SIZE] [--since FILE] [--dry-run] [MIRROR...]`:
//! write a signed bundle of the newest snapshots and the objects the inside lacks.

use std::path::{Path, PathBuf};

use mirror_core::store::Store;
use mirror_transfer::{ExportOptions, InsideState, parse_volume_size, plan_export, write_bundle};

use super::{Context, Output, bytes};
use crate::exit::{ConfigError, UsageError};
use crate::progress::Progress;

/// The command's arguments.
pub struct Args {
    pub out: PathBuf,
    pub full: bool,
    pub volume_size: String,
    pub since: Option<PathBuf>,
    pub dry_run: bool,
    pub mirrors: Vec<String>,
}

pub fn run(ctx: &Context, args: &Args) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    // Named mirrors may also be ones only the store knows (removed from the config, or a
    // store filled by hand); plan_export refuses names without a snapshot.
    let mirrors = if args.mirrors.is_empty() {
        config.mirror_names()
    } else {
        args.mirrors.clone()
    };
    let volume_size = parse_volume_size(&args.volume_size)?;
    let store = Store::open_existing(config.store_dir())?;
    refuse_out_inside(&args.out, store.root())?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(store.lock()?)
    };
    let since = match &args.since {
        Some(path) => Some((path.clone(), InsideState::from_file(path)?)),
        None => None,
    };
    let plan = plan_export(
        &store,
        &ExportOptions {
            mirrors,
            full: args.full,
            since,
        },
    )?;
    let kind = if plan.full {
        "full".to_owned()
    } else if plan.base_sequence == 0 {
        "first".to_owned()
    } else {
        format!("incremental after sequence {}", plan.base_sequence)
    };
    if args.dry_run {
        let volumes = plan.payload_bytes.div_ceil(volume_size).max(1);
        let text = format!(
            "would export bundle sequence {} ({kind}): {} objects, {} payload, about {volumes} volume(s) of at most {}\nsnapshots: {}",
            plan.sequence,
            plan.object_count,
            bytes(plan.payload_bytes),
            bytes(volume_size),
            plan.snapshot_ids.join(", ")
        );
        let mut json = serde_json::to_value(&plan)?;
        json["dry_run"] = true.into();
        json["volume_size"] = volume_size.into();
        return Ok(Output::new(json, text));
    }
    let key = super::sync::load_signing_key(&config)?.ok_or_else(|| {
        ConfigError(
            "export signs bundles: set [signing] key in the config (`mirror-cli keygen`)".into(),
        )
    })?;
    let progress = Progress::new(ctx.json);
    let report = write_bundle(&store, plan, &key, &args.out, volume_size, &progress)?;
    let text = format!(
        "bundle {} (sequence {}, {kind}) written to {}\n{} objects, {} payload in {} volume(s), {} in all\nsnapshots: {}\nsigned by {}; check by hand: cd {} && sha256sum -c SHA256SUMS",
        report.bundle_id,
        report.plan.sequence,
        report.out.display(),
        report.plan.object_count,
        bytes(report.plan.payload_bytes),
        report.volumes,
        bytes(report.bundle_bytes),
        report.plan.snapshot_ids.join(", "),
        key.fingerprint(),
        report.out.display(),
    );
    Ok(Output::new(serde_json::to_value(&report)?, text))
}

/// A bundle written into the store would be served by `serve` (under `public/`), swept
/// by the next writer (under `tmp/`) or mixed into what `verify` checks: `--out` must
/// be outside it. Both sides are resolved through symlinks, as far as they exist.
fn refuse_out_inside(out: &Path, store: &Path) -> anyhow::Result<()> {
    let store = store.canonicalize().unwrap_or_else(|_| store.to_owned());
    let out = resolve_existing(out);
    if out.starts_with(&store) {
        return Err(UsageError(format!(
            "--out {}: inside the store ({}); write the bundle outside it",
            out.display(),
            store.display()
        ))
        .into());
    }
    Ok(())
}

/// `path` with its longest existing ancestor resolved (what is below it appended).
fn resolve_existing(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut rest = Vec::new();
    let mut at = absolute.as_path();
    loop {
        if let Ok(real) = at.canonicalize() {
            // What does not exist yet is resolved lexically (`..` pops, `.` stays).
            return rest.iter().rev().fold(real, |mut p, c| {
                if c == ".." {
                    p.pop();
                } else if c != "." {
                    p.push(c);
                }
                p
            });
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                at = parent;
            }
            _ => return absolute,
        }
    }
}
