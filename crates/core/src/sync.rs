//! The sync driver: plan with a [`Repository`], download what the store lacks, record a
//! snapshot, optionally publish. Format-agnostic; the CLI calls it once per mirror.

use serde::Serialize;

use crate::audit::AuditRecord;
use crate::digest::Hasher;
use crate::error::{Classify, ErrorClass, RepositoryError};
use crate::fetch::{FetchError, FetchJob, FetchStats};
use crate::publish::Published;
use crate::repository::{PlanSummary, Repository, SyncContext};
use crate::snapshot::{Snapshot, SnapshotFile};
use crate::store::StoreError;

/// How to sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Plan and count, download nothing, write no snapshot.
    pub dry_run: bool,
    /// Publish the new snapshot when the sync succeeds.
    pub publish: bool,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncOutcome {
    /// The upstream and settings are what the previous snapshot was made from, and its
    /// objects are all in the store: nothing was done.
    Unchanged,
    /// A snapshot was recorded (new, or the previous one when the tree came out the same).
    Synced,
    /// Planned and counted only.
    DryRun,
}

/// What a sync did.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    /// The mirror.
    pub mirror: String,
    /// How it ended.
    pub outcome: SyncOutcome,
    /// The snapshot now current (new or previous).
    pub snapshot: Option<String>,
    /// Files in the tree.
    pub files: usize,
    /// Bytes in the tree.
    pub bytes: u64,
    /// Files the store lacked (downloaded, or to download in a dry run).
    pub missing_files: usize,
    /// Bytes the store lacked.
    pub missing_bytes: u64,
    /// What the fetcher did during this sync (requests, bytes, objects).
    pub fetched: FetchStats,
    /// The format's account of its plan (none when unchanged).
    pub summary: Option<Box<dyn PlanSummary>>,
    /// Set when the sync also published.
    pub published: Option<String>,
}

impl SyncReport {
    /// The format's summary as JSON (`null` when the plan had none).
    pub fn summary_json(&self) -> serde_json::Value {
        self.summary
            .as_ref()
            .map_or(serde_json::Value::Null, |s| s.to_json())
    }

    /// One line for a person.
    pub fn line(&self) -> String {
        let fetched = format!(
            "{} requests, {} received, {} new objects",
            self.fetched.requests,
            human_bytes(self.fetched.bytes),
            self.fetched.objects
        );
        let snapshot = self.snapshot.as_deref().unwrap_or("-");
        match self.outcome {
            SyncOutcome::Unchanged if self.published.is_some() => format!(
                "{}: unchanged upstream; snapshot {snapshot} published now (an earlier run \
                 stopped before publishing it) ({fetched})",
                self.mirror
            ),
            SyncOutcome::Unchanged => format!(
                "{}: unchanged upstream; snapshot {snapshot} still current ({fetched})",
                self.mirror
            ),
            SyncOutcome::DryRun => format!(
                "{}: would fetch {} files ({}) of {} files ({}) in the tree",
                self.mirror,
                self.missing_files,
                human_bytes(self.missing_bytes),
                self.files,
                human_bytes(self.bytes)
            ),
            SyncOutcome::Synced => format!(
                "{}: snapshot {snapshot} with {} files ({}); downloaded {} files ({}); {}{fetched}",
                self.mirror,
                self.files,
                human_bytes(self.bytes),
                self.missing_files,
                human_bytes(self.missing_bytes),
                if self.published.is_some() {
                    "published; "
                } else {
                    "not published; "
                },
            ),
        }
    }
}

/// `1.2 MiB`-style byte counts for report lines.
pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).to_string()
}

/// A sync failed; nothing was published and no snapshot was written.
///
/// The message is `<mirror>: <the error's message>`; [`source`](std::error::Error::source)
/// continues with the wrapped error's own causes, so a chain printed in full (`{:#}`)
/// shows each message once.
#[derive(Debug)]
pub enum SyncError {
    /// The repository's planning failed (upstream trust, parsing, selection).
    Repository {
        /// The mirror.
        mirror: String,
        /// The format's error.
        source: RepositoryError,
    },
    /// A download failed (after retries) or did not verify.
    Fetch {
        /// The mirror.
        mirror: String,
        /// The fetch error (names the URL).
        source: FetchError,
    },
    /// The store refused something.
    Store {
        /// The mirror.
        mirror: String,
        /// The store error.
        source: StoreError,
    },
}

