//! [`PypiMirror`]: a selective mirror of a simple index, as a [`Repository`].
//!
//! The probe resolves: it fetches the project pages and PEP 658 metadata files the
//! requirements' closure reaches on every target, in rounds (each round fetches what the
//! last resolution named, eight at a time, and the pages of every dependency the new
//! metadata states, so a round covers one level of the graph), until every target
//! resolves. Its fingerprint digests the settings and every page read. The plan names
//! each file of every pinned release that some target pinning it installs (the digest
//! its page states; a file without one is refused), the metadata files beside them
//! (checked against the digests the pages state), and the pages we write for them:
//!
//! ```text
//! simple/index.html, simple/index.json          the projects
//! simple/<name>/index.html, index.json          PEP 503 and PEP 691 pages, relative links
//! packages/<name>/<file>[.metadata]             the files, and PEP 658 metadata
//! ```

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt as _};
use mirror_core::digest::{Hasher, Sha256Digest};
use mirror_core::error::RepositoryError;
use mirror_core::fetch::{Conditional, Validators};
use mirror_core::repository::{
    BoxFuture, PlanSummary, PlannedFile, Probe, Repository, Source, SyncContext, TreePlan,
};
use mirror_core::store::{Expected, ObjectStore};
use mirror_core::upstream_cache::{CachedBody, UpstreamCache};
use pep508_rs::pep440_rs::Version;
use serde::Serialize;

use crate::config::{PypiConfig, Settings};
use crate::error::PypiError;
use crate::metadata::Metadata;
use crate::resolve::{Catalog, Need, Outcome, Project, resolve};
use crate::simple::{CoreMetadata, File, ProjectPage};

/// A metadata file fetched and stored: what it says, its digest and size.
type Fetched = (Metadata, Sha256Digest, u64);

/// A run asking this many times for a project's metadata is walking back through its
/// releases (the first ask is the project's newest; a second can be another target's
/// wheel).
const WALK_BACK: usize = 3;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// Bound on a metadata file (PyPI's largest are a few hundred KB).
const METADATA_CAP: u64 = 16 << 20;
/// Bound on resolution rounds: each fetches at least one page or metadata file, so a
/// closure deeper than this is an index changing under us or a bug.
const MAX_ROUNDS: usize = 1000;

/// A PyPI-style index mirror.
#[derive(Debug)]
pub struct PypiMirror {
    config: PypiConfig,
    settings: Settings,
}

/// The catalog a resolution read, with the pins it reached.
struct Resolved {
    catalog: Catalog,
    /// Each page's URL and the SHA-256 of its body.
    pages: BTreeMap<String, Sha256Digest>,
    /// Each metadata file read: its digest and size (it is in the store).
    metadata: BTreeMap<(String, String), (Sha256Digest, u64)>,
    /// The pages' validators and bodies, for the next sync's conditional requests.
    cache: UpstreamCache,
    /// Each resolution's target and the versions it installs there.
    pins: Vec<(usize, BTreeMap<String, Version>)>,
}

impl PypiMirror {
    /// A mirror for `config` (validated).
    pub fn new(config: PypiConfig) -> Result<Self, PypiError> {
        let mut settings = config.validate()?;
        if let Some(file) = &config.requirements_file {
            let invalid = |reason: String| PypiError::InvalidConfig {
                mirror: config.name.clone(),
                reason,
            };
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(file)
                .map_err(|e| invalid(format!("requirements_file {origin}: {e}")))?;
            let lines = crate::requirements_file::read(&text, &origin)
                .map_err(|e| invalid(format!("requirements_file {e}")))?;
            for (line, text) in lines {
                let requirement: crate::resolve::Req = text
                    .parse()
                    .map_err(|e| invalid(format!("requirements_file {origin}:{line}: {e}")))?;
                if let Some(pep508_rs::VersionOrUrl::Url(_)) = requirement.version_or_url {
                    return Err(invalid(format!(
                        "requirements_file {origin}:{line}: {text:?} is a URL, which names no \
                         index file"
                    )));
                }
                settings.policy.requirements.push(requirement);
            }
            if settings.policy.requirements.is_empty() {
                return Err(invalid(format!(
                    "requirements_file {origin} names no requirement, and requirements is empty"
                )));
            }
        }
        Ok(PypiMirror { config, settings })
    }

