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
use mirror_core::store::Expected;
use serde::Serialize;

use std::collections::HashSet;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};

use crate::carry_sources::{carry_sources, wanted_sources};
use crate::compact::CompactIndex;
use crate::config::{AptConfig, MissingPackages};
use crate::control::Paragraphs;
use crate::error::AptError;
use crate::families::{IndexGroup, Scope, suite_indices};
use crate::freshness::check_dates;
use crate::generate::{FilteredIndex, filtered_suite};
use crate::release::Release;
use crate::select::{IndexData, PoolFile, SelectOptions, Selection, first_names, select};
use crate::translation::fetch_filtered;
use crate::upstream::{
    VerifiedRelease, by_hash_path, dists_url, expected_of, fetch_compact, fetch_index,
    fetch_release, index_variants, installer_variants, keep_listed,
};

/// An APT upstream, ready to sync.
#[derive(Debug)]
pub struct AptMirror {
    config: AptConfig,
    keyring: Keyring,
    /// The keyring of each `resolve_with` member, in `config.group` order.
    group_keyrings: Vec<Keyring>,
}

impl AptMirror {
    /// Check the settings and load the keyrings (this mirror's and its group's).
    pub fn new(config: AptConfig) -> Result<Self, AptError> {
        config.check()?;
        if config.group.len() != config.resolve_with.len() {
            return Err(AptError::InvalidConfig {
                mirror: config.name.clone(),
                reason: "resolve_with names mirrors that were not linked (load the whole config)"
                    .into(),
            });
        }
        let keyring = |config: &AptConfig| {
            Keyring::load_all(config.keyring.paths()).map_err(|e| AptError::Keyring {
                mirror: config.name.clone(),
                source: Box::new(e),
            })
        };
        let own = keyring(&config)?;
        let mut group_keyrings = Vec::with_capacity(config.group.len());
        for member in &config.group {
            group_keyrings.push(keyring(member)?);
        }
        Ok(Self {
            config,
            keyring: own,
            group_keyrings,
        })
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
    /// A group's settings and Release files count too: they decide the candidates.
    fn fingerprint(
        &self,
        releases: &[VerifiedRelease],
        group_releases: &[Vec<VerifiedRelease>],
        key: Option<&str>,
    ) -> String {
        let mut hasher = Hasher::new();
        let settings = serde_json::to_vec(&self.config).expect("settings always serialise");
        hasher.update(&settings);
        for member in &self.config.group {
            hasher.update(&serde_json::to_vec(member).expect("settings always serialise"));
        }
        hasher.update(key.unwrap_or("").as_bytes());
        for release in releases.iter().chain(group_releases.iter().flatten()) {
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
            let release =
                fetch_release(ctx.fetcher, &self.keyring, base, suite, !self.is_filtered()).await?;
            check_dates(
                &release,
                &format!("{}/Release", dists_url(base, suite)),
                ctx.store,
                ctx.previous,
                self.config.allow_date_rollback,
                self.config.date_skew(),
            )?;
            releases.push(release);
        }
        let mut group_releases = Vec::new();
        for (member, keyring) in self.config.group.iter().zip(&self.group_keyrings) {
            let mut releases = Vec::new();
            for suite in &member.suites {
                releases
                    .push(fetch_release(ctx.fetcher, keyring, &member.url, suite, false).await?);
            }
            group_releases.push(releases);
        }
        let fingerprint = self.fingerprint(
            &releases,
            &group_releases,
            key.map(|k| k.fingerprint()).as_deref(),
        );
        Ok(AptProbe {
            mirror: self,
            ctx,
            key,
            releases,
            group_releases,
            fingerprint,
        })
    }

    /// The whole tree in four parts: each suite's indices fetched (and, for a full
    /// mirror, kept verbatim with the Release files), the selection over them (and the
    /// group's), each suite's regenerated and signed indices (filtered mirrors), and the
    /// pool files the selection names.
    async fn plan_tree(
        &self,
        ctx: &SyncContext<'_>,
        key: Option<&SigningKey>,
        releases: Vec<VerifiedRelease>,
        group_releases: Vec<Vec<VerifiedRelease>>,
    ) -> Result<TreePlan, AptError> {
        let base = self.config.url.trim_end_matches('/');
        let mut files = Vec::new();
        let mut indices = Vec::new();
        let parsed_releases = releases
            .iter()
            .map(|r| parse_release(r, &dists_url(base, &r.suite)))
            .collect::<Result<Vec<_>, _>>()?;
        for (suite_position, (release, parsed)) in releases.iter().zip(&parsed_releases).enumerate()
        {
            indices.extend(
                self.fetch_suite_indices(ctx, suite_position, release, parsed)
                    .await?,
            );
            if !self.is_filtered() {
                files.extend(self.full_suite_files(ctx, release, parsed).await?);
            }
        }
        for (member, releases) in self.config.group.iter().zip(&group_releases) {
            ctx.reporter.begin(
                &format!(
                    "{}: fetching {}'s indices to resolve with",
                    self.config.name, member.name
                ),
                None,
            );
            indices.extend(group_indices(ctx, member, releases).await?);
        }
        let (mut selection, indices) = self.select_packages(ctx, indices).await?;
        let mut warnings = std::mem::take(&mut selection.warnings);
        if let Some(key) = key {
            for (suite_position, (release, parsed)) in
                releases.iter().zip(&parsed_releases).enumerate()
            {
                let suite = SuiteSelection {
                    position: suite_position,
                    indices: &indices,
                    selection: &selection,
                };
                files.extend(
                    self.filtered_suite_files(ctx, key, release, parsed, &suite, &mut warnings)
                        .await?,
                );
            }
        }
        ctx.reporter.finish();
        files.extend(pool_files(base, &selection.pool)?);
        dedup_files(&mut files)?;
        let index_files = files
            .iter()
            .filter(|f| f.path.starts_with("dists/") && !f.path.contains("/by-hash/"))
            .count();
        let summary = AptSummary {
            index_files,
            suites: self.config.suites.clone(),
            signed_by: releases.iter().map(|r| r.signer.clone()).collect(),
            filtered: self.is_filtered(),
            packages_upstream: selection.total_packages,
            packages_selected: selection.selected_packages,
            selected: selection.selected_names,
            warnings,
            skipped: selection.skipped,
            resolved_with: self.config.resolve_with.clone(),
        };
        Ok(TreePlan {
            files,
            summary: Box::new(summary),
        })
    }

    /// One suite's Packages indices (and, for a full mirror with the installer, the
    /// installer's), fetched, verified against the Release and decoded, for selection.
    async fn fetch_suite_indices(
        &self,
        ctx: &SyncContext<'_>,
        suite_position: usize,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
    ) -> Result<Vec<IndexData>, AptError> {
        let base = self.config.url.trim_end_matches('/');
        let objects = ctx.store.objects();
        let dists = dists_url(base, &release.suite);
        check_not_expired(parsed, &dists)?;
        ctx.reporter.begin(
            &format!("{}: fetching {} indices", self.config.name, release.suite),
            None,
        );
        // A filtered mirror copies its selected stanzas out of the indices' full text:
        // spooled to the store's temp directory while they decode, not held.
        let spool_dir = self.is_filtered().then(|| ctx.store.tmp_dir());
        let mut indices = Vec::new();
        for component in &self.config.components {
            for architecture in &index_architectures(parsed, component, &self.config) {
                let packages = fetch_index(
                    ctx.fetcher,
                    objects,
                    &dists,
                    parsed,
                    component,
                    architecture,
                    spool_dir.as_deref(),
                )
                .await?;
                // A full mirror publishes the installer index, so the udebs it names too:
                // a netboot installer pointed at the mirror fetches them.
                let installer = installer_variants(parsed, component, architecture);
                let installer =
                    if !self.is_filtered() && self.config.installer && !installer.is_empty() {
                        Some(
                            fetch_compact(ctx.fetcher, objects, &dists, parsed, &installer, None)
                                .await?,
                        )
                    } else {
                        None
                    };
                for index in std::iter::once(packages).chain(installer) {
                    indices.push(index_data(
                        suite_position,
                        component,
                        architecture,
                        index,
                        &dists,
                        false,
                    ));
                }
            }
        }
        Ok(indices)
    }

    /// A full mirror's suite as upstream serves it: every index family kept byte for byte,
    /// the Sources and their files when `sources`, and the Release files themselves.
    async fn full_suite_files(
        &self,
        ctx: &SyncContext<'_>,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
    ) -> Result<Vec<PlannedFile>, AptError> {
        let base = self.config.url.trim_end_matches('/');
        let dists = dists_url(base, &release.suite);
        let mut files = Vec::new();
        self.keep_suite_indices(ctx, release, parsed, &mut files)
            .await?;
        if self.config.sources {
            // After the indices are kept: the Sources index is read from the store.
            let carried =
                carry_sources(ctx, base, &dists, parsed, &self.config.components, None).await?;
            files.extend(carried.files);
        }
        for (file, bytes) in &release.raw {
            files.push(store_suite_file(ctx, &release.suite, file, bytes)?);
        }
        Ok(files)
    }

    /// The selection over every index (this mirror's and its group's), off the async
    /// threads; its warnings logged. Gives the indices back for the regenerated suites,
    /// without their text (the selection holds the stanzas it chose).
    async fn select_packages(
        &self,
        ctx: &SyncContext<'_>,
        indices: Vec<IndexData>,
    ) -> Result<(Selection, Vec<IndexData>), AptError> {
        let name = &self.config.name;
        ctx.reporter
            .begin(&format!("{name}: selecting packages"), None);
        let options = SelectOptions {
            packages: self.config.packages.clone(),
            recommends: self.config.recommends,
            keep_versions: self.config.keep_versions.unwrap_or(1),
            architectures: self.config.architectures.clone(),
            missing_packages_are_errors: self.config.missing_packages == MissingPackages::Error,
            self_contained: self.config.is_self_contained(),
            // One member of a group reports the names none of it carries, not each.
            report_missing: self
                .config
                .resolve_with
                .iter()
                .all(|other| self.config.name < *other),
        };
        let (selection, indices) = tokio::task::spawn_blocking(move || {
            let mut indices = indices;
            let selection = select(&indices, &options);
            // The selected stanzas are copied out: the compact indices (25 MB for Debian's
            // main/amd64, per index and suite) and their spools are not held through the
            // downloads and the publish that follow.
            for index in &mut indices {
                index.packages = CompactIndex::default();
            }
            (selection, indices)
        })
        .await
        .map_err(|e| AptError::Internal(e.to_string()))?;
        let selection = selection?;
        for warning in &selection.warnings {
            tracing::warn!(mirror = %name, "{warning}");
        }
        Ok((selection, indices))
    }

    /// A filtered mirror's suite: the selected stanzas of each index, the Translation
    /// and Sources cut down to them, regenerated and signed with our key.
    async fn filtered_suite_files(
        &self,
        ctx: &SyncContext<'_>,
        key: &SigningKey,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
        suite: &SuiteSelection<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<PlannedFile>, AptError> {
        let base = self.config.url.trim_end_matches('/');
        let mut files = Vec::new();
        let mut filtered: Vec<FilteredIndex> = suite
            .of_suite()
            .map(|(index, packages)| {
                FilteredIndex::packages(&index.component, &index.architecture, packages.clone())
            })
            .collect();
        for component in &self.config.components {
            let names = selected_names(
                suite
                    .of_suite()
                    .filter(|(index, _)| &index.component == component)
                    .map(|(_, packages)| packages.as_slice()),
            );
            filtered.extend(
                self.filtered_translations(ctx, release, parsed, component, &names, warnings)
                    .await?,
            );
        }
        if self.config.sources {
            let wanted = wanted_sources(suite.of_suite().map(|(_, packages)| packages.as_slice()));
            let dists = dists_url(base, &release.suite);
            let carried = carry_sources(
                ctx,
                base,
                &dists,
                parsed,
                &self.config.components,
                Some(&wanted),
            )
            .await?;
            if !carried.missing.is_empty() {
                let warning = format!("{}: {}", dists, missing_sources_line(&carried.missing));
                tracing::warn!(mirror = %self.config.name, "{warning}");
                warnings.push(warning);
            }
            filtered.extend(carried.indices);
            files.extend(carried.files);
        }
        let mut architectures = self.config.architectures.clone();
        if suite
            .of_suite()
            .any(|(index, _)| index.architecture == "all")
            && !architectures.iter().any(|a| a == "all")
        {
            architectures.push("all".into());
        }
        let generated = filtered_suite(
            parsed,
            &filtered,
            &self.config.components,
            &architectures,
            key,
        )?;
        for (path, bytes) in generated {
            files.push(store_suite_file(ctx, &release.suite, &path, &bytes)?);
        }
        Ok(files)
    }

    async fn keep_suite_indices(
        &self,
        ctx: &SyncContext<'_>,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
        files: &mut Vec<PlannedFile>,
    ) -> Result<(), AptError> {
        let dists = dists_url(&self.config.url, &release.suite);
        let origin = format!("{dists}/Release");
        let languages = self.config.effective_languages();
        let scope = Scope {
            components: &self.config.components,
            architectures: &self.config.architectures,
            languages: languages.as_deref(),
            sources: self.config.sources,
            installer: self.config.installer,
        };
        let groups = suite_indices(parsed, &scope);
        let by_hash = parsed.fields.acquire_by_hash;
        ctx.reporter.begin(
            &format!(
                "{}: {} indices of {}",
                self.config.name,
                groups.len(),
                release.suite
            ),
            None,
        );
        // Futures built up front (not in a `map` closure) so their borrows stay plain
        // references, which the Send check of the boxed plan future can see through.
        let jobs: Vec<_> = groups
            .iter()
            .map(|group| keep_group(ctx, &dists, &origin, by_hash, group))
            .collect();
        let kept: Vec<Vec<(String, Expected)>> = stream::iter(jobs)
            .buffer_unordered(ctx.fetcher.options().concurrency.max(1))
            .try_collect()
            .await?;
        for (path, expected) in kept.into_iter().flatten() {
            if by_hash {
                files.push(stored(
                    format!(
                        "dists/{}/{}",
                        release.suite,
                        by_hash_path(&path, &expected.sha256)
                    ),
                    expected,
                ));
            }
            files.push(stored(format!("dists/{}/{path}", release.suite), expected));
        }
        Ok(())
    }

    /// A filtered mirror's Translation indices: for each configured language the Release
    /// lists for `component`, upstream's index (verified, decoded) cut down to the
    /// stanzas of the `selected` packages, so `apt-cache show` gives full descriptions.
    ///
    /// A listed Translation upstream does not serve is an error when `languages` names
    /// it, and a warning under the default (`en`): the mirror's Release then does not
    /// list it, so clients still update cleanly, with short descriptions.
    async fn filtered_translations(
        &self,
        ctx: &SyncContext<'_>,
        release: &VerifiedRelease,
        parsed: &Release<'_>,
        component: &str,
        selected: &HashSet<Vec<u8>>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<FilteredIndex>, AptError> {
        let dists = dists_url(&self.config.url, &release.suite);
        let languages = self.config.effective_languages().unwrap_or_default();
        let components = [component.to_owned()];
        let scope = Scope {
            components: &components,
            architectures: &self.config.architectures,
            languages: Some(&languages),
            sources: false,
            installer: false,
        };
        let mut out = Vec::new();
        for group in suite_indices(parsed, &scope) {
            let Some(language) = group
                .stem
                .strip_prefix(&format!("{component}/i18n/Translation-"))
            else {
                continue;
            };
            // Decode the cheapest compression; the uncompressed file is largest.
            let mut variants = group.variants.clone();
            variants.sort_by_key(|v| decode_preference(v.path));
            // Cut down as it decodes: only the kept stanzas are ever held.
            let objects = ctx.store.objects();
            let content =
                match fetch_filtered(ctx.fetcher, objects, &dists, parsed, &variants, selected)
                    .await
                {
                    Ok(content) => content,
                    Err(error @ AptError::IndexMissing { .. })
                        if self.config.languages.is_none() =>
                    {
                        let warning = format!("{error}; published without it");
                        tracing::warn!(mirror = %self.config.name, "{warning}");
                        warnings.push(warning);
                        continue;
                    }
                    Err(error) => return Err(error),
                };
            out.push(FilteredIndex::translation(component, language, content));
        }
        Ok(out)
    }
}

/// The architectures whose Packages indices hold a component's packages: the configured
/// ones, plus `all` when the Release lists a `binary-all` index without saying (by
/// `No-Support-for-Architecture-all: Packages`, as Debian does) that each architecture's
/// index carries the architecture-independent packages too. Otherwise those packages,
/// and their pool files, would be missing.
fn index_architectures(parsed: &Release<'_>, component: &str, config: &AptConfig) -> Vec<String> {
    let mut architectures = config.architectures.clone();
    let duplicated = parsed
        .fields
        .no_support_for_architecture_all
        .is_some_and(|v| v.trim() == "Packages");
    // apt reads binary-all only when the Release's Architectures lists `all` (Debian's
    // security archive lists binary-all files but not `all`, and serves them stale).
    let listed =
        parsed.fields.architectures.is_empty() || parsed.fields.architectures.contains(&"all");
    if listed
        && !duplicated
        && !architectures.iter().any(|a| a == "all")
        && !index_variants(parsed, component, "all").is_empty()
    {
        architectures.push("all".into());
    }
    architectures
}

/// One fetched index as the selection takes it.
fn index_data(
    suite: usize,
    component: &str,
    architecture: &str,
    index: crate::upstream::CompactFetched,
    dists: &str,
    resolve_only: bool,
) -> IndexData {
    IndexData {
        suite,
        component: component.to_owned(),
        architecture: architecture.to_owned(),
        origin: format!("{dists}/{}", index.path),
        packages: index.packages,
        resolve_only,
    }
}

/// The Packages indices of a `resolve_with` member, verified like our own, for the
/// selection only.
async fn group_indices(
    ctx: &SyncContext<'_>,
    member: &AptConfig,
    releases: &[VerifiedRelease],
) -> Result<Vec<IndexData>, AptError> {
    let base = member.url.trim_end_matches('/');
    let mut indices = Vec::new();
    for release in releases {
        let dists = dists_url(base, &release.suite);
        let parsed = parse_release(release, &dists)?;
        check_not_expired(&parsed, &dists)?;
        for component in &member.components {
            for architecture in &index_architectures(&parsed, component, member) {
                let index = fetch_index(
                    ctx.fetcher,
                    ctx.store.objects(),
                    &dists,
                    &parsed,
                    component,
                    architecture,
                    None,
                )
                .await?;
                indices.push(index_data(
                    usize::MAX,
                    component,
                    architecture,
                    index,
                    &dists,
                    true,
                ));
            }
        }
    }
    Ok(indices)
}

/// Every compression of one index that upstream serves, kept in the store; an error
/// when it serves none.
async fn keep_group(
    ctx: &SyncContext<'_>,
    dists: &str,
    origin: &str,
    by_hash: bool,
    group: &IndexGroup<'_>,
) -> Result<Vec<(String, Expected)>, AptError> {
    let mut kept = Vec::new();
    for entry in &group.variants {
        let expected = expected_of(entry, origin)?;
        let objects = ctx.store.objects();
        if keep_listed(
            ctx.fetcher,
            objects,
            ctx.reporter,
            dists,
            by_hash,
            entry.path,
            expected,
        )
        .await?
        {
            kept.push((entry.path.to_owned(), expected));
        }
    }
    if kept.is_empty() {
        return Err(AptError::IndexMissing {
            url: format!("{dists}/{}", group.stem),
            tried: group.variants.iter().map(|v| v.path.to_owned()).collect(),
        });
    }
    Ok(kept)
}

/// One line for the selected binaries whose source package upstream's Sources does
/// not list: a count and the first few.
fn missing_sources_line(missing: &[String]) -> String {
    format!(
        "{} source package{} of selected binaries not in the Sources index: {}",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        first_names(missing, "")
    )
}

/// Gzip decodes fastest; the uncompressed index is the largest download.
fn decode_preference(path: &str) -> u8 {
    match Compression::from_path(path) {
        Compression::Gzip => 0,
        Compression::Xz => 1,
        Compression::Zstd => 2,
        Compression::Bzip2 => 3,
        Compression::None => 4,
    }
}

/// The `Package` names of the stanzas of some Packages indices.
fn selected_names<'a>(indices: impl Iterator<Item = &'a [u8]>) -> HashSet<Vec<u8>> {
    let mut names = HashSet::new();
    for index in indices {
        for paragraph in Paragraphs::new(index) {
            if let Ok(Some(name)) = paragraph.get("Package") {
                names.insert(name.to_vec());
            }
        }
    }
    names
}

/// One suite's share of a selection: the indices at its position and the stanzas the
/// selection kept from each.
struct SuiteSelection<'s> {
    position: usize,
    indices: &'s [IndexData],
    selection: &'s Selection,
}

impl<'s> SuiteSelection<'s> {
    /// (index, selected stanzas) of this suite, in index order.
    fn of_suite(&self) -> impl Iterator<Item = (&'s IndexData, &'s Vec<u8>)> + use<'s> {
        let position = self.position;
        self.indices
            .iter()
            .zip(&self.selection.filtered)
            .filter(move |(index, _)| index.suite == position)
    }
}

