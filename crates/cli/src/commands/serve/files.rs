//! Whole files, the requests clients make most (an InRelease, a repodata shard, a
//! `.metadata` page, a `.deb`): opened and checked on the worker thread, and sent with
//! `sendfile` by the connection loop or as a body by the hyper path.
//!
//! tower-http's `ServeDir` takes every file operation (metadata, open, each read) to
//! tokio's blocking pool: three or four thread hand-offs a request, which capped a small
//! file at ~16k requests/s on two cores where nginx serves ~80k. A published file is a
//! hard link to an object, almost always in the page cache, so it is opened and checked
//! right here, as nginx does. Ranges, directories and anything unexpected go to
//! `ServeDir`, whose answers are unchanged.

use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Files up to this size are read whole by the hyper path; larger ones are sent in chunks
/// of this size.
pub const SMALL_FILE: u64 = 256 << 10;

/// An open regular file of `public/`, its length read from the open descriptor.
///
/// The descriptor keeps its inode: a file replaced by a publish mid-transfer is sent
/// whole, old or new, never a mix.
pub struct WholeFile {
    pub file: std::fs::File,
    pub len: u64,
    pub content_type: &'static str,
    /// A content-addressed file (a conda repodata shard, named by its SHA-256): it can
    /// never change, and CEP-16 asks for `Cache-Control: immutable` so clients never
    /// ask again.
    pub immutable: bool,
}

/// The `Cache-Control` of an [`WholeFile::immutable`] file.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `.../shards/<64 hex>.msgpack.zst`.
fn content_addressed(relative: &str) -> bool {
    let mut parts = relative.rsplit('/');
    let (Some(name), Some("shards")) = (parts.next(), parts.next()) else {
        return false;
    };
    name.strip_suffix(".msgpack.zst")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl WholeFile {
    /// `decoded` (a request path already checked by the path rule) under `public`, when
    /// it is a regular file; `None` for a directory, a missing file or `/`.
    pub fn open(public: &Path, decoded: &str) -> Option<Self> {
        let relative = decoded.strip_prefix('/')?;
        if relative.is_empty() || relative.ends_with('/') {
            return None;
        }
        let path = public.join(relative);
        let file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(Self {
            file,
            len: meta.len(),
            content_type: mime_guess::from_path(&path)
                .first_raw()
                .unwrap_or("application/octet-stream"),
            immutable: content_addressed(relative),
        })
    }

    /// An object of the store served under the name `name` (which gives its content
    /// type), when it is a regular file of length `len` (a proxy's hit: anything else is
    /// damage, and not served).
    pub fn open_object(path: &Path, len: u64, name: &str, immutable: bool) -> Option<Self> {
        let file = std::fs::File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() != len {
            tracing::warn!(path = %path.display(), "object missing or of the wrong length");
            return None;
        }
        Some(Self {
            file,
            len,
            content_type: mime_guess::from_path(name)
                .first_raw()
                .unwrap_or("application/octet-stream"),
            immutable,
        })
    }

    /// As a response of the hyper path: read whole up to [`SMALL_FILE`], in chunks of
    /// that size beyond (one read per chunk as hyper asks for it, so memory stays flat
    /// under slow readers); `head`: the headers only.
    pub fn into_response(self, head: bool) -> Response {
        let Self {
            mut file,
            len,
            content_type,
            immutable,
        } = self;
        let body = if head {
            Body::empty()
        } else if len <= SMALL_FILE {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            match file.read_to_end(&mut bytes) {
                Ok(_) if bytes.len() as u64 == len => Body::from(bytes),
                _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        } else {
            Body::new(FileBody {
                file,
                remaining: len,
            })
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if immutable {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        }
        response
    }
}

/// A large file's body: [`SMALL_FILE`]-sized reads as hyper polls for data.
struct FileBody {
    file: std::fs::File,
    remaining: u64,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining.min(SMALL_FILE)).unwrap_or(0);
        let mut chunk = vec![0u8; want];
        let read = match self.file.read(&mut chunk) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ended before its stated length",
            )),
            Ok(n) => Ok(n),
            Err(e) => Err(e),
        };
        Poll::Ready(Some(read.map(|n| {
            chunk.truncate(n);
            self.remaining -= n as u64;
            http_body::Frame::data(Bytes::from(chunk))
        })))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// Send `len` bytes of `file` from its start on `stream` without copying them through
