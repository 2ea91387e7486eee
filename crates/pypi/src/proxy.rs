//! Proxy mode (`mode = "proxy"`): a Python package index filled on demand by `serve`.
//!
//! A project's page is fetched when a client first asks for it (or for one of its
//! files), as uv asks for it (PEP 691 JSON preferred, read by its `Content-Type`, kept on
//! the index's origin), checked as `sync` checks it (file names, digests in the right
//! form, links only `http(s)`, no credentials in them), and served as ours: every file
//! with a sha256 (wheels; sdists too with `sdists = true`) linked below our `packages/`,
//! each with its digest, and its PEP 658 metadata file when upstream states a digest for
//! it. A file is fetched when a client asks for a name its page lists, streamed against
//! that sha256 (and size, when stated) before it is stored and served. A file upstream
//! gives no digest for is not served: nothing unverified enters the store. A project
//! upstream does not have is a 404, remembered until the page is due again.
//!
//! Pages are asked for again (conditionally) after `revalidate_after`; if upstream
//! cannot be reached then, the page held is served. Files are never revalidated.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mirror_core::digest::Sha256Digest;
use mirror_core::error::RepositoryError;
use mirror_core::fetch::{Conditional, Fetcher, Validators};
use mirror_core::proxy::{
    Hit, Lookup, NothingPulled, ObjectFill, ProxyContext, ProxyError, ProxyFailure, ProxyLog,
    ProxySource, Pulled, RecordKind, fetch_failure, fill_object, held,
};
use mirror_core::snapshot::SnapshotFile;
use mirror_core::store::{Expected, Store};

use crate::config::PypiConfig;
use crate::error::PypiError;
use crate::mirror::{ACCEPT, file_url, read_page, same_origin};
use crate::simple::{CoreMetadata, File, ProjectPage};

/// After upstream failed to revalidate a page, how long the held one is served before
/// upstream is asked again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// One `[[pypi]]` mirror in proxy mode.
pub struct PypiProxy {
    name: String,
    index: String,
    sdists: bool,
    revalidate_after: Duration,
    store: Store,
    fetcher: Fetcher,
    log: ProxyLog,
    projects: RwLock<HashMap<String, Arc<ProjectState>>>,
}

/// A file a served page links, and where upstream has it.
#[derive(Debug, Clone)]
struct Listed {
    url: String,
    expected: Expected,
    /// Its PEP 658 metadata file: upstream URL and digest.
    metadata: Option<(String, Sha256Digest)>,
}

/// One project as the proxy serves it now.
struct ProjectState {
    /// `index.json` and `index.html`; `None`: upstream has no such project.
    pages: Option<[Hit; 2]>,
    files: Arc<HashMap<Box<str>, Listed>>,
    /// The files of the page served before (clients holding it).
    older: Option<Arc<HashMap<Box<str>, Listed>>>,
    /// Upstream's validators and the digest of its body, for a conditional request.
    validators: Validators,
    served: Option<Sha256Digest>,
    next_check: Instant,
}

impl ProjectState {
    fn renewed(&self, next_check: Instant) -> ProjectState {
        ProjectState {
            pages: self.pages,
            files: Arc::clone(&self.files),
            older: self.older.clone(),
            validators: self.validators.clone(),
            served: self.served,
            next_check,
        }
    }

    fn listed(&self, filename: &str) -> Option<&Listed> {
        self.files
            .get(filename)
            .or_else(|| self.older.as_ref()?.get(filename))
    }
}

/// What a path below the mirror names.
enum Path<'p> {
    /// `simple/<name>/index.json` (0) or `index.html` (1).
    Page(&'p str, usize),
    /// `packages/<name>/<file>`.
    File(&'p str, &'p str),
    /// `packages/<name>/<file>.metadata`.
    Metadata(&'p str, &'p str),
}

impl PypiProxy {
    /// A proxy for `config` (checked here) filling `ctx.store`.
    pub fn new(config: &PypiConfig, ctx: &ProxyContext) -> Result<Self, PypiError> {
        let index = config.validate_proxy()?;
        let store = ctx.store.for_proxy()?;
        let log = ProxyLog::open(&store, &config.name)?;
        let proxy = Self {
            name: config.name.clone(),
            index,
            sdists: config.sdists,
            revalidate_after: mirror_core::settings::revalidate_after(
                config.mode,
                config.revalidate_after.as_deref(),
            )
            .unwrap_or(mirror_core::proxy::DEFAULT_REVALIDATE_AFTER),
            store,
            fetcher: Fetcher::new(ctx.fetch.clone())?,
            log,
            projects: RwLock::default(),
        };
        proxy.restore();
        Ok(proxy)
    }

