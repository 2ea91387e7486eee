//! `serve [--listen ADDR]`: the store's `public/` over HTTP for client machines.
//!
//! Read-only and lock-free: each request resolves `public/<mirror>` (through the `live`
//! generation link) afresh, so a publish switches what clients see between two requests,
//! never within one file. Paths with a component starting with `.` (hidden files, temp
//! links), before or after percent-decoding, and paths that do not decode are refused.
//!
//! Two paths answer requests: [`connection`] writes plain whole-file answers straight to
//! the socket (`sendfile` for large bodies); everything else goes through [`handoff`] to
//! hyper and the axum [`app`] built here. Both ask [`Served`] what to answer, so routing,
//! the path rule and ETags are decided once.
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
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mirror_core::store::Store;
use tower_http::services::ServeDir;

use super::{Context, Output};

mod connection;
mod directory_index;
mod files;
mod handoff;
mod hosts;
mod listener;
mod proxy;
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
    let proxies = proxy_mirrors(&config, &store, limits)?;
    let (served, router) = app(&store, routes, proxies);
    listener::serve(listener, served, router, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("HTTP server failed")?;
    Ok(Output::new(
        serde_json::to_value(Stopped { stopped: true })?,
        "",
    ))
}

/// The config's mirrors in proxy mode, each ready to fill. Fetches for a waiting client
/// retry once and give up on a stalled upstream after 15 s (the client's own deadline
/// is `--proxy-timeout`).
fn proxy_mirrors(
    config: &crate::config::Config,
    store: &Store,
    limits: Limits,
) -> anyhow::Result<proxy::Proxies> {
    // This server's own mark: a miss that arrives carrying it is our own fill come back
    // (an upstream name resolving to this server), answered 508 instead of fetched
    // again for ever. Random per process, so a tier of proxies is not a loop.
    let mark = {
        use std::hash::BuildHasher as _;
        // Keyed randomly per process by the standard library: no RNG crate needed.
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    };
    let proxies_via = format!("1.1 airgap-mirror-{mark:016x}");
    let mut sources = Vec::new();
    let wanted: Vec<_> = config
        .mirrors
        .iter()
        .map(|m| &**m)
        .filter(|m| m.is_proxy())
        .collect();
    if !wanted.is_empty() {
        let options = super::sync::fetch_options(config, wanted.iter().copied())?;
        let fetch = mirror_core::fetch::FetchOptions {
            via: Some(proxies_via.clone()),
            retries: options.retries.min(1),
            read_timeout: options.read_timeout.min(std::time::Duration::from_secs(15)),
            concurrency: limits.proxy_fills,
            ..options
        };
        let ctx = mirror_core::proxy::ProxyContext {
            store: store.clone(),
            fetch,
        };
        for settings in wanted {
            if let Some(source) = settings.proxy(&ctx) {
                sources.push(source.with_context(|| format!("mirror {}", settings.name()))?);
                tracing::info!(
                    mirror = settings.name(),
                    upstream = settings.upstream(),
                    "proxy mirror"
                );
            }
        }
    }
    Ok(proxy::Proxies::new(
        sources,
        store.objects().clone(),
        limits.proxy_fills,
        limits.proxy_timeout,
        proxies_via,
    ))
}

/// What `serve --json` prints when it stops (ctrl-c).
#[derive(serde::Serialize)]
struct Stopped {
    stopped: bool,
}

/// The HTTP app: static files from `public/`, upstream host names routed to their
/// mirrors, hidden paths refused, digest ETags, requests logged. The [`Served`] state is
/// shared with the connection loop's own plain-file path (`connection.rs`).
fn app(store: &Store, routes: Routes, proxies: proxy::Proxies) -> (Arc<Served>, Router) {
    let state = Arc::new(Served {
        etags: Etags::new(store),
        routes,
        public: store.public_dir(),
        proxies,
    });
    let router = Router::new()
        .fallback_service(ServeDir::new(store.public_dir()).append_index_html_on_directories(false))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard_and_log,
        ));
    (state, router)
}

/// What every request consults.
pub struct Served {
    etags: Etags,
    routes: Routes,
    /// `<store>/public`, for the whole-file paths (`files.rs`).
    public: std::path::PathBuf,
    /// Mirrors in proxy mode, answered from what they verified, never from `public/`.
    proxies: proxy::Proxies,
}

