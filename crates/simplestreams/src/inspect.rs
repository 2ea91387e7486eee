//! `mirror-cli inspect` of a stream file (`index.sjson`, a product file's `.sjson`):
//! what it lists. The signature is not checked here (`inspect` has no keyring; `sync`
//! verifies every file before it reads it), only said to be there.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::SimplestreamsError;
use crate::stream::{index_entries, items};

/// What a stream file lists.
#[derive(Debug, Serialize)]
pub struct StreamSummary {
    /// `index` or `products`.
    pub kind: &'static str,
    /// Whether it is clear-signed (not verified).
    pub signed: bool,
    /// Content ids (an index) or the file's own.
    pub content_ids: Vec<String>,
    /// Products named.
    pub products: usize,
    /// Version names (a product file).
    pub versions: usize,
    /// Items (a product file).
    pub items: usize,
    /// Their stated bytes.
    pub bytes: u64,
}

impl fmt::Display for StreamSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = if self.signed {
            "clear-signed (not verified here)"
        } else {
            "unsigned"
        };
        match self.kind {
            "index" => write!(
                f,
                "simplestreams index, {signed}: {} product files, {} products",
                self.content_ids.len(),
                self.products
            ),
            _ => write!(
                f,
                "simplestreams product file {}, {signed}: {} products, {} versions, {} items ({} bytes)",
                self.content_ids.join(", "),
                self.products,
                self.versions,
                self.items,
                self.bytes
            ),
        }
    }
}

/// Summarise `raw`, read from `origin`.
pub fn inspect(raw: &[u8], origin: &str) -> Result<StreamSummary, SimplestreamsError> {
    let signed = raw.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----");
    let text = if signed {
        mirror_core::signing::cleartext_body(raw, origin)?
    } else {
        String::from_utf8(raw.to_vec()).map_err(|_| SimplestreamsError::Malformed {
            origin: origin.to_owned(),
            reason: "not UTF-8".into(),
        })?
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| SimplestreamsError::Malformed {
        origin: origin.to_owned(),
        reason: format!("not JSON: {e}"),
    })?;
    if doc.get("format").and_then(Value::as_str) == Some("index:1.0") {
        let entries = index_entries(&doc, origin)?;
        let products = doc["index"]
            .as_object()
            .map(|index| {
                index
                    .values()
                    .filter_map(|e| e.get("products").and_then(Value::as_array))
                    .map(Vec::len)
                    .sum()
            })
            .unwrap_or(0);
        return Ok(StreamSummary {
            kind: "index",
            signed,
            content_ids: entries.into_iter().map(|e| e.content_id).collect(),
            products,
            versions: 0,
            items: 0,
            bytes: 0,
        });
    }
    let all = items(&doc, origin, true)?;
    let products: BTreeSet<&str> = all.iter().map(|i| i.key.0).collect();
    let versions: BTreeSet<(&str, &str)> = all.iter().map(|i| (i.key.0, i.key.1)).collect();
    Ok(StreamSummary {
        kind: "products",
        signed,
        content_ids: doc
            .get("content_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        products: products.len(),
        versions: versions.len(),
        items: all.len(),
        bytes: all.iter().filter_map(|i| i.size).sum(),
    })
}
