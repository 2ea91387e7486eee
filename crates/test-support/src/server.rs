//! [`TestServer`]: a loopback HTTP upstream that serves a directory, records what it was
//! asked for and misbehaves on request.
//!
//! Files are served by tower-http's `ServeDir` (so `Range` requests get `206` answers with
//! `Content-Range`, like a real mirror). A middleware in front of it logs each request and
//! applies the [`Fault`] armed for the request's path, if any.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::oneshot;
use tower_http::services::ServeDir;

/// A misbehaviour injected for one path with [`TestServer::inject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and a short text body) instead of the file.
    Status(u16),
    /// Answer with `status` and `Retry-After: <seconds>` instead of the file.
    RetryAfter {
        /// The status (429 or 503, usually).
        status: u16,
        /// The header's value, in seconds.
        seconds: u64,
    },
    /// Send the headers with the full `Content-Length`, then `after_bytes` bytes of the
    /// body, then close the connection; for the next `times` requests.
    Truncate {
        /// Body bytes sent before the connection is closed.
        after_bytes: u64,
        /// How many requests are cut short.
        times: u32,
    },
    /// Send the headers and `after_bytes` bytes of the body, then nothing more (the
    /// connection stays open until the client gives up); for the next `times` requests.
    Stall {
        /// Body bytes sent before the stall.
        after_bytes: u64,
        /// How many requests stall.
        times: u32,
    },
    /// Send the body `bytes` at a time with `every` between pieces (a trickling
    /// upstream that never goes silent long enough to look stalled); for every request
    /// while armed.
    Trickle {
        /// Bytes per piece.
        bytes: usize,
        /// Pause between pieces.
        every: Duration,
    },
    /// Serve the body with one byte flipped (same length, wrong content).
    WrongBytes,
    /// Wait this long before answering (to make concurrent requests overlap).
    Delay(Duration),
    /// Drop the request's `Range` header, i.e. behave like a server without range support
    /// (answers `200` with the whole file).
    IgnoreRange,
    /// Answer with this redirect status and `Location` instead of the file.
    Redirect {
        /// 301, 302, 307, 308...
        status: u16,
        /// The `Location` header (absolute, or a path on this server).
        location: String,
    },
    /// Answer `200` with this `Content-Type` and body instead of the file (a captive
    /// portal's login page, a proxy's error page).
    Replace {
        /// The `Content-Type` header.
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
    /// Serve the file with `count` extra response headers of `value_len` bytes each.
    HeaderFlood {
        /// How many headers.
        count: usize,
        /// Bytes in each header's value.
        value_len: usize,
    },
    /// Answer `200` without a `Content-Length` and send zeros for ever (until the client
    /// hangs up).
    Endless,
}

impl Fault {
    fn default_times(&self) -> u32 {
        match self {
            Fault::Truncate { times, .. } | Fault::Stall { times, .. } => (*times).max(1),
            _ => 1,
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request path as sent (percent-encoded), e.g. `/dists/bookworm/Release`.
    pub path: String,
    /// The `Range` header, when there was one.
    pub range: Option<String>,
    /// The `Authorization` header, when there was one (to prove where credentials went).
    pub authorization: Option<String>,
}

/// A fault waiting for requests; `remaining: None` means "every request".
struct Armed {
    fault: Fault,
    remaining: Option<u32>,
}

/// State shared between the test (through [`TestServer`]) and the server thread.
#[derive(Default)]
struct Shared {
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<HashMap<String, VecDeque<Armed>>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The `Authorization` value every request must carry (401 otherwise).
    required_authorization: Mutex<Option<String>>,
}

impl Shared {
    /// The fault the next request to `path` must suffer, consuming one use of it.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let queue = faults.get_mut(path)?;
        let front = queue.front_mut()?;
        let fault = front.fault.clone();
        if let Some(remaining) = &mut front.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                queue.pop_front();
            }
        }
        Some(fault)
    }
}

