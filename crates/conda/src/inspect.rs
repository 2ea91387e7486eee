//! `inspect` for conda indices: a quick summary of a `repodata.json[.zst|.bz2|.gz]` using the
//! lazy parser (no typed records), so even a conda-forge-sized index takes about a second.

use std::collections::HashSet;
use std::fmt;

use mirror_core::compression::{Compression, decompress};
use serde::Serialize;

use crate::error::CondaError;
use crate::record::{check_record, parse_filename};
use crate::repodata::{RecordMap, RepoDataView};
use crate::upstream::MAX_REPODATA_BYTES;

/// What a `repodata.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepodataSummary {
    /// The file or URL.
    pub origin: String,
    /// `info.subdir`, when present.
    pub subdir: Option<String>,
    /// `repodata_version`, when present.
    pub repodata_version: Option<u64>,
    /// `info.base_url`, when present.
    pub base_url: Option<String>,
    /// Records under `packages` (`.tar.bz2`).
    pub packages: usize,
    /// Records under `packages.conda` (`.conda`).
    pub packages_conda: usize,
    /// Entries of `removed`.
    pub removed: usize,
    /// Distinct package names.
    pub names: usize,
    /// Sum of the records' `size` fields.
    pub total_bytes: u64,
    /// Decompressed size of the index.
    pub index_bytes: u64,
    /// Records a mirror would skip (bad file name, wrong subdir, no sha256...).
    pub invalid_records: usize,
}

impl fmt::Display for RepodataSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(
            f,
            "  subdir:            {}",
            self.subdir.as_deref().unwrap_or("(none)")
        )?;
        writeln!(
            f,
            "  repodata_version:  {}",
            self.repodata_version
                .map_or("(none)".into(), |v| v.to_string())
        )?;
        if let Some(base_url) = &self.base_url {
            writeln!(f, "  base_url:          {base_url}")?;
        }
        writeln!(f, "  packages:          {} (.tar.bz2)", self.packages)?;
        writeln!(f, "  packages.conda:    {} (.conda)", self.packages_conda)?;
        writeln!(f, "  removed:           {}", self.removed)?;
        writeln!(f, "  distinct names:    {}", self.names)?;
        writeln!(f, "  package bytes:     {}", self.total_bytes)?;
        writeln!(f, "  index bytes:       {}", self.index_bytes)?;
        write!(f, "  invalid records:   {}", self.invalid_records)
    }
}

/// Summarise an index held in memory; `origin` (file name or URL) names it in errors and
/// its extension (`.zst`, `.bz2`, `.gz`) says how it is compressed.
pub fn inspect_repodata(bytes: &[u8], origin: &str) -> Result<RepodataSummary, CondaError> {
    let format = Compression::from_path(origin);
    let decoded;
    let json: &[u8] = if format == Compression::None {
        bytes
    } else {
        decoded = decompress(bytes, format, MAX_REPODATA_BYTES, origin)?;
        &decoded
    };
    let view = RepoDataView::parse(json).map_err(|source| CondaError::InvalidRepodata {
        url: origin.to_owned(),
        source,
    })?;
    let subdir = view.info.subdir.as_deref().map(str::to_owned);
    let mut names = HashSet::new();
    let mut total_bytes = 0;
    let mut invalid_records = 0;
    for record in &view.records {
        if let Ok(parts) = parse_filename(&record.filename) {
            names.insert(parts.name);
        }
        // Without info.subdir, judge the record against its own claim (only `subdir`
        // disagreements with the file are detectable then).
        let expected = subdir.as_deref().unwrap_or("");
        match check_record(record, expected, &[]) {
            Ok(checked) => total_bytes += checked.size.unwrap_or(0),
            Err(skipped)
                if subdir.is_none() && skipped.reason == crate::record::SkipReason::WrongSubdir =>
            {
                // No info.subdir to compare against: not an error here.
            }
            Err(_) => invalid_records += 1,
        }
    }
    Ok(RepodataSummary {
        origin: origin.to_owned(),
        subdir,
        repodata_version: view.repodata_version,
        base_url: view.info.base_url.as_deref().map(str::to_owned),
        packages: view.records_in(RecordMap::Packages).count(),
        packages_conda: view.records_in(RecordMap::PackagesConda).count(),
        removed: view.removed.len(),
        names: names.len(),
        total_bytes,
        index_bytes: json.len() as u64,
        invalid_records,
    })
}

/// Summarise an index file.
pub fn inspect_repodata_file(path: &std::path::Path) -> Result<RepodataSummary, CondaError> {
    let bytes = fs_err::read(path)?;
    inspect_repodata(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1f07873d6aa0cd18760a7b215d9956f7fa63c2f2761b03f293c659fe982923fa";

    #[test]
    fn summarises_plain_and_compressed() {
        let json = format!(
            r#"{{"info":{{"subdir":"linux-64"}},"packages":{{
              "a-1-0.tar.bz2":{{"name":"a","version":"1","build":"0","sha256":"{SHA}","size":10,"subdir":"linux-64"}},
              "a-2-0.tar.bz2":{{"name":"a","version":"2","build":"0","sha256":"{SHA}","size":5,"subdir":"linux-64"}},
              "b-1-0.tar.bz2":{{"name":"b","version":"1","build":"0","sha256":"{SHA}","subdir":"osx-64"}}}},
              "packages.conda":{{"a-2-0.conda":{{"name":"a","version":"2","build":"0","sha256":"{SHA}","size":4}}}},
              "removed":["x-1-0.tar.bz2"],"repodata_version":1}}"#
        );
        let plain = inspect_repodata(json.as_bytes(), "linux-64/repodata.json").expect("valid");
        assert_eq!(plain.subdir.as_deref(), Some("linux-64"));
        assert_eq!(
            (plain.packages, plain.packages_conda, plain.removed),
            (3, 1, 1)
        );
        assert_eq!(plain.names, 2);
        assert_eq!(plain.total_bytes, 19);
        assert_eq!(
            plain.invalid_records, 1,
            "b is filed under the wrong subdir"
        );
        let zst = mirror_core::compression::compress(json.as_bytes(), Compression::Zstd)
            .expect("compress");
        let packed = inspect_repodata(&zst, "repodata.json.zst").expect("valid");
        assert_eq!(packed.total_bytes, plain.total_bytes);
        assert!(plain.to_string().contains("distinct names:    2"));
        let err = inspect_repodata(b"{\"packages\": 1}", "bad.json").expect_err("invalid");
        assert!(err.to_string().contains("bad.json"), "{err}");
    }
}
