//! A wheel's own `METADATA` (`<name>-<version>.dist-info/METADATA`), for an index that
//! serves no PEP 658 metadata file: read from the verified wheel in the store, its size
//! bounded, the zip's names checked (one `.dist-info` directory at the top).

use std::io::Read as _;

use crate::error::PypiError;

/// The largest METADATA read (PyPI's largest are a few hundred KB).
const CAP: u64 = 16 << 20;

/// The `METADATA` of the wheel `file` (downloaded from `url`, for errors).
pub(crate) fn read_metadata(file: std::fs::File, url: &str) -> Result<Vec<u8>, PypiError> {
    let error = |reason: String| PypiError::BadWheel {
        url: url.to_owned(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(file).map_err(|e| error(format!("not a zip: {e}")))?;
    let mut found: Option<String> = None;
    for name in archive.file_names() {
        let name = name.map_err(|e| error(format!("an entry's name: {e}")))?;
        let Some((dir, "METADATA")) = name.split_once('/') else {
            continue;
        };
        if !dir.ends_with(".dist-info") {
            continue;
        }
        if let Some(first) = &found {
            return Err(error(format!("two METADATA files: {first} and {name}")));
        }
        found = Some(name.into_owned());
    }
    let name = found.ok_or_else(|| error("no <name>-<version>.dist-info/METADATA".into()))?;
    let entry = archive
        .by_name(&name)
        .map_err(|e| error(format!("{name}: {e}")))?;
    let mut bytes = Vec::new();
    entry
        .take(CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(format!("{name}: {e}")))?;
    if bytes.len() as u64 > CAP {
        return Err(error(format!("{name}: larger than {CAP} bytes")));
    }
    Ok(bytes)
}
