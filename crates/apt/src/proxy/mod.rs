//! Proxy mode (`mode = "proxy"`): an APT repository filled on demand by `serve`.
//!
//! Trust flows as in a sync, checked on the request path: a suite's InRelease (or
//! Release + Release.gpg) is fetched when a client first asks for it (or for anything
//! below it), verified against the mirror's keyring, its `Date` checked against the clock
//! (`max_date_skew`) and against the Date served before (no rollback unless
//! `allow_date_rollback`), its `Valid-Until` checked; then, before that Release is served,
//! every configured component x architecture Packages index it lists (and `binary-all`)
//! is fetched against the Release's SHA-256 and size and decoded, and the pool files
//! those indices list are what the proxy will fetch. Only when all of that passed is the
//! new Release adopted: a client never receives a Release whose indices the proxy would
//! refuse, nor an index naming a file it would not fetch.
//!
//! Files below `dists/<suite>/` are served when that Release lists them (by path or
//! by-hash), fetched against its digest and size; `pool/` files when an adopted
//! Packages index lists them, against that stanza's SHA-256 and size. Anything else is
//! a 404 without an upstream request. The Release is fetched again after
//! `revalidate_after`; if upstream is away then, the one held is served (apt checks its
//! `Valid-Until` itself). Pool files listed by the Packages adopted before stay
//! servable after a change, for clients that have not updated yet.

mod pulled;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mirror_core::digest::Sha256Digest;
use mirror_core::error::RepositoryError;
use mirror_core::fetch::{Conditional, Fetcher, Validators};
use mirror_core::proxy::{
    Hit, Lookup, ObjectFill, ProxyContext, ProxyError, ProxyFailure, ProxyLog, ProxySource, Pulled,
    RecordKind, fetch_failure, fill_object, held,
};
use mirror_core::signing::{Keyring, SigningKey};
use mirror_core::store::{Expected, Store};
use time::OffsetDateTime;

use crate::config::AptConfig;
use crate::error::AptError;
use crate::release::Release;
use crate::upstream::{
    VerifiedRelease, by_hash_path, dists_url, expected_of, fetch_index, fetch_release,
};

/// The signed files of a suite, as clients ask for them.
const RELEASE_FILES: [&str; 3] = ["InRelease", "Release", "Release.gpg"];

/// After upstream failed to revalidate a suite, how long the held Release is served
/// before upstream is asked again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// One `[[apt]]` mirror in proxy mode.
pub struct AptProxy {
    name: String,
    base: String,
    suites: Vec<String>,
    components: Vec<String>,
    architectures: Vec<String>,
    keyring: Keyring,
    allow_rollback: bool,
    skew: Duration,
    revalidate_after: Duration,
    store: Store,
    fetcher: Fetcher,
    log: ProxyLog,
    state: RwLock<HashMap<String, Arc<SuiteState>>>,
    /// One per suite: fills of a suite's Release wait for each other.
    fills: HashMap<String, tokio::sync::Mutex<()>>,
}

/// What a path of the pool or of a suite maps to.
type Listing = HashMap<Box<str>, Expected>;

/// One suite as the proxy serves it now.
struct SuiteState {
    /// The signed files upstream served, verified.
    release: HashMap<&'static str, Hit>,
    /// Paths below `dists/<suite>/` the Release lists, and their by-hash names.
    listed: Listing,
    /// `pool/...` files the adopted Packages indices list.
    pool: Arc<Listing>,
    /// The pool listing adopted before (clients that have not updated yet).
    older_pool: Option<Arc<Listing>>,
    /// The Release's Date, the floor for the next one.
    date: Option<OffsetDateTime>,
    /// SHA-256 of the InRelease (or Release) text adopted.
    signed: Sha256Digest,
    /// What upstream sent with its InRelease, for the next (conditional) request.
    validators: Validators,
    next_check: Instant,
}

