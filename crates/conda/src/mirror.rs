//! [`CondaMirror`]: the conda channel as a [`Repository`]: fetch every subdir's index,
//! check and select records, store the indices to publish, and name every package with
//! the sha256 and size its record gives.

use std::borrow::Cow;
use std::collections::BTreeMap;

use mirror_core::compression::{Compression, compress};
use mirror_core::digest::{Hasher, Sha256Digest};
use mirror_core::error::RepositoryError;
use mirror_core::repository::{
    BoxFuture, PlanSummary, PlannedFile, Probe, Repository, Source, SyncContext, TreePlan,
};
use mirror_core::store::{Expected, ObjectStore};
use rayon::prelude::*;
use serde::Serialize;

use crate::channeldata::Published;
use crate::config::{CondaConfig, Settings};
use crate::error::CondaError;
use crate::record::RecordChecks;
use crate::repodata::RepoDataView;
use crate::select::{Selection, SubdirRecords, select};
use crate::upstream::{IndexSource, Probed, UpstreamIndex, fetch_index, package_base};
use crate::upstream_shards::UpstreamShards;
use crate::writer::write_repodata;

/// Most unresolved dependencies listed in a summary (the count is always complete).
const SUMMARY_LIST_LIMIT: usize = 100;

/// A conda channel mirror.
#[derive(Debug, Clone)]
pub struct CondaMirror {
    config: CondaConfig,
    settings: Settings,
}

impl CondaMirror {
    /// Validate `config` (name, URL, subdirs, every spec) into a mirror.
    pub fn new(config: CondaConfig) -> Result<Self, CondaError> {
        let settings = config.validate()?;
        Ok(Self { config, settings })
    }

    /// The settings it was built from.
    pub fn config(&self) -> &CondaConfig {
        &self.config
    }

    /// The subdirs mirrored (the configured ones plus `noarch`).
    pub fn subdirs(&self) -> &[String] {
        &self.settings.subdirs
    }