/// The pool files a selection names, each to download from `base` (paths checked).
fn pool_files(base: &str, pool: &[PoolFile]) -> Result<Vec<PlannedFile>, AptError> {
    pool.iter()
        .map(|file| {
            mirror_core::paths::check_relative(&file.path)?;
            Ok(PlannedFile {
                path: file.path.clone(),
                expected: file.expected,
                source: Source::Url(format!("{base}/{}", file.path)),
            })
        })
        .collect()
}

/// `bytes` stored as `dists/<suite>/<path>` of the tree (a Release file kept, an index
/// we generated).
fn store_suite_file(
    ctx: &SyncContext<'_>,
    suite: &str,
    path: &str,
    bytes: &[u8],
) -> Result<PlannedFile, AptError> {
    let digest = ctx.store.objects().insert_bytes(bytes)?;
    Ok(stored(
        format!("dists/{suite}/{path}"),
        Expected {
            sha256: digest,
            size: Some(bytes.len() as u64),
        },
    ))
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
    Release::parse(&release.text)
        .map_err(|e| AptError::malformed_release(&format!("{dists}/Release"), &e))
}

pub(crate) fn check_not_expired(release: &Release<'_>, dists: &str) -> Result<(), AptError> {
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
    /// Files published under `dists/` (signed Release files and indices; by-hash copies
    /// not counted).
    pub index_files: usize,
    /// Packages in all upstream indices.
    pub packages_upstream: usize,
    /// Packages selected (a package once per index that lists it).
    pub packages_selected: usize,
    /// The names selected.
    pub selected: Vec<String>,
    /// Dependency and allow-list warnings.
    pub warnings: Vec<String>,
    /// Requested names no index (of the group) carries, skipped.
    pub skipped: Vec<String>,
    /// The mirrors this one was resolved with.
    pub resolved_with: Vec<String>,
}

