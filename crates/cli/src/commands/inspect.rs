//! `inspect FILE|URL`: summarise an index without a config or a store.
//!
//! The format whose name claims the file (compression suffix removed) summarises it
//! (`crate::formats`: APT's Packages*, Release/InRelease, conda's repodata.json*, ...).
//! A plain local file the format reads as a stream (a Packages index) is never held
//! whole; anything else is read into memory first (a URL, a compressed index, JSON).

use std::io::Read as _;

use anyhow::Context as _;
use mirror_core::compression::Compression;
use mirror_core::fetch::{FetchOptions, Fetcher};

use super::Output;

/// The most we read of a file or URL.
const LIMIT: u64 = 8 << 30;

pub async fn run(target: &str) -> anyhow::Result<Output> {
    let name = target.rsplit('/').next().unwrap_or(target);
    let compression = Compression::from_path(name);
    let stem = name.trim_end_matches(compression.extension());
    let inspect = &crate::formats::for_inspect(stem).inspect;
    let raw = if target.starts_with("http://") || target.starts_with("https://") {
        let fetcher = Fetcher::new(FetchOptions::default())?;
        fetcher.get(target, LIMIT).await?.to_vec()
    } else {
        let mut file = fs_err::File::open(target)?;
        if let Some(stream) = &inspect.stream
            && compression == Compression::None
            && (stream.claims)(stem)
        {
            let (json, line) = (stream.summarise)(&mut file, target)?;
            return Ok(Output::new(json, line));
        }
        let mut raw = Vec::new();
        (&mut file)
            .take(LIMIT + 1)
            .read_to_end(&mut raw)
            .with_context(|| format!("failed to read {target}"))?;
        anyhow::ensure!(
            raw.len() as u64 <= LIMIT,
            "{target}: larger than {} GiB, not inspected",
            LIMIT >> 30
        );
        raw
    };
    let (json, line) = (inspect.summarise)(&raw, target)?;
    Ok(Output::new(json, line))
}