    /// Ask upstream for every subdir's index, conditionally where the mirror's upstream
    /// cache allows (see [`fetch_index`]), and save the cache for the next sync.
    async fn fetch_indices(&self, ctx: &SyncContext<'_>) -> Result<Vec<Probed>, CondaError> {
        ctx.reporter
            .begin(&format!("{}: fetching repodata", self.config.name), None);
        let mut cache = ctx.store.upstream_cache(&self.config.name);
        let mut indices = Vec::with_capacity(self.settings.subdirs.len());
        for subdir in &self.settings.subdirs {
            let index = fetch_index(
                ctx.fetcher,
                ctx.store,
                &mut cache,
                &self.settings.channel,
                subdir,
            )
            .await;
            ctx.reporter
                .advance(index.as_ref().map_or(0, Probed::received));
            indices.push(index?);
        }
        ctx.reporter.finish();
        // Only what this configuration asks for (a subdir dropped from the config, or a
        // channel URL changed, leaves no entry behind).
        let prefix = format!("{}/", self.settings.channel);
        cache.retain(|url| {
            url.strip_prefix(&prefix)
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(subdir, _)| self.settings.subdirs.iter().any(|s| s == subdir))
        });
        ctx.store.save_upstream_cache(&self.config.name, &cache)?;
        Ok(indices)
    }

    /// sha256 over the settings and every upstream index (its form and the digest of its
    /// body as served, which the decoded JSON is a function of: a 304 needs no decoding).
    fn fingerprint(&self, indices: &[Probed]) -> String {
        let mut hasher = Hasher::new();
        let settings = serde_json::json!({
            "url": self.settings.channel,
            "specs": self.config.specs,
            "keep_versions": self.config.keep_versions,
            "exclude": self.config.exclude,
            "licenses": self.config.licenses,
            "upstream_shards": self.config.upstream_shards,
        });
        hasher.update(settings.to_string().as_bytes());
        for index in indices {
            hasher.update(b"\n");
            hasher.update(index.subdir().as_bytes());
            hasher.update(b" ");
            hasher.update(index.source().label().as_bytes());
            hasher.update(b" ");
            if let Some(served) = index.served() {
                hasher.update(served.to_hex().as_bytes());
            }
        }
        hasher.finish().0.to_hex()
    }

    /// Read back the subdirs upstream said were unchanged, then plan.
    fn load_and_plan(
        &self,
        ctx: &SyncContext<'_>,
        probed: Vec<Probed>,
        extras: Vec<SubdirExtras>,
        channeldata: Option<UpstreamChannelData>,
    ) -> Result<TreePlan, CondaError> {
        let cap = ctx.fetcher.options().max_index_size;
        let mut cache = ctx.store.upstream_cache(&self.config.name);
        let mut indices = Vec::with_capacity(probed.len());
        for index in probed {
            match index.load(ctx.store, &mut cache, cap) {
                Ok(index) => indices.push(index),
                Err(error) => {
                    // The damaged entry is gone from the cache: the next sync fetches it.
                    ctx.store.save_upstream_cache(&self.config.name, &cache)?;
                    return Err(error);
                }
            }
        }
        self.build_plan(
            &indices,
            &extras,
            channeldata,
            ctx.store.objects(),
            ctx.previous,
        )
    }

    /// Upstream's `channeldata.json`, when it serves one. Asked only when something
    /// changed (a no-op sync stops at the fingerprint), so a no-op still costs one
    /// request per subdir.
    async fn fetch_channeldata(
        &self,
        ctx: &SyncContext<'_>,
    ) -> Result<Option<UpstreamChannelData>, CondaError> {
        let url = format!("{}/channeldata.json", self.settings.channel);
        let cap = ctx.fetcher.options().max_index_size;
        let body = ctx.fetcher.get_optional(&url, cap).await?;
        Ok(body.map(|bytes| UpstreamChannelData { url, bytes }))
    }

    /// For each subdir, whether upstream serves a `repodata.json.bz2` beside the form it
    /// was fetched in (one `HEAD` each; asked only when something changed, so a no-op
    /// sync still costs one request per subdir).
    async fn probe_bz2(
        &self,
        ctx: &SyncContext<'_>,
        indices: &[Probed],
    ) -> Result<Vec<bool>, CondaError> {
        let mut served = Vec::with_capacity(indices.len());
        for index in indices {
            let asked = matches!(index.source(), IndexSource::Zstd | IndexSource::Plain);
            let url = format!(
                "{}/{}/repodata.json.bz2",
                self.settings.channel,
                index.subdir()
            );
            served.push(asked && ctx.fetcher.exists(&url).await?);
        }
        Ok(served)
    }

    /// Each subdir's upstream shard index, with `upstream_shards` (`None` for a subdir
    /// upstream does not shard).
    async fn fetch_upstream_shards(
        &self,
        ctx: &SyncContext<'_>,
    ) -> Result<Vec<Option<UpstreamShards>>, CondaError> {
        let mut found = Vec::with_capacity(self.settings.subdirs.len());
        for subdir in &self.settings.subdirs {
            if !self.config.upstream_shards {
                found.push(None);
                continue;
            }
            let url = format!(
                "{}/{subdir}/repodata_shards.msgpack.zst",
                self.settings.channel
            );
            let cap = ctx.fetcher.options().max_index_size;
            let index = match ctx.fetcher.get_optional(&url, cap).await? {
                Some(raw) => Some(UpstreamShards::parse(&raw, &url, cap)?),
                None => {
                    tracing::info!(mirror = %self.config.name, "{url}: not served, shards made here");
                    None
                }
            };
            found.push(index);
        }
        Ok(found)
    }

    fn build_plan(
        &self,
        indices: &[UpstreamIndex],
        extras: &[SubdirExtras],
        channeldata: Option<UpstreamChannelData>,
        objects: &ObjectStore,
        previous: Option<&mirror_core::snapshot::Snapshot>,
    ) -> Result<TreePlan, CondaError> {
        let mut views = Vec::with_capacity(indices.len());
        for index in indices {
            let view =
                RepoDataView::parse(&index.json).map_err(|source| CondaError::InvalidRepodata {
                    url: index.url.clone(),
                    source,
                })?;
            if let Some(found) = view.info.subdir.as_deref()
                && found != index.subdir
            {
                return Err(CondaError::SubdirMismatch {
                    url: index.url.clone(),
                    expected: index.subdir.clone(),
                    found: found.to_owned(),
                });
            }
            views.push(view);
        }
        let checks: Vec<RecordChecks<'_, '_>> = views
            .iter()
            .zip(indices)
            .map(|(view, index)| RecordChecks::new(view, &index.subdir, &self.settings.licenses))
            .collect();
        // A mirror of everything checks every record (on all cores); a filtered one only
        // those its selection considers.
        if self.settings.filter.selects_everything() {
            for check in &checks {
                check.check_all();
            }
        }
        let inputs: Vec<SubdirRecords<'_, '_>> = views
            .iter()
            .zip(indices)
            .zip(&checks)
            .map(|((view, index), checks)| SubdirRecords {
                subdir: &index.subdir,
                view,
                checks,
            })
            .collect();
        let selection = select(&inputs, &self.settings.filter);
        if !selection.unmatched_specs.is_empty() {
            tracing::warn!(
                mirror = %self.config.name,
                "{} spec(s) matched no record: {}",
                selection.unmatched_specs.len(),
                selection.unmatched_specs.join(", ")
            );
        }
        self.refuse_empty(&inputs, &selection, previous)?;

        let mut files = Vec::new();
        let mut subdir_summaries = Vec::new();
        // Names and their subdirs, for channeldata.json only (46k names for conda-forge).
        let mut published = channeldata.as_ref().map(|_| Published::new());
        for (i, input) in inputs.iter().enumerate() {
            let summary = self.plan_subdir(
                &indices[i],
                input,
                &selection.selected[i],
                extras.get(i),
                objects,
                &mut Planned {
                    files: &mut files,
                    published: published.as_mut(),
                },
            )?;
            subdir_summaries.push(summary);
        }
        if let (Some(upstream), Some(published)) = (channeldata, published) {
            // Every record of every subdir kept: upstream's bytes, as for repodata.
            let everything = selection.selected.iter().all(|s| s.iter().all(|x| *x));
            let bytes = if everything {
                upstream.bytes.to_vec()
            } else {
                crate::channeldata::filter(
                    &upstream.bytes,
                    &upstream.url,
                    &published,
                    &self.settings.subdirs,
                )?
            };
            files.push(store(objects, "channeldata.json".into(), &bytes)?);
        }
        Ok(TreePlan {
            files,
            summary: Box::new(CondaSummary::new(subdir_summaries, &selection)),
        })
    }

    /// An empty selection, or a subdir emptied that had packages, is refused unless the
    /// mirror allows it: a typo in a spec, or an upstream that dropped or broke every
    /// record, must not turn into a silently empty channel inside the gap.
    fn refuse_empty(
        &self,
        inputs: &[SubdirRecords<'_, '_>],
        selection: &Selection,
        previous: Option<&mirror_core::snapshot::Snapshot>,
    ) -> Result<(), CondaError> {
        if self.config.allow_empty {
            return Ok(());
        }
        let refuse = |what: String| {
            Err(CondaError::EmptySelection {
                mirror: self.config.name.clone(),
                what,
            })
        };
        let counts: Vec<usize> = selection
            .selected
            .iter()
            .map(|s| s.iter().filter(|x| **x).count())
            .collect();
        if let Some(previous) = previous {
            for (input, count) in inputs.iter().zip(&counts) {
                let prefix = format!("{}/", input.subdir);
                let had = previous
                    .files
                    .iter()
                    // Packages only: not the indices or the shards beside them.
                    .filter(|f| {
                        f.path.strip_prefix(&prefix).is_some_and(|rest| {
                            !rest.contains('/')
                                && (rest.ends_with(".conda") || rest.ends_with(".tar.bz2"))
                        })
                    })
                    .count();
                // Only when upstream has nothing usable left for it: a changed spec that
                // no longer needs the subdir is the operator's choice.
                let usable = || {
                    input.checks.check_all();
                    input.checks.computed().filter(|r| r.is_ok()).count()
                };
                if *count == 0 && had > 0 && usable() == 0 {
                    return refuse(format!(
                        "{} would go from {had} packages to none (upstream dropped or \
                         invalidated every record it had)",
                        input.subdir
                    ));
                }
            }
        }
        if counts.iter().all(|n| *n == 0) {
            let why = if selection.unmatched_specs.is_empty() {
                "upstream has no usable record".to_owned()
            } else {
                format!(
                    "no spec matched a record ({})",
                    selection.unmatched_specs.join(", ")
                )
            };
            return refuse(format!("the selection is empty: {why}"));
        }
        Ok(())
    }

    /// Our CEP-16 shards of the published records, stored.
    fn plan_own_shards(
        &self,
        view: &RepoDataView<'_>,
        subdir: &String,
        objects: &ObjectStore,
        files: &mut Vec<PlannedFile>,
        published: Option<&mut Published>,
    ) -> Result<(), CondaError> {
        let sharded = crate::shards::shard(view, subdir).map_err(|e| CondaError::Shards {
            subdir: subdir.clone(),
            source: e,
        })?;
        note_names(published, sharded.names.iter(), subdir);
        files.push(store(
            objects,
            format!("{subdir}/repodata_shards.msgpack.zst"),
            &sharded.index,
        )?);
        // Thousands of small files on a first publish: written on every core (a shard
        // that did not change is already in the store and costs one lookup).
        let shard_files: Vec<PlannedFile> = sharded
            .shards
            .par_iter()
            .map(|(digest, bytes)| {
                let sha256 = objects.insert_bytes(bytes)?;
                debug_assert_eq!(sha256, *digest);
                Ok(stored(
                    format!("{subdir}/shards/{}.msgpack.zst", digest.to_hex()),
                    sha256,
                    bytes.len(),
                ))
            })
            .collect::<Result<_, CondaError>>()?;
        files.extend(shard_files);
        Ok(())
    }

    /// Upstream's shards: our index of the same names and digests, and each shard a
    /// download the sync checks against its digest before it is stored.
    fn plan_upstream_shards(
        &self,
        upstream: &UpstreamShards,
        view: &RepoDataView<'_>,
        subdir: &String,
        objects: &ObjectStore,
        files: &mut Vec<PlannedFile>,
        published: Option<&mut Published>,
    ) -> Result<(), CondaError> {
        #[derive(serde::Deserialize)]
        struct NameOnly<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let names: Vec<Cow<'_, str>> = view
            .records
            .par_iter()
            .filter_map(|record| {
                serde_json::from_str::<NameOnly<'_>>(record.raw.get())
                    .ok()
                    .map(|n| n.name)
            })
            .collect();
        upstream.check_names(names.iter().map(AsRef::as_ref))?;
        note_names(
            published,
            upstream.shards.iter().map(|(name, _)| name),
            subdir,
        );
        let index = crate::shards::index_bytes(
            subdir,
            upstream
                .shards
                .iter()
                .map(|(name, digest)| (name.as_str(), digest)),
        );
        files.push(store(
            objects,
            format!("{subdir}/repodata_shards.msgpack.zst"),
            &index,
        )?);
        for (_, digest) in &upstream.shards {
            files.push(PlannedFile {
                path: format!("{subdir}/shards/{}.msgpack.zst", digest.to_hex()),
                expected: Expected {
                    sha256: *digest,
                    size: None,
                },
                source: Source::Url(upstream.shard_url(digest)),
            });
        }
        Ok(())
    }

    /// Store the subdir's index files and name them and its selected packages.
    fn plan_subdir(
        &self,
        index: &UpstreamIndex,
        input: &SubdirRecords<'_, '_>,
        selected: &[bool],
        extras: Option<&SubdirExtras>,
        objects: &ObjectStore,
        out: &mut Planned<'_>,
    ) -> Result<SubdirSummary, CondaError> {
        let files = &mut *out.files;
        let subdir = &index.subdir;
        let view = input.view;
        if !self.config.skip_bad_records
            && let Some((file, bad, others)) = input.checks.first_bad()
        {
            return Err(CondaError::BadRecord {
                url: index.url.clone(),
                file: file.to_owned(),
                reason: bad.reason,
                detail: bad.detail.clone(),
                others: others - 1,
            });
        }
        let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut license_refused = 0usize;
        for result in input.checks.computed() {
            match result {
                Err(s) => *skipped.entry(s.reason.label()).or_default() += 1,
                Ok(checked) if !checked.license_allowed => license_refused += 1,
                Ok(_) => {}
            }
        }
        let PublishedIndex {
            json,
            zst,
            keep_upstream,
        } = published_index(index, view, selected)?;
        for (name, bytes) in [("repodata.json", &json), ("repodata.json.zst", &zst)] {
            files.push(store(objects, format!("{subdir}/{name}"), bytes)?);
        }
        drop(zst);
        // An upstream that serves `.bz2` (only, or beside the form fetched) has clients
        // that ask for it: they get ours, made from the published index.
        if index.source == IndexSource::Bzip2 || extras.is_some_and(|e| e.serves_bz2) {
            let bz2 = compress(&json, Compression::Bzip2)?;
            files.push(store(objects, format!("{subdir}/repodata.json.bz2"), &bz2)?);
        }
        // CEP-16 shards, made from the repodata just published so both say the same
        // (upstream's, already parsed as `view`, when it is published as served).
        let ours;
        let published_view = if keep_upstream {
            view
        } else {
            ours = RepoDataView::parse(&json).map_err(|source| CondaError::InvalidRepodata {
                url: index.url.clone(),
                source,
            })?;
            &ours
        };
        let current = crate::writer::write_current_repodata(published_view, subdir);
        files.push(store(
            objects,
            format!("{subdir}/current_repodata.json"),
            &current,
        )?);
        // What is stored is not held: the package list below is the plan's peak (with
        // the upstream index it is made from), and conda-forge's shards and current
        // index are tens of MB each.
        drop(current);
        // Upstream's shards when asked for and they describe what is published (the
        // index published as served); else ours, made from the published records.
        match extras.and_then(|e| e.shards.as_ref()) {
            Some(upstream) if keep_upstream => {
                self.plan_upstream_shards(
                    upstream,
                    published_view,
                    subdir,
                    objects,
                    files,
                    out.published.as_deref_mut(),
                )?;
            }
            _ => self.plan_own_shards(
                published_view,
                subdir,
                objects,
                files,
                out.published.as_deref_mut(),
            )?,
        }
        // The upstream package files, one per selected record.
        files.reserve(selected.iter().filter(|s| **s).count());

        let base = package_base(&index.url, view.info.base_url.as_deref())?;
        // Each package's URL is the base and its file name, the part of its path after
        // `{subdir}/`: one shared prefix, not 465k URLs (30 MB) held through the plan.
        let prefix: std::sync::Arc<str> = base.as_str().into();
        let from = subdir.len() + 1;
        let (mut count, mut bytes) = (0usize, 0u64);
        for (i, (record, keep)) in view.records.iter().zip(selected).enumerate() {
            // Selected records were checked (and passed) during selection.
            let (true, Ok(checked)) = (*keep, input.checks.get(i)) else {
                continue;
            };
            count += 1;
            bytes += checked.size.unwrap_or(0);
            files.push(PlannedFile {
                path: format!("{subdir}/{}", record.filename),
                expected: Expected {
                    sha256: checked.sha256,
                    size: checked.size,
                },
                source: Source::Prefixed {
                    prefix: prefix.clone(),
                    from,
                },
            });
        }
        Ok(SubdirSummary {
            subdir: subdir.clone(),
            index: index.source.label(),
            records: view.records.len(),
            selected: count,
            selected_bytes: bytes,
            skipped,
            license_refused,
            upstream_index_kept: keep_upstream,
        })
    }
}

