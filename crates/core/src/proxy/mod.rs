//! The seam between `serve` and a format crate for a mirror in proxy mode: a verifying
//! pull-through cache.
//!
//! A proxy mirror has no list of packages written in advance. `serve` asks its
//! [`ProxySource`] about every request: a file it holds verified is a [`Lookup::Hit`]
//! (served from the object store like any published file); a file it could hold is a
//! [`Lookup::Miss`], which `serve` fills once however many clients wait for it
//! ([`Inflight`]) and then looks up again; anything else is [`Lookup::NotListed`], a 404
//! that costs no upstream request. A fill verifies what it fetches as `sync` does
//! (indices by what signs or lists them, packages by the digest and size their index
//! states) before anything is stored or served.
//!
//! Fills never take the store's writer lock: objects are content-addressed, so a fill
//! and a `sync` writing the same object agree on its bytes. They wait in a directory of
//! their own ([`Store::for_proxy`]), which a writer taking the lock leaves alone, and
//! every object a fill keeps is first recorded in the mirror's [`ProxyLog`], so `prune`
//! (which keeps what the logs name) never removes an object a proxy serves.

mod fill;
mod inflight;
mod log;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::digest::Sha256Digest;
use crate::error::RepositoryError;
use crate::fetch::FetchOptions;
use crate::signing::SigningKey;
use crate::snapshot::SnapshotFile;
use crate::store::Store;

pub use fill::{ObjectFill, fetch_failure, fill_object, held};
pub use inflight::Inflight;
pub use log::{ProxyLog, ProxyRecord, RecordKind};

/// A file the proxy holds, verified: the object to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The object's digest (also the response's `ETag`).
    pub sha256: Sha256Digest,
    /// Its length, checked against the object when it is opened.
    pub size: u64,
    /// Named by its digest or by a digest-pinned record (a package): never changes, so
    /// clients may cache it for ever.
    pub immutable: bool,
}

/// What the proxy knows of a path (below `/<mirror>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Serve this object now.
    Hit(Hit),
    /// Not held (or metadata due for revalidation): fill it, then look again. Fills with
    /// the same `key` are one fill (a package under two paths, one subdir's index).
    Miss {
        /// What coalesces fills.
        key: String,
    },
    /// No index this proxy trusts lists it: 404, and no upstream request.
    NotListed,
}

/// Why a fill failed, as the client's status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFailure {
    /// Upstream does not have a file its index lists, or has no such index (502).
    Upstream,
    /// What upstream sent failed verification: nothing was stored or served (502).
    Refused,
    /// Upstream did not answer in time (504); the fill goes on for later clients.
    TimedOut,
    /// Too many fills in flight (503).
    Busy,
    /// Our side failed (the store): 500.
    Internal,
}

/// A failed fill: its class and one line saying why (for the log and the client).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct ProxyError {
    /// How the client is answered.
    pub failure: ProxyFailure,
    /// Names the URL or file and what was wrong.
    pub reason: String,
}

impl ProxyError {
    /// A failure of `failure`'s class.
    pub fn new(failure: ProxyFailure, reason: impl Into<String>) -> Self {
        Self {
            failure,
            reason: reason.into(),
        }
    }
}

/// What a format crate needs to run a proxy: the store it fills, and the fetch settings
/// of the config (`serve` turns retries down: a client is waiting).
#[derive(Debug, Clone)]
pub struct ProxyContext {
    /// The store; fills write through [`Store::for_proxy`].
    pub store: Store,
    /// `[fetch]` of the config, with the mirrors' credentials.
    pub fetch: FetchOptions,
}

/// One mirror in proxy mode, as its format crate runs it.
pub trait ProxySource: Send + Sync {
    /// The mirror's name (its URL prefix).
    fn name(&self) -> &str;

    /// What the proxy holds for `path` (below `/<mirror>/`, checked by the path rule).
    /// In memory, never blocking: called on the connection's own thread.
    fn lookup(&self, path: &str) -> Lookup;

    /// Fetch and verify what `path` needs (its index first, when the proxy has none),
    /// store it and record it; the next [`lookup`](Self::lookup) of `path` then hits,
    /// or says why not. Runs as its own task: a client hanging up does not cancel it.
    fn fill(self: Arc<Self>, path: String) -> BoxFuture<'static, Result<(), ProxyError>>;

    /// What clients pulled (as the log and the store hold it), as a tree a snapshot can
    /// name, with the selection that reproduces it on a mirror; `key` signs what the
    /// format signs (an APT Release). Nothing pulled is [`NothingPulled`].
    fn pulled(&self, key: Option<&SigningKey>) -> Result<Pulled, RepositoryError>;
}

/// `snapshot --from-proxy` of a proxy through which nothing was pulled: an empty tree
/// would be published as if it were a selection.
#[derive(Debug, thiserror::Error)]
#[error("mirror {mirror}: clients have pulled nothing through the proxy yet; nothing to snapshot")]
pub struct NothingPulled {
    /// The mirror.
    pub mirror: String,
}

impl crate::error::Classify for NothingPulled {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::EmptySelection
    }
}

/// What clients pulled through a proxy, made into a tree (`snapshot --from-proxy`).
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The format (`conda`), the snapshot's `kind`.
    pub kind: &'static str,
    /// Every file of the tree, generated indices stored already.
    pub files: Vec<SnapshotFile>,
    /// A fragment of the mirror's settings section selecting what was pulled (for a
    /// mirror in `mode = "mirror"`, to carry across a full air gap).
    pub allow_list: String,
    /// Counts for the report (format-specific).
    pub summary: serde_json::Value,
}

/// `Arc<dyn ProxySource>` of a format's proxy as it was built (for
/// [`MirrorSettings::proxy`](crate::settings::MirrorSettings::proxy)).
pub fn shared<P, E>(built: Result<P, E>) -> Result<Arc<dyn ProxySource>, RepositoryError>
where
    P: ProxySource + 'static,
    E: std::error::Error + crate::error::Classify + Send + Sync + 'static,
{
    built
        .map(|proxy| Arc::new(proxy) as Arc<dyn ProxySource>)
        .map_err(RepositoryError::new)
}

/// How long after it was fetched a proxy asks upstream whether its metadata changed,
/// unless the settings say otherwise.
pub const DEFAULT_REVALIDATE_AFTER: Duration = Duration::from_secs(600);
