//! One connection of `serve`: plain requests for whole files are answered here, straight
//! on the socket; anything else is handed to hyper ([`handoff`]) for the
//! rest of the connection.
//!
//! Why not hyper for everything: hyper writes a body through user space (a `.deb` is read
//! into a buffer and copied into the socket), and costs an owned `Request`, a router and
//! a boxed body per request. What clients ask for almost always is a whole published
//! file: this loop parses the head with `httparse`, writes the response head and a small
//! body in one `write`, and a larger body with `sendfile` after the head (sent with
//! `MSG_MORE`, so head and body share packets, as nginx's `tcp_nopush` does).
//!
//! A request is answered here only when it is *plain*: HTTP/1.1, `GET` or `HEAD`, no body
//! (`Content-Length` absent or 0, no `Transfer-Encoding`), no `Expect`, `Upgrade`,
//! `Range` or `If-Range`, a head of at most [`HEAD_MAX`] bytes and [`HEADERS_MAX`] fields,
//! and a path that resolves to a whole regular file or to an `If-None-Match` match
//! ([`Served::plain`], the same decision the hyper path makes). Anything else (a range,
//! a 404, a directory, HTTP/1.0, a malformed head) goes to hyper with every byte read so
//! far, so it is answered exactly as before, and hyper keeps the connection from there.
//!
//! The header timeout is the same as hyper's: a head must arrive within `header_timeout`
//! of the connection opening or of the previous response ending, or the connection is
//! closed. Pipelined requests are answered in order from what is already read.

use std::io::Read as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::http::{HeaderValue, Method, Uri};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::listener::{Busy, Conn, Limits};
use super::{Plain, Served, handoff, log_request};

/// The largest request head answered here; a longer one goes to hyper (whose limit is
/// higher, and which answers 431 beyond it).
pub const HEAD_MAX: usize = 16 << 10;

/// The most header fields answered here; more go to hyper.
pub const HEADERS_MAX: usize = 64;

/// Bodies up to this size are copied into the buffer of the response head and leave in
/// the same `write`; larger ones go by `sendfile`.
const INLINE_BODY: u64 = 16 << 10;

/// Serve one connection until the client closes it, the header timeout passes, or a
/// request needs hyper (which then serves the rest).
pub async fn serve(
    mut stream: TcpStream,
    served: Arc<Served>,
    router: Router,
    conn: &Arc<Conn>,
    limits: Limits,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let deadline = Instant::now() + limits.header_timeout;
        let request = loop {
            match parse(&buf) {
                Parsed::Plain(request) => break request,
                Parsed::Partial if buf.len() < HEAD_MAX => {
                    buf.reserve(4096);
                    match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return,
                        Ok(Ok(_)) => {}
                        Err(_) => {
                            tracing::debug!("no request head within the header timeout");
                            return;
                        }
                    }
                }
                Parsed::Partial | Parsed::Other => {
                    return handoff::serve_rest(stream, buf, router, conn, limits).await;
                }
            }
        };
        let busy = Busy::enter(conn);
        let located = served.locate(&request.uri, request.host.as_deref());
        let plain = located
            .decoded
            .as_deref()
            .and_then(|decoded| served.plain(decoded, request.if_none_match.as_ref()));
        let Some(plain) = plain else {
            drop(busy);
            return handoff::serve_rest(stream, buf, router, conn, limits).await;
        };
        buf.drain(..request.head_len);
        let method = if request.head {
            Method::HEAD
        } else {
            Method::GET
        };
        let status = match &plain {
            Plain::NotModified { .. } => 304,
            Plain::File { .. } => 200,
        };
        let sent = respond(
            &mut stream,
            plain,
            request.head,
            request.close,
            limits.send_timeout,
        )
        .await;
        log_request(&method, &located, request.host.as_deref(), status);
        drop(busy);
        if let Err(error) = sent {
            tracing::debug!(%error, "response not sent whole; closing");
            return;
        }
        if request.close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// A plain request, taken out of the head so the buffer can move on.
struct Request {
    head: bool,
    uri: Uri,
    host: Option<String>,
    if_none_match: Option<HeaderValue>,
    /// `Connection: close`: answer, then close.
    close: bool,
    /// Bytes of the head in the buffer.
    head_len: usize,
}

enum Parsed {
    /// The head is not complete yet.
    Partial,
    Plain(Request),
    /// A complete head this loop does not answer, or one httparse refuses: hyper's.
    Other,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut head = httparse::Request::new(&mut fields);
    let head_len = match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let is_head = match head.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Other,
    };
    if head.version != Some(1) {
        return Parsed::Other;
    }
    // Origin form (`/path`) or a proxy's absolute form; `*` and the rest are hyper's.
    let Some(uri) = head
        .path
        .and_then(|target| Uri::try_from(target).ok())
        .filter(|uri| uri.scheme().is_some() || uri.path().starts_with('/'))
    else {
        return Parsed::Other;
    };
    let mut request = Request {
        head: is_head,
        uri,
        host: None,
        if_none_match: None,
        close: false,
        head_len,
    };
    for field in head.headers.iter() {
        let name = field.name;
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is("host") {
            if request.host.is_some() {
                return Parsed::Other;
            }
            request.host = std::str::from_utf8(field.value).ok().map(str::to_owned);
        } else if is("if-none-match") {
            request.if_none_match = HeaderValue::from_bytes(field.value).ok();
        } else if is("connection") {
            for token in field.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    request.close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::Other;
                }
            }
        } else if is("content-length") {
            if field.value.trim_ascii() != b"0" {
                return Parsed::Other;
            }
        } else if is("transfer-encoding")
            || is("expect")
            || is("upgrade")
            || is("range")
            || is("if-range")
        {
            return Parsed::Other;
        }
    }
    Parsed::Plain(request)
}