impl SuiteState {
    fn renewed(&self, next_check: Instant) -> SuiteState {
        SuiteState {
            release: self.release.clone(),
            listed: self.listed.clone(),
            pool: Arc::clone(&self.pool),
            older_pool: self.older_pool.clone(),
            date: self.date,
            signed: self.signed,
            validators: self.validators.clone(),
            next_check,
        }
    }

    fn pool_file(&self, path: &str) -> Option<Expected> {
        self.pool
            .get(path)
            .or_else(|| self.older_pool.as_ref()?.get(path))
            .copied()
    }
}

impl AptProxy {
    /// A proxy for `config` (checked and its keyring loaded here) filling `ctx.store`.
    pub fn new(config: &AptConfig, ctx: &ProxyContext) -> Result<Self, AptError> {
        config.check()?;
        let keyring = Keyring::load_all(config.keyring.paths()).map_err(|e| AptError::Keyring {
            mirror: config.name.clone(),
            source: Box::new(e),
        })?;
        let store = ctx.store.for_proxy()?;
        let log = ProxyLog::open(&store, &config.name)?;
        let fetcher = Fetcher::new(ctx.fetch.clone())?;
        Ok(Self {
            name: config.name.clone(),
            base: config.url.trim_end_matches('/').to_owned(),
            suites: config.suites.clone(),
            components: config.components.clone(),
            architectures: config.architectures.clone(),
            keyring,
            allow_rollback: config.allow_date_rollback,
            skew: config.date_skew(),
            revalidate_after: config.revalidate_interval(),
            store,
            fetcher,
            log,
            state: RwLock::default(),
            fills: config
                .suites
                .iter()
                .map(|s| (s.clone(), tokio::sync::Mutex::default()))
                .collect(),
        })
    }

