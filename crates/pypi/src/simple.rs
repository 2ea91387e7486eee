//! A project's page of the simple repository API: read from PEP 691 JSON or PEP 503
//! HTML, written as both.
//!
//! Reading is lenient where clients are (unknown keys ignored, as PEP 691 requires) and
//! strict where the mirror's safety depends on it: a file name that is not one plain path
//! component, or a `sha256` that is not 64 hex digits, fails the page, naming it. Files
//! that are neither wheels nor sdists (`.egg`, `.exe`, ...) are left out and counted.
//!
//! The PEP 658 metadata key is read under its PEP 714 name `core-metadata` and its older
//! spellings (`dist-info-metadata`, and `data-dist-info-metadata` as PyPI's JSON once
//! wrote it), and written only as `core-metadata` in JSON (pip releases crash on the old
//! JSON key) and as both `data-core-metadata` and `data-dist-info-metadata` in HTML (PEP
//! 714 allows both there, and older clients read only the second).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::filename::DistFilename;

/// The simple API version this module writes (PEP 700: `versions`, `size`, `upload-time`).
pub const API_VERSION: &str = "1.1";

/// A page that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct PageError {
    /// The page's URL or path.
    pub origin: String,
    /// What is wrong.
    pub reason: String,
}

/// Whether a file's core metadata (its `METADATA`, PEP 658) is served beside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CoreMetadata {
    /// Not served.
    #[default]
    Absent,
    /// Served, with no digest given.
    Unhashed,
    /// Served, with these digests (`sha256` → hex).
    Hashes(BTreeMap<String, String>),
}

/// One distribution file of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The file's name (checked: one plain path component, a wheel or an sdist).
    pub filename: String,
    /// Where it is: absolute, or relative to the page.
    pub url: String,
    /// Its digests (`sha256` → 64 lowercase hex digits, checked).
    pub hashes: BTreeMap<String, String>,
    /// `Requires-Python` of the file, when the index states it.
    pub requires_python: Option<String>,
    /// Its PEP 658 metadata file.
    pub core_metadata: CoreMetadata,
    /// `Some(reason)` (possibly empty) when the file is yanked (PEP 592).
    pub yanked: Option<String>,
    /// Its size in bytes, when stated.
    pub size: Option<u64>,
    /// When it was uploaded (`yyyy-mm-ddThh:mm:ss.ffffffZ`), when stated.
    pub upload_time: Option<String>,
}

impl File {
    /// The file's SHA-256 (hex), when the index states it.
    pub fn sha256(&self) -> Option<&str> {
        self.hashes.get("sha256").map(String::as_str)
    }
}

/// A project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// The project's normalised name.
    pub name: String,
    /// The versions the page lists (PEP 700), in its order.
    pub versions: Vec<String>,
    /// The wheels and sdists.
    pub files: Vec<File>,
    /// Files left out for being neither a wheel nor an sdist.
    pub other_files: usize,
}

#[derive(Deserialize)]
struct RawPage {
    name: String,
    #[serde(default)]
    versions: Vec<String>,
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    url: String,
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<serde_json::Value>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<serde_json::Value>,
    #[serde(rename = "data-dist-info-metadata", default)]
    data_dist_info_metadata: Option<serde_json::Value>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
}

impl ProjectPage {
    /// The page of a project the index does not have: no versions, no files.
    pub fn empty(name: &str) -> Self {
        ProjectPage {
            name: name.to_owned(),
            versions: Vec::new(),
            files: Vec::new(),
            other_files: 0,
        }
    }

