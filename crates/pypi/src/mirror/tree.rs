//! The plan: every file of the published tree (each pinned release's files that a target
//! pinning it installs, their metadata files, our static pages) and its summary.

use super::upstream::{fetch_all_metadata, fetch_unverified};
use super::*;

impl PypiMirror {
    /// Every file of the tree.
    pub(super) async fn plan(
        &self,
        ctx: &SyncContext<'_>,
        resolved: Resolved,
    ) -> Result<TreePlan, PypiError> {
        // (project, version) -> the targets that pinned it.
        let mut releases: BTreeMap<&str, BTreeMap<&Version, Vec<usize>>> = BTreeMap::new();
        for (target, pins) in &resolved.pins {
            let target = *target;
            for (name, version) in pins {
                releases
                    .entry(name.as_str())
                    .or_default()
                    .entry(version)
                    .or_default()
                    .push(target);
            }
        }
        let mut files = Vec::new();
        let mut published: Vec<(String, Vec<File>, Vec<String>)> = Vec::new();
        let mut wanted_metadata = Vec::new();
        // `allow_unhashed`: (published path, URL) of files their page gives no digest for.
        let mut unhashed: Vec<(String, String)> = Vec::new();
        for (&name, versions) in &releases {
            let project =
                resolved
                    .catalog
                    .projects
                    .get(name)
                    .ok_or_else(|| PypiError::Resolution {
                        mirror: self.config.name.clone(),
                        reason: format!("{name} pinned but its page was not read"),
                    })?;
            let mut page_files = Vec::new();
            for (&version, targets) in versions {
                for (position, file, dist) in project.files_of(version) {
                    let installs = targets.iter().any(|&t| {
                        self.settings.policy.usable(
                            &self.settings.targets[t],
                            name,
                            version,
                            file,
                            dist,
                        )
                    });
                    if !installs {
                        continue;
                    }
                    let path = format!("packages/{name}/{}", file.filename);
                    match file.sha256().and_then(|h| h.parse::<Sha256Digest>().ok()) {
                        Some(sha256) => files.push(PlannedFile {
                            path,
                            expected: Expected {
                                sha256,
                                size: file.size,
                            },
                            source: Source::Url(self.file_url(project, file)?),
                        }),
                        None if self.config.allow_unhashed => {
                            unhashed.push((path, self.file_url(project, file)?));
                        }
                        None => {
                            return Err(PypiError::Unhashed {
                                page: project.url.clone(),
                                file: file.filename.clone(),
                            });
                        }
                    }
                    let key = (name.to_owned(), file.filename.clone());
                    if !resolved.metadata.contains_key(&key)
                        && matches!(file.core_metadata, CoreMetadata::Hashes(_))
                    {
                        wanted_metadata.push(self.metadata_request(project, position)?);
                    }
                    page_files.push(file.clone());
                }
            }
            let versions: Vec<String> = versions.keys().map(ToString::to_string).collect();
            published.push((name.to_owned(), page_files, versions));
        }
        // The metadata of the files no resolution read (another platform's wheel).
        let objects = ctx.store.objects();
        let fetched = fetch_all_metadata(ctx, wanted_metadata).await;
        // Files taken without a digest: stored under the one they turn out to have.
        let mut taken: BTreeMap<String, Sha256Digest> = BTreeMap::new();
        let unverified: Vec<Result<(String, Sha256Digest, u64), PypiError>> =
            stream::iter(unhashed)
                .map(|(path, url)| async move {
                    let (sha256, size) = fetch_unverified(ctx, objects, &url).await?;
                    Ok((path, sha256, size))
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for result in unverified {
            let (path, sha256, size) = result?;
            files.push(stored(path.clone(), sha256, size));
            taken.insert(path, sha256);
        }
        let mut metadata = resolved.metadata;
        for result in fetched {
            let (request, (_, sha256, size)) = result?;
            metadata.insert((request.project, request.filename), (sha256, size));
        }
        let mut names = Vec::new();
        let mut summary_files = 0;
        for (name, page_files, versions) in published {
            let mut links = Vec::new();
            for file in page_files {
                let key = (name.clone(), file.filename.clone());
                let core_metadata = match metadata.get(&key) {
                    Some((sha256, size)) => {
                        files.push(stored(
                            format!("packages/{name}/{}.metadata", file.filename),
                            *sha256,
                            *size,
                        ));
                        CoreMetadata::Hashes([("sha256".to_owned(), sha256.to_hex())].into())
                    }
                    None => CoreMetadata::Absent,
                };
                let path = format!("packages/{name}/{}", file.filename);
                let hashes = match taken.get(&path) {
                    Some(sha256) => [("sha256".to_owned(), sha256.to_hex())].into(),
                    None => file
                        .hashes
                        .iter()
                        .filter(|(algorithm, _)| *algorithm == "sha256")
                        .map(|(a, h)| (a.clone(), h.clone()))
                        .collect(),
                };
                links.push(File {
                    url: format!("../../packages/{name}/{}", file.filename),
                    hashes,
                    core_metadata,
                    ..file
                });
            }
            summary_files += links.len();
            let page = ProjectPage {
                name: name.clone(),
                versions,
                files: links,
                other_files: 0,
            };
            files.push(store(
                objects,
                format!("simple/{name}/index.html"),
                page.to_html().as_bytes(),
            )?);
            files.push(store(
                objects,
                format!("simple/{name}/index.json"),
                &page.to_json(),
            )?);
            names.push(name);
        }
        files.push(store(
            objects,
            "simple/index.html".into(),
            crate::simple::root_html(&names).as_bytes(),
        )?);
        files.push(store(
            objects,
            "simple/index.json".into(),
            &crate::simple::root_json(&names),
        )?);
        let summary = PypiSummary {
            targets: self
                .settings
                .targets
                .iter()
                .map(|t| t.label.clone())
                .collect(),
            releases: releases
                .iter()
                .map(|(name, versions)| {
                    let versions = versions.keys().map(ToString::to_string).collect();
                    ((*name).to_owned(), versions)
                })
                .collect(),
            files: summary_files,
            pages_read: resolved.pages.len(),
            unverified: taken.into_keys().collect(),
        };
        Ok(TreePlan {
            files,
            summary: Box::new(summary),
        })
    }
}

/// `bytes` put into the store, as the file at `path`.
fn store(objects: &ObjectStore, path: String, bytes: &[u8]) -> Result<PlannedFile, PypiError> {
    let sha256 = objects.insert_bytes(bytes)?;
    Ok(stored(path, sha256, bytes.len() as u64))
}

/// A file the plan stored itself.
fn stored(path: String, sha256: Sha256Digest, size: u64) -> PlannedFile {
    PlannedFile {
        path,
        expected: Expected {
            sha256,
            size: Some(size),
        },
        source: Source::Stored,
    }
}

/// What a PyPI plan decided.
#[derive(Debug, Serialize)]
pub struct PypiSummary {
    /// The targets resolved for.
    pub targets: Vec<String>,
    /// Every project published, with its versions.
    pub releases: BTreeMap<String, Vec<String>>,
    /// Distribution files published.
    pub files: usize,
    /// Project pages read upstream.
    pub pages_read: usize,
    /// Files taken without a digest on their page (`allow_unhashed`), by published path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
}

impl PlanSummary for PypiSummary {
    fn line(&self) -> String {
        let versions: usize = self.releases.values().map(Vec::len).sum();
        format!(
            "{versions} releases of {} projects for {} targets ({} files; {} pages read)",
            self.releases.len(),
            self.targets.len(),
            self.files,
            self.pages_read
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