/// A subdir's `repodata.json` as published (by `sync`) or served (by the proxy), and
/// its `.zst`.
pub(crate) struct PublishedIndex<'i> {
    pub json: Cow<'i, [u8]>,
    pub zst: Cow<'i, [u8]>,
    /// Upstream's bytes, unchanged.
    pub keep_upstream: bool,
}

/// The index to publish from upstream's `index` (parsed as `view`) when the records
/// `selected` marks are kept: upstream's own bytes when every record is kept (and
/// nothing in the index would point a client elsewhere or is ambiguous), else ours,
/// written from the kept records.
pub(crate) fn published_index<'i>(
    index: &'i UpstreamIndex,
    view: &RepoDataView<'_>,
    selected: &[bool],
) -> Result<PublishedIndex<'i>, CondaError> {
    let keep_upstream = selected.iter().all(|s| *s)
        && view.info.base_url.is_none()
        && view.duplicates == 0
        && index.source != IndexSource::Absent;
    let (json, zst): (Cow<'_, [u8]>, Cow<'_, [u8]>) = if keep_upstream {
        let zst = match &index.zst {
            Some(zst) => Cow::Borrowed(&zst[..]),
            None => Cow::Owned(compress(&index.json, Compression::Zstd)?),
        };
        (Cow::Borrowed(&index.json[..]), zst)
    } else {
        let ours = write_repodata(view, &index.subdir, |i| selected[i]);
        let zst = compress(&ours, Compression::Zstd)?;
        (Cow::Owned(ours), Cow::Owned(zst))
    };
    Ok(PublishedIndex {
        json,
        zst,
        keep_upstream,
    })
}

