//! The [`Repository`] trait: what a mirror format (APT, conda) implements.
//!
//! A repository knows its upstream's layout and trust model; the core knows how to
//! download, store, snapshot and publish. The split is two steps:
//!
//! 1. [`Repository::probe`] fetches and verifies the upstream's top-level metadata (APT's
//!    signed Release files, conda's repodata) and returns a [`Probe`] whose
//!    [`fingerprint`](Probe::fingerprint) digests it together with the mirror's settings.
//!    The driver, not the format, decides from it whether anything changed: the same
//!    fingerprint as the previous snapshot and every object of that snapshot still in the
//!    store is a no-op, for every format alike.
//! 2. [`Probe::plan`] decides the selection, generates and stores the files we write
//!    ourselves (filtered indices, our signed Release), and names every file of the
//!    resulting tree with the digest it must have and where to get it.
//!
//! [`crate::sync::sync`] does the rest. The trait is object-safe so that a front end can
//! hold every configured mirror as a `Box<dyn Repository>`, whatever its format.

use std::future::Future;
use std::pin::Pin;

use crate::error::RepositoryError;
use crate::fetch::Fetcher;
use crate::reporter::Reporter;
use crate::signing::SigningKey;
use crate::snapshot::Snapshot;
use crate::store::{Expected, Store};

/// What a repository gets to work with during a sync.
pub struct SyncContext<'a> {
    /// The store (metadata and generated files go into its objects).
    pub store: &'a Store,
    /// The shared fetcher.
    pub fetcher: &'a Fetcher,
    /// Our signing key, for formats that re-sign what they regenerate.
    pub signing_key: Option<&'a SigningKey>,
    /// Progress sink.
    pub reporter: &'a dyn Reporter,
    /// The newest snapshot of this mirror, if any (the driver compares fingerprints with
    /// it; a format may use it to fetch less).
    pub previous: Option<&'a Snapshot>,
}

/// Where a planned file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Already in the store (metadata fetched during planning, generated files).
    Stored,
    /// Download from this URL when the store lacks the object.
    Url(String),
    /// Download from `prefix` followed by the file's path from byte `from` on (a conda
    /// package: its subdir's base URL and its file name): one shared prefix instead of a
    /// URL per file, for plans of hundreds of thousands of packages.
    Prefixed {
        /// The URL up to the part that repeats the path.
        prefix: std::sync::Arc<str>,
        /// Where in the path that part starts.
        from: usize,
    },
}

/// One file the tree must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path inside the published tree.
    pub path: String,
    /// Digest (and size) the file must have.
    pub expected: Expected,
    /// Where to get it.
    pub source: Source,
}

impl PlannedFile {
    /// The URL to download the file from; `None` when it is in the store already.
    pub fn url(&self) -> Option<String> {
        match &self.source {
            Source::Stored => None,
            Source::Url(url) => Some(url.clone()),
            Source::Prefixed { prefix, from } => Some(format!(
                "{prefix}{}",
                self.path.get(*from..).unwrap_or_default()
            )),
        }
    }
}

/// A complete tree to snapshot.
#[derive(Debug)]
pub struct TreePlan {
    /// Every file of the tree.
    pub files: Vec<PlannedFile>,
    /// What the format decided, for the report and the audit log.
    pub summary: Box<dyn PlanSummary>,
}

/// A format's account of one plan (counts, selected names, warnings): typed in the format
/// crate, opaque to the driver.
pub trait PlanSummary: std::fmt::Debug + Send + Sync {
    /// One line for a person, e.g. `12 of 63412 packages selected`.
    fn line(&self) -> String;
    /// Everything, for `--json` output and the audit log.
    fn to_json(&self) -> serde_json::Value;
}

impl serde::Serialize for dyn PlanSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// A boxed future that is `Send`: what the object-safe methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The upstream's verified top-level metadata, between [`Repository::probe`] and
/// [`Probe::plan`].
pub trait Probe<'a>: Send {
    /// A digest of the verified upstream metadata and of every setting that shapes the
    /// tree. Equal fingerprints must mean an equal tree; the driver salts it with the
    /// repository's kind and [`Repository::publish_format`].
    fn fingerprint(&self) -> &str;

    /// Name every file of the new tree (fetching and storing the further metadata this
    /// takes).
    fn plan(self: Box<Self>) -> BoxFuture<'a, Result<TreePlan, RepositoryError>>;
}

/// A mirror format's upstream logic.
pub trait Repository: Send + Sync {
    /// The mirror's name (its directory under `public/`).
    fn name(&self) -> &str;
    /// `apt` or `conda`: recorded in snapshots.
    fn kind(&self) -> &'static str;
    /// The upstream URL, for reports and snapshots.
    fn upstream(&self) -> &str;
    /// The version of what this format publishes for a given upstream and settings, such
    /// as `mirror-apt/1`. Bump it when the published tree changes for the same input, so
    /// that a new release does not take an old snapshot for an up-to-date one.
    fn publish_format(&self) -> &'static str;

    /// Fetch and verify the upstream's top-level metadata.
    fn probe<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Probe<'a> + 'a>, RepositoryError>>;

    /// Inspect a file downloaded for `path` (its digest already matched) before it may
    /// enter a snapshot: a format can refuse content that hashes right but is broken
    /// (a conda package whose archive has the wrong layout). Default: accept.
    fn check_download(
        &self,
        _path: &str,
        _object: &std::path::Path,
    ) -> Result<(), RepositoryError> {
        Ok(())
    }
}
