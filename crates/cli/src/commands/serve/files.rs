//! The fast path for the requests clients make most: a whole file (an InRelease, a
//! repodata shard, a `.metadata` page, a `.deb`), read on the worker thread.
//!
//! tower-http's `ServeDir` takes every file operation (metadata, open, each read) to
//! tokio's blocking pool: three or four thread hand-offs a request, which capped a small
//! file at ~16k requests/s on two cores where nginx serves ~80k. A published file is a
//! hard link to an object, almost always in the page cache, so it is opened, checked and
//! read right here, as nginx does: whole up to [`SMALL_FILE`], in chunks of that size
//! beyond (one read per chunk as hyper asks for it, so memory stays flat under slow
//! readers). Everything else (ranges, directories, anything unexpected) goes to
//! `ServeDir`, whose answers are unchanged: the same status codes and headers as before.

use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;

/// Files up to this size are read whole; larger ones are sent in chunks of this size.
pub const SMALL_FILE: u64 = 256 << 10;

/// The response for `decoded` (a request path already checked by the path rule) under
/// `public`, when it is a whole small regular file and the request a plain GET or HEAD;
/// `None` hands the request to `ServeDir`.
pub fn small_file(
    public: &Path,
    decoded: &str,
    method: &Method,
    has_range: bool,
) -> Option<Response> {
    if has_range || !(method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let relative = decoded.strip_prefix('/')?;
    if relative.is_empty() || relative.ends_with('/') {
        return None;
    }
    let path = public.join(relative);
    let mut file = std::fs::File::open(&path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let length = meta.len();
    // The open descriptor keeps its inode: a file replaced by a publish mid-transfer is
    // sent whole, old or new, never a mix.
    let body = if method == Method::HEAD {
        Body::empty()
    } else if length <= SMALL_FILE {
        let mut bytes = Vec::with_capacity(usize::try_from(length).ok()?);
        file.read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 != length {
            return None;
        }
        Body::from(bytes)
    } else {
        Body::new(FileBody {
            file,
            remaining: length,
        })
    };
    let content_type = mime_guess::from_path(&path).first_raw().map_or_else(
        || HeaderValue::from_static("application/octet-stream"),
        HeaderValue::from_static,
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, length)
        .body(body)
        .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_small_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("m/dists")).expect("mkdir");
        std::fs::write(dir.path().join("m/dists/InRelease"), b"signed").expect("write");
        std::fs::write(dir.path().join("m/repodata.json"), b"{}").expect("write");
        std::fs::write(
            dir.path().join("m/big.deb"),
            vec![0u8; usize::try_from(SMALL_FILE).expect("fits") + 1],
        )
        .expect("write");
        let get = |path: &str| small_file(dir.path(), path, &Method::GET, false);

        let response = get("/m/dists/InRelease").expect("served");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "6");
        assert_eq!(response.headers()[header::ACCEPT_RANGES], "bytes");
        assert_eq!(
            get("/m/repodata.json").expect("served").headers()[header::CONTENT_TYPE],
            "application/json"
        );
        let head =
            small_file(dir.path(), "/m/dists/InRelease", &Method::HEAD, false).expect("served");
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "6");

        let big = get("/m/big.deb").expect("large files too");
        assert_eq!(
            big.headers()[header::CONTENT_LENGTH],
            (SMALL_FILE + 1).to_string().as_str()
        );
        assert!(get("/m/dists").is_none(), "a directory: ServeDir");
        assert!(get("/m/missing").is_none(), "missing: ServeDir's 404");
        assert!(get("/").is_none());
        assert!(small_file(dir.path(), "/m/dists/InRelease", &Method::GET, true).is_none());
        assert!(small_file(dir.path(), "/m/dists/InRelease", &Method::POST, false).is_none());
    }
}
