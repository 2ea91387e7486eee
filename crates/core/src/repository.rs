//! The [`Repository`] trait: what a mirror format (APT, conda) implements.
//!
//! A repository knows its upstream's layout and trust model; the core knows how to
//! download, store, snapshot and publish. The split is one method, [`Repository::plan`]:
//! fetch and verify upstream metadata (storing it), decide the selection, generate and
//! store the files we write ourselves (filtered indices, our signed Release), and name
//! every file of the resulting tree with the digest it must have and where to get it.
//! [`crate::sync::sync`] does the rest.

use std::future::Future;

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
    /// The newest snapshot of this mirror, if any (lets a plan stop early).
    pub previous: Option<&'a Snapshot>,
}

/// Where a planned file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Already in the store (metadata fetched during planning, generated files).
    Stored,
    /// Download from this URL when the store lacks the object.
    Url(String),
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

/// A complete tree to snapshot.
#[derive(Debug, Clone)]
pub struct TreePlan {
    /// Digest of the upstream metadata and the mirror's settings.
    pub fingerprint: String,
    /// Every file of the tree.
    pub files: Vec<PlannedFile>,
    /// Format-specific facts for the report and audit log (counts, selected names...).
    pub summary: serde_json::Value,
}

/// The outcome of planning.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Upstream and settings are exactly what the previous snapshot was made from.
    Unchanged,
    /// A tree to build.
    Changed(TreePlan),
}

/// A mirror format's upstream logic.
pub trait Repository: Send + Sync {
    /// The format's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The mirror's name (its directory under `public/`).
    fn name(&self) -> &str;
    /// `apt` or `conda`: recorded in snapshots.
    fn kind(&self) -> &'static str;
    /// The upstream URL, for reports and snapshots.
    fn upstream(&self) -> &str;

    /// Fetch and verify upstream metadata and name every file of the new tree.
    fn plan<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> impl Future<Output = Result<Plan, Self::Error>> + Send + 'a;

    /// Inspect a file downloaded for `path` (its digest already matched) before it may
    /// enter a snapshot: a format can refuse content that hashes right but is broken
    /// (a conda package whose archive has the wrong layout). Default: accept.
    fn check_download(&self, _path: &str, _object: &std::path::Path) -> Result<(), Self::Error> {
        Ok(())
    }
}