/// Where a request points: its path after host routing, and that path decoded.
pub struct Located {
    /// The request line's path on this server (`/<mirror>/...` when a host route applied).
    pub path: String,
    /// The decoded path, when it passes the path rule; `None` is a 404.
    pub decoded: Option<String>,
    /// The rewritten target when the request named a mirror's upstream host.
    pub routed: Option<axum::http::uri::PathAndQuery>,
}

/// The answer to a plain request (GET or HEAD of a whole file, no `Range`), decided once
/// for both paths that send it.
pub enum Plain {
    /// `If-None-Match` named the file's digest.
    NotModified { etag: HeaderValue },
    /// The whole file, with its digest ETag when it belongs to the published snapshot.
    File {
        file: files::WholeFile,
        etag: Option<HeaderValue>,
    },
}

impl Served {
    /// Route `uri` (with the request's `Host`) and decode and check its path.
    pub fn locate(&self, uri: &Uri, host: Option<&str>) -> Located {
        let routed = self.routes.rewrite(uri, host);
        let path = match &routed {
            Some(target) => target.path().to_owned(),
            None => uri.path().to_owned(),
        };
        // Decoded once, and checked as ServeDir will read it: `%2e` is a dot too.
        let decoded = mirror_paths::percent_decode(&path).filter(|d| servable(d));
        Located {
            path,
            decoded,
            routed,
        }
    }

    /// The digest ETag of `decoded` with the mirror and snapshot it was read from.
    fn etag(&self, decoded: &str) -> Option<(HeaderValue, Found)> {
        let (mirror, file) = decoded.strip_prefix('/')?.split_once('/')?;
        let (id, digest) = self.etags.lookup(mirror, file)?;
        let etag = HeaderValue::from_str(&format!("\"{digest}\"")).ok()?;
        Some((
            etag,
            Found {
                mirror: mirror.to_owned(),
                file: file.to_owned(),
                id,
            },
        ))
    }

    /// True while `found`'s snapshot is still the published one: checked after a file is
    /// opened, so a publish in between drops the ETag rather than send one that may
    /// belong to the other tree.
    fn still_published(&self, found: &Found) -> bool {
        self.etags
            .lookup(&found.mirror, &found.file)
            .is_some_and(|(now, _)| now == found.id)
    }

    /// The answer to a GET or HEAD of `decoded` without `Range`, when it is a validator
    /// match or a whole regular file; `None` leaves it to `ServeDir` (404, a directory).
    pub fn plain(&self, decoded: &str, if_none_match: Option<&HeaderValue>) -> Option<Plain> {
        if let Some((source, rest)) = self.proxies.route(decoded) {
            // A hit only; a miss waits for upstream, which the hyper path does.
            let mirror_core::proxy::Lookup::Hit(hit) = source.lookup(rest) else {
                return None;
            };
            let etag = proxy::etag(&hit);
            if if_none_match.is_some_and(|wanted| matches_etag(wanted, &etag)) {
                return Some(Plain::NotModified { etag });
            }
            let file = self.proxies.open(&hit, rest)?;
            return Some(Plain::File {
                file,
                etag: Some(etag),
            });
        }
        let etag = self.etag(decoded);
        if let Some((etag, _)) = &etag
            && if_none_match.is_some_and(|wanted| matches_etag(wanted, etag))
        {
            return Some(Plain::NotModified { etag: etag.clone() });
        }
        let file = files::WholeFile::open(&self.public, decoded)?;
        let etag = etag
            .filter(|(_, found)| self.still_published(found))
            .map(|(etag, _)| etag);
        Some(Plain::File { file, etag })
    }
}

/// Which snapshot an ETag was read from.
struct Found {
    mirror: String,
    file: String,
    id: String,
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
    let located = served.locate(request.uri(), host.as_deref());
    if let Some(target) = located.routed.clone() {
        *request.uri_mut() = Uri::from(target);
    }
    let method = request.method().clone();
    let response = match &located.decoded {
        Some(decoded) => with_etag(&served, decoded, request, next).await,
        None => StatusCode::NOT_FOUND.into_response(),
    };
    log_request(
        &method,
        &located,
        host.as_deref(),
        response.status().as_u16(),
    );
    response
}

