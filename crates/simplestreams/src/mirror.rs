//! [`SimplestreamsMirror`]: the `Repository` of a simplestreams mirror.
//!
//! Probe: the signed index, then every product file it names, each verified against
//! the keyring before it is parsed. Plan: every item the selection keeps (downloaded
//! against its SHA-256 and size), and the stream files: upstream's signed files byte for
//! byte when nothing is filtered out, else the index and product files cut to the
//! selection and signed with our key; `.json` twins are the signed texts (an index's with
//! its paths naming `.json` files).

use std::collections::{BTreeMap, BTreeSet};

use mirror_core::digest::Hasher;
use mirror_core::error::RepositoryError;
use mirror_core::repository::{
    BoxFuture, PlanSummary, PlannedFile, Probe, Repository, Source, SyncContext, TreePlan,
};
use mirror_core::signing::{Keyring, verify_cleartext};
use mirror_core::store::Expected;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Settings, SimplestreamsConfig};
use crate::error::SimplestreamsError;
use crate::stream::{IndexEntry, cut, index_entries, index_for, items, select, with_extension};

/// Where every stream starts.
const INDEX: &str = "streams/v1/index.sjson";

/// A simplestreams upstream, ready to sync.
#[derive(Debug)]
pub struct SimplestreamsMirror {
    config: SimplestreamsConfig,
    settings: Settings,
    keyring: Keyring,
}

/// A stream file as served and as verified.
struct Signed {
    /// Below the stream root (`streams/v1/index.sjson`).
    path: String,
    url: String,
    raw: Vec<u8>,
    /// The signed text (the JSON).
    text: String,
    doc: Value,
}

impl SimplestreamsMirror {
    /// Check the settings and load the keyring.
    pub fn new(config: SimplestreamsConfig) -> Result<Self, SimplestreamsError> {
        let settings = config.check()?;
        let keyring = Keyring::load_all(&config.keyring)?;
        Ok(Self {
            config,
            settings,
            keyring,
        })
    }

    /// Fetch `path` (within `max_index_size`) and verify its clear signature.
    async fn fetch_signed(
        &self,
        ctx: &SyncContext<'_>,
        path: &str,
    ) -> Result<Signed, SimplestreamsError> {
        let url = format!("{}/{path}", self.settings.url);
        let cap = ctx.fetcher.options().max_index_size;
        let raw = ctx.fetcher.get(&url, cap).await?.to_vec();
        let verified = verify_cleartext(&self.keyring, &raw, &url)?;
        let doc =
            serde_json::from_str(&verified.text).map_err(|e| SimplestreamsError::Malformed {
                origin: url.clone(),
                reason: format!("the signed text is not JSON: {e}"),
            })?;
        Ok(Signed {
            path: path.to_owned(),
            url,
            raw,
            text: verified.text,
            doc,
        })
    }
}

impl Repository for SimplestreamsMirror {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "simplestreams"
    }

    fn upstream(&self) -> &str {
        &self.settings.url
    }

    fn publish_format(&self) -> &'static str {
        "mirror-simplestreams/1"
    }

    fn probe<'a>(
        &'a self,
        ctx: &'a SyncContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Probe<'a> + 'a>, RepositoryError>> {
        Box::pin(async move {
            let fail = RepositoryError::new;
            let index = self.fetch_signed(ctx, INDEX).await.map_err(fail)?;
            let entries = index_entries(&index.doc, &index.url).map_err(fail)?;
            let mut products = Vec::with_capacity(entries.len());
            for entry in entries {
                let signed = self.fetch_signed(ctx, &entry.path).await.map_err(fail)?;
                products.push((entry, signed));
            }
            // What the tree is made of: the signed texts and the settings that shape it.
            let mut hasher = Hasher::new();
            for signed in std::iter::once(&index).chain(products.iter().map(|(_, s)| s)) {
                hasher.update(signed.path.as_bytes());
                hasher.update(
                    mirror_core::Sha256Digest::of(&signed.raw)
                        .to_hex()
                        .as_bytes(),
                );
            }
            // Every setting, and the key a filtered tree is signed with: a new key is a
            // new tree.
            hasher.update(&serde_json::to_vec(&self.config).unwrap_or_default());
            if !self.config.unfiltered()
                && let Some(key) = ctx.signing_key
            {
                hasher.update(key.fingerprint().as_bytes());
            }
            let fingerprint = hasher.finish().0.to_hex();
            Ok(Box::new(StreamProbe {
                mirror: self,
                ctx,
                index,
                products,
                fingerprint,
            }) as Box<dyn Probe<'a> + 'a>)
        })
    }
}