/// user space (`sendfile`), as the socket takes them: a slow reader holds what its
/// socket buffer holds, in the kernel. A file shorter than `len` is an error (the
/// response is cut, and the caller closes the connection).
///
/// `sendfile` has no `MSG_NOSIGNAL`: a client gone mid-transfer is an `EPIPE` here because
/// Rust's runtime starts every program with `SIGPIPE` ignored (nothing in this workspace
/// restores it; `tests/it/serve_limits.rs` hangs up mid-file and asks again).
#[cfg(target_os = "linux")]
pub async fn send_file(
    stream: &tokio::net::TcpStream,
    file: &std::fs::File,
    len: u64,
    stall: std::time::Duration,
) -> std::io::Result<()> {
    use tokio::io::Interest;
    // One call moves at most this much, so one large file does not hold a worker thread
    // while others wait (the socket buffer bounds it in practice anyway).
    const CALL: u64 = 1 << 20;
    let mut offset = 0u64;
    while offset < len {
        super::connection::writable(stream, stall).await?;
        let count = usize::try_from((len - offset).min(CALL)).unwrap_or(1 << 20);
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut offset), count).map_err(Into::into)
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended before its stated length",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Elsewhere: read and write in [`SMALL_FILE`] chunks.
#[cfg(not(target_os = "linux"))]
pub async fn send_file(
    stream: &tokio::net::TcpStream,
    file: &std::fs::File,
    len: u64,
    stall: std::time::Duration,
) -> std::io::Result<()> {
    let mut file = file.try_clone()?;
    let mut remaining = len;
    let mut chunk = vec![0u8; usize::try_from(SMALL_FILE).unwrap_or(1 << 18)];
    while remaining > 0 {
        let want = usize::try_from(remaining.min(SMALL_FILE)).unwrap_or(chunk.len());
        let n = file.read(&mut chunk[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        super::connection::write_all(stream, &chunk[..n], stall).await?;
        remaining -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_regular_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("m/dists")).expect("mkdir");
        std::fs::write(dir.path().join("m/dists/InRelease"), b"signed").expect("write");
        std::fs::write(dir.path().join("m/repodata.json"), b"{}").expect("write");
        std::fs::write(
            dir.path().join("m/big.deb"),
            vec![0u8; usize::try_from(SMALL_FILE).expect("fits") + 1],
        )
        .expect("write");
        let open = |path: &str| WholeFile::open(dir.path(), path);

        let response = open("/m/dists/InRelease")
            .expect("served")
            .into_response(false);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "6");
        assert_eq!(response.headers()[header::ACCEPT_RANGES], "bytes");
        assert_eq!(
            open("/m/repodata.json").expect("served").content_type,
            "application/json"
        );
        let head = open("/m/dists/InRelease")
            .expect("served")
            .into_response(true);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "6");
        assert_eq!(head.body().size_hint().exact(), Some(0));

        let big = open("/m/big.deb").expect("large files too");
        assert_eq!(big.len, SMALL_FILE + 1);
        assert_eq!(
            big.into_response(false).body().size_hint().exact(),
            Some(SMALL_FILE + 1)
        );
        assert!(open("/m/dists").is_none(), "a directory: ServeDir");
        let shard = format!("m/linux-64/shards/{}.msgpack.zst", "ab".repeat(32));
        std::fs::create_dir_all(dir.path().join("m/linux-64/shards")).expect("mkdir");
        std::fs::write(dir.path().join(&shard), b"x").expect("write");
        let response = open(&format!("/{shard}"))
            .expect("served")
            .into_response(false);
        assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert!(!open("/m/repodata.json").expect("served").immutable);
        assert!(!content_addressed("m/linux-64/shards/abc.msgpack.zst"));
        assert!(!content_addressed(&format!(
            "m/linux-64/{}.msgpack.zst",
            "ab".repeat(32)
        )));
        assert!(open("/m/missing").is_none(), "missing: ServeDir's 404");
        assert!(open("/").is_none());
    }
}
