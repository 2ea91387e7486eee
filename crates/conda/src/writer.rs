//! Writing a `repodata.json` that holds chosen records of a [`RepoDataView`], each copied
//! through byte for byte.
//!
//! The output is deterministic (keys sorted, records in file-name order, fixed layout), so
//! the same upstream index and selection always give the same bytes and the same digest.
//! `info` is copied unchanged unless it carries a `base_url`, which is dropped: packages
//! of the mirror live next to its index, and a `base_url` would send clients upstream.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use serde_json::value::RawValue;

use crate::repodata::{RecordMap, RepoDataView};

/// Write the index. `keep(i)` says whether `view.records[i]` is included; `subdir` is
/// written into `info` when upstream had no `info`.
pub fn write_repodata(
    view: &RepoDataView<'_>,
    subdir: &str,
    mut keep: impl FnMut(usize) -> bool,
) -> Vec<u8> {
    let kept_bytes: usize = view.records.iter().map(|r| r.raw.get().len() + 64).sum();
    let mut out = Vec::with_capacity(kept_bytes / 2 + 256);
    out.extend_from_slice(b"{\n \"info\": ");
    write_info(&mut out, view, subdir);
    out.extend_from_slice(b",\n");
    for map in [RecordMap::Packages, RecordMap::PackagesConda] {
        out.extend_from_slice(b" ");
        push_json_string(&mut out, map.key());
        out.extend_from_slice(b": {");
        let mut first = true;
        for (i, record) in view.records.iter().enumerate() {
            if record.map != map || !keep(i) {
                continue;
            }
            out.extend_from_slice(if first { b"\n  " } else { b",\n  " });
            first = false;
            push_json_string(&mut out, &record.filename);
            out.extend_from_slice(b": ");
            out.extend_from_slice(record.raw.get().as_bytes());
        }
        out.extend_from_slice(if first { b"},\n" } else { b"\n },\n" });
    }
    out.extend_from_slice(b" \"removed\": [");
    for (i, name) in view.removed.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n  " } else { b",\n  " });
        push_json_string(&mut out, name);
    }
    out.extend_from_slice(if view.removed.is_empty() {
        b"],\n"
    } else {
        b"\n ],\n"
    });
    // Absent means version 1; a version 2 index without base_url is still valid.
    let version = view.repodata_version.unwrap_or(1);
    write!(out, " \"repodata_version\": {version}\n}}\n").expect("writing to a Vec cannot fail");
    out
}

/// `current_repodata.json`: the records of the newest version of each name (every build
/// of it), in the same layout as [`write_repodata`]. conda asks for it before
/// `repodata.json` and falls back to the full index when a solve needs an older version,
/// so the newest versions alone are a correct (and the smallest) answer. A record whose
/// version does not parse is kept (the full index decides for it).
pub fn write_current_repodata(view: &RepoDataView<'_>, subdir: &str) -> Vec<u8> {
    use rattler_conda_types::Version;
    use rayon::prelude::*;
    use std::collections::HashMap;
    use std::str::FromStr;
    #[derive(serde::Deserialize)]
    struct NameVersion<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        version: Cow<'a, str>,
    }
    fn name_version(raw: &str) -> Option<(Cow<'_, str>, Version)> {
        let fields: NameVersion<'_> = serde_json::from_str(raw).ok()?;
        Some((fields.name, Version::from_str(&fields.version).ok()?))
    }
    // The newest version of each name, folded on every core: a parsed version is ~200
    // bytes, so holding one per record (465k for conda-forge's linux-64) was 106 MB.
    // Each record's version is parsed again below to compare, which costs less than
    // keeping it.
    let newest: HashMap<Cow<'_, str>, Version> = view
        .records
        .par_iter()
        .fold(HashMap::new, |mut newest, record| {
            if let Some((name, version)) = name_version(record.raw.get()) {
                match newest.get_mut(&name) {
                    Some(best) if *best >= version => {}
                    Some(best) => *best = version,
                    None => {
                        newest.insert(name, version);
                    }
                }
            }
            newest
        })
        .reduce(HashMap::new, |mut left, right| {
            for (name, version) in right {
                match left.get_mut(&name) {
                    Some(best) if *best >= version => {}
                    Some(best) => *best = version,
                    None => {
                        left.insert(name, version);
                    }
                }
            }
            left
        });
    let keep: Vec<bool> = view
        .records
        .par_iter()
        .map(|record| match name_version(record.raw.get()) {
            Some((name, version)) => newest.get(&name).is_some_and(|best| *best == version),
            None => true,
        })
        .collect();
    write_repodata(view, subdir, |i| keep[i])
}