struct StreamProbe<'a> {
    mirror: &'a SimplestreamsMirror,
    ctx: &'a SyncContext<'a>,
    index: Signed,
    products: Vec<(IndexEntry, Signed)>,
    fingerprint: String,
}

impl<'a> Probe<'a> for StreamProbe<'a> {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn plan(self: Box<Self>) -> BoxFuture<'a, Result<TreePlan, RepositoryError>> {
        Box::pin(async move { self.build().await.map_err(RepositoryError::new) })
    }
}

impl StreamProbe<'_> {
    async fn build(self) -> Result<TreePlan, SimplestreamsError> {
        let mirror = self.mirror;
        let config = &mirror.config;
        let objects = self.ctx.store.objects();
        let mut files = Vec::new();
        let mut item_paths: BTreeMap<String, String> = BTreeMap::new();
        let mut kept_products: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut cut_files = Vec::new();
        // Items stating only an md5 or sha1 (`allow_weak_checksums`): path, URL, digest.
        let mut weak = Vec::new();
        let mut summary = SimplestreamsSummary {
            signed_by: if config.unfiltered() {
                "upstream"
            } else {
                "ours"
            },
            ..SimplestreamsSummary::default()
        };
        for (entry, signed) in &self.products {
            let all = items(&signed.doc, &signed.url, config.allow_weak_checksums)?;
            let chosen = select(&all, &mirror.settings.selection, config.keep_versions);
            summary.product_files += 1;
            summary.items += all.len();
            summary.selected += chosen.len();
            let mut kept = BTreeSet::new();
            for item in &chosen {
                kept.insert((
                    item.key.0.to_owned(),
                    item.key.1.to_owned(),
                    item.key.2.to_owned(),
                ));
                kept_products
                    .entry(entry.content_id.clone())
                    .or_default()
                    .insert(item.key.0.to_owned());
                // One path, one file: two items naming it must agree on its bytes.
                let identity = match &item.weak {
                    Some((algorithm, hex)) => format!("{algorithm}:{hex}"),
                    None => item.sha256.clone(),
                };
                match item_paths.get(item.path) {
                    Some(known) if *known != identity => {
                        return Err(SimplestreamsError::Malformed {
                            origin: signed.url.clone(),
                            reason: format!("{} is listed twice with different sha256", item.path),
                        });
                    }
                    Some(_) => continue,
                    None => {}
                }
                item_paths.insert(item.path.to_owned(), identity);
                summary.bytes += item.size.unwrap_or(0);
                let url = format!("{}/{}", mirror.settings.url, item.path);
                if let Some((algorithm, hex)) = &item.weak {
                    weak.push((
                        item.path.to_owned(),
                        url,
                        *algorithm,
                        hex.clone(),
                        item.size,
                    ));
                    continue;
                }
                let sha256 = item
                    .sha256
                    .parse()
                    .map_err(|_| SimplestreamsError::Malformed {
                        origin: signed.url.clone(),
                        reason: format!("{}: bad sha256", item.path),
                    })?;
                files.push(PlannedFile {
                    path: item.path.to_owned(),
                    expected: Expected {
                        sha256,
                        size: item.size,
                    },
                    source: Source::Url(url),
                });
            }
            if !kept.is_empty() {
                cut_files.push((entry, signed, kept));
            }
        }
        summary.products = kept_products.values().map(BTreeSet::len).sum();
        if summary.selected == 0 && !config.allow_empty {
            return Err(SimplestreamsError::EmptySelection {
                mirror: config.name.clone(),
            });
        }
        for (path, url, algorithm, expected, size) in weak {
            let sha256 = self.fetch_weak(&url, algorithm, &expected, size).await?;
            summary.weak += 1;
            files.push(PlannedFile {
                path,
                expected: sha256,
                source: Source::Stored,
            });
        }
        let mut store = |path: String, bytes: &[u8]| -> Result<(), SimplestreamsError> {
            let sha256 = objects.insert_bytes(bytes)?;
            files.push(PlannedFile {
                path,
                expected: Expected {
                    sha256,
                    size: Some(bytes.len() as u64),
                },
                source: Source::Stored,
            });
            Ok(())
        };
        let twin = |path: &str| with_extension(path, ".json");
        if config.unfiltered() {
            // Upstream's signed files as served; the product files' twins are their signed
            // texts, the index's is its signed text with the paths naming `.json` files,
            // as simplestreams writes its unsigned index.
            store(self.index.path.clone(), &self.index.raw)?;
            store(
                twin(&self.index.path),
                &json_bytes(&index_for(&self.index.doc, None, ".json"))?,
            )?;
            for (entry, signed) in &self.products {
                store(entry.path.clone(), &signed.raw)?;
                store(twin(&entry.path), signed.text.as_bytes())?;
            }
        } else {
            let key = self
                .ctx
                .signing_key
                .ok_or_else(|| SimplestreamsError::InvalidConfig {
                    mirror: config.name.clone(),
                    reason: "a filtered stream is re-signed: configure [signing] key".into(),
                })?;
            for (entry, signed, kept) in &cut_files {
                let text = String::from_utf8(json_bytes(&cut(&signed.doc, kept))?)
                    .expect("serde_json writes UTF-8");
                store(entry.path.clone(), key.clearsign(&text)?.as_bytes())?;
                store(twin(&entry.path), text.as_bytes())?;
            }
            let signed_index = String::from_utf8(json_bytes(&index_for(
                &self.index.doc,
                Some(&kept_products),
                ".sjson",
            ))?)
            .expect("serde_json writes UTF-8");
            store(
                self.index.path.clone(),
                key.clearsign(&signed_index)?.as_bytes(),
            )?;
            store(
                twin(&self.index.path),
                &json_bytes(&index_for(&self.index.doc, Some(&kept_products), ".json"))?,
            )?;
        }
        Ok(TreePlan {
            files,
            summary: Box::new(summary),
        })
    }
}