    /// Take up the pages served before (from the log and the store), due for
    /// revalidation at once: while upstream is away they are served, with the files
    /// held. Their upstream URLs are not known until a page is fetched again, so a file
    /// not held waits for that.
    fn restore(&self) {
        let Ok(records) = self.store.proxy_records(&self.name) else {
            return;
        };
        let mut newest: HashMap<&str, [Option<Hit>; 2]> = HashMap::new();
        for record in records.iter().filter(|r| r.kind == RecordKind::Index) {
            let Some(Path::Page(name, which)) = Self::split(&record.path) else {
                continue;
            };
            newest.entry(name).or_default()[which] = Some(Hit {
                sha256: record.sha256,
                size: record.size,
                immutable: false,
            });
        }
        let objects = self.store.objects();
        for (name, pages) in newest {
            let [Some(json), Some(html)] = pages else {
                continue;
            };
            let Ok(bytes) = objects.read(&json.sha256) else {
                continue;
            };
            if Sha256Digest::of(&bytes) != json.sha256 || !objects.contains(&html.sha256) {
                continue;
            }
            let Ok(page) = ProjectPage::from_json(&bytes, &format!("{}/simple/{name}/", self.name))
            else {
                continue;
            };
            let files = page
                .files
                .iter()
                .filter_map(|file| {
                    let sha256 = file.sha256()?.parse().ok()?;
                    let metadata = match &file.core_metadata {
                        CoreMetadata::Hashes(h) => h
                            .get("sha256")
                            .and_then(|d| d.parse().ok())
                            .map(|d| (String::new(), d)),
                        _ => None,
                    };
                    Some((
                        file.filename.clone().into_boxed_str(),
                        Listed {
                            url: String::new(),
                            expected: Expected {
                                sha256,
                                size: file.size,
                            },
                            metadata,
                        },
                    ))
                })
                .collect();
            self.set(
                name,
                ProjectState {
                    pages: Some([json, html]),
                    files: Arc::new(files),
                    older: None,
                    validators: Validators::default(),
                    served: None,
                    next_check: Instant::now(),
                },
            );
        }
    }

