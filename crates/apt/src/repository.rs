//! [`AptMirror`]: the APT implementation of [`Repository`].
//!
//! `plan` fetches every suite's signed Release and verifies it; when the Release bytes
//! and the settings are exactly those of the previous snapshot it stops there (a no-op
//! re-sync costs three small requests per suite). Otherwise it fetches and verifies the
//! Packages indices, selects (everything, or the closure of the allow-list), and names
//! the tree: upstream's signed files and indices byte for byte for a full mirror, or our
//! regenerated and signed dists/ for a filtered one, plus every selected pool file.

use std::path::PathBuf;

use mirror_core::Sha256Digest;
use mirror_core::compression::Compression;
use mirror_core::digest::Hasher;
use mirror_core::repository::{Plan, PlannedFile, Repository, Source, SyncContext, TreePlan};
use mirror_core::signing::Keyring;
use mirror_core::store::{Expected, ObjectStore};
use serde::Serialize;

use crate::error::AptError;
use crate::generate::{FilteredIndex, filtered_suite};
use crate::release::Release;
use crate::select::{IndexData, SelectOptions, select};
use crate::upstream::{
    VerifiedRelease, by_hash_path, dists_url, expected_of, fetch_index, fetch_listed,
    fetch_release, index_variants,
};

/// Settings of one APT mirror (the `[[apt]]` section of mirror.toml).
#[derive(Debug, Clone, Serialize)]
pub struct AptMirrorConfig {
    /// Name: directory under public/ and URL prefix.
    pub name: String,
    /// Upstream base URL (the directory holding `dists/` and `pool/`).
    pub url: String,
    /// Suites (`bookworm`, `bookworm-updates`).
    pub suites: Vec<String>,
    /// Components (`main`).
    pub components: Vec<String>,
    /// Architectures (`amd64`; `all` for binary-all indices). The first is native.
    pub architectures: Vec<String>,
    /// Keyrings the upstream Release must verify with.
    pub keyrings: Vec<PathBuf>,
    /// Allow-list (with dependency closure); `None` mirrors everything.
    pub packages: Option<Vec<String>>,
    /// Follow Recommends in the closure.
    pub recommends: bool,
    /// A listed name no index carries fails the sync (else it is logged and skipped).
    pub missing_packages_are_errors: bool,
}

/// An APT upstream, ready to sync.
#[derive(Debug)]
pub struct AptMirror {
    config: AptMirrorConfig,
    keyring: Keyring,
}

impl AptMirror {
    /// Check the settings and load the keyrings.
    pub fn new(config: AptMirrorConfig) -> Result<Self, AptError> {
        let keyring = Keyring::load_all(&config.keyrings)?;
        Ok(Self { config, keyring })
    }

    /// The settings.
    pub fn config(&self) -> &AptMirrorConfig {
        &self.config
    }

    fn is_filtered(&self) -> bool {
        self.config.packages.is_some()
    }