/// One line per request, on both paths.
pub fn log_request(
    method: &axum::http::Method,
    located: &Located,
    host: Option<&str>,
    status: u16,
) {
    let path = &located.path;
    match &located.routed {
        Some(_) => {
            tracing::info!(%method, %path, host = host.unwrap_or_default(), status, "request by host name");
        }
        None => tracing::info!(%method, %path, status, "request"),
    }
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
async fn with_etag(served: &Served, decoded: &str, mut request: Request, next: Next) -> Response {
    for name in [header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE] {
        request.headers_mut().remove(name);
    }
    if let Some((source, rest)) = served.proxies.route(decoded) {
        let source = Arc::clone(source);
        return proxy::answer(&served.proxies, &source, rest, request).await;
    }
    let plain_method = request.method() == Method::GET || request.method() == Method::HEAD;
    if plain_method && !request.headers().contains_key(header::RANGE) {
        let head = request.method() == Method::HEAD;
        if let Some(plain) = served.plain(decoded, request.headers().get(header::IF_NONE_MATCH)) {
            return plain.into_response(head);
        }
    }
    // Not a whole file: a directory's page, when it has one (checked only here, after
    // the file path, so a file request pays no extra look at the disk).
    if plain_method {
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        if let Some(index) = directory_index::choose(&served.public, decoded, accept) {
            let head = request.method() == Method::HEAD;
            return directory_page(served, index, head, &request);
        }
    }
    // `If-Range` with a date would resume a download across a rollback: drop it, so a
    // range request gets the whole new file unless it names the current ETag.
    let found = served.etag(decoded);
    let etag = found.as_ref().map(|(etag, _)| etag.clone());
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
        && matches_etag(wanted, etag)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag.clone());
        return response;
    }
    let mut response = next.run(request).await;
    response.headers_mut().remove(header::LAST_MODIFIED);
    if let Some((etag, found)) = found
        && response.status().is_success()
        && served.still_published(&found)
    {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// A directory's page (`directory_index`), whole (a `Range` is ignored: pages are small
/// and generated per snapshot), with `Vary: Accept` on every answer.
fn directory_page(
    served: &Served,
    index: directory_index::DirectoryIndex,
    head: bool,
    request: &Request,
) -> Response {
    use directory_index::DirectoryIndex;
    let mut response = match index {
        DirectoryIndex::Redirect(path) => {
            // Relative to the request's own URL, which a host route may have rewritten:
            // `app` -> `app/`.
            let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let mut location = format!("{}/", encode_segment(last));
            if let Some(query) = request.uri().query() {
                location = format!("{location}?{query}");
            }
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        DirectoryIndex::NotAcceptable => StatusCode::NOT_ACCEPTABLE.into_response(),
        DirectoryIndex::Page { path, content_type } => {
            match served.plain(&path, request.headers().get(header::IF_NONE_MATCH)) {
                Some(plain) => {
                    let mut response = plain.into_response(head);
                    if response.status().is_success() {
                        response
                            .headers_mut()
                            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                    }
                    response
                }
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// A path segment for a URL: unreserved bytes as they are, the others `%XX`.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Plain {
    /// As an axum response (the hyper path); `head`: no body.
    fn into_response(self, head: bool) -> Response {
        match self {
            Plain::NotModified { etag } => {
                let mut response = StatusCode::NOT_MODIFIED.into_response();
                response.headers_mut().insert(header::ETAG, etag);
                response
            }
            Plain::File { file, etag } => {
                let mut response = file.into_response(head);
                if let Some(etag) = etag {
                    response.headers_mut().insert(header::ETAG, etag);
                }
                response
            }
        }
    }
}

/// `If-None-Match: "a", "b"` or `*` against our (strong) ETag; weak comparison, as
/// RFC 9110 asks for this header.
fn matches_etag(wanted: &HeaderValue, etag: &HeaderValue) -> bool {
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
        assert!(matches_etag(
            &HeaderValue::from_static("\"x\", \"abc\""),
            &etag
        ));
        assert!(matches_etag(&HeaderValue::from_static("W/\"abc\""), &etag));
        assert!(matches_etag(&HeaderValue::from_static("*"), &etag));
        assert!(!matches_etag(&HeaderValue::from_static("\"abd\""), &etag));
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