    /// The settings as written.
    pub fn config(&self) -> &PypiConfig {
        &self.config
    }

    /// Fetch and resolve until every target has its closure, and until no target can
    /// reach a published release whose dependencies on it are not published too.
    ///
    /// The second part is the union's leak: a client on target A sees every release the
    /// mirror publishes that installs on A, including one only target B's resolution
    /// chose, and may pick it (pip decides in its own order and backtracks). Its
    /// dependencies on A (markers evaluated for A) were never resolved. So each such
    /// release is resolved again on A, pinned, with the requirements, and what that
    /// solution adds is published too; repeated until nothing new appears. A release
    /// that cannot be part of a solution on A is left as it is (a client backtracks
    /// from it as the solver did).
    async fn resolve(&self, ctx: &SyncContext<'_>) -> Result<Resolved, PypiError> {
        let mut resolved = Resolved {
            catalog: Catalog::default(),
            pages: BTreeMap::new(),
            metadata: BTreeMap::new(),
            pins: Vec::new(),
            cache: ctx.store.upstream_cache(&self.config.name),
        };
        let mut pending: BTreeSet<Need> = self
            .settings
            .policy
            .requirements
            .iter()
            .map(|r| Need::Page(r.name.as_ref().to_owned()))
            .collect();
        // Each run: a target, and the release pinned on it (none: the requirements
        // alone); its outcome once resolved.
        let mut runs: Vec<(usize, Option<(String, Version)>)> = (0..self.settings.targets.len())
            .map(|t| (t, None))
            .collect();
        let mut outcomes: Vec<Option<BTreeMap<String, Version>>> = vec![None; runs.len()];
        let mut settled = vec![false; runs.len()];
        let mut walked: BTreeMap<(usize, String), usize> = BTreeMap::new();
        let mut early: Vec<String> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            self.fetch(ctx, &mut resolved, &pending).await?;
            resolved.catalog.early.clone_from(&early);
            let mut needs = BTreeSet::new();
            for (position, (target_index, pin)) in runs.iter().enumerate() {
                if settled[position] {
                    continue;
                }
                let target = &self.settings.targets[*target_index];
                let policy = match pin {
                    None => std::borrow::Cow::Borrowed(&self.settings.policy),
                    Some((name, version)) => {
                        let mut policy = self.settings.policy.clone();
                        let pinned = format!("{name}=={version}").parse().map_err(|e| {
                            PypiError::Resolution {
                                mirror: self.config.name.clone(),
                                reason: format!("pinning {name} {version}: {e}"),
                            }
                        })?;
                        policy.requirements.push(pinned);
                        std::borrow::Cow::Owned(policy)
                    }
                };
                match resolve(&resolved.catalog, target, &policy) {
                    Outcome::Resolved(pins) => {
                        outcomes[position] = Some(pins);
                        settled[position] = true;
                    }
                    Outcome::Needs(more) => {
                        // A run asking again and again for older releases of a project
                        // is walking back through it: decide it earlier next time.
                        for need in &more {
                            if let Need::Metadata(name, _) = need {
                                let count = walked.entry((position, name.clone())).or_insert(0);
                                *count += 1;
                                if *count == WALK_BACK && !early.contains(name) {
                                    early.push(name.clone());
                                }
                            }
                        }
                        needs.extend(more);
                    }
                    // A pinned release no solution on this target holds: a client
                    // backtracks from it too.
                    Outcome::Unsatisfiable(_) if pin.is_some() => settled[position] = true,
                    Outcome::Unsatisfiable(report) => {
                        return Err(PypiError::Unsatisfiable {
                            mirror: self.config.name.clone(),
                            target: target.label.clone(),
                            report,
                        });
                    }
                    Outcome::Invalid(reason) => {
                        return Err(PypiError::Resolution {
                            mirror: self.config.name.clone(),
                            reason: format!("target {}: {reason}", target.label),
                        });
                    }
                }
            }
            if !needs.is_empty() {
                tracing::debug!(
                    runs = runs.len(),
                    settled = settled.iter().filter(|s| **s).count(),
                    needs = needs.len(),
                    first = ?needs.iter().next(),
                    "resolution round"
                );
                pending = needs;
                continue;
            }
            pending = BTreeSet::new();
            let more = self.kept_releases(&resolved.catalog, &runs, &outcomes);
            if !more.is_empty() {
                for run in more {
                    runs.push((run.0, Some(run.1)));
                    outcomes.push(None);
                    settled.push(false);
                }
                continue;
            }
            let leaks = self.leaks(&resolved.catalog, &runs, &outcomes);
            if leaks.is_empty() {
                resolved.pins = runs
                    .iter()
                    .zip(outcomes)
                    .filter_map(|((target, _), pins)| Some((*target, pins?)))
                    .collect();
                // Pages no longer read are no longer asked for.
                let read = &resolved.pages;
                resolved.cache.retain(|url| read.contains_key(url));
                ctx.store
                    .save_upstream_cache(&self.config.name, &resolved.cache)?;
                return Ok(resolved);
            }
            for leak in leaks {
                runs.push((leak.0, Some(leak.1)));
                outcomes.push(None);
                settled.push(false);
            }
        }
        Err(PypiError::Resolution {
            mirror: self.config.name.clone(),
            reason: format!("no resolution after {MAX_ROUNDS} rounds of fetching"),
        })
    }

    /// `keep_versions`: each requirement's newest N releases that resolve on a target
    /// (with the requirements, pinned), beyond the one its resolution there picked. The
    /// next candidates to resolve pinned, newest first, as many as are still missing
    /// (one that does not resolve is passed over): asked again until none is missing.
    fn kept_releases(
        &self,
        catalog: &Catalog,
        runs: &[(usize, Option<(String, Version)>)],
        outcomes: &[Option<BTreeMap<String, Version>>],
    ) -> Vec<(usize, (String, Version))> {
        let policy = &self.settings.policy;
        let wanted = self.settings.keep_versions;
        let mut more = Vec::new();
        if wanted <= 1 {
            return more;
        }
        for (target_index, target) in self.settings.targets.iter().enumerate() {
            // What the runs on this target found: resolved (true) or not (false).
            let mut tried: BTreeMap<(&str, &Version), bool> = BTreeMap::new();
            for ((t, pin), pins) in runs.iter().zip(outcomes) {
                if *t != target_index {
                    continue;
                }
                if let Some((name, version)) = pin {
                    tried
                        .entry((name.as_str(), version))
                        .or_insert(pins.is_some());
                }
                for (name, version) in pins.iter().flatten() {
                    tried.insert((name.as_str(), version), true);
                }
            }
            for requirement in &policy.requirements {
                if !requirement.marker.evaluate(&target.markers, &[]) {
                    continue;
                }
                let name = requirement.name.as_ref();
                let Some(project) = catalog.projects.get(name) else {
                    continue;
                };
                let allowed = |version: &Version| match &requirement.version_or_url {
                    Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.contains(version),
                    _ => true,
                };
                let candidates = project
                    .versions
                    .iter()
                    .map(|(version, _)| version)
                    .filter(|version| allowed(version))
                    .filter(|version| !version.any_prerelease() || policy.allows_prereleases(name))
                    .filter(|version| {
                        project
                            .files_of(version)
                            .any(|(_, file, dist)| policy.usable(target, name, version, file, dist))
                    });
                let mut found = 0;
                for version in candidates {
                    if found >= wanted {
                        break;
                    }
                    match tried.get(&(name, version)) {
                        Some(true) => found += 1,
                        Some(false) => {}
                        None => {
                            found += 1;
                            more.push((target_index, (name.to_owned(), version.clone())));
                        }
                    }
                }
            }
        }
        more.sort();
        more.dedup();
        more
    }

    /// The releases some run published that a target's client could pick but no run on
    /// that target has resolved: (target, release), each not asked before.
    fn leaks(
        &self,
        catalog: &Catalog,
        runs: &[(usize, Option<(String, Version)>)],
        outcomes: &[Option<BTreeMap<String, Version>>],
    ) -> Vec<(usize, (String, Version))> {
        let published: BTreeSet<(&String, &Version)> = outcomes
            .iter()
            .flatten()
            .flat_map(|pins| pins.iter())
            .collect();
        let mut leaks = Vec::new();
        for (target_index, target) in self.settings.targets.iter().enumerate() {
            let mut covered: BTreeSet<(&String, &Version)> = BTreeSet::new();
            let mut asked: BTreeSet<(&String, &Version)> = BTreeSet::new();
            for ((t, pin), pins) in runs.iter().zip(outcomes) {
                if *t != target_index {
                    continue;
                }
                covered.extend(pins.iter().flat_map(|pins| pins.iter()));
                if let Some((name, version)) = pin {
                    asked.insert((name, version));
                }
            }
            for &(name, version) in &published {
                if covered.contains(&(name, version)) || asked.contains(&(name, version)) {
                    continue;
                }
                let Some(project) = catalog.projects.get(name) else {
                    continue;
                };
                let installs = project.files_of(version).any(|(_, file, dist)| {
                    self.settings
                        .policy
                        .usable(target, name, version, file, dist)
                });
                if installs {
                    leaks.push((target_index, (name.clone(), version.clone())));
                }
            }
        }
        leaks
    }

    /// Fetch `needs` (and, once metadata is read, the pages of the dependencies it
    /// states, ahead of the solver asking) into the catalog.
    async fn fetch(
        &self,
        ctx: &SyncContext<'_>,
        resolved: &mut Resolved,
        needs: &BTreeSet<Need>,
    ) -> Result<(), PypiError> {
        let mut needs = needs.clone();
        while !needs.is_empty() {
            let mut pages = Vec::new();
            let mut metadata = Vec::new();
            for need in &needs {
                match need {
                    Need::Page(name) if !resolved.catalog.projects.contains_key(name) => {
                        pages.push(name.clone());
                    }
                    Need::Page(_) => {}
                    Need::Metadata(name, position) => {
                        let project = resolved.catalog.projects.get(name).ok_or_else(|| {
                            PypiError::Resolution {
                                mirror: self.config.name.clone(),
                                reason: format!("metadata of {name} asked before its page"),
                            }
                        })?;
                        metadata.push(self.metadata_request(project, *position)?);
                    }
                }
            }
            let index = &self.settings.index;
            let cap = ctx.fetcher.options().max_index_size;
            let cache = &resolved.cache;
            let fetched_pages: Vec<Result<FetchedPage, PypiError>> = stream::iter(pages)
                .map(|name| {
                    let url = format!("{index}/{name}/");
                    let cached = cache
                        .get(&url)
                        .filter(|c| ctx.store.objects().contains(&c.sha256))
                        .cloned();
                    async move { self.fetch_page(ctx, name, url, cached, cap).await }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let objects = ctx.store.objects();
            let fetched_metadata: Vec<Result<(MetadataRequest, Fetched), PypiError>> =
                stream::iter(metadata)
                    .map(|request| async move {
                        let fetched = fetch_metadata(ctx, objects, &request).await?;
                        Ok((request, fetched))
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            needs = BTreeSet::new();
            for result in fetched_pages {
                let FetchedPage {
                    url,
                    project,
                    digest,
                    remember,
                } = result?;
                match remember {
                    Remember::Keep => {}
                    Remember::Forget => resolved.cache.remove(&url),
                    Remember::Body(cached) => resolved.cache.insert(&url, cached),
                }
                resolved.pages.insert(url, digest);
                resolved
                    .catalog
                    .projects
                    .insert(project.page.name.clone(), project);
            }
            for result in fetched_metadata {
                let (request, (metadata, sha256, size)) = result?;
                // Ahead of the solver: the pages of what this release depends on on some
                // target (an extra's entries wait until the solver asks for them).
                for text in &metadata.requires_dist {
                    let Ok(requirement) = text.parse::<crate::resolve::Req>() else {
                        continue; // the solver reports it, naming the release
                    };
                    let name = requirement.name.as_ref().to_owned();
                    let needed = self
                        .settings
                        .targets
                        .iter()
                        .any(|target| requirement.marker.evaluate(&target.markers, &[]));
                    if needed && !resolved.catalog.projects.contains_key(&name) {
                        needs.insert(Need::Page(name));
                    }
                }
                let key = (request.project.clone(), request.filename.clone());
                resolved.metadata.insert(key.clone(), (sha256, size));
                resolved.catalog.metadata.insert(key, metadata);
            }
        }
        Ok(())
    }

    /// One project page, asked for with the validators `cached` holds (a 304 reads the
    /// body back from the store, hashed again; a copy gone or damaged is fetched whole).
    async fn fetch_page(
        &self,
        ctx: &SyncContext<'_>,
        name: String,
        url: String,
        cached: Option<CachedBody>,
        cap: u64,
    ) -> Result<FetchedPage, PypiError> {
        let known = match &cached {
            Some(cached) if cached.younger_than(REVALIDATE_AFTER) => cached.validators.clone(),
            _ => Validators::default(),
        };
        let mut answer = ctx
            .fetcher
            .get_negotiated(&url, cap, &known, Some(ACCEPT))
            .await?;
        if let (Some(Conditional::NotModified), Some(cached)) = (&answer, &cached) {
            if let Some(body) = ctx.store.cached_body(cached) {
                tracing::debug!(%url, "project page unchanged upstream (304)");
                // It was read as its type said when it came; stored, it is told apart
                // by its first byte.
                let page = read_page(&body, None, &name, &url)?;
                return Ok(FetchedPage {
                    project: Project::new(url.clone(), page),
                    url,
                    digest: cached.sha256,
                    remember: Remember::Keep,
                });
            }
            answer = ctx
                .fetcher
                .get_negotiated(&url, cap, &Validators::default(), Some(ACCEPT))
                .await?;
        }
        match answer {
            Some(Conditional::Modified {
                body,
                validators,
                content_type,
                redirected_to,
            }) => {
                let base = match &redirected_to {
                    Some(to) => same_origin(&url, to)?,
                    None => url.clone(),
                };
                let page = read_page(&body, content_type.as_deref(), &name, &url)?;
                let digest = Sha256Digest::of(&body);
                // A body is kept for a conditional request next time when the server gave
                // validators and the links in it are relative to the URL asked.
                let remember = if validators.is_empty() || redirected_to.is_some() {
                    Remember::Forget
                } else {
                    ctx.store.objects().insert_bytes(&body)?;
                    Remember::Body(CachedBody::received_now(
                        validators,
                        digest,
                        body.len() as u64,
                    ))
                };
                Ok(FetchedPage {
                    project: Project::new(base, page),
                    url,
                    digest,
                    remember,
                })
            }
            // No such project: no versions, which the solver explains. (A 304 to a
            // request without validators is refused by the fetcher.)
            _ => Ok(FetchedPage {
                project: Project::new(url.clone(), ProjectPage::empty(&name)),
                url,
                digest: Sha256Digest::of(b""),
                remember: Remember::Forget,
            }),
        }
    }

    /// Where a file's metadata is and the digest it must have.
    fn metadata_request(
        &self,
        project: &Project,
        position: usize,
    ) -> Result<MetadataRequest, PypiError> {
        let file = &project.page.files[position];
        let stated = match &file.core_metadata {
            CoreMetadata::Hashes(hashes) => hashes.get("sha256").and_then(|h| h.parse().ok()),
            CoreMetadata::Absent | CoreMetadata::Unhashed => None,
        };
        let wheel = file.filename.ends_with(".whl");
        let url = self.file_url(project, file)?;
        let (url, source) = match (stated, file.sha256().and_then(|h| h.parse().ok())) {
            (Some(sha256), _) => (format!("{url}.metadata"), MetadataSource::File(sha256)),
            // No metadata file (or one with no digest to check it by): the wheel, checked
            // against its own digest, holds the same METADATA.
            (None, Some(sha256)) if wheel => {
                let expected = Expected {
                    sha256,
                    size: file.size,
                };
                (url, MetadataSource::Wheel(expected))
            }
            (None, None) if wheel && self.config.allow_unhashed => {
                (url, MetadataSource::UnverifiedWheel)
            }
            (None, None) if wheel => {
                return Err(PypiError::Unhashed {
                    page: project.url.clone(),
                    file: file.filename.clone(),
                });
            }
            (None, _) => {
                return Err(PypiError::NoMetadata {
                    page: project.url.clone(),
                    file: file.filename.clone(),
                });
            }
        };
        let version = project.parsed[position]
            .as_ref()
            .map(|(_, version)| version.clone())
            .ok_or_else(|| PypiError::Resolution {
                mirror: self.config.name.clone(),
                reason: format!("{}: {} is not a candidate", project.url, file.filename),
            })?;
        Ok(MetadataRequest {
            url,
            project: project.page.name.clone(),
            filename: file.filename.clone(),
            version,
            source,
        })
    }

    /// A file's absolute URL: its page's link resolved against the page. Only `http(s)`
    /// (or `file` for a `file://` index): a page must not point us at other schemes.
    fn file_url(&self, project: &Project, file: &File) -> Result<String, PypiError> {
        let error = |reason: String| PypiError::FileUrl {
            page: project.url.clone(),
            file: file.filename.clone(),
            reason,
        };
        let base = url::Url::parse(&project.url).map_err(|e| error(e.to_string()))?;
        let url = base.join(&file.url).map_err(|e| error(e.to_string()))?;
        let local_index = self.settings.index.starts_with("file:");
        match url.scheme() {
            "http" | "https" => {}
            "file" if local_index => {}
            other => return Err(error(format!("{url}: scheme {other:?} refused"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(error("a URL with credentials in it is refused".into()));
        }
        let mut url = url;
        url.set_fragment(None);
        Ok(url.into())
    }

    /// sha256 over the settings and every page read.
    fn fingerprint(&self, resolved: &Resolved) -> String {
        let mut hasher = Hasher::new();
        let requirements: Vec<String> = self
            .settings
            .policy
            .requirements
            .iter()
            .map(ToString::to_string)
            .collect();
        let settings = serde_json::json!({
            "url": self.settings.index,
            "requirements": requirements,
            "python": self.config.python,
            "platforms": self.config.platforms,
            "sdists": self.config.sdists,
            "allow_unhashed": self.config.allow_unhashed,
            "keep_versions": self.settings.keep_versions,
            "exclude": self.config.exclude,
        });
        hasher.update(settings.to_string().as_bytes());
        for (url, digest) in &resolved.pages {
            hasher.update(b"\n");
            hasher.update(url.as_bytes());
            hasher.update(b" ");
            hasher.update(digest.to_hex().as_bytes());
        }
        hasher.finish().0.to_hex()
    }

    /// Every file of the tree.
    async fn plan(&self, ctx: &SyncContext<'_>, resolved: Resolved) -> Result<TreePlan, PypiError> {
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
        let fetched: Vec<Result<(MetadataRequest, Fetched), PypiError>> =
            stream::iter(wanted_metadata)
                .map(|request| async move {
                    let fetched = fetch_metadata(ctx, objects, &request).await?;
                    Ok((request, fetched))
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
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

/// Where a page redirected to, when it stays on the index's origin (scheme, host and
/// port): its links are relative to it. A page redirected elsewhere is refused: the
/// index's origin is what the operator chose to trust, and its pages name the digests.
fn same_origin(asked: &str, to: &str) -> Result<String, PypiError> {
    let origin = |url: &str| {
        url::Url::parse(url).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
            )
        })
    };
    if origin(asked).is_some() && origin(asked) == origin(to) {
        Ok(to.to_owned())
    } else {
        Err(PypiError::RedirectedOffSite {
            url: asked.to_owned(),
            to: to.to_owned(),
        })
    }
}

/// What a page is asked for with, as uv asks: PEP 691 JSON first, HTML accepted.
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// A project page's body, read as its `Content-Type` says (PEP 691 JSON, or PEP 503 HTML
/// as `text/html` or its `vnd` alias); with none (a `file://` index), JSON when it is a
/// JSON object. Another type is refused, as pip and uv refuse it. Its name must be the
/// one asked for.
fn read_page(
    body: &[u8],
    content_type: Option<&str>,
    name: &str,
    url: &str,
) -> Result<ProjectPage, PypiError> {
    let page_error = |reason: String| {
        PypiError::Page(crate::simple::PageError {
            origin: url.to_owned(),
            reason,
        })
    };
    let media = content_type.map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let json = match media.as_deref() {
        Some("application/vnd.pypi.simple.v1+json") => true,
        Some("application/vnd.pypi.simple.v1+html" | "text/html") => false,
        Some(other) => {
            return Err(page_error(format!(
                "served as {other:?}, which is no simple API type (expected \
                 application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html \
                 or text/html)"
            )));
        }
        None => body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{'),
    };
    let page = if json {
        ProjectPage::from_json(body, url)?
    } else {
        ProjectPage::from_html(body, name, url)?
    };
    if page.name != name {
        return Err(page_error(format!(
            "the page of {name:?} says it is {:?}'s",
            page.name
        )));
    }
    Ok(page)
}

/// A project page read, and what to remember of it for the next sync.
struct FetchedPage {
    url: String,
    project: Project,
    /// The SHA-256 of its body as served.
    digest: Sha256Digest,
    remember: Remember,
}

/// What the upstream cache keeps of a page.
enum Remember {
    /// Its entry as it is (a 304).
    Keep,
    /// No entry (no validators, a redirect, a 404).
    Forget,
    /// This body, stored.
    Body(CachedBody),
}

/// How long a 304 is trusted: a page last received whole longer ago is asked for without
/// validators, so that an ETag that stays while the page changes leaves the mirror at
/// most a day stale (as for conda's repodata).
const REVALIDATE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A file's metadata to fetch: its PEP 658 metadata file, or the `METADATA` inside the
/// wheel when the index serves none.
struct MetadataRequest {
    /// The metadata file's URL, or the wheel's.
    url: String,
    project: String,
    filename: String,
    version: Version,
    /// What the metadata file must be, or the wheel (whose `METADATA` is read).
    source: MetadataSource,
}

#[derive(Clone, Copy)]
enum MetadataSource {
    /// The PEP 658 file, with the digest its page states.
    File(Sha256Digest),
    /// The wheel itself, with the digest (and size) its page states.
    Wheel(Expected),
    /// The wheel itself, which its page gives no digest for (`allow_unhashed`).
    UnverifiedWheel,
}

/// Fetch a file's metadata, check it (against the digest its page states, or the wheel's
/// against the wheel's digest) and against the file it describes (name, version), and put
/// it into the store: the metadata, its digest and its size.
async fn fetch_metadata(
    ctx: &SyncContext<'_>,
    objects: &ObjectStore,
    request: &MetadataRequest,
) -> Result<(Metadata, Sha256Digest, u64), PypiError> {
    let body: Vec<u8> = match request.source {
        // Named by its digest: a whole copy already in the store (an earlier sync) is it.
        MetadataSource::File(sha256)
            if objects
                .read(&sha256)
                .is_ok_and(|held| Sha256Digest::of(&held) == sha256) =>
        {
            objects.read(&sha256)?
        }
        MetadataSource::File(sha256) => {
            let body = ctx.fetcher.get(&request.url, METADATA_CAP).await?;
            let expected = Expected { sha256, size: None };
            expected.check(&request.url, Sha256Digest::of(&body), body.len() as u64)?;
            body.to_vec()
        }
        MetadataSource::Wheel(expected) => {
            // Into the store, verified: the wheel is published if this release is chosen.
            ctx.fetcher
                .fetch_object(&request.url, expected, objects, ctx.reporter)
                .await?;
            let (file, _) = objects.open(&expected.sha256)?.into_parts();
            let url = request.url.clone();
            tokio::task::spawn_blocking(move || crate::wheel::read_metadata(file, &url))
                .await
                .map_err(|e| PypiError::Resolution {
                    mirror: String::new(),
                    reason: e.to_string(),
                })??
        }
        MetadataSource::UnverifiedWheel => {
            let (sha256, _) = fetch_unverified(ctx, objects, &request.url).await?;
            let (file, _) = objects.open(&sha256)?.into_parts();
            let url = request.url.clone();
            tokio::task::spawn_blocking(move || crate::wheel::read_metadata(file, &url))
                .await
                .map_err(|e| PypiError::Resolution {
                    mirror: String::new(),
                    reason: e.to_string(),
                })??
        }
    };
    let metadata = Metadata::parse(&body, &request.url)?;
    let mismatch = |reason: String| PypiError::MetadataMismatch {
        url: request.url.clone(),
        reason,
    };
    if metadata.name != request.project {
        return Err(mismatch(format!(
            "names project {:?}, the file {} is {:?}'s",
            metadata.name, request.filename, request.project
        )));
    }
    let version: Version = metadata
        .version
        .parse()
        .map_err(|e| mismatch(format!("Version {:?}: {e}", metadata.version)))?;
    if version != request.version {
        return Err(mismatch(format!(
            "says version {version}, the file {} is {}",
            request.filename, request.version
        )));
    }
    let sha256 = objects.insert_bytes(&body)?;
    Ok((metadata, sha256, body.len() as u64))
}

/// A file its page gives no digest for (`allow_unhashed`): downloaded whole (within
/// `max_index_size`) and stored under the digest it turns out to have, which our page
/// then states. Logged: nothing vouches for these bytes.
async fn fetch_unverified(
    ctx: &SyncContext<'_>,
    objects: &ObjectStore,
    url: &str,
) -> Result<(Sha256Digest, u64), PypiError> {
    let body = ctx
        .fetcher
        .get(url, ctx.fetcher.options().max_index_size)
        .await?;
    tracing::warn!(%url, "taken without a digest to check it by (allow_unhashed)");
    let sha256 = objects.insert_bytes(&body)?;
    Ok((sha256, body.len() as u64))
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

/// The resolution, between probe and plan.
struct PypiProbe<'a> {
    mirror: &'a PypiMirror,
    ctx: &'a SyncContext<'a>,
    resolved: Resolved,
    fingerprint: String,
}

impl<'a> Probe<'a> for PypiProbe<'a> {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn plan(self: Box<Self>) -> BoxFuture<'a, Result<TreePlan, RepositoryError>> {
        Box::pin(async move {
            self.mirror
                .plan(self.ctx, self.resolved)
                .await
                .map_err(RepositoryError::new)
        })
    }
}

impl Repository for PypiMirror {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "pypi"
    }

    fn upstream(&self) -> &str {
        &self.settings.index
    }

    fn publish_format(&self) -> &'static str {
        "mirror-pypi/1"
    }

    fn probe<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Probe<'a> + 'a>, RepositoryError>> {
        Box::pin(async move {
            let resolved = self.resolve(ctx).await.map_err(RepositoryError::new)?;
            let fingerprint = self.fingerprint(&resolved);
            Ok(Box::new(PypiProbe {
                mirror: self,
                ctx,
                resolved,
                fingerprint,
            }) as Box<dyn Probe<'a> + 'a>)
        })
    }
}
