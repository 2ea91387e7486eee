//! `inspect FILE|URL`: summarise an index without a config or a store.
//!
//! Packages* (plain, .gz, .xz, .bz2, .zst), Release/InRelease, and conda
//! repodata.json*. The Packages path is one borrowed pass over the decoded bytes: no
//! allocation per stanza or field, so it runs at the parser's speed.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use anyhow::Context as _;
use mirror_apt::{Paragraphs, Release};
use mirror_core::compression::{Compression, decompress};
use mirror_core::fetch::{FetchOptions, Fetcher};

use super::{Output, bytes};

const LIMIT: u64 = 8 << 30;

pub async fn run(target: &str) -> anyhow::Result<Output> {
    let raw: Vec<u8> = if target.starts_with("http://") || target.starts_with("https://") {
        let fetcher = Fetcher::new(FetchOptions::default())?;
        fetcher.get(target, LIMIT).await?.to_vec()
    } else {
        fs_err::read(target)?
    };
    let name = target.rsplit('/').next().unwrap_or(target);
    let stem = name.trim_end_matches(Compression::from_path(name).extension());
    let started = Instant::now();
    let decoded = decompress(&raw, Compression::from_path(name), LIMIT, target)?;
    let decode_seconds = started.elapsed().as_secs_f64();
    if stem.starts_with("repodata") || stem.ends_with(".json") {
        let summary = mirror_conda::inspect_repodata(&decoded, target)?;
        let json = serde_json::to_value(&summary)?;
        return Ok(Output::new(json.clone(), format!("{target}: {}", summary)));
    }
    if stem == "Release" || stem == "InRelease" {
        return release(target, &decoded);
    }
    packages(target, &raw, &decoded, decode_seconds)
}

fn release(target: &str, decoded: &[u8]) -> anyhow::Result<Output> {
    let text = std::str::from_utf8(decoded).with_context(|| format!("{target}: not UTF-8"))?;
    let signed = text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
    // Show the signed body; verification needs a keyring (`sync` does it).
    let body = if signed {
        text.split_once("\n\n")
            .map_or(text, |(_, rest)| rest)
            .split("\n-----BEGIN PGP SIGNATURE-----")
            .next()
            .unwrap_or("")
    } else {
        text
    };
    let parsed = Release::parse(body).with_context(|| format!("{target}: not a Release file"))?;
    let f = &parsed.fields;
    let json = serde_json::json!({
        "file": target, "kind": "release", "clearsigned": signed,
        "origin": f.origin, "suite": f.suite, "codename": f.codename, "version": f.version,
        "date": f.date, "valid_until": f.valid_until, "acquire_by_hash": f.acquire_by_hash,
        "architectures": f.architectures, "components": f.components,
        "files": parsed.files().len(),
    });
    let text = format!(
        "{target}: Release of {} {} ({}), {}; {} files listed; architectures {}; components {}{}",
        f.origin.unwrap_or("?"),
        f.suite.unwrap_or("?"),
        f.codename.unwrap_or("?"),
        f.date.unwrap_or("undated"),
        parsed.files().len(),
        f.architectures.join(" "),
        f.components.join(" "),
        if signed {
            "; clear-signed (not verified here)"
        } else {
            ""
        },
    );
    Ok(Output::new(json, text))
}

fn packages(
    target: &str,
    raw: &[u8],
    decoded: &[u8],
    decode_seconds: f64,
) -> anyhow::Result<Output> {
    let started = Instant::now();
    let mut stanzas = 0usize;
    let mut deb_bytes = 0u64;
    let mut names: HashSet<&[u8]> = HashSet::new();
    let mut architectures: BTreeMap<&[u8], usize> = BTreeMap::new();
    for paragraph in Paragraphs::new(decoded) {
        stanzas += 1;
        for field in paragraph.fields() {
            let field = field.with_context(|| format!("{target}: malformed control data"))?;
            match field.name() {
                "Package" => {
                    names.insert(field.value());
                }
                "Architecture" => *architectures.entry(field.value()).or_default() += 1,
                "Size" => {
                    deb_bytes += std::str::from_utf8(field.value())
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0);
                }
                _ => {}
            }
        }
    }
    let parse_seconds = started.elapsed().as_secs_f64();
    let archs: BTreeMap<String, usize> = architectures
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v))
        .collect();
    let mb_per_s = decoded.len() as f64 / 1e6 / parse_seconds.max(1e-9);
    let json = serde_json::json!({
        "file": target, "kind": "packages", "stanzas": stanzas, "names": names.len(),
        "architectures": archs, "deb_bytes": deb_bytes,
        "compressed_bytes": raw.len(), "decoded_bytes": decoded.len(),
        "decode_seconds": decode_seconds, "parse_seconds": parse_seconds,
    });
    let text = format!(
        "{target}: {stanzas} packages ({} names), architectures {:?}, {} of .debs; index {} decoded ({:.2}s), parsed in {:.3}s ({mb_per_s:.0} MB/s)",
        names.len(),
        archs,
        bytes(deb_bytes),
        bytes(decoded.len() as u64),
        decode_seconds,
        parse_seconds
    );
    Ok(Output::new(json, text))
}
