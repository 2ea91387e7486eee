//! Proxy mode (`mode = "proxy"`): a conda channel filled on demand by `serve`.
//!
//! A subdir's repodata is fetched when a client first asks for it (or for a package of
//! it), checked as `sync` checks it (bounded decode, `info.subdir`, every record; a bad
//! record refuses the index unless `skip_bad_records`), and served as `sync` would
//! publish it: upstream's bytes when every record passes, else ours, written from the
//! records that do. A package is fetched when a client asks for a file name that index
//! lists, verified against the record's sha256 and size while it streams in, and its
//! archive layout checked, before it is stored and served. A name no served index lists
//! is a 404 without any upstream request.
//!
//! Repodata is asked for again (conditionally: `ETag`/`Last-Modified`) once it is older
//! than `revalidate_after`; if upstream cannot be reached then, the copy held is served
//! (and asked for again a minute later). Packages are never revalidated: a record names
//! its bytes. A package a client's older copy of the index names stays servable after
//! the index changes (the previous generation's listing is kept), so a client never
//! receives an index naming a file the proxy would then refuse.

mod pulled;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mirror_core::digest::Sha256Digest;
use mirror_core::error::RepositoryError;
use mirror_core::fetch::Fetcher;
use mirror_core::proxy::{
    Hit, Lookup, ObjectFill, ProxyContext, ProxyError, ProxyFailure, ProxyLog, ProxySource, Pulled,
    RecordKind, fetch_failure, fill_object, held,
};
use mirror_core::store::{Expected, Store};
use mirror_core::upstream_cache::UpstreamCache;

use crate::config::CondaConfig;
use crate::error::CondaError;
use crate::mirror::{PublishedIndex, published_index};
use crate::record::RecordChecks;
use crate::repodata::RepoDataView;
use crate::upstream::{IndexSource, Probed, UpstreamIndex, fetch_index, package_base};

/// The index files a proxy serves for each subdir.
const INDEX_FILES: [&str; 3] = [
    "repodata.json",
    "repodata.json.zst",
    "current_repodata.json",
];

/// After upstream failed to revalidate an index, how long the held copy is served
/// before upstream is asked again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// One `[[conda]]` mirror in proxy mode.
pub struct CondaProxy {
    name: String,
    channel: String,
    subdirs: Vec<String>,
    skip_bad_records: bool,
    revalidate_after: Duration,
    /// The store, its objects waiting in the proxy's own directory.
    store: Store,
    fetcher: Fetcher,
    log: ProxyLog,
    /// Each subdir's served index, swapped whole.
    state: RwLock<HashMap<String, Arc<SubdirState>>>,
    /// Each subdir's validators (in memory: one per subdir, so fills of two subdirs
    /// never wait for each other).
    caches: HashMap<String, tokio::sync::Mutex<UpstreamCache>>,
}

/// One subdir as the proxy serves it now.
struct SubdirState {
    index: HashMap<&'static str, Hit>,
    packages: Arc<Packages>,
    /// The generation before, whose packages stay servable to clients holding its index.
    older: Option<Arc<Packages>>,
    /// Upstream's body this was made from.
    served: Option<Sha256Digest>,
    /// When upstream is next asked whether the index changed.
    next_check: Instant,
}

/// The packages an index lists, and where they are downloaded from.
struct Packages {
    base: String,
    files: HashMap<Box<str>, Expected>,
}

impl Packages {
    fn get(&self, filename: &str) -> Option<(&str, Expected)> {
        self.files
            .get(filename)
            .map(|expected| (self.base.as_str(), *expected))
    }
}

impl CondaProxy {
    /// A proxy for `config` (validated again here) filling `ctx.store`.
    pub fn new(config: &CondaConfig, ctx: &ProxyContext) -> Result<Self, CondaError> {
        let settings = config.validate()?;
        let store = ctx.store.for_proxy()?;
        let log = ProxyLog::open(&store, &config.name)?;
        let fetcher = Fetcher::new(ctx.fetch.clone())?;
        let caches = settings
            .subdirs
            .iter()
            .map(|s| (s.clone(), tokio::sync::Mutex::default()))
            .collect();
        let proxy = Self {
            name: config.name.clone(),
            channel: settings.channel,
            subdirs: settings.subdirs,
            skip_bad_records: config.skip_bad_records,
            revalidate_after: settings.revalidate_after,
            store,
            fetcher,
            log,
            state: RwLock::default(),
            caches,
        };
        proxy.restore();
        Ok(proxy)
    }