impl PlanSummary for AptSummary {
    fn line(&self) -> String {
        let mut line = if self.filtered {
            format!(
                "{} of {} packages selected",
                self.packages_selected, self.packages_upstream
            )
        } else {
            format!(
                "{} packages, verbatim, {} index files",
                self.packages_upstream, self.index_files
            )
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
    group_releases: Vec<Vec<VerifiedRelease>>,
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
            group_releases,
            ..
        } = *self;
        Box::pin(async move {
            mirror
                .plan_tree(ctx, key, releases, group_releases)
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

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::fetch::{FetchOptions, Fetcher};
    use mirror_core::reporter::NoReporter;
    use mirror_core::store::Store;
    use mirror_test_support::TestServer;

    /// A signed upstream on a loopback server: suite `bookworm`, `main/binary-amd64`
    /// with two packages (`hello` depends on `libhello`) and a third nobody needs, and
    /// their pool files.
    struct Loopback {
        _dir: tempfile::TempDir,
        server: TestServer,
        key_file: std::path::PathBuf,
    }

    fn loopback() -> Loopback {
        use mirror_core::compression::{Compression, compress};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("upstream");
        let mut stanzas = String::new();
        for (name, depends) in [("hello", "libhello"), ("libhello", ""), ("unrelated", "")] {
            let path = format!("pool/main/{name}_1_amd64.deb");
            let body = format!("the {name} package");
            std::fs::create_dir_all(root.join("pool/main")).expect("mkdir");
            std::fs::write(root.join(&path), &body).expect("pool file");
            stanzas.push_str(&format!(
                "Package: {name}\nVersion: 1\nArchitecture: amd64\n{}Filename: {path}\n\
                 Size: {}\nSHA256: {}\n\n",
                if depends.is_empty() {
                    String::new()
                } else {
                    format!("Depends: {depends}\n")
                },
                body.len(),
                Sha256Digest::of(body.as_bytes()).to_hex()
            ));
        }
        let files: Vec<crate::generate::GeneratedFile> =
            [Compression::None, Compression::Gzip, Compression::Xz]
                .iter()
                .map(|format| {
                    (
                        format!("main/binary-amd64/Packages{}", format.extension()),
                        compress(stanzas.as_bytes(), *format).expect("compress"),
                    )
                })
                .collect();
        let key = SigningKey::generate("unit upstream").expect("key");
        let fields = crate::ReleaseFields {
            suite: Some("bookworm"),
            codename: Some("bookworm"),
            date: Some("Sat, 11 Jul 2026 10:16:37 UTC"),
            architectures: vec!["amd64"],
            components: vec!["main"],
            ..crate::ReleaseFields::default()
        };
        for (path, bytes) in crate::generate::signed_suite(&fields, files, &key).expect("sign") {
            let dest = root.join("dists/bookworm").join(path);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::write(dest, bytes).expect("write");
        }
        let key_file = dir.path().join("upstream.asc");
        std::fs::write(&key_file, key.armored_public().expect("armor")).expect("key");
        let server = TestServer::serve_dir(&root);
        Loopback {
            _dir: dir,
            server,
            key_file,
        }
    }

    impl Loopback {
        fn mirror(&self, packages: Option<&[&str]>) -> AptMirror {
            let mut config = AptConfig::new(
                "debian",
                self.server.url(),
                vec!["bookworm".into()],
                crate::Keyrings::One(self.key_file.clone()),
            );
            config.packages = packages.map(|p| p.iter().map(|s| (*s).to_owned()).collect());
            config.languages = Some(Vec::new());
            AptMirror::new(config).expect("mirror")
        }
    }

    /// What each part needs: a store, a fetcher, a key, and the verified Release.
    struct Parts {
        _dir: tempfile::TempDir,
        store: Store,
        fetcher: Fetcher,
        key: SigningKey,
    }

    fn new_parts() -> Parts {
        let dir = tempfile::tempdir().expect("tempdir");
        Parts {
            store: Store::open(dir.path()).expect("store"),
            fetcher: Fetcher::new(FetchOptions::default()).expect("fetcher"),
            key: SigningKey::generate("ours").expect("key"),
            _dir: dir,
        }
    }

    impl Parts {
        fn ctx(&self) -> SyncContext<'_> {
            SyncContext {
                store: &self.store,
                fetcher: &self.fetcher,
                signing_key: Some(&self.key),
                reporter: &NoReporter,
                previous: None,
            }
        }
    }

    #[tokio::test]
    async fn index_fetching_verifies_and_decodes_each_index() {
        let upstream = loopback();
        let mirror = upstream.mirror(Some(&["hello"]));
        let parts = new_parts();
        let ctx = parts.ctx();
        let release = fetch_release(
            &parts.fetcher,
            &mirror.keyring,
            &upstream.server.url(),
            "bookworm",
            false,
        )
        .await
        .expect("release");
        let parsed = parse_release(&release, "dists/bookworm").expect("parses");
        let indices = mirror
            .fetch_suite_indices(&ctx, 0, &release, &parsed)
            .await
            .expect("indices");
        assert_eq!(indices.len(), 1, "main/amd64 only");
        assert_eq!(
            (
                indices[0].component.as_str(),
                indices[0].architecture.as_str()
            ),
            ("main", "amd64")
        );
        assert!(
            indices[0]
                .packages
                .packages()
                .any(|package| package.expect("parses").name() == "unrelated")
        );

        // The same index served with other bytes: refused as verification.
        upstream.server.inject_always(
            "/dists/bookworm/main/binary-amd64/Packages.gz",
            mirror_test_support::Fault::WrongBytes,
        );
        let fresh = new_parts();
        let error = mirror
            .fetch_suite_indices(&fresh.ctx(), 0, &release, &parsed)
            .await
            .expect_err("wrong bytes");
        assert_eq!(
            mirror_core::error::Classify::class(&error),
            mirror_core::error::ErrorClass::Verification,
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_full_suite_keeps_upstream_files_and_a_filtered_one_regenerates_them() {
        let upstream = loopback();
        let parts = new_parts();
        let ctx = parts.ctx();

        // Full: upstream's InRelease and index files, byte for byte, from the store.
        let full = upstream.mirror(None);
        let release = fetch_release(
            &parts.fetcher,
            &full.keyring,
            &upstream.server.url(),
            "bookworm",
            true,
        )
        .await
        .expect("release");
        let parsed = parse_release(&release, "dists/bookworm").expect("parses");
        let files = full
            .full_suite_files(&ctx, &release, &parsed)
            .await
            .expect("full");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for wanted in [
            "dists/bookworm/InRelease",
            "dists/bookworm/main/binary-amd64/Packages.xz",
        ] {
            assert!(paths.contains(&wanted), "{wanted} in {paths:?}");
        }
        assert!(
            files.iter().all(|f| f.source == Source::Stored
                && parts.store.objects().contains(&f.expected.sha256))
        );

        // Filtered: the closure of hello, regenerated and signed with our key.
        let filtered = upstream.mirror(Some(&["hello"]));
        let indices = filtered
            .fetch_suite_indices(&ctx, 0, &release, &parsed)
            .await
            .expect("indices");
        let (selection, indices) = filtered
            .select_packages(&ctx, indices)
            .await
            .expect("select");
        assert_eq!(selection.selected_names, ["hello", "libhello"]);
        let suite = SuiteSelection {
            position: 0,
            indices: &indices,
            selection: &selection,
        };
        let mut warnings = Vec::new();
        let files = filtered
            .filtered_suite_files(&ctx, &parts.key, &release, &parsed, &suite, &mut warnings)
            .await
            .expect("filtered");
        let packages = files
            .iter()
            .find(|f| f.path == "dists/bookworm/main/binary-amd64/Packages")
            .expect("a regenerated Packages");
        let text = String::from_utf8(
            parts
                .store
                .objects()
                .read(&packages.expected.sha256)
                .expect("stored"),
        )
        .expect("utf8");
        assert!(text.contains("Package: hello") && text.contains("Package: libhello"));
        assert!(!text.contains("unrelated"), "{text}");
        let in_release = files
            .iter()
            .find(|f| f.path == "dists/bookworm/InRelease")
            .expect("our InRelease");
        let signed = parts
            .store
            .objects()
            .read(&in_release.expected.sha256)
            .expect("stored");
        mirror_core::signing::verify_cleartext(&parts.key.public_keyring(), &signed, "InRelease")
            .expect("signed with our key");
        let pool = pool_files(&upstream.server.url(), &selection.pool).expect("pool");
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn pool_files_are_downloaded_from_the_base_and_never_escape() {
        let expected = Expected {
            sha256: Sha256Digest::of(b"deb"),
            size: Some(3),
        };
        let pool = [PoolFile {
            path: "pool/main/j/jq/jq_1.6_amd64.deb".into(),
            expected,
        }];
        let files = pool_files("http://h/debian", &pool).expect("safe");
        assert_eq!(
            files,
            [PlannedFile {
                path: "pool/main/j/jq/jq_1.6_amd64.deb".into(),
                expected,
                source: Source::Url("http://h/debian/pool/main/j/jq/jq_1.6_amd64.deb".into()),
            }]
        );
        for bad in ["../etc/passwd", "/etc/passwd", "pool//x.deb"] {
            let pool = [PoolFile {
                path: bad.into(),
                expected,
            }];
            assert!(pool_files("http://h/debian", &pool).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_suite_sees_only_its_own_indices() {
        let index = |suite: usize, architecture: &str| IndexData {
            suite,
            component: "main".into(),
            architecture: architecture.into(),
            packages: CompactIndex::default(),
            origin: String::new(),
            resolve_only: false,
        };
        let indices = [index(0, "amd64"), index(1, "amd64"), index(0, "all")];
        let selection = Selection {
            filtered: vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            ..Selection::default()
        };
        let second = SuiteSelection {
            position: 1,
            indices: &indices,
            selection: &selection,
        };
        let seen: Vec<&[u8]> = second.of_suite().map(|(_, p)| p.as_slice()).collect();
        assert_eq!(seen, [b"b".as_slice()]);
        let first = SuiteSelection {
            position: 0,
            ..second
        };
        assert_eq!(first.of_suite().count(), 2);
    }
}