impl SyncError {
    fn parts(&self) -> (&str, &(dyn std::error::Error + 'static)) {
        match self {
            SyncError::Repository { mirror, source } => (mirror, source),
            SyncError::Fetch { mirror, source } => (mirror, source),
            SyncError::Store { mirror, source } => (mirror, source),
        }
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mirror, error) = self.parts();
        write!(f, "{mirror}: {error}")
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.parts().1.source()
    }
}

impl Classify for SyncError {
    fn class(&self) -> ErrorClass {
        match self {
            SyncError::Repository { source, .. } => source.class(),
            SyncError::Fetch { source, .. } => source.class(),
            SyncError::Store { source, .. } => source.class(),
        }
    }
}

/// The fingerprint a snapshot records: the format's digest of its upstream metadata and
/// settings, salted with the format and the version of what it publishes.
fn salted_fingerprint(repo: &dyn Repository, probed: &str) -> String {
    let mut hasher = Hasher::new();
    for part in [repo.kind(), repo.publish_format(), probed] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finish().0.to_hex()
}

/// Sync one mirror. The caller holds the store lock.
pub async fn sync(
    repo: &dyn Repository,
    ctx: &SyncContext<'_>,
    options: SyncOptions,
) -> Result<SyncReport, SyncError> {
    let mirror = repo.name().to_owned();
    let store_err = |source| SyncError::Store {
        mirror: mirror.clone(),
        source,
    };
    let repo_err = |source| SyncError::Repository {
        mirror: mirror.clone(),
        source,
    };
    let before = ctx.fetcher.stats();
    let fetched_since = |s: FetchStats| FetchStats {
        requests: s.requests - before.requests,
        bytes: s.bytes - before.bytes,
        objects: s.objects - before.objects,
    };

    let probe = repo.probe(ctx).await.map_err(repo_err)?;
    let fingerprint = salted_fingerprint(repo, probe.fingerprint());
    // The one no-op rule, the same for every format: what the tree is made from has not
    // changed, and nothing of the tree has gone from the store since.
    if let Some(previous) = ctx.previous
        && previous.fingerprint == fingerprint
        && previous
            .files
            .iter()
            .all(|f| ctx.store.objects().contains(&f.sha256))
    {
        ctx.reporter.finish();
        tracing::info!(%mirror, "upstream unchanged since the last snapshot");
        // An earlier run saved this snapshot and stopped before publishing it (killed,
        // or `--no-publish`): publishing it now is what that run would have done.
        let mut published = None;
        if options.publish
            && !options.dry_run
            && ctx
                .store
                .unpublished_snapshot(&mirror)
                .map_err(store_err)?
                .as_deref()
                == Some(previous.id.as_str())
        {
            tracing::warn!(%mirror, snapshot = %previous.id,
                "the newest snapshot was never published; publishing it now");
            published = Some(
                publish_snapshot(ctx.store, previous)
                    .map_err(store_err)?
                    .snapshot,
            );
        }
        return Ok(SyncReport {
            mirror: mirror.clone(),
            outcome: SyncOutcome::Unchanged,
            snapshot: Some(previous.id.clone()),
            files: previous.files.len(),
            bytes: previous.total_size(),
            missing_files: 0,
            missing_bytes: 0,
            fetched: fetched_since(ctx.fetcher.stats()),
            summary: None,
            published,
        });
    }
    let plan = probe.plan().await.map_err(repo_err)?;

    let objects = ctx.store.objects();
    let mut jobs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut missing_bytes = 0;
    for file in &plan.files {
        if objects.contains(&file.expected.sha256) || !seen.insert(file.expected.sha256) {
            continue;
        }
        match file.url() {
            Some(url) => {
                missing_bytes += file.expected.size.unwrap_or(0);
                jobs.push(FetchJob {
                    url,
                    expected: file.expected,
                });
            }
            None => {
                return Err(store_err(StoreError::MissingObject {
                    digest: file.expected.sha256,
                    path: file.path.clone(),
                }));
            }
        }
    }
    let missing_files = jobs.len();
    let downloaded: std::collections::HashSet<_> = jobs.iter().map(|j| j.expected.sha256).collect();
    let files: Vec<SnapshotFile> = plan
        .files
        .iter()
        .map(|f| SnapshotFile {
            path: f.path.clone(),
            sha256: f.expected.sha256,
            size: f.expected.size.unwrap_or(0),
        })
        .collect();
    let bytes = files.iter().map(|f| f.size).sum();

    if options.dry_run {
        return Ok(SyncReport {
            mirror: mirror.clone(),
            outcome: SyncOutcome::DryRun,
            snapshot: ctx.previous.map(|s| s.id.clone()),
            files: files.len(),
            bytes,
            missing_files,
            missing_bytes,
            fetched: fetched_since(ctx.fetcher.stats()),
            summary: Some(plan.summary),
            published: None,
        });
    }

    ctx.reporter.begin(
        &format!("{mirror}: downloading {missing_files} files"),
        Some(missing_bytes),
    );
    let result = ctx.fetcher.fetch_objects(jobs, objects, ctx.reporter).await;
    ctx.reporter.finish();
    result.map_err(|source| SyncError::Fetch {
        mirror: mirror.clone(),
        source,
    })?;
    // Format checks on what was just downloaded, before anything names it in a snapshot.
    for file in plan
        .files
        .iter()
        .filter(|f| downloaded.contains(&f.expected.sha256))
    {
        repo.check_download(&file.path, &objects.path(&file.expected.sha256))
            .map_err(repo_err)?;
    }

    // Sizes unknown at plan time are read from the verified objects.
    let mut files = files;
    for f in &mut files {
        if f.size == 0 {
            f.size = objects.size(&f.sha256).map_err(store_err)?;
        }
    }
    let sequence = ctx.store.sequence(&mirror).map_err(store_err)?;
    let mut snapshot = Snapshot::new(&mirror, repo.kind(), repo.upstream(), &fingerprint, files)
        .map_err(store_err)?
        .sequenced(sequence);
    // Same tree as before (e.g. upstream re-signed with no content change): keep its id.
    if let Some(previous) = ctx.previous
        && previous.files == snapshot.files
        && previous.fingerprint == snapshot.fingerprint
    {
        snapshot = previous.clone();
    } else {
        ctx.store.save_snapshot(&snapshot).map_err(store_err)?;
    }
    let fetched = fetched_since(ctx.fetcher.stats());
    ctx.store
        .audit(&AuditRecord::new(
            "sync",
            Some(&mirror),
            serde_json::json!({
                "upstream": crate::redact::redact_url(repo.upstream()),
                "snapshot": snapshot.id,
                "files": snapshot.files.len(),
                "bytes": snapshot.total_size(),
                "downloaded_objects": fetched.objects,
                "downloaded_bytes": fetched.bytes,
                "summary": plan.summary.to_json(),
            }),
        ))
        .map_err(store_err)?;
    crate::failpoint::hit("sync:before-publish");

    let published = if options.publish {
        Some(publish_snapshot(ctx.store, &snapshot).map_err(store_err)?)
    } else {
        None
    };
    Ok(SyncReport {
        mirror: mirror.clone(),
        outcome: SyncOutcome::Synced,
        snapshot: Some(snapshot.id.clone()),
        files: snapshot.files.len(),
        bytes: snapshot.total_size(),
        missing_files,
        missing_bytes,
        fetched,
        summary: Some(plan.summary),
        published: published.map(|p| p.snapshot),
    })
}

/// Publish a snapshot and record it in the audit log.
pub fn publish_snapshot(
    store: &crate::store::Store,
    snapshot: &Snapshot,
) -> Result<Published, StoreError> {
    let published = store.publish(snapshot)?;
    store.audit(&AuditRecord::new(
        "publish",
        Some(&snapshot.mirror),
        serde_json::json!({"snapshot": published.snapshot, "previous": published.previous}),
    ))?;
    Ok(published)
}