/// What a conda plan decided, for the sync report and the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct CondaSummary {
    /// Records in every upstream index.
    pub records: usize,
    /// Records selected.
    pub selected: usize,
    /// Their bytes, as the records give them.
    pub selected_bytes: u64,
    /// Each subdir's account.
    pub subdirs: Vec<SubdirSummary>,
    /// Dependencies no record satisfies (the count is complete).
    pub unresolved_dependencies: usize,
    /// The first of them (at most 100).
    pub unresolved: Vec<String>,
    /// User specs that matched no record.
    pub unmatched_specs: Vec<String>,
    /// Records whose fields could not be typed.
    pub untyped_records: usize,
}

/// One subdir's part of a [`CondaSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct SubdirSummary {
    /// `linux-64`
    pub subdir: String,
    /// Which upstream index was read (`repodata.json.zst`...).
    pub index: &'static str,
    /// Records in it.
    pub records: usize,
    /// Records selected.
    pub selected: usize,
    /// Their bytes.
    pub selected_bytes: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Records the licence allow-list refused.
    pub license_refused: usize,
    /// Whether upstream's index bytes were published unchanged.
    pub upstream_index_kept: bool,
}

impl CondaSummary {
    fn new(subdirs: Vec<SubdirSummary>, selection: &Selection) -> Self {
        Self {
            records: subdirs.iter().map(|s| s.records).sum(),
            selected: subdirs.iter().map(|s| s.selected).sum(),
            selected_bytes: subdirs.iter().map(|s| s.selected_bytes).sum(),
            subdirs,
            unresolved_dependencies: selection.unresolved.len(),
            unresolved: selection
                .unresolved
                .iter()
                .take(SUMMARY_LIST_LIMIT)
                .map(ToString::to_string)
                .collect(),
            unmatched_specs: selection.unmatched_specs.clone(),
            untyped_records: selection.untyped,
        }
    }
}

