//! `http://` and `https://`: whole bodies under a limit, and objects streamed into the
//! store with resume.

use bytes::{Bytes, BytesMut};
use reqwest::header::{
    CONTENT_RANGE, DATE, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    LAST_MODIFIED, RANGE,
};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use std::time::Instant;
use tokio::io::AsyncWriteExt;

use super::{FetchError, Fetcher, Tally, blocking};
use crate::digest::Hasher;
use crate::redact::redact_url;
use crate::reporter::Reporter;
use crate::store::{Expected, ObjectStore, StoreError};

/// One attempt at a whole body (retries are the caller's).
pub(super) async fn get_once(
    fetcher: &Fetcher,
    parsed: &Url,
    url: &str,
    limit: u64,
    tally: Tally<'_>,
) -> Result<Bytes, FetchError> {
    match get_once_conditional(fetcher, parsed, url, limit, Ask::default(), tally).await? {
        super::Conditional::Modified { body, .. } => Ok(body),
        // Without validators a 304 is refused in `get_once_conditional`.
        super::Conditional::NotModified => Err(FetchError::UnexpectedNotModified {
            url: url.to_owned(),
        }),
    }
}

/// One `HEAD` (retries are the caller's): whether the URL is served.
pub(super) async fn head_once(
    fetcher: &Fetcher,
    parsed: &Url,
    url: &str,
    tally: Tally<'_>,
) -> Result<bool, FetchError> {
    let _permit = fetcher.permit().await;
    let (request, authorized) = fetcher.request_with(reqwest::Method::HEAD, parsed);
    let response = send(fetcher, request, authorized, url, tally).await?;
    match check_status(&response, url) {
        Ok(()) => Ok(true),
        Err(FetchError::NotFound { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// What a whole-body request asks besides the URL.
#[derive(Default, Clone, Copy)]
pub(super) struct Ask<'a> {
    /// Validators of the copy we hold: whether it changed since.
    pub(super) known: Option<&'a super::Validators>,
    /// The `Accept` header.
    pub(super) accept: Option<&'a str>,
}

/// One attempt at a whole body, asking with `known`'s validators whether it changed
/// since: 304 is [`Conditional::NotModified`](super::Conditional::NotModified) (only when
/// validators were sent; otherwise it is an error, as no copy of ours can be meant).
pub(super) async fn get_once_conditional(
    fetcher: &Fetcher,
    parsed: &Url,
    url: &str,
    limit: u64,
    ask: Ask<'_>,
    tally: Tally<'_>,
) -> Result<super::Conditional, FetchError> {
    let _permit = fetcher.permit().await;
    let (mut request, authorized) = fetcher.request(parsed);
    let known = ask.known;
    let asked = known.is_some_and(|v| !v.is_empty());
    if let Some(accept) = ask.accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    if let Some(known) = known {
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(date) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
    }
    let mut response = send(fetcher, request, authorized, url, tally).await?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return if asked {
            Ok(super::Conditional::NotModified)
        } else {
            Err(FetchError::UnexpectedNotModified {
                url: url.to_owned(),
            })
        };
    }
    check_status(&response, url)?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let redirected_to =
        (response.url() != parsed).then(|| redact_url(response.url().as_str()).into_owned());
    let validators = super::Validators {
        etag: header(ETAG),
        last_modified: header(LAST_MODIFIED)
            .filter(|modified| strong_date(modified, header(DATE).as_deref())),
    };
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let capacity = usize::try_from(announced.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut body = BytesMut::with_capacity(capacity);
    let mut pace = Pace::new();
    while let Some(chunk) = next_chunk(fetcher, &mut response, url, &mut pace).await? {
        tally.bytes(chunk.len() as u64);
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if let Some(announced) = announced
        && (body.len() as u64) < announced
    {
        return Err(FetchError::Truncated {
            url: url.to_owned(),
            received: body.len() as u64,
            announced,
        });
    }
    Ok(super::Conditional::Modified {
        body: body.freeze(),
        validators,
        content_type,
        redirected_to,
    })
}

/// Whether a `Last-Modified` value can tell a later change apart (RFC 9110 8.8.2.2): only
/// when it is at least a second before the response's `Date` (our clock when there is
/// none). A body modified in the second it was served could change again within that
/// second, and a server comparing whole seconds would then answer 304 for the new body;
/// such a date is not sent back.
fn strong_date(modified: &str, date: Option<&str>) -> bool {
    let Ok(modified) = httpdate::parse_http_date(modified) else {
        return false;
    };
    let served = date
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(std::time::SystemTime::now);
    modified + std::time::Duration::from_secs(1) <= served
}

/// Download one object into the store, retrying and resuming; returns its size.
pub(super) async fn fetch_object(
    fetcher: &Fetcher,
    parsed: &Url,
    url: &str,
    expected: Expected,
    objects: &ObjectStore,
    reporter: &dyn Reporter,
    tally: Tally<'_>,
) -> Result<u64, FetchError> {
    let mut transfer = Transfer {
        fetcher,
        parsed,
        url,
        expected,
        objects,
        reporter,
        tally,
        partial: None,
        range_ignored: false,
    };
    let mut attempt = 0;
    let mut restarted_after_mismatch = false;
    loop {
        match transfer.attempt().await {
            Ok(()) => {
                let partial = transfer
                    .partial
                    .take()
                    .expect("a completed attempt leaves its file in place");
                let pieces = partial.pieces;
                match partial.commit(expected, objects, url).await {
                    Ok(len) => return Ok(len),
                    // A file stitched from several responses may mix two versions of an
                    // upstream file that changed between our attempts: start over once
                    // before believing upstream serves wrong bytes.
                    Err(error @ FetchError::Verify { .. })
                        if pieces > 1 && !restarted_after_mismatch =>
                    {
                        tracing::warn!(url, "{error}; the download was resumed, starting over");
                        restarted_after_mismatch = true;
                    }
                    Err(error) => return Err(error),
                }
            }
            Err(error) => {
                fetcher.pause_before_retry(url, attempt, error).await?;
                attempt += 1;
            }
        }
    }
}

/// A download in progress: the temp file and the hash of what it holds so far.
struct Partial {
    tmp: tempfile::NamedTempFile,
    /// Writes to `tmp` through tokio, so the runtime thread never blocks on the disk.
    writer: tokio::fs::File,
    hasher: Hasher,
    /// The strong ETag of the response that started the file, sent as `If-Range` when
    /// resuming so that a changed file is sent whole instead of spliced.
    validator: Option<HeaderValue>,
    /// How many responses contributed bytes (more than one once resumed).
    pieces: u32,
}

impl Partial {
    fn new(objects: &ObjectStore, url: &str) -> Result<Self, FetchError> {
        let store_error = |source| FetchError::Store {
            url: url.to_owned(),
            source,
        };
        let tmp = objects.temp_file().map_err(store_error)?;
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| store_error(StoreError::io(tmp.path(), e)))?;
        Ok(Self {
            writer: tokio::fs::File::from_std(file),
            tmp,
            hasher: Hasher::new(),
            validator: None,
            pieces: 0,
        })
    }

    fn len(&self) -> u64 {
        self.hasher.len()
    }

    async fn write(&mut self, chunk: &[u8], url: &str) -> Result<(), FetchError> {
        self.hasher.update(chunk);
        self.writer
            .write_all(chunk)
            .await
            .map_err(|e| FetchError::Store {
                url: url.to_owned(),
                source: StoreError::io(self.tmp.path(), e),
            })
    }

    /// Check the complete file against `expected`; commit it when it matches.
    async fn commit(
        mut self,
        expected: Expected,
        objects: &ObjectStore,
        url: &str,
    ) -> Result<u64, FetchError> {
        self.writer.flush().await.map_err(|e| FetchError::Store {
            url: url.to_owned(),
            source: StoreError::io(self.tmp.path(), e),
        })?;
        let Partial {
            tmp,
            writer,
            hasher,
            ..
        } = self;
        drop(writer);
        let (digest, len) = hasher.finish();
        expected
            .check(url, digest, len)
            .map_err(|source| FetchError::from_store(url, source))?;
        let objects = objects.clone();
        let owned_url = url.to_owned();
        blocking(url, move || {
            objects
                .commit(tmp, digest)
                .map_err(|source| FetchError::from_store(&owned_url, source))
        })
        .await?;
        Ok(len)
    }
}

/// What one object download carries from attempt to attempt.
struct Transfer<'a> {
    fetcher: &'a Fetcher,
    parsed: &'a Url,
    url: &'a str,
    expected: Expected,
    objects: &'a ObjectStore,
    reporter: &'a dyn Reporter,
    tally: Tally<'a>,
    /// Bytes received so far, kept across attempts for resuming.
    partial: Option<Partial>,
    /// The server answered a range request with the whole file: stop asking.
    range_ignored: bool,
}

impl Transfer<'_> {
    /// One request; `Ok` when the file in `partial` is complete (not yet verified).
    async fn attempt(&mut self) -> Result<(), FetchError> {
        let url = self.url;
        let _permit = self.fetcher.permit().await;
        let offset = self.partial.as_ref().map_or(0, Partial::len);
        let resuming = offset > 0 && !self.range_ignored;
        let (mut request, authorized) = self.fetcher.request(self.parsed);
        if resuming {
            request = request.header(RANGE, format!("bytes={offset}-"));
            if let Some(validator) = self.partial.as_ref().and_then(|p| p.validator.clone()) {
                request = request.header(IF_RANGE, validator);
            }
        }
        let mut response = send(self.fetcher, request, authorized, url, self.tally).await?;
        let status = response.status();

        // Where the body must end (absolute offset in the file), when announced.
        let announced_end = if status == StatusCode::PARTIAL_CONTENT {
            let raw = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match parse_content_range(raw) {
                Some(range) if resuming && range.start == offset => {
                    if let (Some(size), Some(total)) = (self.expected.size, range.total)
                        && size != total
                    {
                        return Err(size_mismatch(url, size, total));
                    }
                    Some(range.end + 1)
                }
                _ => {
                    self.partial = None;
                    return Err(FetchError::BadRange {
                        url: url.to_owned(),
                        reason: format!("asked for bytes {offset}-, got Content-Range {raw:?}"),
                    });
                }
            }
        } else {
            if resuming && status == StatusCode::RANGE_NOT_SATISFIABLE {
                self.partial = None;
                return Err(FetchError::BadRange {
                    url: url.to_owned(),
                    reason: format!("416 for bytes {offset}-"),
                });
            }
            check_status(&response, url)?;
            if offset > 0 {
                if resuming {
                    tracing::info!(
                        url,
                        "server ignored the Range request; downloading it whole"
                    );
                    self.range_ignored = true;
                }
                self.partial = None;
            }
            let announced = response.content_length();
            if let (Some(size), Some(announced)) = (self.expected.size, announced)
                && size != announced
            {
                return Err(size_mismatch(url, size, announced));
            }
            announced
        };

        let partial = match &mut self.partial {
            Some(partial) => partial,
            None => {
                let mut fresh = Partial::new(self.objects, url)?;
                fresh.validator = response
                    .headers()
                    .get(ETAG)
                    .filter(|etag| !etag.as_bytes().starts_with(b"W/"))
                    .cloned();
                self.partial.insert(fresh)
            }
        };
        partial.pieces += 1;
        let mut pace = Pace::new();
        while let Some(chunk) = next_chunk(self.fetcher, &mut response, url, &mut pace).await? {
            let n = chunk.len() as u64;
            self.tally.bytes(n);
            self.reporter.advance(n);
            if let Some(size) = self.expected.size
                && partial.len() + n > size
            {
                // More than promised: no point downloading the rest of a wrong file.
                return Err(size_mismatch(url, size, partial.len() + n));
            }
            partial.write(&chunk, url).await?;
        }
        if let Some(end) = announced_end
            && partial.len() < end
        {
            return Err(FetchError::Truncated {
                url: url.to_owned(),
                received: partial.len(),
                announced: end,
            });
        }
        Ok(())
    }
}

fn size_mismatch(url: &str, expected: u64, actual: u64) -> FetchError {
    FetchError::Verify {
        url: url.to_owned(),
        mismatch: StoreError::SizeMismatch {
            what: url.to_owned(),
            expected,
            actual,
        },
    }
}

/// Send a request; the wait for the response head is bounded by connect + read timeout.
/// 401 and 403 are [`FetchError::Unauthorized`] (`authorized`: whether credentials were
/// sent), never retried: the same request gets the same answer.
async fn send(
    fetcher: &Fetcher,
    request: RequestBuilder,
    authorized: bool,
    url: &str,
    tally: Tally<'_>,
) -> Result<Response, FetchError> {
    tally.request();
    let options = &fetcher.inner.options;
    let timeout = options.connect_timeout + options.read_timeout;
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Ok(result) => result.map_err(|e| FetchError::network(url, e))?,
        Err(_) => {
            return Err(FetchError::Stalled {
                url: url.to_owned(),
                timeout,
            });
        }
    };
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(FetchError::Unauthorized {
            url: url.to_owned(),
            status: status.as_u16(),
            sent_credentials: authorized,
        });
    }
    Ok(response)
}