    fn suite_state(&self, suite: &str) -> Option<Arc<SuiteState>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(suite)
            .cloned()
    }

    /// What `path` is: a suite's file (`Some(suite), file`) or a pool file (`None`).
    fn split<'p>(&self, path: &'p str) -> Option<(Option<&'p str>, &'p str)> {
        if path.starts_with("pool/") {
            return Some((None, path));
        }
        let (suite, file) = path.strip_prefix("dists/")?.split_once('/')?;
        self.suites
            .iter()
            .any(|s| s == suite)
            .then_some((Some(suite), file))
    }

    /// The configured suites no state is held for yet.
    fn unadopted(&self) -> impl Iterator<Item = String> + '_ {
        self.suites
            .iter()
            .filter(|suite| self.suite_state(suite).is_none())
            .cloned()
    }

    /// The pool file `path` as an adopted index lists it.
    fn pool_file(&self, path: &str) -> Option<Expected> {
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.values().find_map(|suite| suite.pool_file(path))
    }

    /// What the proxy holds for a file of known digest.
    fn object(&self, expected: Expected, immutable: bool) -> Lookup {
        held(self.store.objects(), expected, immutable)
    }

    /// Fetch, verify and adopt `suite`'s Release and the indices it names.
    async fn fill_suite(self: Arc<Self>, suite: String) -> Result<(), ProxyError> {
        let Some(lock) = self.fills.get(&suite) else {
            return Err(ProxyError::new(ProxyFailure::Internal, "unknown suite"));
        };
        let before = self.suite_state(&suite);
        let _one = lock.lock().await;
        // Another fill may have adopted it while this one waited.
        if let Some(now) = self.suite_state(&suite)
            && Instant::now() < now.next_check
            && !before.as_ref().is_some_and(|b| Arc::ptr_eq(b, &now))
        {
            return Ok(());
        }
        let held = match self.suite_state(&suite) {
            Some(held) => Some(held),
            // Nothing adopted since the start: the Release served before, if any.
            None => self.restore(&suite).await.map(|state| {
                let state = Arc::new(state);
                self.state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(suite.clone(), Arc::clone(&state));
                state
            }),
        };
        match self.adopt_suite(&suite, held.as_deref()).await {
            Ok(state) => {
                self.set(&suite, state);
                Ok(())
            }
            Err(error) => match held {
                // Upstream away or answering errors: the Release checked before stays.
                // A Release upstream sent that fails verification is refused, never
                // adopted, and the held one is served meanwhile too.
                Some(held) => {
                    tracing::warn!(mirror = %self.name, %suite, reason = %error, "cannot revalidate the suite; serving the Release held");
                    self.set(&suite, held.renewed(Instant::now() + RETRY_AFTER_FAILURE));
                    Ok(())
                }
                None => Err(refusal(&self.name, &error)),
            },
        }
    }

    /// The InRelease this proxy served last (from its log and the store), verified
    /// against the keyring again and staged from the indices held (no upstream request
    /// for those), due for revalidation at once: after a restart it is the floor for the
    /// next Release's Date, and what is served while upstream is away.
    async fn restore(&self, suite: &str) -> Option<SuiteState> {
        let records = self.store.proxy_records(&self.name).ok()?;
        let path = format!("dists/{suite}/InRelease");
        let record = records
            .iter()
            .rev()
            .find(|r| r.kind == RecordKind::Index && r.path == path)?;
        let bytes = self.store.objects().read(&record.sha256).ok()?;
        if Sha256Digest::of(&bytes) != record.sha256 {
            return None;
        }
        let origin = format!("{}/InRelease (served before)", dists_url(&self.base, suite));
        let checked = match mirror_core::signing::verify_cleartext(&self.keyring, &bytes, &origin) {
            Ok(checked) => checked,
            Err(error) => {
                tracing::warn!(mirror = %self.name, %suite, %error, "the Release served before fails verification now");
                return None;
            }
        };
        let verified = VerifiedRelease {
            suite: suite.to_owned(),
            text: checked.text,
            signer: checked.signer,
            raw: vec![("InRelease", bytes.into())],
        };
        match self.stage(suite, &verified, None).await {
            Ok(mut state) => {
                state.next_check = Instant::now();
                tracing::info!(mirror = %self.name, %suite, "Release served before taken up again");
                Some(state)
            }
            Err(error) => {
                tracing::warn!(mirror = %self.name, %suite, %error, "the Release served before cannot be taken up again");
                None
            }
        }
    }

    fn set(&self, suite: &str, state: SuiteState) {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(suite.to_owned(), Arc::new(state));
    }

    /// The suite's Release and indices, verified, as a state to swap in.
    async fn adopt_suite(
        &self,
        suite: &str,
        held: Option<&SuiteState>,
    ) -> Result<SuiteState, AptError> {
        // Asked conditionally first: an unchanged InRelease costs one small request and
        // a 304. (A changed one is fetched again with its detached siblings.)
        let in_release = format!("{}/InRelease", dists_url(&self.base, suite));
        let known = held.map(|h| h.validators.clone()).unwrap_or_default();
        let validators = match self
            .fetcher
            .get_conditional(&in_release, crate::upstream::RELEASE_LIMIT, &known)
            .await?
        {
            Some(Conditional::NotModified) => match held {
                Some(held) => {
                    tracing::debug!(mirror = %self.name, %suite, "InRelease unchanged upstream (304)");
                    return Ok(held.renewed(Instant::now() + self.revalidate_after));
                }
                None => Validators::default(),
            },
            Some(Conditional::Modified { validators, .. }) => validators,
            None => Validators::default(),
        };
        let verified = fetch_release(&self.fetcher, &self.keyring, &self.base, suite, true).await?;
        if let Some(held) = held
            && held.signed == Sha256Digest::of(verified.text.as_bytes())
        {
            tracing::debug!(mirror = %self.name, %suite, "Release unchanged upstream");
            return Ok(held.renewed(Instant::now() + self.revalidate_after));
        }
        let mut state = self.stage(suite, &verified, held).await?;
        state.validators = validators;
        Ok(state)
    }

    /// Check a verified Release (dates, expiry, rollback against `held`), fetch and
    /// decode every configured index it lists, store and record what is served.
    async fn stage(
        &self,
        suite: &str,
        verified: &VerifiedRelease,
        held: Option<&SuiteState>,
    ) -> Result<SuiteState, AptError> {
        let dists = dists_url(&self.base, suite);
        let signed = Sha256Digest::of(verified.text.as_bytes());
        let origin = format!("{dists}/InRelease");
        crate::freshness::check_dates(verified, &origin, &self.store, None, true, self.skew)?;
        let release =
            Release::parse(&verified.text).map_err(|e| AptError::malformed_release(&origin, &e))?;
        let date = release
            .date()
            .map_err(|e| AptError::malformed_release(&origin, &e))?;
        if !self.allow_rollback
            && let (Some(date), Some(floor)) = (date, held.and_then(|h| h.date))
            && date < floor
        {
            return Err(AptError::DateRollback {
                origin,
                served: crate::release::format_release_date(date),
                accepted: crate::release::format_release_date(floor),
            });
        }
        crate::repository::check_not_expired(&release, &dists)?;
        let mut listed = Listing::new();
        for entry in release.files() {
            let Ok(expected) = expected_of(entry, &origin) else {
                continue;
            };
            listed.insert(by_hash_path(entry.path, &expected.sha256).into(), expected);
            listed.insert(entry.path.into(), expected);
        }
        // Every configured index, fetched and checked before the Release is served.
        // A batch of its own: the indices and Release files reach `objects/` only after
        // their log lines.
        let store = self.store.detached();
        let objects = store.objects();
        let mut pool = Listing::new();
        for component in &self.components {
            let mut architectures = self.architectures.clone();
            if !crate::upstream::index_variants(&release, component, "all").is_empty() {
                architectures.push("all".into());
            }
            for architecture in &architectures {
                let fetched = fetch_index(
                    &self.fetcher,
                    objects,
                    &dists,
                    &release,
                    component,
                    architecture,
                    None,
                )
                .await?;
                if let Some(expected) = listed.get(fetched.path.as_str()) {
                    self.log
                        .record(
                            &format!("dists/{suite}/{}", fetched.path),
                            expected.sha256,
                            expected.size.unwrap_or(0),
                            RecordKind::Index,
                        )
                        .map_err(|e| AptError::Internal(e.to_string()))?;
                }
                for i in 0..fetched.packages.len() {
                    let file = fetched.packages.file(i)?;
                    let sha256 = file.sha256.parse().map_err(|_| AptError::Malformed {
                        origin: format!("{dists}/{}", fetched.path),
                        message: format!("bad SHA256 for {}", file.filename),
                    })?;
                    pool.insert(
                        file.filename.into(),
                        Expected {
                            sha256,
                            size: Some(file.size),
                        },
                    );
                }
            }
        }
        let mut served = HashMap::new();
        for (name, bytes) in &verified.raw {
            let sha256 = objects.insert_bytes(bytes)?;
            self.log
                .record(
                    &format!("dists/{suite}/{name}"),
                    sha256,
                    bytes.len() as u64,
                    RecordKind::Index,
                )
                .map_err(|e| AptError::Internal(e.to_string()))?;
            served.insert(
                *name,
                Hit {
                    sha256,
                    size: bytes.len() as u64,
                    immutable: false,
                },
            );
        }
        objects.make_durable()?;
        tracing::info!(mirror = %self.name, %suite, signer = %verified.signer, pool = pool.len(), "Release adopted");
        Ok(SuiteState {
            release: served,
            listed,
            pool: Arc::new(pool),
            older_pool: held.map(|h| Arc::clone(&h.pool)),
            date,
            signed,
            validators: Validators::default(),
            next_check: Instant::now() + self.revalidate_after,
        })
    }

    /// Fetch `path` (below the repository root) against `expected`, keep and record it.
    async fn fill_object(
        &self,
        path: &str,
        expected: Expected,
        kind: RecordKind,
    ) -> Result<(), ProxyError> {
        let url = format!("{}/{path}", self.base);
        let label = format!("apt mirror {}", self.name);
        let fill = ObjectFill {
            path,
            url: &url,
            expected,
            kind,
            label: &label,
        };
        fill_object(&self.fetcher, self.store.objects(), &self.log, fill, |_| {
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// A failed fill, classed for the client's status (the reason names the URL or file).
fn refusal(mirror: &str, error: &AptError) -> ProxyError {
    let failure = match error {
        AptError::Fetch(fetch) => fetch_failure(fetch),
        AptError::NoRelease { .. } | AptError::NoIndex { .. } => ProxyFailure::Upstream,
        AptError::Store(_) | AptError::Internal(_) => ProxyFailure::Internal,
        _ => ProxyFailure::Refused,
    };
    ProxyError::new(failure, format!("apt mirror {mirror}: {error}"))
}

impl ProxySource for AptProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn lookup(&self, path: &str) -> Lookup {
        let Some((suite, file)) = self.split(path) else {
            return Lookup::NotListed;
        };
        let Some(suite) = suite else {
            return match self.pool_file(file) {
                Some(expected) => self.object(expected, true),
                // A suite not adopted yet (a client that has not updated through us, or
                // a restart that has not taken every suite up) may list it.
                None if self.unadopted().next().is_some() => Lookup::Miss {
                    key: "suites".into(),
                },
                None => Lookup::NotListed,
            };
        };
        let suite_key = || Lookup::Miss {
            key: format!("suite:{suite}"),
        };
        let Some(state) = self.suite_state(suite) else {
            return suite_key();
        };
        if RELEASE_FILES.contains(&file) {
            if Instant::now() >= state.next_check {
                return suite_key();
            }
            return state
                .release
                .get(file)
                .map_or(Lookup::NotListed, |hit| Lookup::Hit(*hit));
        }
        match state.listed.get(file) {
            Some(expected) => self.object(*expected, file.contains("/by-hash/")),
            None => Lookup::NotListed,
        }
    }

    fn fill(self: Arc<Self>, path: String) -> BoxFuture<'static, Result<(), ProxyError>> {
        Box::pin(async move {
            let Some((suite, file)) = self.split(&path) else {
                return Err(ProxyError::new(
                    ProxyFailure::Upstream,
                    format!("{path}: not served"),
                ));
            };
            let (suite, file) = (suite.map(str::to_owned), file.to_owned());
            match suite {
                None => {
                    if self.pool_file(&file).is_none() {
                        // Every suite not adopted yet; one that fails does not keep the
                        // others from listing the file.
                        let unadopted: Vec<String> = self.unadopted().collect();
                        for suite in unadopted {
                            if let Err(error) = Arc::clone(&self).fill_suite(suite.clone()).await {
                                tracing::warn!(mirror = %self.name, %suite, reason = %error, "suite not adopted");
                            }
                        }
                    }
                    let Some(expected) = self.pool_file(&file) else {
                        return Ok(());
                    };
                    self.fill_object(&file, expected, RecordKind::Package).await
                }
                Some(suite) => {
                    let stale = self
                        .suite_state(&suite)
                        .is_none_or(|state| Instant::now() >= state.next_check);
                    if RELEASE_FILES.contains(&file.as_str()) || stale {
                        Arc::clone(&self).fill_suite(suite.clone()).await?;
                    }
                    if RELEASE_FILES.contains(&file.as_str()) {
                        return Ok(());
                    }
                    let Some(expected) = self
                        .suite_state(&suite)
                        .and_then(|state| state.listed.get(file.as_str()).copied())
                    else {
                        return Ok(());
                    };
                    self.fill_object(&path, expected, RecordKind::Index).await
                }
            }
        })
    }

    fn pulled(&self, key: Option<&SigningKey>) -> Result<Pulled, RepositoryError> {
        self.pulled_tree(key)
    }
}