impl PlanSummary for CondaSummary {
    fn line(&self) -> String {
        let mut line = format!("{} of {} records selected", self.selected, self.records);
        if !self.unmatched_specs.is_empty() {
            line.push_str(&format!(
                ", {} spec(s) matched nothing ({})",
                self.unmatched_specs.len(),
                self.unmatched_specs.join(", ")
            ));
        }
        if self.unresolved_dependencies > 0 {
            line.push_str(&format!(
                ", {} unresolved dependencies",
                self.unresolved_dependencies
            ));
        }
        line
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a conda summary always serialises")
    }
}

/// Records that `subdir` publishes `names` (for channeldata.json, when it is wanted).
fn note_names<'n>(
    published: Option<&mut Published>,
    names: impl Iterator<Item = &'n String>,
    subdir: &str,
) {
    if let Some(published) = published {
        for name in names {
            published
                .entry(name.clone())
                .or_default()
                .insert(subdir.to_owned());
        }
    }
}

/// What planning learnt of a subdir's upstream beyond its index.
struct SubdirExtras {
    /// Its shard index (`upstream_shards`), when it serves one.
    shards: Option<UpstreamShards>,
    /// It serves `repodata.json.bz2` beside the form fetched.
    serves_bz2: bool,
}

/// Where a subdir's plan goes: its files, and (for channeldata.json) its names.
struct Planned<'a> {
    files: &'a mut Vec<PlannedFile>,
    published: Option<&'a mut Published>,
}