    fn project(&self, name: &str) -> Option<Arc<ProjectState>> {
        self.projects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn set(&self, name: &str, state: ProjectState) {
        self.projects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), Arc::new(state));
    }

    /// A path of ours, its project name normalised (anything else is not ours).
    fn split<'p>(path: &'p str) -> Option<Path<'p>> {
        let normal = |name: &str| crate::name::normalize(name).is_ok_and(|n| n == name);
        if let Some(rest) = path.strip_prefix("simple/") {
            let (name, page) = rest.split_once('/')?;
            let which = match page {
                "index.json" => 0,
                "index.html" => 1,
                _ => return None,
            };
            return normal(name).then_some(Path::Page(name, which));
        }
        let (name, file) = path.strip_prefix("packages/")?.split_once('/')?;
        if !normal(name) || file.contains('/') {
            return None;
        }
        Some(match file.strip_suffix(".metadata") {
            Some(wheel) => Path::Metadata(name, wheel),
            None => Path::File(name, file),
        })
    }

    fn object(&self, expected: Expected) -> Lookup {
        held(self.store.objects(), expected, true)
    }

    /// Fetch `name`'s page (conditionally when one is held), check it, serve ours.
    async fn fill_page(&self, name: &str) -> Result<(), ProxyError> {
        let held = self.project(name);
        if let Some(now) = &held
            && Instant::now() < now.next_check
        {
            return Ok(());
        }
        match self.fetch_page(name, held.as_deref()).await {
            Ok(state) => {
                self.set(name, state);
                Ok(())
            }
            Err(error) => match held {
                Some(held) => {
                    tracing::warn!(mirror = %self.name, project = name, reason = %error, "cannot revalidate the page; serving the one held");
                    self.set(name, held.renewed(Instant::now() + RETRY_AFTER_FAILURE));
                    Ok(())
                }
                None => Err(refusal(&self.name, &error)),
            },
        }
    }

    async fn fetch_page(
        &self,
        name: &str,
        held: Option<&ProjectState>,
    ) -> Result<ProjectState, PypiError> {
        let url = format!("{}/{name}/", self.index);
        let cap = self.fetcher.options().max_index_size;
        let known = held.map(|h| h.validators.clone()).unwrap_or_default();
        let answer = self
            .fetcher
            .get_negotiated(&url, cap, &known, Some(ACCEPT))
            .await?;
        let next_check = Instant::now() + self.revalidate_after;
        let (body, validators, content_type, redirected_to) = match answer {
            Some(Conditional::NotModified) => {
                let held = held.ok_or_else(|| {
                    PypiError::Page(crate::simple::PageError {
                        origin: url.clone(),
                        reason: "304 Not Modified to a request that named no page".into(),
                    })
                })?;
                return Ok(held.renewed(next_check));
            }
            Some(Conditional::Modified {
                body,
                validators,
                content_type,
                redirected_to,
            }) => (body, validators, content_type, redirected_to),
            None => {
                // No such project: a 404 until the page is due again.
                return Ok(ProjectState {
                    pages: None,
                    files: Arc::default(),
                    older: held.map(|h| Arc::clone(&h.files)),
                    validators: Validators::default(),
                    served: None,
                    next_check,
                });
            }
        };
        let served = Sha256Digest::of(&body);
        if let Some(held) = held
            && held.served == Some(served)
        {
            return Ok(held.renewed(next_check));
        }
        let base = match &redirected_to {
            Some(to) => same_origin(&url, to)?,
            None => url.clone(),
        };
        let page = read_page(&body, content_type.as_deref(), name, &url)?;
        let mut files = HashMap::new();
        let mut links = Vec::new();
        for file in page.files {
            let wheel = file.filename.ends_with(".whl");
            if !wheel && !self.sdists {
                continue;
            }
            let Some(sha256) = file.sha256().and_then(|h| h.parse::<Sha256Digest>().ok()) else {
                // Nothing to verify it by: not served.
                continue;
            };
            let url = file_url(&self.index, &base, &file)?;
            let metadata = match &file.core_metadata {
                CoreMetadata::Hashes(hashes) => hashes
                    .get("sha256")
                    .and_then(|h| h.parse::<Sha256Digest>().ok())
                    .map(|digest| (format!("{url}.metadata"), digest)),
                CoreMetadata::Absent | CoreMetadata::Unhashed => None,
            };
            links.push(File {
                url: format!("../../packages/{name}/{}", file.filename),
                hashes: [("sha256".to_owned(), sha256.to_hex())].into(),
                core_metadata: match &metadata {
                    Some((_, digest)) => {
                        CoreMetadata::Hashes([("sha256".to_owned(), digest.to_hex())].into())
                    }
                    None => CoreMetadata::Absent,
                },
                ..file.clone()
            });
            files.insert(
                file.filename.clone().into_boxed_str(),
                Listed {
                    url,
                    expected: Expected {
                        sha256,
                        size: file.size,
                    },
                    metadata,
                },
            );
        }
        let ours = ProjectPage {
            name: page.name,
            versions: page.versions,
            files: links,
            other_files: 0,
        };
        // A batch of its own: the pages reach `objects/` only after their log lines.
        let store = self.store.detached();
        let objects = store.objects();
        let mut pages = Vec::new();
        for (file, bytes) in [
            ("index.json", ours.to_json()),
            ("index.html", ours.to_html().into_bytes()),
        ] {
            let sha256 = objects.insert_bytes(&bytes)?;
            self.log
                .record(
                    &format!("simple/{name}/{file}"),
                    sha256,
                    bytes.len() as u64,
                    RecordKind::Index,
                )
                .map_err(|e| PypiError::Internal(e.to_string()))?;
            pages.push(Hit {
                sha256,
                size: bytes.len() as u64,
                immutable: false,
            });
        }
        objects.make_durable()?;
        tracing::info!(mirror = %self.name, project = name, files = files.len(), "page adopted");
        Ok(ProjectState {
            pages: Some([pages[0], pages[1]]),
            files: Arc::new(files),
            older: held.map(|h| Arc::clone(&h.files)),
            validators,
            served: Some(served),
            next_check,
        })
    }

    /// Fetch a listed file (or its metadata) against its digest, keep and record it.
    async fn fill_file(&self, path: &str, url: &str, expected: Expected) -> Result<(), ProxyError> {
        if self.store.objects().contains(&expected.sha256) {
            return Ok(());
        }
        if url.is_empty() {
            // A page taken up after a restart, its upstream not reached since.
            return Err(ProxyError::new(
                ProxyFailure::Upstream,
                format!("{path}: upstream has not been reached since the proxy started"),
            ));
        }
        let label = format!("pypi mirror {}", self.name);
        let fill = ObjectFill {
            path,
            url,
            expected,
            kind: RecordKind::Package,
            label: &label,
        };
        fill_object(&self.fetcher, self.store.objects(), &self.log, fill, |_| {
            Ok(())
        })
        .await?;
        Ok(())
    }
}

