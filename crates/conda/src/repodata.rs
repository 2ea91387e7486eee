//! The lazy `repodata.json` parser: one pass over the buffer that yields a borrowed view.
//!
//! A channel's `repodata.json` is a map of package file name to record. A mirror copies
//! records through unchanged and needs typed records only for the few it must match
//! against specs, so [`RepoDataView::parse`] keeps every record as a [`RawValue`] slice of
//! the input (no allocation per field) and leaves typing to the callers that need it
//! ([`crate::record`], [`crate::select`]). That is what makes it several times faster than a
//! typed parse and keeps its memory close to the size of the input.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Which of the two record maps of a `repodata.json` a record is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordMap {
    /// `packages`: `.tar.bz2` archives.
    Packages,
    /// `packages.conda`: `.conda` archives.
    PackagesConda,
}

impl RecordMap {
    /// The map's key in `repodata.json`.
    pub fn key(self) -> &'static str {
        match self {
            RecordMap::Packages => "packages",
            RecordMap::PackagesConda => "packages.conda",
        }
    }
}

/// One record: its file name, the map it is filed under and its JSON exactly as upstream
/// wrote it.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// The package file name (the map key).
    pub filename: Cow<'a, str>,
    /// The map holding it.
    pub map: RecordMap,
    /// The record's JSON text, borrowed from the input.
    pub raw: &'a RawValue,
}

/// `info` fields a mirror acts on.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelInfo<'a> {
    /// The subdir this file describes.
    #[serde(borrow, default)]
    pub subdir: Option<Cow<'a, str>>,
    /// repodata_version 2: where packages are downloaded from (absolute, or relative to
    /// the `repodata.json` URL).
    #[serde(borrow, default)]
    pub base_url: Option<Cow<'a, str>>,
}

/// A parsed `repodata.json`, borrowing from the buffer it was parsed from.
///
/// Records of each map are sorted by file name; when a map names a file twice, the last
/// record wins (what `json.load` and serde maps do) and [`RepoDataView::duplicates`]
/// counts the others.
#[derive(Debug, Clone, Default)]
pub struct RepoDataView<'a> {
    /// The `info` object as written upstream, when present.
    pub info_raw: Option<&'a RawValue>,
    /// The fields of `info` the mirror uses.
    pub info: ChannelInfo<'a>,
    /// `repodata_version`, when present.
    pub repodata_version: Option<u64>,
    /// Every record: `packages` first, then `packages.conda`, each sorted by file name.
    pub records: Vec<RawRecord<'a>>,
    /// `removed`: file names upstream withdrew from the index.
    pub removed: Vec<Cow<'a, str>>,
    /// Records dropped because their map named the same file again later.
    pub duplicates: usize,
}

/// The top-level object, field by field; unknown keys (`signatures`, `_etag`...) are skipped.
#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow, default)]
    info: Option<&'a RawValue>,
    #[serde(borrow, default)]
    packages: Option<Entries<'a>>,
    #[serde(borrow, default, rename = "packages.conda")]
    packages_conda: Option<Entries<'a>>,
    #[serde(borrow, default)]
    removed: Option<Vec<Key<'a>>>,
    #[serde(default)]
    repodata_version: Option<u64>,
}