/// Upstream's `channeldata.json` as served.
struct UpstreamChannelData {
    url: String,
    bytes: bytes::Bytes,
}

/// `bytes` put into the store, as the file at `path`.
fn store(objects: &ObjectStore, path: String, bytes: &[u8]) -> Result<PlannedFile, CondaError> {
    let sha256 = objects.insert_bytes(bytes)?;
    Ok(stored(path, sha256, bytes.len()))
}

/// A file the plan stored itself.
fn stored(path: String, sha256: Sha256Digest, size: usize) -> PlannedFile {
    PlannedFile {
        path,
        expected: Expected {
            sha256,
            size: Some(size as u64),
        },
        source: Source::Stored,
    }
}

/// Every subdir's index as probed, between probe and plan.
struct CondaProbe<'a> {
    mirror: &'a CondaMirror,
    ctx: &'a SyncContext<'a>,
    indices: Vec<Probed>,
    fingerprint: String,
}

impl<'a> Probe<'a> for CondaProbe<'a> {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn plan(self: Box<Self>) -> BoxFuture<'a, Result<TreePlan, RepositoryError>> {
        // One request (channeldata.json), then CPU work on data already fetched (or read
        // back from the store after a 304, when another subdir changed).
        Box::pin(async move {
            let channeldata = self
                .mirror
                .fetch_channeldata(self.ctx)
                .await
                .map_err(RepositoryError::new)?;
            let upstream_shards = self
                .mirror
                .fetch_upstream_shards(self.ctx)
                .await
                .map_err(RepositoryError::new)?;
            let bz2 = self
                .mirror
                .probe_bz2(self.ctx, &self.indices)
                .await
                .map_err(RepositoryError::new)?;
            let extras: Vec<SubdirExtras> = upstream_shards
                .into_iter()
                .zip(bz2)
                .map(|(shards, serves_bz2)| SubdirExtras { shards, serves_bz2 })
                .collect();
            self.mirror
                .load_and_plan(self.ctx, self.indices, extras, channeldata)
                .map_err(RepositoryError::new)
        })
    }
}