/// Write the answer: the head (with a small body) in one write, a larger body by
/// `sendfile`.
async fn respond(
    stream: &mut TcpStream,
    plain: Plain,
    head_only: bool,
    close: bool,
    stall: std::time::Duration,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(512);
    match plain {
        Plain::NotModified { etag } => {
            out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\netag: ");
            out.extend_from_slice(etag.as_bytes());
            end_head(&mut out, close);
            write_all(stream, &out, stall).await
        }
        Plain::File { mut file, etag } => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: ");
            out.extend_from_slice(file.content_type.as_bytes());
            out.extend_from_slice(b"\r\naccept-ranges: bytes\r\ncontent-length: ");
            out.extend_from_slice(file.len.to_string().as_bytes());
            if let Some(etag) = etag {
                out.extend_from_slice(b"\r\netag: ");
                out.extend_from_slice(etag.as_bytes());
            }
            if file.immutable {
                out.extend_from_slice(b"\r\ncache-control: ");
                out.extend_from_slice(super::files::IMMUTABLE.as_bytes());
            }
            end_head(&mut out, close);
            if head_only {
                return write_all(stream, &out, stall).await;
            }
            if file.len <= INLINE_BODY {
                let head_len = out.len();
                file.file.read_to_end(&mut out)?;
                if (out.len() - head_len) as u64 != file.len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file's length changed while it was read",
                    ));
                }
                return write_all(stream, &out, stall).await;
            }
            send_more(stream, &out, stall).await?;
            super::files::send_file(stream, &file.file, file.len, stall).await
        }
    }
}

/// The `date` field (as hyper sends it), `connection: close` when asked, and the blank
/// line that ends a head.
fn end_head(out: &mut Vec<u8>, close: bool) {
    out.extend_from_slice(b"\r\ndate: ");
    DATE.with(|date| {
        let mut date = date.borrow_mut();
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if date.0 != second {
            *date = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(date.1.as_bytes());
    });
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

thread_local! {
    /// The formatted date of the current second, per worker thread.
    static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// Wait until `stream` can take more, for at most `stall`: a client that takes nothing
/// for that long has stopped reading, and its connection is ended.
pub async fn writable(stream: &TcpStream, stall: std::time::Duration) -> std::io::Result<()> {
    tokio::time::timeout(stall, stream.writable())
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client took nothing for {stall:?} (--send-timeout)"),
            )
        })?
}

/// Write all of `bytes`, each wait for room bounded by `stall`.
pub async fn write_all(
    stream: &TcpStream,
    mut bytes: &[u8],
    stall: std::time::Duration,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        writable(stream, stall).await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Write `bytes` telling the kernel more follows (`MSG_MORE`): the head waits for the
/// body's first bytes instead of leaving in a packet of its own.
#[cfg(target_os = "linux")]
async fn send_more(
    stream: &TcpStream,
    mut bytes: &[u8],
    stall: std::time::Duration,
) -> std::io::Result<()> {
    use tokio::io::Interest;
    while !bytes.is_empty() {
        writable(stream, stall).await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            let flags = rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL;
            rustix::net::send(stream, bytes, flags).map_err(Into::into)
        });
        match sent {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn send_more(
    stream: &TcpStream,
    bytes: &[u8],
    stall: std::time::Duration,
) -> std::io::Result<()> {
    write_all(stream, bytes, stall).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(raw: &[u8]) -> Option<Request> {
        match parse(raw) {
            Parsed::Plain(request) => Some(request),
            _ => None,
        }
    }

    #[test]
    fn what_is_answered_here_and_what_goes_to_hyper() {
        let raw = b"GET /m/dists/InRelease HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: \"x\"\r\n\r\nGET /next";
        let request = plain(raw).expect("plain");
        assert!(!request.head && !request.close);
        assert_eq!(request.uri.path(), "/m/dists/InRelease");
        assert_eq!(request.host.as_deref(), Some("a.example"));
        assert_eq!(request.if_none_match.expect("inm"), "\"x\"");
        assert_eq!(
            request.head_len,
            raw.len() - b"GET /next".len(),
            "the pipelined request after it stays"
        );

        let request = plain(b"HEAD http://up.example/debian/x HTTP/1.1\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")
            .expect("absolute form, HEAD, close");
        assert!(request.head && request.close);
        assert_eq!(request.uri.host(), Some("up.example"));

        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Partial
        ));
        for other in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n",
            b"GET / HTTP/1.1\r\nIf-Range: \"x\"\r\n\r\n",
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GARBAGE\r\n\r\n",
        ] {
            assert!(
                matches!(parse(other), Parsed::Other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        let many: String = (0..=HEADERS_MAX).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(matches!(
            parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Parsed::Other
        ));
    }

    #[test]
    fn a_head_ends_with_the_date_and_a_blank_line() {
        let mut out = b"HTTP/1.1 304 Not Modified\r\netag: \"x\"".to_vec();
        end_head(&mut out, true);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.contains("\r\ndate: "), "{text}");
        assert!(
            text.ends_with(" GMT\r\nconnection: close\r\n\r\n"),
            "{text}"
        );
    }
}
