//! Mirrors in proxy mode (`mode = "proxy"`): the HTTP side of `mirror_core::proxy`.
//!
//! A hit is answered like a published file, on either path: the object is opened and
//! sent whole (`sendfile` on the connection loop), with its digest as the `ETag`. A miss
//! never waits on the connection loop: it goes to the hyper path, where [`answer`]
//! waits (up to `--proxy-timeout`) for the coalesced fill and looks again. A proxy
//! mirror never reads `public/<mirror>`: what it serves is what it verified.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mirror_core::proxy::{Hit, Inflight, Lookup, ProxyFailure, ProxySource};
use mirror_core::store::ObjectStore;
use tower::ServiceExt as _;

use super::directory_index::OFFERS;
use super::files::{IMMUTABLE, WholeFile};

/// Lookups and fills per request at most: an index, then the package it lists, then
/// one more look (a fill that raced a revalidation).
const ROUNDS: usize = 3;

/// The proxy mirrors of a config, by name.
pub struct Proxies {
    by_name: HashMap<String, Arc<dyn ProxySource>>,
    inflight: Inflight,
    objects: ObjectStore,
    timeout: Duration,
    /// The `Via` this server's fills send.
    via: String,
}

impl Proxies {
    /// `sources` filling `objects` (the store's), at most `fills` at once, each client
    /// waiting up to `timeout`.
    pub fn new(
        sources: Vec<Arc<dyn ProxySource>>,
        objects: ObjectStore,
        fills: usize,
        timeout: Duration,
        via: String,
    ) -> Self {
        Self {
            by_name: sources
                .into_iter()
                .map(|s| (s.name().to_owned(), s))
                .collect(),
            inflight: Inflight::new(fills),
            objects,
            timeout,
            via,
        }
    }

    /// The proxy serving `decoded` (`/<mirror>/<rest>`) and `rest`.
    pub fn route<'p>(&self, decoded: &'p str) -> Option<(&Arc<dyn ProxySource>, &'p str)> {
        let (mirror, rest) = decoded.strip_prefix('/')?.split_once('/')?;
        Some((self.by_name.get(mirror)?, rest))
    }

    /// The object of a hit, opened and checked against the size the proxy holds.
    pub fn open(&self, hit: &Hit, rest: &str) -> Option<WholeFile> {
        WholeFile::open_object(
            &self.objects.path(&hit.sha256),
            hit.size,
            rest,
            hit.immutable,
        )
    }
}

/// `"<sha256>"`.
pub fn etag(hit: &Hit) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", hit.sha256.to_hex())).expect("hex is a header value")
}

/// The answer to any request for a proxy mirror's path on the hyper path: fills what is
/// missing, then serves it (ranges included), or says why not.
pub async fn answer(
    proxies: &Proxies,
    source: &Arc<dyn ProxySource>,
    rest: &str,
    request: Request,
) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    // A directory (a PyPI project's page): the page the `Accept` header prefers, as
    // for a published tree (`directory_index`), with `Vary: Accept`.
    if rest.is_empty() || rest.ends_with('/') {
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let Some((media, file)) = super::directory_index::negotiate(&OFFERS, accept) else {
            let mut response = StatusCode::NOT_ACCEPTABLE.into_response();
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept"));
            return response;
        };
        let page = format!("{rest}{file}");
        let mut response = Box::pin(answer(proxies, source, &page, request)).await;
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        if response.status().is_success() {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        }
        return response;
    }
    let looped = request
        .headers()
        .get_all(header::VIA)
        .iter()
        .any(|via| via.to_str().is_ok_and(|v| v.contains(proxies.via.as_str())));
    for _ in 0..ROUNDS {
        match source.lookup(rest) {
            Lookup::Hit(hit) => return serve_hit(proxies, &hit, rest, request).await,
            Lookup::NotListed => return StatusCode::NOT_FOUND.into_response(),
            Lookup::Miss { .. } if looped => {
                tracing::warn!(
                    mirror = source.name(),
                    path = rest,
                    "a fill of ours came back to us: the upstream name resolves to this server"
                );
                return (
                    StatusCode::LOOP_DETECTED,
                    "this server's own fill came back to it\n",
                )
                    .into_response();
            }
            Lookup::Miss { key } => {
                if let Err(error) = proxies
                    .inflight
                    .fill(source, &key, rest, proxies.timeout)
                    .await
                {
                    tracing::warn!(mirror = source.name(), path = rest, reason = %error, "proxy fill failed");
                    let status = match error.failure {
                        ProxyFailure::Upstream | ProxyFailure::Refused => StatusCode::BAD_GATEWAY,
                        ProxyFailure::TimedOut => StatusCode::GATEWAY_TIMEOUT,
                        ProxyFailure::Busy => StatusCode::SERVICE_UNAVAILABLE,
                        ProxyFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    };
                    let mut response = (status, format!("{}\n", error.reason)).into_response();
                    if error.failure == ProxyFailure::Busy {
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    }
                    return response;
                }
            }
        }
    }
    tracing::warn!(
        mirror = source.name(),
        path = rest,
        "proxy fill did not make the file servable"
    );
    (StatusCode::BAD_GATEWAY, "filled but not servable\n").into_response()
}

/// A hit on the hyper path: validators, then the whole object or the range asked for.
async fn serve_hit(proxies: &Proxies, hit: &Hit, rest: &str, mut request: Request) -> Response {
    let etag = etag(hit);
    if let Some(wanted) = request.headers().get(header::IF_NONE_MATCH)
        && super::matches_etag(wanted, &etag)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        return response;
    }
    // A range of another version would splice two files: only under our ETag.
    if request
        .headers()
        .get(header::IF_RANGE)
        .is_some_and(|value| value != etag)
    {
        request.headers_mut().remove(header::RANGE);
    }
    request.headers_mut().remove(header::IF_RANGE);
    let mut response = if request.headers().contains_key(header::RANGE) {
        let path = proxies.objects.path(&hit.sha256);
        let mut response = match tower_http::services::ServeFile::new(path)
            .oneshot(request)
            .await
        {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
        response.headers_mut().remove(header::LAST_MODIFIED);
        if let Some(file) = proxies.open(hit, rest) {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            );
        }
        response
    } else {
        match proxies.open(hit, rest) {
            Some(file) => file.into_response(request.method() == Method::HEAD),
            None => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    };
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag);
        if hit.immutable {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        }
    }
    response
}