impl PypiProxy {
    /// `snapshot --from-proxy`: every page served last, cut down to the files held (by
    /// name *and* digest) and their metadata files, as a synced mirror's tree, with the
    /// root page; and `requirements` pinning what was pulled.
    /// `None`: nothing pulled.
    fn pulled_tree(&self) -> Result<Option<Pulled>, PypiError> {
        let records = self.store.proxy_records(&self.name)?;
        let objects = self.store.objects();
        let held = self.store.proxy_held(&records);
        let mut pages: HashMap<&str, Sha256Digest> = HashMap::new();
        for record in records.iter().filter(|r| r.kind == RecordKind::Index) {
            if let Some(Path::Page(name, 0)) = Self::split(&record.path) {
                pages.insert(name, record.sha256);
            }
        }
        let mut files = Vec::new();
        let mut names = Vec::new();
        let mut pins = std::collections::BTreeSet::new();
        let store = |path: String, bytes: &[u8]| -> Result<SnapshotFile, PypiError> {
            let sha256 = objects.insert_bytes(bytes)?;
            Ok(SnapshotFile {
                path,
                sha256,
                size: bytes.len() as u64,
            })
        };
        let mut sorted: Vec<_> = pages.into_iter().collect();
        sorted.sort();
        for (name, digest) in sorted {
            let bytes = objects.read(&digest)?;
            if Sha256Digest::of(&bytes) != digest {
                continue;
            }
            let page = ProjectPage::from_json(&bytes, &format!("{}/simple/{name}/", self.name))?;
            let mut links = Vec::new();
            let mut tree = Vec::new();
            for file in page.files {
                let path = format!("packages/{name}/{}", file.filename);
                let Some(&(sha256, size)) = held.get(path.as_str()) else {
                    continue;
                };
                if file.sha256() != Some(sha256.to_hex().as_str()) {
                    continue;
                }
                tree.push(SnapshotFile {
                    path: path.clone(),
                    sha256,
                    size,
                });
                let stated = match &file.core_metadata {
                    CoreMetadata::Hashes(h) => h.get("sha256").cloned(),
                    _ => None,
                };
                let metadata_path = format!("{path}.metadata");
                let core_metadata = match (stated, held.get(metadata_path.as_str())) {
                    (Some(stated), Some(&(sha256, size))) if stated == sha256.to_hex() => {
                        tree.push(SnapshotFile {
                            path: metadata_path,
                            sha256,
                            size,
                        });
                        CoreMetadata::Hashes([("sha256".to_owned(), stated)].into())
                    }
                    // Not held: clients read the wheel itself.
                    _ => CoreMetadata::Absent,
                };
                if let Ok(parsed) = crate::filename::DistFilename::parse(&file.filename) {
                    pins.insert(format!("{}=={}", parsed.project, parsed.version));
                }
                links.push(File {
                    core_metadata,
                    ..file
                });
            }
            if links.is_empty() {
                continue;
            }
            let ours = ProjectPage {
                name: page.name,
                versions: Vec::new(),
                files: links,
                other_files: 0,
            };
            files.extend(tree);
            files.push(store(format!("simple/{name}/index.json"), &ours.to_json())?);
            files.push(store(
                format!("simple/{name}/index.html"),
                ours.to_html().as_bytes(),
            )?);
            names.push(name.to_owned());
        }
        if names.is_empty() {
            return Ok(None);
        }
        files.push(store(
            "simple/index.html".into(),
            crate::simple::root_html(&names).as_bytes(),
        )?);
        files.push(store(
            "simple/index.json".into(),
            &crate::simple::root_json(&names),
        )?);
        objects.make_durable()?;
        let mut allow_list = format!(
            "# What clients pulled through the proxy mirror {}: the `requirements` of a\n\
             # [[pypi]] mirror (mode = \"mirror\") that selects the same (with their closure).\n\
             requirements = [\n",
            self.name
        );
        for pin in &pins {
            allow_list.push_str(&format!("    {pin:?},\n"));
        }
        allow_list.push_str("]\n");
        Ok(Some(Pulled {
            kind: "pypi",
            summary: serde_json::json!({ "projects": names.len(), "releases": pins.len() }),
            files,
            allow_list,
        }))
    }
}