impl StreamProbe<'_> {
    /// An item stated by its md5 or sha1 only: downloaded whole (within
    /// `max_index_size`), checked against that digest and its stated size, stored under
    /// its SHA-256, which is what the plan names.
    async fn fetch_weak(
        &self,
        url: &str,
        algorithm: &'static str,
        expected: &str,
        size: Option<u64>,
    ) -> Result<Expected, SimplestreamsError> {
        let cap = self.ctx.fetcher.options().max_index_size;
        let body = self
            .ctx
            .fetcher
            .get(url, size.unwrap_or(cap).min(cap))
            .await?;
        let mismatch = |actual: String| SimplestreamsError::WeakMismatch {
            url: url.to_owned(),
            algorithm,
            expected: expected.to_owned(),
            actual,
        };
        if let Some(size) = size
            && body.len() as u64 != size
        {
            return Err(mismatch(format!("{} bytes, not {size}", body.len())));
        }
        let digest: Vec<u8> = match algorithm {
            "md5" => <md5::Md5 as md5::Digest>::digest(&body).to_vec(),
            _ => <sha1::Sha1 as sha1::Digest>::digest(&body).to_vec(),
        };
        let actual = hex::encode(digest);
        if actual != expected {
            return Err(mismatch(actual));
        }
        tracing::warn!(%url, algorithm, "item verified by {algorithm} only (allow_weak_checksums)");
        let sha256 = self.ctx.store.objects().insert_bytes(&body)?;
        Ok(Expected {
            sha256,
            size: Some(body.len() as u64),
        })
    }
}

/// A document as simplestreams writes one: indented, a final newline.
fn json_bytes(doc: &Value) -> Result<Vec<u8>, SimplestreamsError> {
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| SimplestreamsError::Malformed {
        origin: "generated stream file".into(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// What a simplestreams plan decided.
#[derive(Debug, Default, Serialize)]
pub struct SimplestreamsSummary {
    /// Product files read.
    pub product_files: usize,
    /// Products with at least one item kept.
    pub products: usize,
    /// Items in upstream's product files.
    pub items: usize,
    /// Items kept.
    pub selected: usize,
    /// Their stated bytes.
    pub bytes: u64,
    /// Items taken by an md5 or sha1 only (`allow_weak_checksums`).
    pub weak: usize,
    /// `upstream` (published as signed upstream) or `ours` (cut and re-signed).
    pub signed_by: &'static str,
}

impl PlanSummary for SimplestreamsSummary {
    fn line(&self) -> String {
        format!(
            "{} of {} items ({} products, {} product files), signed by {}",
            self.selected, self.items, self.products, self.product_files, self.signed_by
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
