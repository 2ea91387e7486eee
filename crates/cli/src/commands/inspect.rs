//! `inspect FILE|URL`: summarise an index without a config or a store.
//!
//! Packages* (plain, .gz, .xz, .bz2, .zst) and Release/InRelease through
//! `mirror_apt::inspect`, conda repodata.json* through `mirror_conda::inspect_repodata`.

use mirror_core::compression::Compression;
use mirror_core::fetch::{FetchOptions, Fetcher};

use std::path::Path;

use super::Output;
use crate::mapped::Contents;

/// The most we read of a file or URL.
const LIMIT: u64 = 8 << 30;

pub async fn run(target: &str) -> anyhow::Result<Output> {
    let raw = if target.starts_with("http://") || target.starts_with("https://") {
        let fetcher = Fetcher::new(FetchOptions::default())?;
        Contents::Read(fetcher.get(target, LIMIT).await?.to_vec())
    } else {
        crate::mapped::read(Path::new(target))?
    };
    let name = target.rsplit('/').next().unwrap_or(target);
    let stem = name.trim_end_matches(Compression::from_path(name).extension());
    if stem.starts_with("repodata") || stem.ends_with(".json") {
        let summary = mirror_conda::inspect_repodata(&raw, target)?;
        return Ok(Output::new(
            serde_json::to_value(&summary)?,
            format!("{target}: {summary}"),
        ));
    }
    let summary = mirror_apt::inspect::inspect_index(&raw, target)?;
    Ok(Output::new(
        serde_json::to_value(&summary)?,
        format!("{target}: {summary}"),
    ))
}