impl Repository for CondaMirror {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "conda"
    }

    fn upstream(&self) -> &str {
        &self.settings.channel
    }

    fn publish_format(&self) -> &'static str {
        // 2: sharded repodata and current_repodata.json are published beside repodata.json.
        // 3: upstream's channeldata.json, cut down to the published names.
        "mirror-conda/3"
    }

    fn probe<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Probe<'a> + 'a>, RepositoryError>> {
        Box::pin(async move {
            let indices = self
                .fetch_indices(ctx)
                .await
                .map_err(RepositoryError::new)?;
            let fingerprint = self.fingerprint(&indices);
            Ok(Box::new(CondaProbe {
                mirror: self,
                ctx,
                indices,
                fingerprint,
            }) as Box<dyn Probe<'a> + 'a>)
        })
    }

    /// A package whose bytes match the record's sha256 can still be malformed (the
    /// archive layout is wrong); it must never reach a published channel.
    fn check_download(&self, path: &str, object: &std::path::Path) -> Result<(), RepositoryError> {
        let filename = path.rsplit('/').next().unwrap_or(path);
        if filename.ends_with(".conda") || filename.ends_with(".tar.bz2") {
            crate::package_check::check_package_file(object, filename).map_err(|source| {
                RepositoryError::new(CondaError::MalformedPackage {
                    path: path.to_owned(),
                    source,
                })
            })?;
        }
        Ok(())
    }
}
