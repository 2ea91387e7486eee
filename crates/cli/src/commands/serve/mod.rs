//! `serve [--listen ADDR]`: the store's `public/` over HTTP for client machines.
//!
//! Read-only and lock-free: each request resolves `public/<mirror>` (through the `live`
//! generation link) afresh, so a publish switches what clients see between two requests,
//! never within one file. Paths with a component starting with `.` (hidden files, temp
//! links), before or after percent-decoding, and paths that do not decode are refused.
//!
//! Host names: a request for a mirror's upstream URL (its `Host`, or a proxy's absolute
//! request line) is answered from that mirror ([`hosts`]), so clients whose DNS or proxy
//! points at the mirror keep their sources unchanged.
//!
//! Caching: a file of a published snapshot carries a strong `ETag`, its SHA-256, and
//! `If-None-Match` is answered from it. File times are never used (no `Last-Modified`,
//! `If-Modified-Since` ignored): published files are hard links to objects, whose mtime is
//! when the object was first stored, so after `publish --snapshot OLD` a time-based
//! validator would tell a client holding the newer InRelease that nothing changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mirror_core::store::Store;
use tower_http::services::ServeDir;

use super::{Context, Output};

mod files;
mod hosts;
mod listener;
use hosts::Routes;
pub use listener::Limits;

pub async fn run(ctx: &Context, listen: &str, limits: Limits) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store = Store::open(config.store_dir())?;
    let routes = Routes::new(config.mirrors.iter().map(|m| (m.name(), m.upstream())));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when they pass :0.
    eprintln!("serving {} on http://{addr}/", store.public_dir().display());
    tracing::info!(%addr, "serving");
    listener::serve(listener, router(&store, routes), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("HTTP server failed")?;
    Ok(Output::new(
        serde_json::to_value(Stopped { stopped: true })?,
        "",
    ))
}

/// What `serve --json` prints when it stops (ctrl-c).
#[derive(serde::Serialize)]
struct Stopped {
    stopped: bool,
}

/// The HTTP app: static files from `public/`, upstream host names routed to their
/// mirrors, hidden paths refused, digest ETags, requests logged.
pub fn router(store: &Store, routes: Routes) -> Router {
    let state = Arc::new(Served {
        etags: Etags::new(store),
        routes,
        public: store.public_dir(),
    });
    Router::new()
        .fallback_service(ServeDir::new(store.public_dir()).append_index_html_on_directories(false))
        .layer(middleware::from_fn_with_state(state, guard_and_log))
}

/// What every request consults.
struct Served {
    etags: Etags,
    routes: Routes,
    /// `<store>/public`, for the small-file fast path (`files.rs`).
    public: std::path::PathBuf,
}

/// Path -> SHA-256 (hex) of every file of one snapshot.
type Digests = Arc<HashMap<String, String>>;

/// Path -> SHA-256 of each mirror's published snapshot, loaded once per publish.
struct Etags {
    store: Store,
    /// mirror -> (published snapshot id, its digests)
    cache: Mutex<HashMap<String, (String, Digests)>>,
    /// The live generation last seen and each mirror's published id in it: a request
    /// costs one `readlink` of `live` while nothing is published.
    ids: Mutex<(u64, HashMap<String, Option<String>>)>,
}

impl Etags {
    fn new(store: &Store) -> Self {
        Self {
            store: store.clone(),
            cache: Mutex::new(HashMap::new()),
            ids: Mutex::new((0, HashMap::new())),
        }
    }

    /// `mirror`'s published snapshot id, as of the live generation now.
    fn published(&self, mirror: &str) -> Option<String> {
        let generation = self.store.live_generation().ok()??;
        {
            let ids = self.ids.lock().ok()?;
            if ids.0 == generation
                && let Some(id) = ids.1.get(mirror)
            {
                return id.clone();
            }
        }
        // Read from that generation itself, so the id is never another's.
        let (read_generation, id) = self.store.published_in_live(mirror).ok()??;
        let mut ids = self.ids.lock().ok()?;
        if ids.0 != read_generation {
            *ids = (read_generation, HashMap::new());
        }
        ids.1.insert(mirror.to_owned(), id.clone());
        id
    }

    /// The published snapshot id of `mirror` and the digest of `path` in it.
    fn lookup(&self, mirror: &str, path: &str) -> Option<(String, String)> {
        let id = self.published(mirror)?;
        let cached = self
            .cache
            .lock()
            .ok()?
            .get(mirror)
            .filter(|(cached_id, _)| *cached_id == id)
            .map(|(_, files)| Arc::clone(files));
        let files = match cached {
            Some(files) => files,
            None => {
                // Loading parses the snapshot: once per mirror and publish, not per request.
                let snapshot = self.store.load_snapshot(mirror, &id).ok()?;
                let files: Digests = Arc::new(
                    snapshot
                        .files
                        .into_iter()
                        .map(|f| (f.path, f.sha256.to_hex()))
                        .collect(),
                );
                self.cache
                    .lock()
                    .ok()?
                    .insert(mirror.to_owned(), (id.clone(), Arc::clone(&files)));
                files
            }
        };
        files.get(path).map(|digest| (id, digest.clone()))
    }
}

