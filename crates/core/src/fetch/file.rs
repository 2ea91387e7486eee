//! `file://` URLs: a local or mounted mirror, read with the same verification and limits
//! as HTTP. The blocking reads run on tokio's blocking pool.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{FetchError, Fetcher, Tally, blocking};
use crate::regular_file::OpenRegularError;
use crate::reporter::Reporter;
use crate::store::{Expected, ObjectStore, StoreError};

/// The whole file under `limit` bytes.
pub(super) async fn read(
    fetcher: &Fetcher,
    url: &str,
    path: PathBuf,
    limit: u64,
    tally: Tally<'_>,
) -> Result<Bytes, FetchError> {
    let _permit = fetcher.permit().await;
    tally.request();
    let owned_url = url.to_owned();
    let body = within_deadline(
        fetcher,
        url,
        blocking(url, move || read_limited(&owned_url, &path, limit)),
    )
    .await?;
    tally.bytes(body.len() as u64);
    Ok(body)
}

fn read_limited(url: &str, path: &Path, limit: u64) -> Result<Bytes, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let file = open_upstream(url, path)?;
    let len = file.metadata().map_err(|e| io_error(url, e))?.len();
    if len > limit {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` guards against a file that grows while it is read.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| io_error(url, e))?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(body))
}

/// Copy the file into the store through the verifying insert; returns its size.
pub(super) async fn fetch_object(
    fetcher: &Fetcher,
    url: &str,
    path: PathBuf,
    expected: Expected,
    objects: &ObjectStore,
    reporter: &dyn Reporter,
    tally: Tally<'_>,
) -> Result<u64, FetchError> {
    let _permit = fetcher.permit().await;
    tally.request();
    let objects = objects.clone();
    let owned_url = url.to_owned();
    let len = within_deadline(
        fetcher,
        url,
        blocking(url, move || {
            let url = owned_url.as_str();
            let file = open_upstream(url, &path)?;
            if let Some(size) = expected.size {
                let actual = file.metadata().map_err(|e| io_error(url, e))?.len();
                if actual != size {
                    return Err(FetchError::from_store(
                        url,
                        StoreError::SizeMismatch {
                            what: url.to_owned(),
                            expected: size,
                            actual,
                        },
                    ));
                }
            }
            let (_, len) = objects
                .insert_reader(file, Some(&expected), url)
                .map_err(|source| FetchError::from_store(url, source))?;
            Ok(len)
        }),
    )
    .await?;
    tally.bytes(len);
    // The copy runs on a blocking thread that cannot borrow the reporter: report at the end.
    reporter.advance(len);
    Ok(len)
}

/// A `file://` read gets the HTTP body's `request_deadline`: a mount that stops
/// answering (a hung NFS server) must not hold the store's lock for ever. The blocked
/// thread is left behind; the sync fails and releases the lock.
async fn within_deadline<T>(
    fetcher: &Fetcher,
    url: &str,
    work: impl std::future::Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    let deadline = fetcher.options().request_deadline;
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::TooSlow {
            url: url.to_owned(),
            reason: format!("still reading after {deadline:?} (`request_deadline`)"),
        }),
    }
}

/// A file of a `file://` upstream: a regular file, opened without blocking, so a FIFO or
/// a device planted in the mirror cannot hang or flood the sync (with the lock held).
fn open_upstream(url: &str, path: &Path) -> Result<std::fs::File, FetchError> {
    match crate::regular_file::open_regular(path) {
        Ok(file) => Ok(file),
        Err(OpenRegularError::Io(source)) => Err(io_error(url, source)),
        Err(not_regular @ OpenRegularError::NotRegular(_)) => Err(FetchError::Io {
            url: url.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, not_regular.to_string()),
        }),
    }
}

fn io_error(url: &str, source: std::io::Error) -> FetchError {
    if source.kind() == std::io::ErrorKind::NotFound {
        FetchError::NotFound {
            url: url.to_owned(),
        }
    } else {
        FetchError::Io {
            url: url.to_owned(),
            source,
        }
    }
}