    /// Reads a PEP 691 JSON project page; `origin` names it in errors.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self, PageError> {
        let error = |reason: String| PageError {
            origin: origin.to_owned(),
            reason,
        };
        let raw: RawPage = serde_json::from_slice(bytes)
            .map_err(|e| error(format!("not a PEP 691 project page: {e}")))?;
        let name = crate::name::normalize(&raw.name).map_err(|e| error(e.to_string()))?;
        let mut files = Vec::with_capacity(raw.files.len());
        let mut other_files = 0;
        for file in raw.files {
            let unsafe_name = mirror_paths::check_relative(&file.filename).is_err()
                || file.filename.contains('/');
            if unsafe_name {
                return Err(error(format!(
                    "file name {:?} is not a plain name",
                    file.filename
                )));
            }
            if DistFilename::parse(&file.filename).is_err() {
                other_files += 1;
                continue;
            }
            for (algorithm, digest) in &file.hashes {
                let hex = digest.len() == 64
                    && digest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if algorithm == "sha256" && !hex {
                    return Err(error(format!(
                        "{}: sha256 {digest:?} is not 64 lowercase hex digits",
                        file.filename
                    )));
                }
            }
            let metadata = file
                .core_metadata
                .or(file.dist_info_metadata)
                .or(file.data_dist_info_metadata);
            let core_metadata = match metadata {
                None | Some(serde_json::Value::Bool(false)) => CoreMetadata::Absent,
                Some(serde_json::Value::Bool(true)) => CoreMetadata::Unhashed,
                Some(serde_json::Value::Object(map)) => CoreMetadata::Hashes(
                    map.into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                        .collect(),
                ),
                Some(other) => {
                    return Err(error(format!(
                        "{}: core-metadata {other} is neither a boolean nor a map of digests",
                        file.filename
                    )));
                }
            };
            let yanked = match file.yanked {
                None | Some(serde_json::Value::Bool(false)) => None,
                Some(serde_json::Value::Bool(true)) => Some(String::new()),
                Some(serde_json::Value::String(reason)) => Some(reason),
                Some(other) => {
                    return Err(error(format!(
                        "{}: yanked {other} is neither a boolean nor a reason",
                        file.filename
                    )));
                }
            };
            files.push(File {
                filename: file.filename,
                url: file.url,
                hashes: file.hashes,
                requires_python: file.requires_python,
                core_metadata,
                yanked,
                size: file.size,
                upload_time: file.upload_time,
            });
        }
        Ok(ProjectPage {
            name,
            versions: raw.versions,
            files,
            other_files,
        })
    }

    /// Reads a PEP 503 HTML project page of `project` (an HTML page names no project;
    /// the URL it was asked at does); `origin` names it in errors. Each `<a>` is a file:
    /// its text the file name, its `href` the URL with a `#sha256=` fragment, and the
    /// `data-requires-python`, `data-yanked` and `data-core-metadata` (or
    /// `data-dist-info-metadata`) attributes, entities decoded.
    pub fn from_html(bytes: &[u8], project: &str, origin: &str) -> Result<Self, PageError> {
        let error = |reason: String| PageError {
            origin: origin.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| error(format!("not UTF-8: {e}")))?;
        let dom = tl::parse(text, tl::ParserOptions::default())
            .map_err(|e| error(format!("not HTML: {e}")))?;
        let parser = dom.parser();
        let name = crate::name::normalize(project).map_err(|e| error(e.to_string()))?;
        let decode = |value: &tl::Bytes<'_>| {
            html_escape::decode_html_entities(value.as_utf8_str().as_ref()).into_owned()
        };
        let mut files = Vec::new();
        let mut other_files = 0;
        let anchors = dom
            .query_selector("a")
            .ok_or_else(|| error("cannot select anchors".into()))?;
        for handle in anchors {
            let Some(tag) = handle.get(parser).and_then(tl::Node::as_tag) else {
                continue;
            };
            let attributes = tag.attributes();
            let attribute = |key: &str| attributes.get(key).map(|value| value.map(decode));
            let Some(Some(href)) = attribute("href") else {
                continue;
            };
            let filename =
                html_escape::decode_html_entities(tag.inner_text(parser).trim()).into_owned();
            let unsafe_name =
                mirror_paths::check_relative(&filename).is_err() || filename.contains('/');
            if unsafe_name {
                return Err(error(format!("file name {filename:?} is not a plain name")));
            }
            if DistFilename::parse(&filename).is_err() {
                other_files += 1;
                continue;
            }
            let (url, fragment) = match href.split_once('#') {
                Some((url, fragment)) => (url.to_owned(), Some(fragment.to_owned())),
                None => (href.clone(), None),
            };
            let mut hashes = BTreeMap::new();
            if let Some((algorithm, digest)) = fragment.as_deref().and_then(|f| f.split_once('=')) {
                hashes.insert(algorithm.to_owned(), digest.to_owned());
            }
            if let Some(digest) = hashes.get("sha256")
                && !is_sha256_hex(digest)
            {
                return Err(error(format!(
                    "{filename}: sha256 {digest:?} is not 64 lowercase hex digits"
                )));
            }
            let metadata = attribute("data-core-metadata")
                .or_else(|| attribute("data-dist-info-metadata"))
                .flatten();
            let core_metadata = match metadata.as_deref() {
                None | Some("false") => CoreMetadata::Absent,
                Some("true") | Some("") => CoreMetadata::Unhashed,
                Some(value) => match value.split_once('=') {
                    Some((algorithm, digest)) => {
                        CoreMetadata::Hashes([(algorithm.to_owned(), digest.to_owned())].into())
                    }
                    None => {
                        return Err(error(format!(
                            "{filename}: data-core-metadata {value:?} is neither true nor \
                             <algorithm>=<digest>"
                        )));
                    }
                },
            };
            files.push(File {
                filename,
                url,
                hashes,
                requires_python: attribute("data-requires-python").flatten(),
                core_metadata,
                yanked: attribute("data-yanked").map(Option::unwrap_or_default),
                size: None,
                upload_time: None,
            });
        }
        Ok(ProjectPage {
            name,
            versions: Vec::new(),
            files,
            other_files,
        })
    }

    /// The page as PEP 691 JSON (`application/vnd.pypi.simple.v1+json`), keys sorted.
    pub fn to_json(&self) -> Vec<u8> {
        use serde_json::{Map, Value, json};
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|file| {
                let mut entry = Map::new();
                entry.insert("filename".into(), file.filename.clone().into());
                entry.insert("url".into(), file.url.clone().into());
                entry.insert("hashes".into(), json!(file.hashes));
                if let Some(requires) = &file.requires_python {
                    entry.insert("requires-python".into(), requires.clone().into());
                }
                match &file.core_metadata {
                    CoreMetadata::Absent => {}
                    CoreMetadata::Unhashed => {
                        entry.insert("core-metadata".into(), true.into());
                    }
                    CoreMetadata::Hashes(hashes) => {
                        entry.insert("core-metadata".into(), json!(hashes));
                    }
                }
                entry.insert(
                    "yanked".into(),
                    match &file.yanked {
                        None => false.into(),
                        Some(reason) if reason.is_empty() => true.into(),
                        Some(reason) => reason.clone().into(),
                    },
                );
                if let Some(size) = file.size {
                    entry.insert("size".into(), size.into());
                }
                if let Some(time) = &file.upload_time {
                    entry.insert("upload-time".into(), time.clone().into());
                }
                Value::Object(entry)
            })
            .collect();
        let page = json!({
            "meta": {"api-version": API_VERSION},
            "name": self.name,
            "versions": self.versions,
            "files": files,
        });
        let mut bytes = serde_json::to_vec(&page).expect("a page always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// The page as PEP 503 HTML (`application/vnd.pypi.simple.v1+html`, also served as
    /// `text/html`).
    pub fn to_html(&self) -> String {
        let name = escape(&self.name);
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
             content=\"{API_VERSION}\">\n    <title>Links for {name}</title>\n  </head>\n  \
             <body>\n    <h1>Links for {name}</h1>\n"
        );
        for file in &self.files {
            let mut href = file.url.clone();
            if let Some(sha256) = file.sha256() {
                let _ = write!(href, "#sha256={sha256}");
            }
            let _ = write!(html, "    <a href=\"{}\"", escape(&href));
            if let Some(requires) = &file.requires_python {
                let _ = write!(html, " data-requires-python=\"{}\"", escape(requires));
            }
            let metadata = match &file.core_metadata {
                CoreMetadata::Absent => None,
                CoreMetadata::Unhashed => Some("true".to_owned()),
                CoreMetadata::Hashes(hashes) => Some(match hashes.get("sha256") {
                    Some(sha256) => format!("sha256={sha256}"),
                    None => "true".to_owned(),
                }),
            };
            if let Some(value) = metadata {
                let value = escape(&value);
                let _ = write!(
                    html,
                    " data-core-metadata=\"{value}\" data-dist-info-metadata=\"{value}\""
                );
            }
            match &file.yanked {
                None => {}
                Some(reason) if reason.is_empty() => html.push_str(" data-yanked"),
                Some(reason) => {
                    let _ = write!(html, " data-yanked=\"{}\"", escape(reason));
                }
            }
            let _ = writeln!(html, ">{}</a><br />", escape(&file.filename));
        }
        html.push_str("  </body>\n</html>\n");
        html
    }
}

/// The index's root page as PEP 503 HTML: one link per project (`<name>/`).
pub fn root_html(names: &[String]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"{API_VERSION}\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
    );
    for name in names {
        let name = escape(name);
        let _ = writeln!(html, "    <a href=\"{name}/\">{name}</a><br />");
    }
    html.push_str("  </body>\n</html>\n");
    html
}

/// The index's root page as PEP 691 JSON.
pub fn root_json(names: &[String]) -> Vec<u8> {
    let projects: Vec<serde_json::Value> = names
        .iter()
        .map(|name| serde_json::json!({ "name": name }))
        .collect();
    let root = serde_json::json!({
        "meta": {"api-version": API_VERSION},
        "projects": projects,
    });
    let mut bytes = serde_json::to_vec(&root).expect("a root page always serialises");
    bytes.push(b'\n');
    bytes
}

/// 64 lowercase hex digits.
fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Text for an HTML attribute or element: `&`, `<`, `>`, `"` and `'` as entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