    /// Take up each subdir's index as last served, from the log and the store, without
    /// upstream: checked again as on a fill, and due for revalidation at once (so a
    /// reachable upstream is asked on the first request, and an unreachable one leaves
    /// it served). A damaged or missing object, or a log that cannot be read, leaves the
    /// subdir to be filled as on a first start.
    fn restore(&self) {
        let records = match self.store.proxy_records(&self.name) {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(mirror = %self.name, %error, "cannot read the proxy log; starting empty");
                return;
            }
        };
        for subdir in &self.subdirs {
            let path = format!("{subdir}/repodata.json");
            let Some(record) = records
                .iter()
                .rev()
                .find(|r| r.kind == RecordKind::Index && r.path == path)
            else {
                continue;
            };
            let json = match self.store.objects().read(&record.sha256) {
                Ok(json) if Sha256Digest::of(&json) == record.sha256 => json,
                _ => {
                    tracing::warn!(mirror = %self.name, %path, "the index served last is gone or damaged; filling it again");
                    continue;
                }
            };
            let index = UpstreamIndex {
                subdir: subdir.clone(),
                url: format!("{}/{path}", self.channel),
                source: IndexSource::Plain,
                served: None,
                zst: None,
                json: json.into(),
            };
            match self.build(&index) {
                Ok(built) => self.adopt(
                    subdir,
                    SubdirState {
                        index: built.index,
                        packages: Arc::new(built.packages),
                        older: None,
                        served: None,
                        next_check: Instant::now(),
                    },
                ),
                Err(error) => {
                    tracing::warn!(mirror = %self.name, %path, reason = %error, "the index served last fails its checks now; filling it again");
                }
            }
        }
    }

    fn subdir_state(&self, subdir: &str) -> Option<Arc<SubdirState>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(subdir)
            .cloned()
    }

    /// `subdir/rest` of a configured subdir.
    fn split<'p>(&self, path: &'p str) -> Option<(&'p str, &'p str)> {
        let (subdir, rest) = path.split_once('/')?;
        (self.subdirs.iter().any(|s| s == subdir) && !rest.contains('/')).then_some((subdir, rest))
    }

    /// The listing of `filename` in the index served now, else the one before.
    fn listed(state: &SubdirState, filename: &str) -> Option<(String, Expected)> {
        state
            .packages
            .get(filename)
            .or_else(|| state.older.as_ref()?.get(filename))
            .map(|(base, expected)| (format!("{base}{filename}"), expected))
    }

    /// Fetch, check and adopt `subdir`'s index (or learn it is unchanged).
    async fn fill_index(self: Arc<Self>, subdir: String) -> Result<(), ProxyError> {
        let held = self.subdir_state(&subdir);
        let Some(cache) = self.caches.get(&subdir) else {
            return Err(ProxyError::new(ProxyFailure::Internal, "unknown subdir"));
        };
        let mut cache = cache.lock().await;
        // Another fill may have adopted it while this one waited for the cache.
        if let Some(now) = self.subdir_state(&subdir)
            && Instant::now() < now.next_check
            && !held.as_ref().is_some_and(|h| Arc::ptr_eq(h, &now))
        {
            return Ok(());
        }
        // Upstream's body waits in a batch of its own until its log line is written.
        let store = self.store.detached();
        let probed = fetch_index(&self.fetcher, &store, &mut cache, &self.channel, &subdir).await;
        let probed = match (probed, &held) {
            (Ok(probed), _) => probed,
            (Err(error), Some(held)) => {
                // Upstream is away or broken: what was checked before stays served.
                tracing::warn!(mirror = %self.name, %subdir, %error, "cannot revalidate repodata; serving the copy held");
                self.adopt(&subdir, held.renewed(Instant::now() + RETRY_AFTER_FAILURE));
                return Ok(());
            }
            (Err(error), None) => return Err(refusal(&self.name, &error)),
        };
        if let (Probed::Unchanged { cached, .. }, Some(held)) = (&probed, &held)
            && held.served == Some(cached.sha256)
        {
            tracing::debug!(mirror = %self.name, %subdir, "repodata unchanged upstream");
            self.adopt(
                &subdir,
                held.renewed(Instant::now() + self.revalidate_after),
            );
            return Ok(());
        }
        let cap = self.fetcher.options().max_index_size;
        let index = probed
            .load(&store, &mut cache, cap)
            .map_err(|e| refusal(&self.name, &e))?;
        // The validators' body, kept so the next conditional request can be answered.
        if let Some(body) = cache.get(&index.url) {
            let path = format!("{subdir}/{}", index.source.label());
            self.log
                .record(&path, body.sha256, body.size, RecordKind::Upstream)?;
        }
        store
            .objects()
            .make_durable()
            .map_err(|e| ProxyError::new(ProxyFailure::Internal, e.to_string()))?;
        drop(cache);
        // Parsing and checking a large index is seconds of CPU: off the runtime.
        let this = Arc::clone(&self);
        let built = tokio::task::spawn_blocking(move || this.build(&index))
            .await
            .map_err(|e| ProxyError::new(ProxyFailure::Internal, e.to_string()))??;
        let state = SubdirState {
            index: built.index,
            packages: Arc::new(built.packages),
            older: held.map(|h| Arc::clone(&h.packages)),
            served: built.served,
            next_check: Instant::now() + self.revalidate_after,
        };
        self.adopt(&subdir, state);
        Ok(())
    }

    fn adopt(&self, subdir: &str, state: SubdirState) {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(subdir.to_owned(), Arc::new(state));
    }

    /// Check `index` as `sync` does and store what is served from it.
    fn build(&self, index: &UpstreamIndex) -> Result<Built, ProxyError> {
        let refuse = |e: CondaError| refusal(&self.name, &e);
        let subdir = &index.subdir;
        let view = RepoDataView::parse(&index.json).map_err(|source| {
            refuse(CondaError::InvalidRepodata {
                url: index.url.clone(),
                source,
            })
        })?;
        if let Some(found) = view.info.subdir.as_deref()
            && found != subdir
        {
            return Err(refuse(CondaError::SubdirMismatch {
                url: index.url.clone(),
                expected: subdir.clone(),
                found: found.to_owned(),
            }));
        }
        let checks = RecordChecks::new(&view, subdir, &[]);
        checks.check_all();
        if !self.skip_bad_records
            && let Some((file, bad, others)) = checks.first_bad()
        {
            return Err(refuse(CondaError::BadRecord {
                url: index.url.clone(),
                file: file.to_owned(),
                reason: bad.reason,
                detail: bad.detail.clone(),
                others: others - 1,
            }));
        }
        let selected: Vec<bool> = (0..view.records.len())
            .map(|i| checks.eligible(i))
            .collect();
        let PublishedIndex {
            json,
            zst,
            keep_upstream,
        } = published_index(index, &view, &selected).map_err(refuse)?;
        let ours;
        let published_view = if keep_upstream {
            &view
        } else {
            ours = RepoDataView::parse(&json).map_err(|source| {
                refuse(CondaError::InvalidRepodata {
                    url: index.url.clone(),
                    source,
                })
            })?;
            &ours
        };
        let current = crate::writer::write_current_repodata(published_view, subdir);
        let mut served = HashMap::new();
        for (name, bytes) in INDEX_FILES
            .into_iter()
            .zip([&json[..], &zst[..], &current[..]])
        {
            // Recorded before it is stored: `prune` never sees it unrecorded.
            let sha256 = Sha256Digest::of(bytes);
            self.log.record(
                &format!("{subdir}/{name}"),
                sha256,
                bytes.len() as u64,
                RecordKind::Index,
            )?;
            self.store
                .objects()
                .insert_bytes(bytes)
                .map_err(|e| refuse(e.into()))?;
            served.insert(
                name,
                Hit {
                    sha256,
                    size: bytes.len() as u64,
                    immutable: false,
                },
            );
        }
        self.store
            .objects()
            .make_durable()
            .map_err(|e| refuse(e.into()))?;
        let base = package_base(&index.url, view.info.base_url.as_deref()).map_err(refuse)?;
        let mut files = HashMap::new();
        for (i, record) in view.records.iter().enumerate() {
            if let (true, Ok(checked)) = (selected[i], checks.get(i)) {
                files.insert(
                    Box::from(&*record.filename),
                    Expected {
                        sha256: checked.sha256,
                        size: checked.size,
                    },
                );
            }
        }
        tracing::info!(
            mirror = %self.name,
            %subdir,
            records = view.records.len(),
            served = files.len(),
            as_served = keep_upstream,
            "repodata adopted"
        );
        Ok(Built {
            index: served,
            packages: Packages { base, files },
            served: index.served,
        })
    }

    /// Fetch `filename` of `subdir` as its record says, check it, keep it.
    async fn fill_package(
        self: Arc<Self>,
        subdir: String,
        filename: String,
    ) -> Result<(), ProxyError> {
        let path = format!("{subdir}/{filename}");
        let Some((url, expected)) = self
            .subdir_state(&subdir)
            .and_then(|state| Self::listed(&state, &filename))
        else {
            return Err(ProxyError::new(
                ProxyFailure::Upstream,
                format!("{path}: no index served lists it"),
            ));
        };
        let label = format!("conda mirror {}", self.name);
        let fill = ObjectFill {
            path: &path,
            url: &url,
            expected,
            kind: RecordKind::Package,
            label: &label,
        };
        // Bytes that match the record can still be a malformed archive: never served.
        let (checked_path, checked_label) = (path.clone(), label.clone());
        let check = move |object: &std::path::Path| {
            crate::package_check::check_package_file(object, &filename).map_err(|source| {
                let error = CondaError::MalformedPackage {
                    path: checked_path,
                    source,
                };
                ProxyError::new(ProxyFailure::Refused, format!("{checked_label}: {error}"))
            })
        };
        let objects = self.store.objects();
        fill_object(&self.fetcher, objects, &self.log, fill, check).await?;
        Ok(())
    }
}