/// `info` as upstream wrote it, minus `base_url`; `{"subdir": ...}` when absent.
fn write_info(out: &mut Vec<u8>, view: &RepoDataView<'_>, subdir: &str) {
    match view.info_raw {
        Some(raw) if view.info.base_url.is_none() => out.extend_from_slice(raw.get().as_bytes()),
        Some(raw) => {
            // Re-emit the other keys unchanged, sorted. `info` parsed as a map already
            // (RepoDataView::parse read its fields), so this cannot fail on valid input;
            // fall back to a minimal info if it somehow does.
            match serde_json::from_str::<BTreeMap<Cow<'_, str>, &RawValue>>(raw.get()) {
                Ok(fields) => {
                    out.push(b'{');
                    let mut first = true;
                    for (key, value) in fields.iter().filter(|(k, _)| k.as_ref() != "base_url") {
                        if !first {
                            out.extend_from_slice(b", ");
                        }
                        first = false;
                        push_json_string(out, key);
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(value.get().as_bytes());
                    }
                    out.push(b'}');
                }
                Err(_) => write_minimal_info(out, subdir),
            }
        }
        None => write_minimal_info(out, subdir),
    }
}

fn write_minimal_info(out: &mut Vec<u8>, subdir: &str) {
    out.extend_from_slice(b"{\"subdir\": ");
    push_json_string(out, subdir);
    out.push(b'}');
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("serialising a str to a Vec cannot fail");
}

