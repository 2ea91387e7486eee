//! `snapshot --from-proxy` for conda: what clients pulled through the proxy, as a
//! channel a snapshot can name and `publish`, `export` and `prune` treat like a synced
//! one, and the `specs` that select the same packages on a mirror.
//!
//! Each subdir's index is the newest one the proxy served, cut down to the packages the
//! store holds from the log (by file name *and* digest: a package re-listed upstream
//! with other bytes is not taken under the old record), written, compressed and sharded
//! as a sync publishes it. A package pulled under an older index that the newest no
//! longer lists is left out and counted.

use std::collections::BTreeSet;

use mirror_core::compression::{Compression, compress};
use mirror_core::digest::Sha256Digest;
use mirror_core::proxy::{Pulled, RecordKind};
use mirror_core::snapshot::SnapshotFile;

use super::CondaProxy;
use crate::error::CondaError;
use crate::record::{RecordChecks, parse_filename};
use crate::repodata::RepoDataView;
use crate::writer::{empty_repodata, write_current_repodata, write_repodata};

impl CondaProxy {
    /// `None`: nothing pulled.
    pub(super) fn pulled_tree(&self) -> Result<Option<Pulled>, CondaError> {
        let records = self.store.proxy_records(&self.name)?;
        let objects = self.store.objects();
        // Each package path's newest record, when its object is still held.
        let held = self.store.proxy_held(&records);
        let mut files = Vec::new();
        let mut specs = BTreeSet::new();
        let mut taken = 0usize;
        for subdir in &self.subdirs {
            let index_path = format!("{subdir}/repodata.json");
            let served = records
                .iter()
                .rev()
                .find(|r| r.kind == RecordKind::Index && r.path == index_path);
            let ours = match served {
                None => empty_repodata(subdir),
                Some(record) => {
                    let json = objects.read(&record.sha256)?;
                    if Sha256Digest::of(&json) != record.sha256 {
                        return Err(CondaError::CachedIndexDamaged {
                            url: index_path,
                            sha256: record.sha256.to_hex(),
                        });
                    }
                    let view = RepoDataView::parse(&json).map_err(|source| {
                        CondaError::InvalidRepodata {
                            url: index_path.clone(),
                            source,
                        }
                    })?;
                    let checks = RecordChecks::new(&view, subdir, &[]);
                    let mut selected = vec![false; view.records.len()];
                    for (i, record) in view.records.iter().enumerate() {
                        let path = format!("{subdir}/{}", record.filename);
                        let (Ok(checked), Some(&(sha256, size))) =
                            (checks.get(i), held.get(path.as_str()))
                        else {
                            continue;
                        };
                        if checked.sha256 != sha256 {
                            continue;
                        }
                        selected[i] = true;
                        taken += 1;
                        if let Ok(parts) = parse_filename(&record.filename) {
                            specs.insert(format!(
                                "{}=={}={}",
                                parts.name, parts.version, parts.build
                            ));
                        }
                        files.push(SnapshotFile { path, sha256, size });
                    }
                    write_repodata(&view, subdir, |i| selected[i])
                }
            };
            self.index_files(subdir, &ours, &mut files)?;
        }
        objects.make_durable()?;
        if taken == 0 {
            return Ok(None);
        }
        let left_out = held.len() - taken;
        if left_out > 0 {
            tracing::warn!(mirror = %self.name, left_out, "packages pulled under an older index that the newest no longer lists are left out");
        }
        let mut allow_list = format!(
            "# What clients pulled through the proxy mirror {} ({taken} packages): the\n\
             # `specs` of a [[conda]] mirror (mode = \"mirror\") that selects the same.\n\
             specs = [\n",
            self.name
        );
        for spec in &specs {
            allow_list.push_str(&format!("    {spec:?},\n"));
        }
        allow_list.push_str("]\n");
        Ok(Some(Pulled {
            kind: "conda",
            files,
            allow_list,
            summary: serde_json::json!({
                "packages": taken,
                "left_out": left_out,
                "subdirs": self.subdirs,
            }),
        }))
    }

    /// Store a subdir's generated index files (as a sync publishes them: the index, its
    /// `.zst`, `current_repodata.json`, CEP-16 shards) and name them in `files`.
    fn index_files(
        &self,
        subdir: &str,
        json: &[u8],
        files: &mut Vec<SnapshotFile>,
    ) -> Result<(), CondaError> {
        let view = RepoDataView::parse(json).map_err(|source| CondaError::InvalidRepodata {
            url: format!("{subdir}/repodata.json (ours)"),
            source,
        })?;
        let zst = compress(json, Compression::Zstd)?;
        let current = write_current_repodata(&view, subdir);
        let sharded = crate::shards::shard(&view, subdir).map_err(|source| CondaError::Shards {
            subdir: subdir.to_owned(),
            source,
        })?;
        let mut store = |path: String, bytes: &[u8]| -> Result<(), CondaError> {
            let sha256 = self.store.objects().insert_bytes(bytes)?;
            files.push(SnapshotFile {
                path,
                sha256,
                size: bytes.len() as u64,
            });
            Ok(())
        };
        store(format!("{subdir}/repodata.json"), json)?;
        store(format!("{subdir}/repodata.json.zst"), &zst)?;
        store(format!("{subdir}/current_repodata.json"), &current)?;
        store(
            format!("{subdir}/repodata_shards.msgpack.zst"),
            &sharded.index,
        )?;
        for (digest, bytes) in &sharded.shards {
            store(
                format!("{subdir}/shards/{}.msgpack.zst", digest.to_hex()),
                bytes,
            )?;
        }
        Ok(())
    }
}