impl SubdirState {
    /// The same index, next asked about at `next_check`.
    fn renewed(&self, next_check: Instant) -> SubdirState {
        SubdirState {
            index: self.index.clone(),
            packages: Arc::clone(&self.packages),
            older: self.older.clone(),
            served: self.served,
            next_check,
        }
    }
}

/// What [`CondaProxy::build`] made of an index.
struct Built {
    index: HashMap<&'static str, Hit>,
    packages: Packages,
    served: Option<Sha256Digest>,
}

/// A failed fill, classed for the client's status (the reason names the URL or file).
fn refusal(mirror: &str, error: &CondaError) -> ProxyError {
    let failure = match error {
        CondaError::Fetch(fetch) => fetch_failure(fetch),
        CondaError::RepodataMissing { .. } => ProxyFailure::Upstream,
        CondaError::Store(_) | CondaError::Io(_) => ProxyFailure::Internal,
        _ => ProxyFailure::Refused,
    };
    ProxyError::new(failure, format!("conda mirror {mirror}: {error}"))
}

impl ProxySource for CondaProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn lookup(&self, path: &str) -> Lookup {
        let Some((subdir, rest)) = self.split(path) else {
            return Lookup::NotListed;
        };
        let index_key = || Lookup::Miss {
            key: format!("index:{subdir}"),
        };
        let Some(state) = self.subdir_state(subdir) else {
            // Nothing listed yet: the index first (a package request too).
            return if INDEX_FILES.contains(&rest) || crate::record::parse_filename(rest).is_ok() {
                index_key()
            } else {
                Lookup::NotListed
            };
        };
        if let Some(hit) = state.index.get(rest) {
            return if Instant::now() < state.next_check {
                Lookup::Hit(*hit)
            } else {
                index_key()
            };
        }
        let Some((_, expected)) = Self::listed(&state, rest) else {
            return Lookup::NotListed;
        };
        held(self.store.objects(), expected, true)
    }

    fn pulled(
        &self,
        _key: Option<&mirror_core::signing::SigningKey>,
    ) -> Result<Pulled, RepositoryError> {
        match self.pulled_tree() {
            Ok(Some(pulled)) => Ok(pulled),
            Ok(None) => Err(RepositoryError::new(mirror_core::proxy::NothingPulled {
                mirror: self.name.clone(),
            })),
            Err(error) => Err(RepositoryError::new(error)),
        }
    }

    fn fill(self: Arc<Self>, path: String) -> BoxFuture<'static, Result<(), ProxyError>> {
        Box::pin(async move {
            let Some((subdir, rest)) = self.split(&path) else {
                return Err(ProxyError::new(
                    ProxyFailure::Upstream,
                    format!("{path}: not served"),
                ));
            };
            let (subdir, rest) = (subdir.to_owned(), rest.to_owned());
            // A package of an index due for revalidation: the index first, so that the
            // package is fetched from where upstream's current index says (an index
            // restored after a restart has lost upstream's `base_url`).
            let stale = self
                .subdir_state(&subdir)
                .is_none_or(|state| Instant::now() >= state.next_check);
            let index = INDEX_FILES.contains(&rest.as_str());
            if index || stale {
                Arc::clone(&self).fill_index(subdir.clone()).await?;
            }
            if index {
                return Ok(());
            }
            self.fill_package(subdir, rest).await
        })
    }
}
