//! What every format's proxy does the same way once it knows a file's digest: say
//! whether the store holds it, and fetch it against that digest into a batch of its own,
//! check it, record it, and only then move it into `objects/`.

use std::path::Path;

use super::{Hit, Lookup, ProxyError, ProxyFailure, ProxyLog, RecordKind};
use crate::fetch::{FetchError, Fetcher};
use crate::reporter::NoReporter;
use crate::store::{Expected, ObjectStore};

/// A file of known digest: a hit when the store holds it, else a miss keyed by the
/// digest (a file under two names is one fill).
pub fn held(objects: &ObjectStore, expected: Expected, immutable: bool) -> Lookup {
    if !objects.contains(&expected.sha256) {
        return Lookup::Miss {
            key: format!("object:{}", expected.sha256.to_hex()),
        };
    }
    match expected
        .size
        .map_or_else(|| objects.size(&expected.sha256).ok(), Some)
    {
        Some(size) => Lookup::Hit(Hit {
            sha256: expected.sha256,
            size,
            immutable,
        }),
        None => Lookup::NotListed,
    }
}

/// How a client is told about a failed download.
pub fn fetch_failure(error: &FetchError) -> ProxyFailure {
    match error {
        FetchError::Stalled { .. } | FetchError::TooSlow { .. } => ProxyFailure::TimedOut,
        FetchError::NotFound { .. } | FetchError::Http { .. } | FetchError::Network { .. } => {
            ProxyFailure::Upstream
        }
        FetchError::Store { .. } | FetchError::Io { .. } => ProxyFailure::Internal,
        _ => ProxyFailure::Refused,
    }
}

/// One file to fetch for a proxy.
#[derive(Debug, Clone)]
pub struct ObjectFill<'a> {
    /// Its path below `/<mirror>/` (what the log records).
    pub path: &'a str,
    /// Where upstream has it.
    pub url: &'a str,
    /// The digest (and size) its index states.
    pub expected: Expected,
    /// What the log calls it.
    pub kind: RecordKind,
    /// `conda mirror x`: what the failure's reason starts with.
    pub label: &'a str,
}

/// Fetch `fill` against its digest into a batch of its own, run `check` on the file (on
/// a blocking thread: it may read an archive), record it in `log`, make it durable.
/// Returns its size. A file that fails anything is removed and never recorded.
pub async fn fill_object(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    log: &ProxyLog,
    fill: ObjectFill<'_>,
    check: impl FnOnce(&Path) -> Result<(), ProxyError> + Send + 'static,
) -> Result<u64, ProxyError> {
    let sha256 = fill.expected.sha256;
    let internal = |e: String| ProxyError::new(ProxyFailure::Internal, e);
    if objects.contains(&sha256) {
        // Already here (a sync, another path of the same file): what the proxy serves
        // is recorded all the same, so `prune` and `snapshot --from-proxy` see it.
        let size = objects.size(&sha256).map_err(|e| internal(e.to_string()))?;
        log.record(fill.path, sha256, size, fill.kind)?;
        return Ok(size);
    }
    // A batch of its own: the file reaches `objects/` only after its checks and its log
    // line, whatever other fills flush meanwhile.
    let batch = objects.detached();
    fetcher
        .fetch_object(fill.url, fill.expected, &batch, &NoReporter)
        .await
        .map_err(|e| ProxyError::new(fetch_failure(&e), format!("{}: {e}", fill.label)))?;
    let object = batch.path(&sha256);
    let kept = async {
        tokio::task::spawn_blocking(move || check(&object))
            .await
            .map_err(|e| internal(e.to_string()))??;
        let size = batch.size(&sha256).map_err(|e| internal(e.to_string()))?;
        log.record(fill.path, sha256, size, fill.kind)?;
        Ok(size)
    }
    .await;
    // Whatever failed, the file must not reach `objects/` unchecked or unrecorded (a
    // batch dropped with files in it makes them durable).
    let size = match kept {
        Ok(size) => size,
        Err(error) => {
            let _ = batch.remove(&sha256);
            return Err(error);
        }
    };
    batch.make_durable().map_err(|e| internal(e.to_string()))?;
    tracing::info!(
        path = fill.path,
        url = fill.url,
        bytes = size,
        "{}: filled",
        fill.label
    );
    Ok(size)
}
