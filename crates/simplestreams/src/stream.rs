//! The two documents of a stream, read as JSON values (fields this crate does not know
//! are kept as they are): the index (`format: index:1.0`, each product file by content
//! id) and a product file (`format: products:1.0`: products, their versions, their
//! items). An item's attributes are its own and those it inherits from its version, its
//! product and its file, as `sstream-mirror`'s filters see them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::error::SimplestreamsError;

/// One product file the index names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Its content id (the index's key).
    pub content_id: String,
    /// Its signed path below the stream root (`streams/v1/<id>.sjson`).
    pub path: String,
}

/// The signed name of a stream file: `.json` paths name their `.sjson` twin.
pub fn signed_path(path: &str) -> String {
    match path.strip_suffix(".json") {
        Some(stem) => format!("{stem}.sjson"),
        None => path.to_owned(),
    }
}

/// The product files `index` names, their paths checked.
pub fn index_entries(index: &Value, origin: &str) -> Result<Vec<IndexEntry>, SimplestreamsError> {
    let bad = |reason: String| SimplestreamsError::Malformed {
        origin: origin.to_owned(),
        reason,
    };
    if index.get("format").and_then(Value::as_str) != Some("index:1.0") {
        return Err(bad(
            "not a simplestreams index (format is not index:1.0)".into()
        ));
    }
    let entries = index
        .get("index")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"index\" object".into()))?;
    let mut out = Vec::new();
    for (content_id, entry) in entries {
        let path = entry
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{content_id}: no path")))?;
        let path = signed_path(path);
        mirror_paths::check_relative(&path)
            .map_err(|e| bad(format!("{content_id}: path {path:?}: {e}")))?;
        out.push(IndexEntry {
            content_id: content_id.clone(),
            path,
        });
    }
    Ok(out)
}

/// One downloadable item of a product file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `(product, version, item)` names.
    pub key: (String, String, String),
    /// Its path below the stream root, checked.
    pub path: String,
    /// SHA-256, 64 hex digits.
    pub sha256: String,
    /// Size in bytes, when stated.
    pub size: Option<u64>,
    /// Every attribute it has or inherits (scalars as text), plus `content_id`,
    /// `product_name`, `version_name` and `item_name`.
    pub attributes: BTreeMap<String, String>,
}

fn scalars(object: &Map<String, Value>, skip: &str, into: &mut BTreeMap<String, String>) {
    for (key, value) in object {
        if key == skip {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        into.insert(key.clone(), text);
    }
}

/// Every item of the product file `doc`, checked: a path that is not a plain relative
/// path, or an item with no usable SHA-256 (md5 or sha1 only), is refused.
pub fn items(doc: &Value, origin: &str) -> Result<Vec<Item>, SimplestreamsError> {
    let bad = |reason: String| SimplestreamsError::Malformed {
        origin: origin.to_owned(),
        reason,
    };
    if doc.get("format").and_then(Value::as_str) != Some("products:1.0") {
        return Err(bad(
            "not a simplestreams product file (format is not products:1.0)".into(),
        ));
    }
    let top = doc
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let products = doc
        .get("products")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"products\" object".into()))?;
    let mut inherited = BTreeMap::new();
    scalars(top, "products", &mut inherited);
    let mut out = Vec::new();
    for (product_name, product) in products {
        let product = product
            .as_object()
            .ok_or_else(|| bad(format!("product {product_name}: not an object")))?;
        let mut of_product = inherited.clone();
        scalars(product, "versions", &mut of_product);
        let Some(versions) = product.get("versions").and_then(Value::as_object) else {
            continue;
        };
        for (version_name, version) in versions {
            let Some(version) = version.as_object() else {
                return Err(bad(format!("{product_name} {version_name}: not an object")));
            };
            let mut of_version = of_product.clone();
            scalars(version, "items", &mut of_version);
            let Some(items) = version.get("items").and_then(Value::as_object) else {
                continue;
            };
            for (item_name, item) in items {
                let Some(item) = item.as_object() else {
                    return Err(bad(format!(
                        "{product_name} {version_name} {item_name}: not an object"
                    )));
                };
                let mut attributes = of_version.clone();
                scalars(item, "", &mut attributes);
                let name = format!("{product_name} {version_name} {item_name}");
                let path = attributes
                    .get("path")
                    .cloned()
                    .ok_or_else(|| bad(format!("{name}: no path")))?;
                mirror_paths::check_relative(&path)
                    .map_err(|e| bad(format!("{name}: path {path:?}: {e}")))?;
                let sha256 = match attributes.get("sha256") {
                    Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        hex.to_ascii_lowercase()
                    }
                    Some(other) => {
                        return Err(bad(format!(
                            "{name}: sha256 {other:?} is not 64 hex digits"
                        )));
                    }
                    None => {
                        return Err(SimplestreamsError::WeakChecksum {
                            origin: origin.to_owned(),
                            item: name,
                        });
                    }
                };
                let size = match attributes.get("size") {
                    Some(text) => Some(
                        text.parse()
                            .map_err(|_| bad(format!("{name}: size {text:?} is not a number")))?,
                    ),
                    None => None,
                };
                attributes.insert("product_name".into(), product_name.clone());
                attributes.insert("version_name".into(), version_name.clone());
                attributes.insert("item_name".into(), item_name.clone());
                out.push(Item {
                    key: (
                        product_name.clone(),
                        version_name.clone(),
                        item_name.clone(),
                    ),
                    path,
                    sha256,
                    size,
                    attributes,
                });
            }
        }
    }
    Ok(out)
}