/// A failed fill, classed for the client's status (the reason names the URL or file).
fn refusal(mirror: &str, error: &PypiError) -> ProxyError {
    let failure = match error {
        PypiError::Fetch(fetch) => fetch_failure(fetch),
        PypiError::Store(_) | PypiError::Internal(_) => ProxyFailure::Internal,
        _ => ProxyFailure::Refused,
    };
    ProxyError::new(failure, format!("pypi mirror {mirror}: {error}"))
}

impl ProxySource for PypiProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn lookup(&self, path: &str) -> Lookup {
        let Some(parsed) = Self::split(path) else {
            return Lookup::NotListed;
        };
        let name = match parsed {
            Path::Page(name, _) | Path::File(name, _) | Path::Metadata(name, _) => name,
        };
        let page_key = || Lookup::Miss {
            key: format!("page:{name}"),
        };
        let Some(state) = self.project(name) else {
            return page_key();
        };
        match parsed {
            Path::Page(_, which) => {
                if Instant::now() >= state.next_check {
                    return page_key();
                }
                state
                    .pages
                    .map_or(Lookup::NotListed, |pages| Lookup::Hit(pages[which]))
            }
            Path::File(_, file) => match state.listed(file) {
                Some(listed) => self.object(listed.expected),
                None => Lookup::NotListed,
            },
            Path::Metadata(_, file) => match state.listed(file).and_then(|l| l.metadata.as_ref()) {
                Some((_, sha256)) => self.object(Expected {
                    sha256: *sha256,
                    size: None,
                }),
                None => Lookup::NotListed,
            },
        }
    }

    fn fill(self: Arc<Self>, path: String) -> BoxFuture<'static, Result<(), ProxyError>> {
        Box::pin(async move {
            let Some(parsed) = Self::split(&path) else {
                return Err(ProxyError::new(
                    ProxyFailure::Upstream,
                    format!("{path}: not served"),
                ));
            };
            let name = match parsed {
                Path::Page(name, _) | Path::File(name, _) | Path::Metadata(name, _) => name,
            };
            let stale = self
                .project(name)
                .is_none_or(|state| Instant::now() >= state.next_check);
            if matches!(parsed, Path::Page(..)) || stale {
                self.fill_page(name).await?;
            }
            let Some(state) = self.project(name) else {
                return Ok(());
            };
            match parsed {
                Path::Page(..) => Ok(()),
                Path::File(_, file) => match state.listed(file) {
                    Some(listed) => self.fill_file(&path, &listed.url, listed.expected).await,
                    None => Ok(()),
                },
                Path::Metadata(_, file) => {
                    match state.listed(file).and_then(|l| l.metadata.clone()) {
                        Some((url, sha256)) => {
                            self.fill_file(&path, &url, Expected { sha256, size: None })
                                .await
                        }
                        None => Ok(()),
                    }
                }
            }
        })
    }

    fn pulled(
        &self,
        _key: Option<&mirror_core::signing::SigningKey>,
    ) -> Result<Pulled, RepositoryError> {
        match self.pulled_tree() {
            Ok(Some(pulled)) => Ok(pulled),
            Ok(None) => Err(RepositoryError::new(NothingPulled {
                mirror: self.name.clone(),
            })),
            Err(error) => Err(RepositoryError::new(error)),
        }
    }
}
