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
//!
//! The work is split by what it does: `closure` (the rounds of resolution), `upstream`
//! (pages and metadata read and checked), `tree` (the plan and its summary); this module
//! holds the mirror, its fingerprint and the [`Repository`] it is.

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

mod closure;
mod tree;
mod upstream;
pub(crate) use upstream::{ACCEPT, file_url, read_page, same_origin};

pub use tree::PypiSummary;

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
