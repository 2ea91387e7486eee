//! The async fetcher: the one place bytes come in from upstream.
//!
//! [`Fetcher`] wraps an HTTP client (reqwest with rustls) and a semaphore that bounds the
//! transfers in flight across every call. It does two kinds of work:
//!
//! - [`Fetcher::get`] / [`Fetcher::get_optional`]: a whole (metadata) body in memory, under a
//!   size limit. The caller verifies it (signatures, digests from a signed index).
//! - [`Fetcher::fetch_object`] / [`Fetcher::fetch_objects`]: files streamed into the
//!   [`ObjectStore`], hashed while they arrive, committed only when their SHA-256 (and size)
//!   match. Nothing unverified ever enters `objects/`.
//!
//! Transient failures (5xx, 408, 429, resets, stalls, short bodies) are retried with
//! exponential backoff and jitter (longer when the server sends `Retry-After`, up to five
//! minutes); an interrupted object download resumes with
//! `Range: bytes=N-` and starts over when the server ignores the range. A wrong digest is
//! never retried: upstream serving the wrong bytes is an error to report, not to hide.
//!
//! `http://`, `https://` and `file://` URLs are accepted; `file://` (a local or mounted
//! mirror) goes through the same verification and limits.
//!
//! ```no_run
//! use mirror_core::fetch::{FetchOptions, Fetcher};
//! # async fn demo() -> Result<(), mirror_core::fetch::FetchError> {
//! let fetcher = Fetcher::new(FetchOptions::default())?;
//! let release = fetcher.get("https://example.invalid/dists/stable/Release", 16 << 20).await?;
//! # let _ = release; Ok(()) }
//! ```

mod credentials;
mod error;
mod file;
mod http;
mod retry;

pub use credentials::{Credential, Credentials, Secret};
pub use error::FetchError;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::redact::redact_url;
use crate::reporter::Reporter;
use crate::store::{Expected, ObjectStore};

/// What a server said identifies a body: sent back on the next request for the same URL
/// so that an unchanged body is answered with `304 Not Modified` instead of resent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    /// The `ETag` header, as sent (quotes and `W/` included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` header, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    /// True when the server gave neither header: nothing to ask with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The answer to [`Fetcher::get_conditional`].
#[derive(Debug, Clone)]
pub enum Conditional {
    /// 304: the body we hold is current.
    NotModified,
    /// A (new) body, with the validators to ask with next time.
    Modified {
        /// The body.
        body: bytes::Bytes,
        /// Its `ETag` and `Last-Modified`, when the server sent them.
        validators: Validators,
        /// Its `Content-Type`, when the server sent one (`file://`: none).
        content_type: Option<String>,
        /// Where the body came from after redirects, when that is not the URL asked
        /// for (links in it are relative to this one).
        redirected_to: Option<String>,
    },
}

/// How a [`Fetcher`] behaves. Construct with `..FetchOptions::default()` so new fields
/// keep their defaults.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Transfers in flight at once, across all calls on one fetcher. Default 8.
    pub concurrency: usize,
    /// Retries after the first attempt for transient failures. Default 4.
    pub retries: u32,
    /// Limit for establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// A transfer that receives no byte for this long has stalled and is retried.
    /// Default 60 s.
    pub read_timeout: Duration,
    /// A body that arrives slower than this many bytes per second, measured over
    /// `rate_window`, is too slow and is retried (a trickle never looks stalled).
    /// Default 1 KiB/s; 0 turns the check off.
    pub min_rate: u64,
    /// The window `min_rate` is measured over. Default 30 s.
    pub rate_window: Duration,
    /// The largest index (an APT Packages or Translation, a conda repodata.json) held
    /// in memory, compressed or decoded, whatever the upstream states. Default 512 MiB:
    /// the largest real ones are ~60 MB (Debian) and ~250 MB (conda-forge linux-64).
    pub max_index_size: u64,
    /// The longest one response body may take, first byte to last. Default 1 hour.
    pub request_deadline: Duration,
    /// Backoff before the first retry; it doubles with each further retry (capped at
    /// 60 s) and is jittered by ±50% so parallel transfers do not retry in lockstep.
    /// Default 500 ms.
    pub retry_base_delay: Duration,
    /// The `User-Agent` header. Default `airgap-mirror/<version>`.
    pub user_agent: String,
    /// What to send to upstreams that demand authentication, by URL. Default none.
    pub credentials: Credentials,
    /// A `Via` header for every request (a proxy's, so that it can recognise its own
    /// requests coming back to it). Default none.
    pub via: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            retries: 4,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            min_rate: 1024,
            rate_window: Duration::from_secs(30),
            request_deadline: Duration::from_secs(3600),
            max_index_size: 512 << 20,
            retry_base_delay: Duration::from_millis(500),
            user_agent: concat!("airgap-mirror/", env!("CARGO_PKG_VERSION")).to_owned(),
            credentials: Credentials::default(),
            via: None,
        }
    }
}

