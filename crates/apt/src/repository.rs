//! [`AptMirror`]: the APT implementation of [`Repository`].
//!
//! `probe` fetches every suite's signed Release and verifies it; its fingerprint digests
//! the Release bytes, the settings and (filtered) our key, so that the driver stops there
//! when nothing changed (a no-op re-sync costs three small requests per suite). `plan`
//! then fetches and verifies the Packages indices, selects (everything, or the closure of the allow-list), and names
//! the tree: upstream's signed files and indices byte for byte for a full mirror, or our
//! regenerated and signed dists/ for a filtered one, plus every selected pool file.

use mirror_core::Sha256Digest;
use mirror_core::compression::Compression;
use mirror_core::digest::Hasher;
use mirror_core::error::RepositoryError;
use mirror_core::repository::{
    BoxFuture, PlanSummary, PlannedFile, Probe, Repository, Source, SyncContext, TreePlan,
};
use mirror_core::signing::{Keyring, SigningKey};
use mirror_core::store::{Expected, ObjectStore};
use serde::Serialize;

use crate::config::{AptConfig, MissingPackages};
use crate::error::AptError;
use crate::generate::{FilteredIndex, filtered_suite};
use crate::release::Release;
use crate::select::{IndexData, SelectOptions, select};
use crate::upstream::{
    VerifiedRelease, by_hash_path, dists_url, expected_of, fetch_index, fetch_listed,
    fetch_release, index_variants,
};

/// An APT upstream, ready to sync.
#[derive(Debug)]
pub struct AptMirror {
    config: AptConfig,
    keyring: Keyring,
}

impl AptMirror {
    /// Check the settings and load the keyrings.
    pub fn new(config: AptConfig) -> Result<Self, AptError> {
        config.check()?;
        let keyring = Keyring::load_all(config.keyring.paths())?;
        Ok(Self { config, keyring })
    }

    /// The settings.
    pub fn config(&self) -> &AptConfig {
        &self.config
    }

    fn is_filtered(&self) -> bool {
        self.config.packages.is_some()
    }

    /// Digest of the settings, the upstream Release files and (filtered) our key: when it
    /// equals the previous snapshot's, nothing the tree is made from has changed.
    fn fingerprint(&self, releases: &[VerifiedRelease], key: Option<&str>) -> String {
        let mut hasher = Hasher::new();
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

    /// Fetch and verify every suite's signed Release.
    async fn probe_releases<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> Result<AptProbe<'a>, AptError> {
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
        Ok(AptProbe {
            mirror: self,
            ctx,
            key,
            releases,
            fingerprint,
        })
    }

    async fn plan_tree(
        &self,
        ctx: &SyncContext<'_>,
        key: Option<&SigningKey>,
        releases: Vec<VerifiedRelease>,
    ) -> Result<TreePlan, AptError> {
        let name = &self.config.name;
        let base = self.config.url.trim_end_matches('/');
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
            missing_packages_are_errors: self.config.missing_packages == MissingPackages::Error,
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
        let summary = AptSummary {
            suites: self.config.suites.clone(),
            signed_by: releases.iter().map(|r| r.signer.clone()).collect(),
            filtered: self.is_filtered(),
            packages_upstream: selection.total_packages,
            packages_selected: selection.selected_packages,
            selected: selection.selected_names,
            warnings: selection.warnings,
        };
        Ok(TreePlan {
            files,
            summary: Box::new(summary),
        })
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

/// What an APT plan decided, for the sync report and the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AptSummary {
    /// The suites mirrored.
    pub suites: Vec<String>,
    /// The key that signed each suite's Release.
    pub signed_by: Vec<String>,
    /// Whether an allow-list filtered the mirror.
    pub filtered: bool,
    /// Packages in all upstream indices.
    pub packages_upstream: usize,
    /// Packages selected (a package once per index that lists it).
    pub packages_selected: usize,
    /// The names selected.
    pub selected: Vec<String>,
    /// Dependency and allow-list warnings.
    pub warnings: Vec<String>,
}

impl PlanSummary for AptSummary {
    fn line(&self) -> String {
        let mut line = if self.filtered {
            format!(
                "{} of {} packages selected",
                self.packages_selected, self.packages_upstream
            )
        } else {
            format!("{} packages, verbatim", self.packages_upstream)
        };
        if !self.warnings.is_empty() {
            line.push_str(&format!(", {} warnings", self.warnings.len()));
        }
        line
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an APT summary always serialises")
    }
}

/// The verified Release files of every suite, between probe and plan.
struct AptProbe<'a> {
    mirror: &'a AptMirror,
    ctx: &'a SyncContext<'a>,
    key: Option<&'a SigningKey>,
    releases: Vec<VerifiedRelease>,
    fingerprint: String,
}

impl<'a> Probe<'a> for AptProbe<'a> {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn plan(self: Box<Self>) -> BoxFuture<'a, Result<TreePlan, RepositoryError>> {
        let AptProbe {
            mirror,
            ctx,
            key,
            releases,
            ..
        } = *self;
        Box::pin(async move {
            mirror
                .plan_tree(ctx, key, releases)
                .await
                .map_err(RepositoryError::new)
        })
    }
}

impl Repository for AptMirror {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "apt"
    }

    fn upstream(&self) -> &str {
        &self.config.url
    }

    fn publish_format(&self) -> &'static str {
        "mirror-apt/1"
    }

    fn probe<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Probe<'a> + 'a>, RepositoryError>> {
        Box::pin(async move {
            let probe = self
                .probe_releases(ctx)
                .await
                .map_err(RepositoryError::new)?;
            Ok(Box::new(probe) as Box<dyn Probe<'a> + 'a>)
        })
    }
}
