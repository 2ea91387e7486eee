//! `file://` URLs: a local or mounted mirror, read with the same verification and limits
//! as HTTP. The blocking reads run on tokio's blocking pool.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{FetchError, Fetcher, Tally, blocking};
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
    let body = blocking(url, move || read_limited(&owned_url, &path, limit)).await?;
    tally.bytes(body.len() as u64);
    Ok(body)
}

fn read_limited(url: &str, path: &Path, limit: u64) -> Result<Bytes, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let file = fs_err::File::open(path).map_err(|e| io_error(url, e))?;
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
    let len = blocking(url, move || {
        let url = owned_url.as_str();
        let file = fs_err::File::open(&path).map_err(|e| io_error(url, e))?;
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
    })
    .await?;
    tally.bytes(len);
    // The copy runs on a blocking thread that cannot borrow the reporter: report at the end.
    reporter.advance(len);
    Ok(len)
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