/// One object to download: where from and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchJob {
    /// `http://`, `https://` or `file://` URL.
    pub url: String,
    /// Digest (and size, when known) the content must have.
    pub expected: Expected,
}

/// What [`Fetcher::fetch_object`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The store already had the object; nothing was transferred.
    AlreadyPresent,
    /// Downloaded, verified and committed.
    Downloaded {
        /// The object's size.
        bytes: u64,
    },
}

/// Transfer counters.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct FetchStats {
    /// Requests made (HTTP requests, including retries, and `file://` reads).
    pub requests: u64,
    /// Body bytes received (including those of failed attempts).
    pub bytes: u64,
    /// Objects downloaded and committed to the store.
    pub objects: u64,
}

/// Atomic counterpart of [`FetchStats`].
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    objects: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> FetchStats {
        FetchStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            objects: self.objects.load(Ordering::Relaxed),
        }
    }
}

/// Where a call's counts go: the fetcher's lifetime counters and the call's own.
#[derive(Clone, Copy)]
struct Tally<'a> {
    total: &'a Counters,
    call: &'a Counters,
}

impl Tally<'_> {
    fn request(&self) {
        for c in [self.total, self.call] {
            c.requests.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn bytes(&self, n: u64) {
        for c in [self.total, self.call] {
            c.bytes.fetch_add(n, Ordering::Relaxed);
        }
    }
    fn object(&self) {
        for c in [self.total, self.call] {
            c.objects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Downloads metadata and objects; cheap to clone (clones share the client, the
/// concurrency bound and the counters).
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    options: FetchOptions,
    permits: Semaphore,
    counters: Counters,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("options", &self.inner.options)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A parsed URL, by how it is read.
enum Source {
    Http(reqwest::Url),
    File(std::path::PathBuf),
}

fn parse_source(url: &str) -> Result<Source, FetchError> {
    let parsed = reqwest::Url::parse(url).map_err(|source| FetchError::InvalidUrl {
        url: redact_url(url).into_owned(),
        source,
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(Source::Http(parsed)),
        // to_file_path percent-decodes ("a%20b" -> "a b") and refuses remote hosts.
        "file" => parsed
            .to_file_path()
            .map(Source::File)
            .map_err(|()| FetchError::NotLocalFile {
                url: redact_url(url).into_owned(),
            }),
        _ => Err(FetchError::UnsupportedScheme {
            url: redact_url(url).into_owned(),
        }),
    }
}

/// Run blocking file work (reads, fsync, rename) off the async threads.
async fn blocking<T: Send + 'static>(
    url: &str,
    work: impl FnOnce() -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // Only when the runtime is shutting down.
        Err(join) => Err(FetchError::Io {
            url: url.to_owned(),
            source: std::io::Error::other(join),
        }),
    }
}

impl Fetcher {
    /// A fetcher with these options.
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        // Stalls are detected per chunk by the fetcher itself (see `read_timeout`), so the
        // client gets only the connect limit.
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(via) = &options.via
            && let Ok(value) = reqwest::header::HeaderValue::from_str(via)
        {
            headers.insert(reqwest::header::VIA, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(options.user_agent.as_str())
            .default_headers(headers)
            .connect_timeout(options.connect_timeout)
            .redirect(credentials::redirect_policy(options.credentials.clone()))
            .build()
            .map_err(|source| FetchError::Client { source })?;
        let permits = Semaphore::new(options.concurrency.max(1));
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                options,
                permits,
                counters: Counters::default(),
            }),
        })
    }

    /// The options this fetcher was built with.
    pub fn options(&self) -> &FetchOptions {
        &self.inner.options
    }

    /// Counters since creation (across all clones).
    pub fn stats(&self) -> FetchStats {
        self.inner.counters.snapshot()
    }

    /// The whole body of `url` in memory (metadata: Release files, indices, repodata).
    /// Fails with [`FetchError::TooLarge`] past `limit` bytes and [`FetchError::NotFound`]
    /// on 404/410 or a missing `file://` file.
    pub async fn get(&self, url: &str, limit: u64) -> Result<bytes::Bytes, FetchError> {
        let call = Counters::default();
        let tally = self.tally(&call);
        let source = parse_source(url)?;
        // From here on `url` is only shown (errors, logs); requests use the parsed one.
        let shown = redact_url(url);
        let url = shown.as_ref();
        match source {
            Source::File(path) => file::read(self, url, path, limit, tally).await,
            Source::Http(parsed) => {
                self.retrying(url, || http::get_once(self, &parsed, url, limit, tally))
                    .await
            }
        }
    }

    /// Whether upstream serves `url` (a `HEAD`: no body is read): `false` on 404/410 or a
    /// missing `file://` file; other failures are errors, retried as for
    /// [`get`](Self::get).
    pub async fn exists(&self, url: &str) -> Result<bool, FetchError> {
        let call = Counters::default();
        let tally = self.tally(&call);
        let source = parse_source(url)?;
        let shown = redact_url(url);
        let url = shown.as_ref();
        match source {
            Source::File(path) => Ok(path.is_file()),
            Source::Http(parsed) => {
                self.retrying(url, || http::head_once(self, &parsed, url, tally))
                    .await
            }
        }
    }

    /// Like [`get`](Self::get), but `Ok(None)` when the URL does not exist (404/410, or a
    /// missing `file://` file).
    pub async fn get_optional(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<Option<bytes::Bytes>, FetchError> {
        match self.get(url, limit).await {
            Ok(body) => Ok(Some(body)),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// [`get_optional`](Self::get_optional), asking whether the body changed since the
    /// server gave `known` (`If-None-Match` with its ETag, `If-Modified-Since` with its
    /// date): [`Conditional::NotModified`] on 304, else the new body with its validators.
    /// With no validators to send it is a plain GET (and a 304 is an error). A `file://`
    /// URL is always read (a local copy is cheap to compare).
    pub async fn get_conditional(
        &self,
        url: &str,
        limit: u64,
        known: &Validators,
    ) -> Result<Option<Conditional>, FetchError> {
        self.get_negotiated(url, limit, known, None).await
    }

    /// [`get_conditional`](Self::get_conditional) sending `accept` as the `Accept` header
    /// (a PEP 691 index answers in the type asked for): the answer's `Content-Type` is in
    /// [`Conditional::Modified`].
    pub async fn get_negotiated(
        &self,
        url: &str,
        limit: u64,
        known: &Validators,
        accept: Option<&str>,
    ) -> Result<Option<Conditional>, FetchError> {
        let call = Counters::default();
        let tally = self.tally(&call);
        let source = parse_source(url)?;
        let shown = redact_url(url);
        let url = shown.as_ref();
        let result =
            match source {
                Source::File(path) => file::read(self, url, path, limit, tally).await.map(|body| {
                    Conditional::Modified {
                        body,
                        validators: Validators::default(),
                        content_type: None,
                        redirected_to: None,
                    }
                }),
                Source::Http(parsed) => {
                    self.retrying(url, || {
                        let ask = http::Ask {
                            known: Some(known),
                            accept,
                        };
                        http::get_once_conditional(self, &parsed, url, limit, ask, tally)
                    })
                    .await
                }
            };
        match result {
            Ok(answer) => Ok(Some(answer)),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Stream one file into the object store, verifying its SHA-256 (and size, when given)
    /// on the way; skips the transfer when the object is already present.
    ///
    /// Transient failures are retried (see the module docs), resuming with a `Range`
    /// request where the server supports it. A digest or size mismatch is
    /// [`FetchError::Verify`] and leaves nothing in the store.
    pub async fn fetch_object(
        &self,
        url: &str,
        expected: Expected,
        objects: &ObjectStore,
        reporter: &dyn Reporter,
    ) -> Result<Fetched, FetchError> {
        let call = Counters::default();
        self.fetch_object_tallied(url, expected, objects, reporter, self.tally(&call))
            .await
    }

    /// Download many objects, at most [`FetchOptions::concurrency`] at a time; reports
    /// received bytes through [`Reporter::advance`] (the caller frames the phase with
    /// `begin`/`finish`). Jobs naming an object already present (or already named by an
    /// earlier job) transfer nothing.
    ///
    /// Stops at the first error, cancelling the transfers still running, and returns it;
    /// objects committed before stay (they are verified). On success returns this call's
    /// counters.
    pub async fn fetch_objects(
        &self,
        jobs: Vec<FetchJob>,
        objects: &ObjectStore,
        reporter: &dyn Reporter,
    ) -> Result<FetchStats, FetchError> {
        let call = Counters::default();
        let tally = self.tally(&call);
        let mut seen = HashSet::new();
        let jobs: Vec<FetchJob> = jobs
            .into_iter()
            .filter(|job| seen.insert(job.expected.sha256))
            .collect();
        let mut transfers = stream::iter(jobs)
            .map(|job| async move {
                self.fetch_object_tallied(&job.url, job.expected, objects, reporter, tally)
                    .await
            })
            .buffer_unordered(self.inner.options.concurrency.max(1));
        while let Some(result) = transfers.next().await {
            // Returning drops `transfers`, which cancels the transfers still in flight;
            // their temp files are removed when dropped.
            result?;
        }
        Ok(call.snapshot())
    }

    async fn fetch_object_tallied(
        &self,
        url: &str,
        expected: Expected,
        objects: &ObjectStore,
        reporter: &dyn Reporter,
        tally: Tally<'_>,
    ) -> Result<Fetched, FetchError> {
        if objects.contains(&expected.sha256) {
            return Ok(Fetched::AlreadyPresent);
        }
        let source = parse_source(url)?;
        let shown = redact_url(url);
        let url = shown.as_ref();
        let bytes = match source {
            Source::File(path) => {
                file::fetch_object(self, url, path, expected, objects, reporter, tally).await?
            }
            Source::Http(parsed) => {
                http::fetch_object(self, &parsed, url, expected, objects, reporter, tally).await?
            }
        };
        tally.object();
        Ok(Fetched::Downloaded { bytes })
    }

    fn tally<'a>(&'a self, call: &'a Counters) -> Tally<'a> {
        Tally {
            total: &self.inner.counters,
            call,
        }
    }

    /// A GET of `url`, with the credentials configured for it; also whether any were sent.
    /// A redirect that would carry them out of their prefix is refused
    /// ([`credentials::redirect_policy`]).
    fn request(&self, url: &reqwest::Url) -> (reqwest::RequestBuilder, bool) {
        self.request_with(reqwest::Method::GET, url)
    }

    fn request_with(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
    ) -> (reqwest::RequestBuilder, bool) {
        let request = self.inner.client.request(method, url.clone());
        match self.inner.options.credentials.for_url(url) {
            Some(Secret::Basic { login, password }) => {
                (request.basic_auth(login, Some(password)), true)
            }
            Some(Secret::Bearer(token)) => (request.bearer_auth(token), true),
            None => (request, false),
        }
    }

    /// A transfer slot; held for the whole of one attempt (request and body).
    async fn permit(&self) -> SemaphorePermit<'_> {
        self.inner
            .permits
            .acquire()
            .await
            .expect("the fetcher never closes its semaphore")
    }

    /// After failed attempt number `attempt` (0-based): give the error back when it is
    /// final (not retryable, or retries exhausted), else log it and sleep the backoff.
    /// `once` again until it succeeds or fails in a way not worth a retry (see
    /// [`pause_before_retry`](Self::pause_before_retry)).
    async fn retrying<T, Attempt>(
        &self,
        url: &str,
        mut once: impl FnMut() -> Attempt,
    ) -> Result<T, FetchError>
    where
        Attempt: std::future::Future<Output = Result<T, FetchError>>,
    {
        let mut attempt = 0;
        loop {
            match once().await {
                Ok(answer) => return Ok(answer),
                Err(error) => self.pause_before_retry(url, attempt, error).await?,
            }
            attempt += 1;
        }
    }

    async fn pause_before_retry(
        &self,
        url: &str,
        attempt: u32,
        error: FetchError,
    ) -> Result<(), FetchError> {
        let retries = self.inner.options.retries;
        if !error.is_retryable() || attempt >= retries {
            return Err(error);
        }
        let asked = error.retry_after();
        let Some(delay) = retry::retry_delay(self.inner.options.retry_base_delay, attempt, asked)
        else {
            tracing::warn!(
                url,
                retry_after_s = asked.map(|d| d.as_secs()),
                "the server asks to retry later than we wait; giving up"
            );
            return Err(error);
        };
        tracing::warn!(
            url,
            retry = attempt + 1,
            of = retries,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "{error}; retrying"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
