//! The two documents of a stream, read as JSON values (fields this crate does not know
//! are kept as they are): the index (`format: index:1.0`, each product file by content
//! id) and a product file (`format: products:1.0`: products, their versions, their
//! items). An item's attributes are its own and those it inherits from its version, its
//! product and its file, as `sstream-mirror`'s filters see them.

use std::borrow::Cow;
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

/// A stream file's name with `extension` (`.sjson` or `.json`) for the one it has.
pub fn with_extension(path: &str, extension: &str) -> String {
    let stem = path
        .strip_suffix(".sjson")
        .or_else(|| path.strip_suffix(".json"))
        .unwrap_or(path);
    format!("{stem}{extension}")
}

/// The signed name of a stream file: `.json` paths name their `.sjson` twin.
pub fn signed_path(path: &str) -> String {
    with_extension(path, ".sjson")
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

/// One downloadable item of a product file, borrowing from the parsed file: its
/// attributes are looked up through its layers (the item, its version, its product, the
/// file) rather than copied, which at MAAS scale (tens of thousands of items) was most
/// of the plan's time.
#[derive(Debug, Clone)]
pub struct Item<'d> {
    /// `(product, version, item)` names.
    pub key: (&'d str, &'d str, &'d str),
    /// Its path below the stream root, checked.
    pub path: &'d str,
    /// SHA-256, 64 lowercase hex digits; empty for an item with only a weak checksum.
    pub sha256: String,
    /// `("md5" | "sha1", hex)` of an item that states no SHA-256, when weak checksums
    /// are allowed.
    pub weak: Option<(&'static str, String)>,
    /// Size in bytes, when stated.
    pub size: Option<u64>,
    /// The item's object, its version's, its product's, the file's: the first that has a
    /// key gives its value.
    layers: [&'d Map<String, Value>; 4],
}

/// Keys that hold the levels below, never attributes.
const NESTING: [&str; 3] = ["products", "versions", "items"];

impl<'d> Item<'d> {
    /// An attribute as filters see it: `product_name`, `version_name`, `item_name`, or
    /// a scalar of the item or inherited from its version, product or file (as text).
    pub fn attribute(&self, key: &str) -> Option<Cow<'d, str>> {
        match key {
            "product_name" => return Some(Cow::Borrowed(self.key.0)),
            "version_name" => return Some(Cow::Borrowed(self.key.1)),
            "item_name" => return Some(Cow::Borrowed(self.key.2)),
            _ if NESTING.contains(&key) => return None,
            _ => {}
        }
        self.layers.iter().find_map(|layer| match layer.get(key)? {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        })
    }
}

/// Every item of the product file `doc`, checked: a path that is not a plain relative
/// path is refused, and so is an item with no usable SHA-256 unless `allow_weak` (then
/// one with an md5 or sha1 is taken, [`Item::weak`]; one with none is still refused).
pub fn items<'d>(
    doc: &'d Value,
    origin: &str,
    allow_weak: bool,
) -> Result<Vec<Item<'d>>, SimplestreamsError> {
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
    let mut out = Vec::new();
    for (product_name, product) in products {
        let product = product
            .as_object()
            .ok_or_else(|| bad(format!("product {product_name}: not an object")))?;
        let Some(versions) = product.get("versions").and_then(Value::as_object) else {
            continue;
        };
        for (version_name, version) in versions {
            let Some(version) = version.as_object() else {
                return Err(bad(format!("{product_name} {version_name}: not an object")));
            };
            let Some(items) = version.get("items").and_then(Value::as_object) else {
                continue;
            };
            for (item_name, item) in items {
                let name = || format!("{product_name} {version_name} {item_name}");
                let Some(object) = item.as_object() else {
                    return Err(bad(format!("{}: not an object", name())));
                };
                let mut item = Item {
                    key: (product_name, version_name, item_name),
                    path: "",
                    sha256: String::new(),
                    weak: None,
                    size: None,
                    layers: [object, version, product, top],
                };
                item.path = match item.attribute("path") {
                    Some(Cow::Borrowed(path)) => path,
                    _ => return Err(bad(format!("{}: no path", name()))),
                };
                mirror_paths::check_relative(item.path)
                    .map_err(|e| bad(format!("{}: path {:?}: {e}", name(), item.path)))?;
                item.sha256 = match item.attribute("sha256") {
                    Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        hex.to_ascii_lowercase()
                    }
                    Some(other) => {
                        return Err(bad(format!(
                            "{}: sha256 {other:?} is not 64 hex digits",
                            name()
                        )));
                    }
                    None => {
                        let weak =
                            [("md5", 32), ("sha1", 40)]
                                .into_iter()
                                .find_map(|(algorithm, len)| {
                                    let hex = item.attribute(algorithm)?;
                                    (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                                        .then(|| (algorithm, hex.to_ascii_lowercase()))
                                });
                        match weak {
                            Some(weak) if allow_weak => {
                                item.weak = Some(weak);
                                String::new()
                            }
                            _ => {
                                return Err(SimplestreamsError::WeakChecksum {
                                    origin: origin.to_owned(),
                                    item: name(),
                                });
                            }
                        }
                    }
                };
                item.size =
                    match item.attribute("size") {
                        Some(text) => Some(text.parse().map_err(|_| {
                            bad(format!("{}: size {text:?} is not a number", name()))
                        })?),
                        None => None,
                    };
                out.push(item);
            }
        }
    }
    Ok(out)
}