/// The items that pass every filter, then the newest `keep_versions` version names of
/// each product among them (version names sort as text, as simplestreams sorts them).
pub fn select<'i>(
    items: &'i [Item],
    filters: &[crate::filter::Filter],
    keep_versions: Option<usize>,
) -> Vec<&'i Item> {
    let passing: Vec<&Item> = items
        .iter()
        .filter(|item| filters.iter().all(|f| f.matches(&item.attributes)))
        .collect();
    let Some(keep) = keep_versions else {
        return passing;
    };
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for item in &passing {
        versions
            .entry(item.key.0.as_str())
            .or_default()
            .insert(item.key.1.as_str());
    }
    let newest: BTreeSet<(&str, &str)> = versions
        .iter()
        .flat_map(|(product, names)| names.iter().rev().take(keep).map(move |v| (*product, *v)))
        .collect();
    passing
        .into_iter()
        .filter(|item| newest.contains(&(item.key.0.as_str(), item.key.1.as_str())))
        .collect()
}

/// `doc` with only the items `kept` names (and no version or product left empty).
pub fn cut(doc: &Value, kept: &BTreeSet<(String, String, String)>) -> Value {
    let mut doc = doc.clone();
    if let Some(products) = doc.get_mut("products").and_then(Value::as_object_mut) {
        products.retain(|product_name, product| {
            let Some(versions) = product.get_mut("versions").and_then(Value::as_object_mut) else {
                return false;
            };
            versions.retain(|version_name, version| {
                let Some(items) = version.get_mut("items").and_then(Value::as_object_mut) else {
                    return false;
                };
                items.retain(|item_name, _| {
                    kept.contains(&(
                        product_name.clone(),
                        version_name.clone(),
                        item_name.clone(),
                    ))
                });
                !items.is_empty()
            });
            !versions.is_empty()
        });
    }
    doc
}

/// The index with only `kept` content ids, each listing only its kept products, its
/// paths ending in `extension` (`.sjson` in the signed index, `.json` in its twin).
pub fn index_for(
    index: &Value,
    kept: &BTreeMap<String, BTreeSet<String>>,
    extension: &str,
) -> Value {
    let mut index = index.clone();
    if let Some(entries) = index.get_mut("index").and_then(Value::as_object_mut) {
        entries.retain(|content_id, _| kept.contains_key(content_id));
        for (content_id, entry) in entries.iter_mut() {
            if let Some(products) = kept.get(content_id) {
                entry["products"] =
                    Value::Array(products.iter().cloned().map(Value::String).collect());
            }
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                let signed = signed_path(path);
                let stem = signed.strip_suffix(".sjson").unwrap_or(&signed);
                entry["path"] = Value::String(format!("{stem}{extension}"));
            }
        }
    }
    index
}