    /// Digest of the settings, the upstream Release files and (filtered) our key: when it
    /// equals the previous snapshot's, nothing the tree is made from has changed.
    fn fingerprint(&self, releases: &[VerifiedRelease], key: Option<&str>) -> String {
        let mut hasher = Hasher::new();
        hasher.update(concat!("mirror-apt ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
        let settings = serde_json::to_vec(&self.config).expect("settings always serialise");
        hasher.update(&settings);
        hasher.update(key.unwrap_or("").as_bytes());
        for release in releases {
            for (name, bytes) in &release.raw {
                hasher.update(name.as_bytes());
                hasher.update(&Sha256Digest::of(bytes).0);
            }
        }
        hasher.finish().0.to_hex()
    }

    async fn plan_tree(&self, ctx: &SyncContext<'_>) -> Result<Plan, AptError> {
        let name = &self.config.name;
        let base = self.config.url.trim_end_matches('/');
        let key = if self.is_filtered() {
            Some(ctx.signing_key.ok_or(AptError::NoSigningKey)?)
        } else {
            None
        };
        ctx.reporter
            .begin(&format!("{name}: checking Release files"), None);
        let mut releases = Vec::new();
        for suite in &self.config.suites {
            releases.push(
                fetch_release(ctx.fetcher, &self.keyring, base, suite, !self.is_filtered()).await?,
            );
        }
        let fingerprint = self.fingerprint(&releases, key.map(|k| k.fingerprint()).as_deref());
        if let Some(previous) = ctx.previous
            && previous.fingerprint == fingerprint
            && previous
                .files
                .iter()
                .all(|f| ctx.store.objects().contains(&f.sha256))
        {
            ctx.reporter.finish();
            return Ok(Plan::Unchanged);
        }

        let objects = ctx.store.objects();
        let mut files = Vec::new();
        let mut indices = Vec::new();
        let parsed_releases = releases
            .iter()
            .map(|r| parse_release(r, &dists_url(base, &r.suite)))
            .collect::<Result<Vec<_>, _>>()?;
        for (suite_position, (release, parsed)) in releases.iter().zip(&parsed_releases).enumerate()
        {
            let dists = dists_url(base, &release.suite);
            check_not_expired(parsed, &dists)?;
            ctx.reporter
                .begin(&format!("{name}: fetching {} indices", release.suite), None);
            for component in &self.config.components {
                for architecture in &self.config.architectures {
                    let index = fetch_index(
                        ctx.fetcher,
                        objects,
                        base,
                        release,
                        parsed,
                        component,
                        architecture,
                    )
                    .await?;
                    if !self.is_filtered() {
                        let tree_path = format!("dists/{}/{}", release.suite, index.path);
                        self.keep_index_variants(
                            ctx,
                            release,
                            parsed,
                            component,
                            architecture,
                            &mut files,
                        )
                        .await?;
                        files.push(stored(tree_path, index.expected));
                    }
                    indices.push(IndexData {
                        suite: suite_position,
                        component: component.clone(),
                        architecture: architecture.clone(),
                        decoded: index.decoded,
                        origin: format!("{dists}/{}", index.path),
                    });
                }
            }
            if !self.is_filtered() {
                for (file, bytes) in &release.raw {
                    let digest = objects.insert_bytes(bytes)?;
                    files.push(stored(
                        format!("dists/{}/{file}", release.suite),
                        Expected {
                            sha256: digest,
                            size: Some(bytes.len() as u64),
                        },
                    ));
                }
            }
        }
        ctx.reporter
            .begin(&format!("{name}: selecting packages"), None);
        let options = SelectOptions {
            packages: self.config.packages.clone(),
            recommends: self.config.recommends,
            architectures: self.config.architectures.clone(),
            missing_packages_are_errors: self.config.missing_packages_are_errors,
        };
        let (selection, indices) = tokio::task::spawn_blocking(move || {
            let selection = select(&indices, &options);
            (selection, indices)
        })
        .await
        .map_err(|e| AptError::Internal(e.to_string()))?;
        let selection = selection?;
        for warning in &selection.warnings {
            tracing::warn!(mirror = %name, "{warning}");
        }

        if let Some(key) = key {
            for (suite_position, (release, parsed)) in
                releases.iter().zip(&parsed_releases).enumerate()
            {
                let filtered: Vec<FilteredIndex> = indices
                    .iter()
                    .zip(&selection.filtered)
                    .filter(|(index, _)| index.suite == suite_position)
                    .map(|(index, packages)| FilteredIndex {
                        component: index.component.clone(),
                        architecture: index.architecture.clone(),
                        packages: packages.clone(),
                    })
                    .collect();
                let generated = filtered_suite(
                    parsed,
                    &filtered,
                    &self.config.components,
                    &self.config.architectures,
                    key,
                )?;
                for (path, bytes) in generated {
                    let digest = objects.insert_bytes(&bytes)?;
                    files.push(stored(
                        format!("dists/{}/{path}", release.suite),
                        Expected {
                            sha256: digest,
                            size: Some(bytes.len() as u64),
                        },
                    ));
                }
            }
        }
        ctx.reporter.finish();

        for pool in &selection.pool {
            mirror_core::paths::check_relative(&pool.path)?;
            files.push(PlannedFile {
                path: pool.path.clone(),
                expected: pool.expected,
                source: Source::Url(format!("{base}/{}", pool.path)),
            });
        }
        dedup_files(&mut files)?;
        let summary = serde_json::json!({
            "suites": self.config.suites,
            "signed_by": releases.iter().map(|r| r.signer.clone()).collect::<Vec<_>>(),
            "filtered": self.is_filtered(),
            "packages_upstream": selection.total_packages,
            "packages_selected": selection.selected_packages,
            "selected": selection.selected_names,
            "warnings": selection.warnings,
        });
        Ok(Plan::Changed(TreePlan {
            fingerprint,
            files,
            summary,
        }))
    }

    /// A full mirror keeps every compressed variant of an index that upstream serves
    /// (clients pick the compression they prefer), and by-hash copies when the Release
    /// asks clients to use them.
    async fn keep_index_variants(
        &self,
        ctx: &SyncContext<'_>,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
        component: &str,
        architecture: &str,
        files: &mut Vec<PlannedFile>,
    ) -> Result<(), AptError> {
        let dists = dists_url(&self.config.url, &release.suite);
        let origin = format!("{dists}/Release");
        let variants = index_variants(parsed, component, architecture);
        let several = variants.len() > 1;
        for entry in variants {
            // The uncompressed index is never needed when compressed ones exist.
            if several && Compression::from_path(entry.path) == Compression::None {
                continue;
            }
            let expected = expected_of(&entry, &origin)?;
            let present = if ctx.store.objects().contains(&expected.sha256) {
                true
            } else if let Some(bytes) = fetch_listed(
                ctx.fetcher,
                &dists,
                parsed.fields.acquire_by_hash,
                entry.path,
                &expected.sha256,
            )
            .await?
            {
                store_verified(
                    ctx.store.objects(),
                    &bytes,
                    &expected,
                    &format!("{dists}/{}", entry.path),
                )?;
                true
            } else {
                false
            };
            if present {
                let path = format!("dists/{}/{}", release.suite, entry.path);
                if parsed.fields.acquire_by_hash {
                    files.push(stored(
                        format!(
                            "dists/{}/{}",
                            release.suite,
                            by_hash_path(entry.path, &expected.sha256)
                        ),
                        expected,
                    ));
                }
                files.push(stored(path, expected));
            }
        }
        Ok(())
    }
}

fn store_verified(
    objects: &ObjectStore,
    bytes: &[u8],
    expected: &Expected,
    what: &str,
) -> Result<(), AptError> {
    Ok(objects.insert_verified_bytes(bytes, expected, what)?)
}

fn stored(path: String, expected: Expected) -> PlannedFile {
    PlannedFile {
        path,
        expected,
        source: Source::Stored,
    }
}

/// The same path may be named twice with the same content (an index variant kept and
/// fetched); different content for one path is an upstream inconsistency.
fn dedup_files(files: &mut Vec<PlannedFile>) -> Result<(), AptError> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for pair in files.windows(2) {
        if pair[0].path == pair[1].path && pair[0].expected.sha256 != pair[1].expected.sha256 {
            return Err(AptError::ConflictingPool {
                path: pair[0].path.clone(),
                first: pair[0].expected.sha256.to_hex(),
                second: pair[1].expected.sha256.to_hex(),
            });
        }
    }
    files.dedup_by(|a, b| a.path == b.path);
    Ok(())
}

fn parse_release<'r>(release: &'r VerifiedRelease, dists: &str) -> Result<Release<'r>, AptError> {
    Release::parse(&release.text).map_err(|e| AptError::Malformed {
        origin: format!("{dists}/Release"),
        message: e.to_string(),
    })
}

fn check_not_expired(release: &Release<'_>, dists: &str) -> Result<(), AptError> {
    let origin = format!("{dists}/Release");
    let valid_until = release.valid_until().map_err(|e| AptError::Malformed {
        origin: origin.clone(),
        message: e.to_string(),
    })?;
    if let Some(until) = valid_until
        && until < time::OffsetDateTime::now_utc()
    {
        return Err(AptError::Expired {
            origin,
            valid_until: release.fields.valid_until.unwrap_or("").to_owned(),
        });
    }
    Ok(())
}

impl Repository for AptMirror {
    type Error = AptError;

    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "apt"
    }

    fn upstream(&self) -> &str {
        &self.config.url
    }

    fn plan<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> impl std::future::Future<Output = Result<Plan, AptError>> + Send + 'a {
        self.plan_tree(ctx)
    }
}