/// A valid empty index for `subdir` (clients need `noarch/repodata.json` even when
/// upstream has none).
pub fn empty_repodata(subdir: &str) -> Vec<u8> {
    write_repodata(&RepoDataView::default(), subdir, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_repodata_keeps_every_build_of_the_newest_version_only() {
        let json = br#"{"info": {"subdir": "linux-64"},
          "packages": {"a-1.9-0.tar.bz2": {"name": "a", "version": "1.9"},
                       "a-1.10-0.tar.bz2": {"name": "a", "version": "1.10"}},
          "packages.conda": {"a-1.10-1.conda": {"name": "a", "version": "1.10"},
                             "b-2.0-0.conda": {"name": "b", "version": "2.0"},
                             "b-10.0a1-0.conda": {"name": "b", "version": "10.0a1"},
                             "c-x-0.conda": {"name": "c", "version": "not a version!"}}}"#;
        let view = RepoDataView::parse(json).expect("parses");
        let current = write_current_repodata(&view, "linux-64");
        let current = RepoDataView::parse(&current).expect("our output parses");
        let files: Vec<&str> = current
            .records
            .iter()
            .map(|r| r.filename.as_ref())
            .collect();
        assert_eq!(
            files,
            [
                "a-1.10-0.tar.bz2",
                "a-1.10-1.conda",
                "b-10.0a1-0.conda",
                "c-x-0.conda"
            ],
            "1.10 > 1.9 (not text order), every build of it, a pre-release newer than 2.0, \
             and the unparsable kept"
        );
    }

    const UPSTREAM: &str = r#"{"info":{"subdir":"linux-64","base_url":"https://elsewhere.invalid/x/","z":[1, 2]},
      "packages":{"b-1-0.tar.bz2":{"name":"b", "version":"1","build":"0","build_number":0,  "depends":["a"]},
                  "a-1-0.tar.bz2":{"name":"a","version":"1","build":"0","build_number":0}},
      "packages.conda":{"a\u002d2-0.conda":{"name" : "a","version":"2","build":"0","build_number":0}},
      "removed":["old-1-0.tar.bz2"],"repodata_version":2}"#;

    #[test]
    fn round_trips_selected_records_unchanged() {
        let view = RepoDataView::parse(UPSTREAM.as_bytes()).expect("valid");
        let out = write_repodata(&view, "linux-64", |i| i != 0);
        let back = RepoDataView::parse(&out).expect("our output parses");
        let names: Vec<_> = back.records.iter().map(|r| r.filename.as_ref()).collect();
        assert_eq!(names, ["b-1-0.tar.bz2", "a-2-0.conda"]);
        for record in &back.records {
            let original = view
                .get(record.map, &record.filename)
                .expect("came from upstream");
            assert_eq!(
                record.raw.get(),
                original.raw.get(),
                "record text unchanged"
            );
        }
        assert_eq!(back.info.subdir.as_deref(), Some("linux-64"));
        assert_eq!(back.info.base_url, None, "base_url dropped");
        assert!(
            back.info_raw
                .expect("info")
                .get()
                .contains(r#""z": [1, 2]"#)
        );
        assert_eq!(back.removed, ["old-1-0.tar.bz2"]);
        assert_eq!(back.repodata_version, Some(2));
        // Writing what we read gives the same bytes: deterministic and stable.
        assert_eq!(write_repodata(&back, "linux-64", |_| true), out);
        // Typed clients accept it.
        let typed: rattler_conda_types::RepoData =
            serde_json::from_slice(&out).expect("rattler parses our output");
        assert_eq!(typed.packages.len() + typed.conda_packages.len(), 2);
    }

    /// The exact bytes: the layout clients and digests see (a change here changes every
    /// mirror's repodata digest, so it must be deliberate).
    #[test]
    fn the_layout_byte_for_byte() {
        let view = RepoDataView::parse(UPSTREAM.as_bytes()).expect("valid");
        let out = write_repodata(&view, "linux-64", |i| i != 0);
        let expected = concat!(
            "{\n",
            " \"info\": {\"subdir\": \"linux-64\", \"z\": [1, 2]},\n",
            " \"packages\": {\n",
            "  \"b-1-0.tar.bz2\": {\"name\":\"b\", \"version\":\"1\",\"build\":\"0\",\"build_number\":0,  \"depends\":[\"a\"]}\n",
            " },\n",
            " \"packages.conda\": {\n",
            "  \"a-2-0.conda\": {\"name\" : \"a\",\"version\":\"2\",\"build\":\"0\",\"build_number\":0}\n",
            " },\n",
            " \"removed\": [\n",
            "  \"old-1-0.tar.bz2\"\n",
            " ],\n",
            " \"repodata_version\": 2\n",
            "}\n",
        );
        assert_eq!(String::from_utf8_lossy(&out), expected);
        assert_eq!(
            String::from_utf8_lossy(&empty_repodata("noarch")),
            "{\n \"info\": {\"subdir\": \"noarch\"},\n \"packages\": {},\n \"packages.conda\": {},\n \"removed\": [],\n \"repodata_version\": 1\n}\n"
        );
    }

    #[test]
    fn empty_index_is_valid() {
        let out = empty_repodata("noarch");
        let view = RepoDataView::parse(&out).expect("valid");
        assert_eq!(view.info.subdir.as_deref(), Some("noarch"));
        assert!(view.records.is_empty());
        let typed: rattler_conda_types::RepoData = serde_json::from_slice(&out).expect("rattler");
        assert_eq!(typed.info.and_then(|i| i.subdir).as_deref(), Some("noarch"));
    }

    proptest::proptest! {
        /// Any records (any key text, any JSON value) survive write -> parse unchanged, and
        /// writing is deterministic.
        #[test]
        fn write_parse_round_trip(
            records in proptest::collection::btree_map("[ -~\\u{e9}]{0,12}", 0i64..1000, 0..8),
            keep_mask in proptest::num::u8::ANY,
        ) {
            let packages: serde_json::Map<String, serde_json::Value> = records
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!({"n": v, "s": k})))
                .collect();
            let text = serde_json::to_vec(&serde_json::json!({"packages": packages})).expect("json");
            let view = RepoDataView::parse(&text).expect("valid");
            let keep = |i: usize| keep_mask & (1 << (i % 8)) != 0;
            let out = write_repodata(&view, "noarch", keep);
            let back = RepoDataView::parse(&out).expect("our output parses");
            let expected: Vec<(&str, &str)> = view
                .records
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, r)| (r.filename.as_ref(), r.raw.get()))
                .collect();
            let got: Vec<(&str, &str)> =
                back.records.iter().map(|r| (r.filename.as_ref(), r.raw.get())).collect();
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(write_repodata(&back, "noarch", |_| true), out);
        }

        /// Arbitrary bytes never panic the parser, and whatever it accepts is written
        /// back to an index that parses to the same records.
        #[test]
        fn parse_never_panics_and_what_parses_writes_back(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            if let Ok(view) = RepoDataView::parse(&bytes) {
                let out = write_repodata(&view, "noarch", |_| true);
                let back = RepoDataView::parse(&out).expect("our output parses");
                let records = |v: &RepoDataView<'_>| -> Vec<(String, String)> {
                    v.records
                        .iter()
                        .map(|r| (r.filename.to_string(), r.raw.get().to_owned()))
                        .collect()
                };
                proptest::prop_assert_eq!(records(&back), records(&view));
            }
        }
    }
}