/// The pace of one response body: a silence of `read_timeout` is a stall, fewer than
/// `min_rate` bytes per second over a `rate_window` is too slow, and the whole request
/// has `request_deadline`. A trickling upstream (one byte a second never looks silent)
/// and an endless one both end in a retryable error instead of holding the lock.
pub(super) struct Pace {
    started: Instant,
    window_started: Instant,
    window_bytes: u64,
}

impl Pace {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            window_started: now,
            window_bytes: 0,
        }
    }

    fn record(
        &mut self,
        n: u64,
        options: &super::FetchOptions,
        url: &str,
    ) -> Result<(), FetchError> {
        self.window_bytes += n;
        let elapsed = self.window_started.elapsed();
        if elapsed >= options.rate_window && options.min_rate > 0 {
            // The rate over the window as measured, also for a window under a second.
            let minimum = (options.min_rate as f64 * elapsed.as_secs_f64()) as u64;
            if self.window_bytes < minimum {
                return Err(FetchError::TooSlow {
                    url: url.to_owned(),
                    reason: format!(
                        "{} bytes in {:.0?}, under the minimum of {} bytes/s (`min_rate`)",
                        self.window_bytes, elapsed, options.min_rate
                    ),
                });
            }
            self.window_started = Instant::now();
            self.window_bytes = 0;
        }
        Ok(())
    }
}