/// A string that borrows from the input unless JSON escapes forced a copy. (serde's own
/// `Cow<str>` impl always copies when nested in an `Option` or a tuple.)
#[derive(Debug)]
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A record map as a list, in input order.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of package file names to records")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1024));
                while let Some((key, raw)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((key.0, raw));
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

impl<'a> RepoDataView<'a> {
    /// Parse `repodata.json` text. Records stay raw; `info` is read for `subdir` and
    /// `base_url` only. Fails on anything that is not a JSON object of the expected shape.
    pub fn parse(json: &'a [u8]) -> Result<Self, serde_json::Error> {
        // serde's derived struct visitors also accept arrays (fields by position): only an
        // object is a repodata.json.
        let not_object = |what: &str| {
            <serde_json::Error as de::Error>::custom(format!("{what} must be a JSON object"))
        };
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // Let serde_json report syntax errors with their position first.
            serde_json::from_slice::<serde::de::IgnoredAny>(json)?;
            return Err(not_object("repodata.json"));
        }
        let top: TopLevel<'a> = serde_json::from_slice(json)?;
        let info = match top.info {
            Some(raw) if raw.get() == "null" => ChannelInfo::default(),
            Some(raw) if raw.get().starts_with('{') => ChannelInfo::deserialize(raw)?,
            Some(_) => return Err(not_object("info")),
            None => ChannelInfo::default(),
        };
        let mut duplicates = 0;
        let mut records = Vec::new();
        for (map, entries) in [
            (RecordMap::Packages, top.packages),
            (RecordMap::PackagesConda, top.packages_conda),
        ] {
            let Some(Entries(mut entries)) = entries else {
                continue;
            };
            // Stable sort, then keep the last of equal names: serde-map semantics.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let before = entries.len();
            let mut kept: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::with_capacity(before);
            for entry in entries {
                match kept.last_mut() {
                    Some(last) if last.0 == entry.0 => *last = entry,
                    _ => kept.push(entry),
                }
            }
            duplicates += before - kept.len();
            records.extend(kept.into_iter().map(|(filename, raw)| RawRecord {
                filename,
                map,
                raw,
            }));
        }
        let mut removed: Vec<Cow<'a, str>> = top
            .removed
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.0)
            .collect();
        removed.sort();
        removed.dedup();
        Ok(Self {
            info_raw: top.info.filter(|raw| raw.get() != "null"),
            info,
            repodata_version: top.repodata_version,
            records,
            removed,
            duplicates,
        })
    }

    /// Records filed under `map`.
    pub fn records_in(&self, map: RecordMap) -> impl Iterator<Item = &RawRecord<'a>> {
        self.records.iter().filter(move |r| r.map == map)
    }

    /// Look a record up by map and file name.
    pub fn get(&self, map: RecordMap, filename: &str) -> Option<&RawRecord<'a>> {
        let start = self.records.partition_point(|r| r.map < map);
        let slice = &self.records[start..];
        let end = slice.partition_point(|r| r.map == map);
        let slice = &slice[..end];
        slice
            .binary_search_by(|r| r.filename.as_ref().cmp(filename))
            .ok()
            .map(|i| &slice[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "info": {"subdir": "linux-64", "base_url": "../pkgs/"},
      "packages": {
        "b-1-0.tar.bz2": {"name": "b", "version": "1", "build": "0"},
        "a-1-0.tar.bz2": {"name": "a",  "version": "1", "build": "0"},
        "b-1-0.tar.bz2": {"name": "b", "version": "1", "build": "0", "later": true}
      },
      "packages.conda": {"a-1-0.conda": {"name": "a"}},
      "removed": ["z-0-0.tar.bz2", "y\u002d0-0.tar.bz2"],
      "signatures": {"x": 1},
      "repodata_version": 2
    }"#;

    #[test]
    fn parses_lazily_and_keeps_record_text() {
        let view = RepoDataView::parse(SAMPLE.as_bytes()).expect("valid");
        assert_eq!(view.info.subdir.as_deref(), Some("linux-64"));
        assert_eq!(view.info.base_url.as_deref(), Some("../pkgs/"));
        assert_eq!(view.repodata_version, Some(2));
        let names: Vec<_> = view.records.iter().map(|r| r.filename.as_ref()).collect();
        assert_eq!(names, ["a-1-0.tar.bz2", "b-1-0.tar.bz2", "a-1-0.conda"]);
        // The raw text is exactly the input's, spacing included.
        assert_eq!(
            view.records[0].raw.get(),
            r#"{"name": "a",  "version": "1", "build": "0"}"#
        );
        // Duplicate key: the last one wins.
        assert!(view.records[1].raw.get().contains("later"));
        assert_eq!(view.duplicates, 1);
        // Escaped strings are decoded.
        assert_eq!(view.removed, ["y-0-0.tar.bz2", "z-0-0.tar.bz2"]);
        let found = view
            .get(RecordMap::PackagesConda, "a-1-0.conda")
            .expect("present");
        assert_eq!(found.raw.get(), r#"{"name": "a"}"#);
        assert!(view.get(RecordMap::Packages, "a-1-0.conda").is_none());
    }

    #[test]
    fn minimal_and_invalid_inputs() {
        let view = RepoDataView::parse(b"{}").expect("empty object is a valid, empty index");
        assert!(view.records.is_empty() && view.info_raw.is_none());
        let view = RepoDataView::parse(br#"{"info": null, "packages": {}}"#).expect("null info");
        assert!(view.info_raw.is_none());
        for bad in [
            &b"[]"[..],
            b"{",
            b"{\"packages\": []}",
            b"",
            b"{\"repodata_version\": \"x\"}",
            b"{\"info\": [\"linux-64\"]}",
            b"{} trailing",
        ] {
            assert!(
                RepoDataView::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