/// A test that panicked while holding a lock must not wedge the server for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts requests being handled, from arrival until their response headers are ready.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A loopback HTTP server serving one directory on `127.0.0.1:<free port>`.
///
/// It runs on its own thread with its own tokio runtime, so it works the same from a plain
/// `#[test]` and from a `#[tokio::test]` (whose single-threaded runtime it does not share).
/// Dropping it stops the server and closes every connection, stalled ones included.
pub struct TestServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("address", &self.address)
            .finish()
    }
}

impl TestServer {
    /// Serve the files under `dir`.
    ///
    /// # Panics
    /// When no loopback port can be bound or the server thread cannot start.
    pub fn serve_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        // Bind here rather than on the server thread, so the port is known (and accepting)
        // before this function returns.
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a tokio listener needs a non-blocking socket");
        let address = listener
            .local_addr()
            .expect("a bound socket has an address");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback_service(ServeDir::new(dir))
            .layer(from_fn_with_state(shared.clone(), apply_faults));
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-server-{}", address.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build the test server's runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("register the listener with tokio");
                    tokio::select! {
                        result = async { axum::serve(listener, app).await } => {
                            if let Err(error) = result {
                                eprintln!("test server on {address} failed: {error}");
                            }
                        }
                        _ = shutdown_rx => {}
                    }
                });
                // Shutting the runtime down cancels the connection tasks, stalled ones too.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the test server thread");
        Self {
            address,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The URL of `path` on this server (`path` with or without its leading `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.url(), normalize(path))
    }

    /// The socket address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The paths requested so far, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.log)
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// Every request so far with its method and `Range` header, in order of arrival.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// How many requests were made for `path` so far.
    pub fn request_count(&self, path: &str) -> usize {
        let path = normalize(path);
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Forget the requests recorded so far (e.g. before a second, no-op sync).
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The largest number of requests handled at the same time so far, counted from a
    /// request's arrival until its response headers are ready. Arm a [`Fault::Delay`] on the
    /// paths involved to make overlapping requests observable.
    pub fn max_concurrent(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Arm `fault` for the next request(s) to `path` (the path as sent on the wire, with or
    /// without its leading `/`): [`Fault::Truncate`] and [`Fault::Stall`] apply to their
    /// `times` requests, every other fault to one request. Faults armed for the same path
    /// apply in the order they were armed; a request with no fault left is served normally.
    pub fn inject(&self, path: &str, fault: Fault) {
        let remaining = Some(fault.default_times());
        self.arm(path, fault, remaining);
    }

    /// Arm `fault` for `path` for every request from now on (e.g. a persistent `500`),
    /// until [`clear_faults`](Self::clear_faults).
    pub fn inject_always(&self, path: &str, fault: Fault) {
        self.arm(path, fault, None);
    }

    /// Answer `401 Unauthorized` (with `WWW-Authenticate: Basic`) to every request whose
    /// `Authorization` header is not exactly `value` (`Basic <base64>` or `Bearer <token>`).
    pub fn require_authorization(&self, value: &str) {
        *lock(&self.shared.required_authorization) = Some(value.to_owned());
    }

    /// Disarm every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    fn arm(&self, path: &str, fault: Fault, remaining: Option<u32>) {
        lock(&self.shared.faults)
            .entry(normalize(path))
            .or_default()
            .push_back(Armed { fault, remaining });
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The receiver is gone only when the server already stopped.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The middleware: record the request, then apply the fault armed for its path.
async fn apply_faults(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    lock(&shared.log).push(RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        range,
        authorization,
    });
    let required = lock(&shared.required_authorization).clone();
    if let Some(required) = required {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if given != Some(required.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"test\"")],
                "credentials required\n",
            )
                .into_response();
        }
    }
    let fault = shared.take_fault(&path);
    let response = {
        let _in_flight = InFlight::enter(&shared);
        match &fault {
            Some(Fault::Status(code)) => {
                let status =
                    StatusCode::from_u16(*code).expect("an injected status is a valid HTTP code");
                return (status, "injected fault\n").into_response();
            }
            Some(Fault::RetryAfter { status, seconds }) => {
                let status =
                    StatusCode::from_u16(*status).expect("an injected status is a valid HTTP code");
                return (
                    status,
                    [(header::RETRY_AFTER, seconds.to_string())],
                    "injected fault\n",
                )
                    .into_response();
            }
            Some(Fault::Redirect { status, location }) => {
                let status =
                    StatusCode::from_u16(*status).expect("an injected status is a valid HTTP code");
                return (status, [(header::LOCATION, location.clone())], "moved\n").into_response();
            }
            Some(Fault::Replace { content_type, body }) => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, content_type.clone())],
                    body.clone(),
                )
                    .into_response();
            }
            Some(Fault::Endless) => {
                let zeros = Bytes::from(vec![0u8; 64 * 1024]);
                let body = stream::repeat_with(move || Ok::<Bytes, io::Error>(zeros.clone()));
                return Response::new(Body::from_stream(body));
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(*delay).await,
            Some(Fault::IgnoreRange) => {
                request.headers_mut().remove(header::RANGE);
            }
            _ => {}
        }
        next.run(request).await
    };
    if !response.status().is_success() {
        return response;
    }
    match fault {
        Some(Fault::Truncate { after_bytes, .. }) => cut_body(response, after_bytes, false).await,
        Some(Fault::Stall { after_bytes, .. }) => cut_body(response, after_bytes, true).await,
        Some(Fault::WrongBytes) => corrupt_body(response).await,
        Some(Fault::Trickle { bytes, every }) => trickle_body(response, bytes, every).await,
        Some(Fault::HeaderFlood { count, value_len }) => flood_headers(response, count, value_len),
        _ => response,
    }
}

/// The response's head, announcing the full `Content-Length`, and its whole body, for a
/// fault that then sends the body its own way.
async fn whole_body(response: Response) -> Option<(axum::http::response::Parts, Bytes)> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.ok()?;
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Some((parts, bytes))
}

/// The whole body (full `Content-Length`), `piece` bytes every `every`.
async fn trickle_body(response: Response, piece: usize, every: Duration) -> Response {
    let Some((parts, bytes)) = whole_body(response).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let piece = piece.max(1);
    let pieces: Vec<Bytes> = (0..bytes.len())
        .step_by(piece)
        .map(|at| bytes.slice(at..(at + piece).min(bytes.len())))
        .collect();
    let body = stream::iter(pieces).then(move |piece| async move {
        tokio::time::sleep(every).await;
        Ok::<Bytes, io::Error>(piece)
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// `count` more headers (`x-flood-<i>: aaaa...`) on an otherwise good response.
fn flood_headers(mut response: Response, count: usize, value_len: usize) -> Response {
    let value = HeaderValue::from_str(&"a".repeat(value_len)).expect("ASCII is a valid value");
    for i in 0..count {
        let name = header::HeaderName::from_bytes(format!("x-flood-{i}").as_bytes())
            .expect("a valid header name");
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// Keep the headers (with the full `Content-Length`), send `after_bytes` of the body, then
/// either abort the connection or go silent.
async fn cut_body(response: Response, after_bytes: u64, stall: bool) -> Response {
    let Some((parts, bytes)) = whole_body(response).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let keep = usize::try_from(after_bytes)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let head = stream::iter([Ok::<Bytes, io::Error>(bytes.slice(..keep))]);
    let body = if stall {
        Body::from_stream(head.chain(stream::pending()))
    } else {
        Body::from_stream(head.chain(stream::once(async {
            // Give hyper time to flush the prefix before the error tears the connection
            // down, so the client really holds `after_bytes` bytes (where a resume starts).
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "injected truncation",
            ))
        })))
    };
    Response::from_parts(parts, body)
}

/// Flip the middle byte of the body: same length, different content.
async fn corrupt_body(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut content = bytes.to_vec();
    let middle = content.len() / 2;
    if let Some(byte) = content.get_mut(middle) {
        *byte ^= 0xff;
    }
    Response::from_parts(parts, Body::from(content))
}

#[cfg(test)]
mod tests;