/// The next piece of the body, within the limits of `pace`.
async fn next_chunk(
    fetcher: &Fetcher,
    response: &mut Response,
    url: &str,
    pace: &mut Pace,
) -> Result<Option<Bytes>, FetchError> {
    let options = &fetcher.inner.options;
    let left = options
        .request_deadline
        .saturating_sub(pace.started.elapsed());
    let timeout = options.read_timeout.min(left);
    let chunk = match tokio::time::timeout(timeout, response.chunk()).await {
        Ok(result) => result.map_err(|e| FetchError::network(url, e))?,
        Err(_) if timeout < options.read_timeout => {
            return Err(FetchError::TooSlow {
                url: url.to_owned(),
                reason: format!(
                    "still receiving after {:?} (`request_deadline`)",
                    options.request_deadline
                ),
            });
        }
        Err(_) => {
            return Err(FetchError::Stalled {
                url: url.to_owned(),
                timeout,
            });
        }
    };
    if let Some(chunk) = &chunk {
        pace.record(chunk.len() as u64, options, url)?;
    }
    Ok(chunk)
}

fn check_status(response: &Response, url: &str) -> Result<(), FetchError> {
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Err(FetchError::NotFound {
            url: url.to_owned(),
        });
    }
    if !status.is_success() {
        return Err(FetchError::Http {
            url: url.to_owned(),
            status: status.as_u16(),
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
        });
    }
    Ok(())
}

