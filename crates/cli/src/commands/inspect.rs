//! `inspect FILE|URL`: summarise an index without a config or a store.
//!
//! The format whose name claims the file (compression suffix removed) summarises it
//! (`crate::formats`: APT's Packages*, Release/InRelease, conda's repodata.json*, ...).

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
    let (json, line) = (crate::formats::for_inspect(stem).inspect.summarise)(&raw, target)?;
    Ok(Output::new(json, line))
}