/// The items `selection` keeps, then the newest `keep_versions` version names of
/// each product among them (version names sort as text, as simplestreams sorts them).
pub fn select<'i, 'd>(
    items: &'i [Item<'d>],
    selection: &crate::filter::Selection,
    keep_versions: Option<usize>,
) -> Vec<&'i Item<'d>> {
    let passing: Vec<&Item<'d>> = items
        .iter()
        .filter(|item| selection.matches(|key| item.attribute(key)))
        .collect();
    let Some(keep) = keep_versions else {
        return passing;
    };
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for item in &passing {
        versions.entry(item.key.0).or_default().insert(item.key.1);
    }
    let newest: BTreeSet<(&str, &str)> = versions
        .iter()
        .flat_map(|(product, names)| names.iter().rev().take(keep).map(move |v| (*product, *v)))
        .collect();
    passing
        .into_iter()
        .filter(|item| newest.contains(&(item.key.0, item.key.1)))
        .collect()
}

/// `doc` with only the items `kept` names (and no version or product left empty). Only
/// what is kept is copied: a MAAS product file is tens of MB of JSON, a selection a few
/// products of it.
pub fn cut(doc: &Value, kept: &BTreeSet<(String, String, String)>) -> Value {
    let Some(top) = doc.as_object() else {
        return doc.clone();
    };
    let mut tree: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for (product, version, item) in kept {
        tree.entry(product)
            .or_default()
            .entry(version)
            .or_default()
            .insert(item);
    }
    // An object's fields but `nested`, and under `nested` what `fill` makes of it.
    let without = |object: &Map<String, Value>, nested: &str| -> Map<String, Value> {
        object
            .iter()
            .filter(|(key, _)| *key != nested)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    let products = top.get("products").and_then(Value::as_object);
    let mut kept_products = Map::new();
    for (product_name, versions) in &tree {
        let Some(product) = products
            .and_then(|p| p.get(*product_name))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let all_versions = product.get("versions").and_then(Value::as_object);
        let mut kept_versions = Map::new();
        for (version_name, items) in versions {
            let Some(version) = all_versions
                .and_then(|v| v.get(*version_name))
                .and_then(Value::as_object)
            else {
                continue;
            };
            let all_items = version.get("items").and_then(Value::as_object);
            let kept_items: Map<String, Value> = items
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), all_items?.get(*name)?.clone())))
                .collect();
            if kept_items.is_empty() {
                continue;
            }
            let mut out = without(version, "items");
            out.insert("items".into(), Value::Object(kept_items));
            kept_versions.insert((*version_name).to_owned(), Value::Object(out));
        }
        if kept_versions.is_empty() {
            continue;
        }
        let mut out = without(product, "versions");
        out.insert("versions".into(), Value::Object(kept_versions));
        kept_products.insert((*product_name).to_owned(), Value::Object(out));
    }
    let mut out = without(top, "products");
    out.insert("products".into(), Value::Object(kept_products));
    Value::Object(out)
}

/// The index with only `kept` content ids, each listing only its kept products (all of
/// them when `kept` is `None`), its paths ending in `extension` (`.sjson` in the signed index, `.json` in its twin).
pub fn index_for(
    index: &Value,
    kept: Option<&BTreeMap<String, BTreeSet<String>>>,
    extension: &str,
) -> Value {
    let mut index = index.clone();
    if let Some(entries) = index.get_mut("index").and_then(Value::as_object_mut) {
        if let Some(kept) = kept {
            entries.retain(|content_id, _| kept.contains_key(content_id));
        }
        for (content_id, entry) in entries.iter_mut() {
            if let Some(products) = kept.and_then(|kept| kept.get(content_id)) {
                entry["products"] =
                    Value::Array(products.iter().cloned().map(Value::String).collect());
            }
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                entry["path"] = Value::String(with_extension(path, extension));
            }
        }
    }
    index
}