/// `Retry-After: SECONDS` or `Retry-After: HTTP-date` (RFC 9110 10.2.3) as a wait from
/// `now`; a date in the past is no wait.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`).
#[derive(Debug, PartialEq, Eq)]
struct ContentRange {
    start: u64,
    end: u64,
    total: Option<u64>,
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some(ContentRange { start, end, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_and_rejects_garbage() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some(ContentRange {
                start: 100,
                end: 199,
                total: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes 0-9/*"),
            Some(ContentRange {
                start: 0,
                end: 9,
                total: None
            })
        );
        for bad in [
            "",
            "bytes */200",
            "bytes 9-0/10",
            "items 0-1/2",
            "bytes 0-x/2",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_last_modified_in_the_second_served_is_not_a_validator() {
        let date = "Mon, 07 Dec 2026 10:00:05 GMT";
        assert!(strong_date("Mon, 07 Dec 2026 10:00:04 GMT", Some(date)));
        assert!(strong_date("Sun, 06 Dec 2026 10:00:05 GMT", Some(date)));
        assert!(!strong_date("Mon, 07 Dec 2026 10:00:05 GMT", Some(date)));
        assert!(
            !strong_date("Mon, 07 Dec 2026 10:00:09 GMT", Some(date)),
            "in the future"
        );
        assert!(!strong_date("yesterday", Some(date)));
        // No Date: our clock.
        assert!(strong_date("Mon, 07 Dec 2020 10:00:05 GMT", None));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