async fn guard_and_log(
    State(served): State<Arc<Served>>,
    mut request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let upstream = request.uri().to_string();
    let routed = served.routes.rewrite(request.uri(), host.as_deref());
    if let Some(path) = routed.clone() {
        *request.uri_mut() = Uri::from(path);
    }
    let etags = &served.etags;
    let path = request.uri().path().to_owned();
    // Decoded once, and checked as ServeDir will read it: `%2e` is a dot too.
    let Some(decoded) = mirror_paths::percent_decode(&path).filter(|d| servable(d)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let method = request.method().clone();
    let response = with_etag(etags, &served.public, &decoded, request, next).await;
    let status = response.status().as_u16();
    match (routed, host) {
        (Some(_), host) => {
            tracing::info!(%method, %path, host = host.unwrap_or_default(), %upstream, status, "request by host name");
        }
        _ => tracing::info!(%method, %path, status, "request"),
    }
    response
}

/// The path rule of a request, on the decoded path: the workspace's one rule for tree
/// paths (`mirror_paths::check_relative`: no `.`/`..`/empty components, no backslash or
/// control character), plus no hidden (`.`-prefixed) component and none longer than a
/// file name can be (255 bytes: the filesystem's ENAMETOOLONG was a 500). A trailing `/`
/// (a directory, which has no index and answers 404 anyway) and `/` itself pass.
/// Anything refused is a plain 404, as a missing file.
fn servable(decoded: &str) -> bool {
    let inner = decoded.strip_prefix('/').unwrap_or(decoded);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    inner.is_empty()
        || (mirror_paths::check_relative(inner).is_ok()
            && inner
                .split('/')
                .all(|part| !part.starts_with('.') && part.len() <= 255))
}

/// Serve `request` (`decoded`: its path, percent-decoded and checked), validated by
/// digest instead of by file time.
async fn with_etag(
    etags: &Etags,
    public: &std::path::Path,
    decoded: &str,
    mut request: Request,
    next: Next,
) -> Response {
    for name in [header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE] {
        request.headers_mut().remove(name);
    }
    // `If-Range` with a date would resume a download across a rollback: drop it, so a
    // range request gets the whole new file unless it names the current ETag.
    let found = decoded
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(mirror, file)| {
            etags
                .lookup(mirror, file)
                .map(|(id, digest)| (mirror.to_owned(), file.to_owned(), id, digest))
        });
    let etag = found
        .as_ref()
        .and_then(|(_, _, _, digest)| HeaderValue::from_str(&format!("\"{digest}\"")).ok());
    let if_range_ok = match (request.headers().get(header::IF_RANGE), &etag) {
        (Some(value), Some(etag)) => value == etag,
        (Some(_), None) => false,
        (None, _) => true,
    };
    if !if_range_ok {
        request.headers_mut().remove(header::RANGE);
    }
    request.headers_mut().remove(header::IF_RANGE);
    if let Some(etag) = &etag
        && let Some(wanted) = request.headers().get(header::IF_NONE_MATCH)
        && if_none_match(wanted, etag)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag.clone());
        return response;
    }
    let fast = files::small_file(
        public,
        decoded,
        request.method(),
        request.headers().contains_key(header::RANGE),
    );
    let mut response = match fast {
        Some(response) => response,
        None => next.run(request).await,
    };
    response.headers_mut().remove(header::LAST_MODIFIED);
    if let (Some(etag), Some((mirror, file, id, _))) = (etag, found)
        && response.status().is_success()
        // A publish between the lookup and the file's opening: no ETag rather than one
        // that may belong to the other tree.
        && etags.lookup(&mirror, &file).is_some_and(|(now, _)| now == id)
    {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `If-None-Match: "a", "b"` or `*` against our (strong) ETag; weak comparison, as
/// RFC 9110 asks for this header.
fn if_none_match(wanted: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(wanted) = wanted.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    wanted
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(if_none_match(
            &HeaderValue::from_static("\"x\", \"abc\""),
            &etag
        ));
        assert!(if_none_match(&HeaderValue::from_static("W/\"abc\""), &etag));
        assert!(if_none_match(&HeaderValue::from_static("*"), &etag));
        assert!(!if_none_match(&HeaderValue::from_static("\"abd\""), &etag));
        assert_eq!(
            mirror_paths::percent_decode("a%2Bb/c").as_deref(),
            Some("a+b/c")
        );
        assert_eq!(mirror_paths::percent_decode("bad%2"), None);
    }

    #[test]
    fn the_path_rule() {
        for good in [
            "/",
            "/debian/dists/bookworm/InRelease",
            "/debian/pool/",
            "/a b",
        ] {
            assert!(servable(good), "{good}");
        }
        let long = format!("/debian/{}", "x".repeat(256));
        for bad in [
            "//debian/InRelease",
            "/debian//InRelease",
            "/debian/.hidden",
            "/debian/../x",
            "/debian/a\\b",
            long.as_str(),
        ] {
            assert!(!servable(bad), "{bad}");
        }
        // Decoding comes first: `%2e%2e` is `..`, and what does not decode is refused.
        let decoded = mirror_paths::percent_decode("/debian/%2e%2e/x").expect("decodes");
        assert!(!servable(&decoded));
        assert_eq!(mirror_paths::percent_decode("/bad%2"), None);
        assert!(servable(&format!("/debian/{}", "x".repeat(255))));
    }
}
