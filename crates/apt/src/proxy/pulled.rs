//! `snapshot --from-proxy` for APT: what clients pulled through the proxy, as a filtered
//! mirror's tree. For each suite, the InRelease served last (verified against the
//! keyring again), each configured Packages index it lists that the store holds, cut
//! down to the stanzas of the pool files held (by path *and* SHA-256), regenerated and
//! signed with our key as a filtered sync publishes it; and those pool files.

use std::collections::{BTreeSet, HashSet};

use mirror_core::compression::{Compression, decompress};
use mirror_core::digest::Sha256Digest;
use mirror_core::error::RepositoryError;
use mirror_core::proxy::{NothingPulled, Pulled, RecordKind};
use mirror_core::signing::{SigningKey, verify_cleartext};
use mirror_core::snapshot::SnapshotFile;

use super::AptProxy;
use crate::compact::PackageFile;
use crate::error::AptError;
use crate::generate::{FilteredIndex, filtered_suite};
use crate::release::Release;
use crate::upstream::{dists_url, expected_of, index_variants};

impl AptProxy {
    pub(super) fn pulled_tree(&self, key: Option<&SigningKey>) -> Result<Pulled, RepositoryError> {
        let key = key.ok_or_else(|| {
            RepositoryError::new(AptError::InvalidConfig {
                mirror: self.name.clone(),
                reason: "a snapshot of what was pulled is a filtered mirror whose Release we \
                         sign: configure [signing] key"
                    .into(),
            })
        })?;
        let records = self
            .store
            .proxy_records(&self.name)
            .map_err(|e| RepositoryError::new(AptError::from(e)))?;
        let objects = self.store.objects();
        let mut held = self.store.proxy_held(&records);
        held.retain(|path, _| path.starts_with("pool/"));
        let mut files = Vec::new();
        let mut taken = HashSet::new();
        let mut names = BTreeSet::new();
        let cap = self.fetcher.options().max_index_size;
        let fail = |e: AptError| RepositoryError::new(e);
        for suite in &self.suites {
            let path = format!("dists/{suite}/InRelease");
            let Some(record) = records
                .iter()
                .rev()
                .find(|r| r.kind == RecordKind::Index && r.path == path)
            else {
                continue;
            };
            let origin = format!("{}/InRelease (served)", dists_url(&self.base, suite));
            let bytes = objects.read(&record.sha256).map_err(|e| fail(e.into()))?;
            let checked =
                verify_cleartext(&self.keyring, &bytes, &origin).map_err(|e| fail(e.into()))?;
            let release = Release::parse(&checked.text)
                .map_err(|e| fail(AptError::malformed_release(&origin, &e)))?;
            let mut architectures = self.architectures.clone();
            let mut indices = Vec::new();
            for component in &self.components {
                if !index_variants(&release, component, "all").is_empty()
                    && !architectures.iter().any(|a| a == "all")
                {
                    architectures.push("all".into());
                }
                for architecture in &architectures {
                    let variants = index_variants(&release, component, architecture);
                    let Some((variant, expected)) = variants.iter().find_map(|v| {
                        let expected = expected_of(v, &origin).ok()?;
                        objects.contains(&expected.sha256).then_some((v, expected))
                    }) else {
                        continue;
                    };
                    let compressed = objects.read(&expected.sha256).map_err(|e| fail(e.into()))?;
                    if Sha256Digest::of(&compressed) != expected.sha256 {
                        return Err(fail(AptError::Internal(format!(
                            "the stored {} of {suite} is damaged",
                            variant.path
                        ))));
                    }
                    let text = decompress(
                        &compressed,
                        Compression::from_path(variant.path),
                        cap,
                        &origin,
                    )
                    .map_err(|e| fail(e.into()))?;
                    let mut kept = Vec::new();
                    for paragraph in crate::Paragraphs::new(&text) {
                        let Ok(file) = PackageFile::in_stanza(paragraph.raw()) else {
                            continue;
                        };
                        let Some(&(sha256, size)) = held.get(file.filename.as_str()) else {
                            continue;
                        };
                        if file.sha256 != sha256.to_hex() {
                            continue;
                        }
                        kept.extend_from_slice(paragraph.raw());
                        kept.push(b'\n');
                        if let Ok(Some(name)) = paragraph.get_str("Package") {
                            names.insert(name.to_owned());
                        }
                        if taken.insert(file.filename.clone()) {
                            files.push(SnapshotFile {
                                path: file.filename,
                                sha256,
                                size,
                            });
                        }
                    }
                    indices.push(FilteredIndex::packages(component, architecture, kept));
                }
            }
            let generated =
                filtered_suite(&release, &indices, &self.components, &architectures, key)
                    .map_err(fail)?;
            for (path, bytes) in generated {
                let sha256 = objects.insert_bytes(&bytes).map_err(|e| fail(e.into()))?;
                files.push(SnapshotFile {
                    path: format!("dists/{suite}/{path}"),
                    sha256,
                    size: bytes.len() as u64,
                });
            }
        }
        objects.make_durable().map_err(|e| fail(e.into()))?;
        if taken.is_empty() {
            return Err(RepositoryError::new(NothingPulled {
                mirror: self.name.clone(),
            }));
        }
        let mut allow_list = format!(
            "# What clients pulled through the proxy mirror {} ({} packages): the\n\
             # `packages` of an [[apt]] mirror (mode = \"mirror\") that selects the same.\n\
             packages = [\n",
            self.name,
            names.len()
        );
        for name in &names {
            allow_list.push_str(&format!("    {name:?},\n"));
        }
        allow_list.push_str("]\n");
        let left_out = held.len() - taken.len();
        Ok(Pulled {
            kind: "apt",
            files,
            allow_list,
            summary: serde_json::json!({
                "packages": taken.len(),
                "left_out": left_out,
                "suites": self.suites,
            }),
        })
    }
}
