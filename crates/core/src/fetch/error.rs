//! [`FetchError`]: what can go wrong getting a URL, and which failures are worth a retry.

use std::time::Duration;

use crate::store::StoreError;

/// A failed fetch. Every message names the URL involved.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered 404 or 410, or a `file://` URL names no file.
    #[error("{url}: not found")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server answered with an error status (other than 404/410).
    #[error("{url}: HTTP status {status}")]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// How long the server asked us to wait (`Retry-After`), if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// The server answered `304 Not Modified` to a request that named no copy of ours
    /// (no `If-None-Match` or `If-Modified-Since` was sent): there is nothing it could
    /// mean. Not retried.
    #[error("{url}: answered 304 Not Modified, but no cached copy was named in the request")]
    UnexpectedNotModified {
        /// The URL.
        url: String,
    },
    /// The server answered 401 or 403: it wants credentials, or refused the ones sent.
    #[error("{url}: HTTP {status}: {}", if *sent_credentials {
        "the upstream refused the credentials configured for it"
    } else {
        "the upstream requires credentials, and none are configured for this URL (auth_file or bearer_token_file)"
    })]
    Unauthorized {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Whether credentials were sent.
        sent_credentials: bool,
    },
    /// The request or the response body failed on the network (connection refused or
    /// reset, TLS, protocol error, body cut short).
    #[error("{url}: {source}")]
    Network {
        /// The URL.
        url: String,
        /// The HTTP client's error (without its own copy of the URL).
        source: reqwest::Error,
    },
    /// No byte arrived for the read timeout.
    #[error("{url}: no data for {timeout:?}; the transfer stalled")]
    Stalled {
        /// The URL.
        url: String,
        /// How long the fetcher waited.
        timeout: Duration,
    },
    /// The body arrived too slowly (under `min_rate` over a `rate_window`) or the
    /// request outlived `request_deadline`: a trickling or endless upstream must not
    /// hold the store's writer lock for ever. Retried like a stall.
    #[error("{url}: {reason}; the transfer is too slow")]
    TooSlow {
        /// The URL.
        url: String,
        /// What was measured against which limit.
        reason: String,
    },
    /// The body ended before the length the server announced.
    #[error("{url}: body ended after {received} of {announced} bytes")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced (`Content-Length` / `Content-Range`).
        announced: u64,
    },
    /// A resumed transfer got a range answer that does not continue where it left off.
    #[error("{url}: unusable range response: {reason}")]
    BadRange {
        /// The URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The body is larger than the caller's limit.
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The content does not match its expected SHA-256 or size; nothing was stored.
    /// The message names the URL, the expected and the actual value.
    // Not a `source`: the message is the mismatch's own, which already names the URL,
    // and a chain would print it twice.
    #[error("{mismatch}")]
    Verify {
        /// The URL.
        url: String,
        /// [`StoreError::DigestMismatch`] or [`StoreError::SizeMismatch`].
        mismatch: StoreError,
    },
    /// Writing the download into the object store failed.
    #[error("{url}: storing the download: {source}")]
    Store {
        /// The URL.
        url: String,
        /// The store's error (names the path).
        source: StoreError,
    },
    /// Reading a `file://` URL failed.
    #[error("{url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error (names the path).
        source: std::io::Error,
    },
    /// Not an `http://`, `https://` or `file://` URL.
    #[error("{url}: unsupported URL scheme (expected http, https or file)")]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// The URL does not parse.
    #[error("{url}: invalid URL: {source}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// The parse error.
        source: url::ParseError,
    },
    /// A `file://` URL that names no local path (e.g. one with a remote host).
    #[error("{url}: not a local file URL")]
    NotLocalFile {
        /// The URL.
        url: String,
    },
    /// The HTTP client could not be built (TLS backend, options).
    #[error("building the HTTP client: {source}")]
    Client {
        /// The client builder's error.
        source: reqwest::Error,
    },
}

impl FetchError {
    /// The wait the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            FetchError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True for failures another attempt may cure: server errors (5xx), 408 and 429,
    /// network errors, stalls and truncated bodies. Not for other 4xx answers, size limits,
    /// verification failures or local errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            FetchError::Network { source, .. } => !(source.is_builder() || source.is_redirect()),
            FetchError::Stalled { .. }
            | FetchError::TooSlow { .. }
            | FetchError::Truncated { .. }
            | FetchError::BadRange { .. } => true,
            _ => false,
        }
    }

    /// The URL the error is about, when it is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            FetchError::NotFound { url }
            | FetchError::UnexpectedNotModified { url }
            | FetchError::Http { url, .. }
            | FetchError::Network { url, .. }
            | FetchError::Stalled { url, .. }
            | FetchError::TooSlow { url, .. }
            | FetchError::Truncated { url, .. }
            | FetchError::BadRange { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Verify { url, .. }
            | FetchError::Unauthorized { url, .. }
            | FetchError::Store { url, .. }
            | FetchError::Io { url, .. }
            | FetchError::UnsupportedScheme { url }
            | FetchError::InvalidUrl { url, .. }
            | FetchError::NotLocalFile { url } => Some(url),
            FetchError::Client { .. } => None,
        }
    }

    pub(super) fn network(url: &str, source: reqwest::Error) -> Self {
        // reqwest's message repeats the URL; ours already starts with it.
        FetchError::Network {
            url: url.to_owned(),
            source: source.without_url(),
        }
    }

    /// Sort a store error from a verified insert: a mismatch is a verification failure,
    /// anything else a storage failure.
    pub(super) fn from_store(url: &str, source: StoreError) -> Self {
        match source {
            StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => {
                FetchError::Verify {
                    url: url.to_owned(),
                    mismatch: source,
                }
            }
            other => FetchError::Store {
                url: url.to_owned(),
                source: other,
            },
        }
    }
}

impl crate::error::Classify for FetchError {
    /// A download that did not verify is a verification failure; every other fetch error
    /// (statuses, the network, stalls, and storing what arrived) counts as the upstream's.
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            FetchError::Verify { .. } => crate::error::ErrorClass::Verification,
            // Credentials are configuration: fixing them is the operator's move.
            FetchError::Unauthorized { .. } => crate::error::ErrorClass::Config,
            _ => crate::error::ErrorClass::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    #[test]
    fn retry_classification() {
        let url = "http://h/x".to_owned();
        let http = |status| FetchError::Http {
            retry_after: None,
            url: url.clone(),
            status,
        };
        assert!(http(500).is_retryable());
        assert!(http(503).is_retryable());
        assert!(http(429).is_retryable());
        assert!(!http(403).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!FetchError::NotFound { url: url.clone() }.is_retryable());
        assert!(
            !FetchError::TooLarge {
                url: url.clone(),
                limit: 1
            }
            .is_retryable()
        );
        assert!(
            FetchError::Stalled {
                url: url.clone(),
                timeout: Duration::from_secs(1)
            }
            .is_retryable()
        );
        let mismatch = StoreError::DigestMismatch {
            what: url.clone(),
            expected: Sha256Digest::of(b"a"),
            actual: Sha256Digest::of(b"b"),
        };
        let verify = FetchError::from_store(&url, mismatch);
        assert!(matches!(verify, FetchError::Verify { .. }));
        assert!(!verify.is_retryable());
        assert_eq!(verify.url(), Some("http://h/x"));
    }
}
