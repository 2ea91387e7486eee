//! `channeldata.json`: the channel-wide summary of each package name (description,
//! home, license, the subdirs that carry it). Channel browsers, Navigator and
//! `conda search --info` read it; no installing client does.
//!
//! Mirrored from upstream when it serves one (there is nothing to make it from: its
//! fields come from each package's `info/about.json`). Every record kept: upstream's bytes
//! unchanged. Filtered: only the names the mirror publishes, each entry upstream's but
//! its `subdirs` cut to those that publish a record of it, and the top-level `subdirs`
//! cut to the mirror's. Parsed lazily (every entry is left as raw text until it is kept),
//! so a channel's 30 MB file costs its bytes, not a document tree.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::value::RawValue;

/// `channeldata.json` is not the expected JSON object.
#[derive(Debug, thiserror::Error)]
#[error("{url}: invalid channeldata.json: {reason}")]
pub struct ChannelDataError {
    /// Where it came from.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

/// The published names, each with the subdirs that publish a record of it.
pub type Published = BTreeMap<String, BTreeSet<String>>;

/// Upstream's `channeldata.json` (`raw`, from `url`) cut down to `published`, with the
/// top-level `subdirs` cut to `subdirs` (the mirror's).
pub fn filter(
    raw: &[u8],
    url: &str,
    published: &Published,
    subdirs: &[String],
) -> Result<Vec<u8>, ChannelDataError> {
    let invalid = |reason: String| ChannelDataError {
        url: url.to_owned(),
        reason,
    };
    let top: BTreeMap<Cow<'_, str>, &RawValue> =
        serde_json::from_slice(raw).map_err(|e| invalid(e.to_string()))?;
    let mut out = serde_json::Map::new();
    for (key, value) in top {
        let value = match key.as_ref() {
            "packages" => {
                let packages: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_str(value.get())
                    .map_err(|e| invalid(format!("packages: {e}")))?;
                let mut kept = serde_json::Map::new();
                for (name, entry) in packages {
                    let Some(carried) = published.get(name.as_ref()) else {
                        continue;
                    };
                    let mut entry: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(entry.get())
                            .map_err(|e| invalid(format!("packages.{name}: {e}")))?;
                    if let Some(serde_json::Value::Array(listed)) = entry.get_mut("subdirs") {
                        listed.retain(|s| s.as_str().is_some_and(|s| carried.contains(s)));
                    }
                    kept.insert(name.into_owned(), serde_json::Value::Object(entry));
                }
                serde_json::Value::Object(kept)
            }
            "subdirs" => {
                let listed: Vec<String> = serde_json::from_str(value.get())
                    .map_err(|e| invalid(format!("subdirs: {e}")))?;
                listed
                    .into_iter()
                    .filter(|s| subdirs.contains(s))
                    .map(serde_json::Value::String)
                    .collect()
            }
            _ => serde_json::from_str(value.get()).map_err(|e| invalid(format!("{key}: {e}")))?,
        };
        out.insert(key.into_owned(), value);
    }
    let mut bytes = serde_json::to_vec_pretty(&out).map_err(|e| invalid(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = r#"{
  "channeldata_version": 1,
  "packages": {
    "libzz": {"description": "z", "subdirs": ["linux-64", "osx-64"], "version": "2.0"},
    "tool": {"home": "https://example.invalid", "subdirs": ["linux-64", "noarch"]},
    "other": {"subdirs": ["linux-64"]}
  },
  "subdirs": ["linux-64", "noarch", "osx-64"]
}"#;

    #[test]
    fn keeps_the_published_names_and_subdirs_only() {
        let published: Published = [
            ("libzz".to_owned(), BTreeSet::from(["linux-64".to_owned()])),
            ("tool".to_owned(), BTreeSet::from(["linux-64".to_owned()])),
        ]
        .into();
        let subdirs = ["linux-64".to_owned(), "noarch".to_owned()];
        let out = filter(UPSTREAM.as_bytes(), "u", &published, &subdirs).expect("filters");
        let out: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            out,
            serde_json::json!({
                "channeldata_version": 1,
                "packages": {
                    "libzz": {"description": "z", "subdirs": ["linux-64"], "version": "2.0"},
                    "tool": {"home": "https://example.invalid", "subdirs": ["linux-64"]}
                },
                "subdirs": ["linux-64", "noarch"]
            })
        );
    }

    #[test]
    fn what_is_not_channeldata_is_refused_with_its_url() {
        let published: Published = [("a".to_owned(), BTreeSet::new())].into();
        for bad in [
            "[]",
            "{\"packages\": []}",
            "{\"subdirs\": {}}",
            "{",
            "{\"packages\": {\"a\": 1}}",
        ] {
            let error = filter(bad.as_bytes(), "http://u/channeldata.json", &published, &[])
                .expect_err(bad);
            assert!(
                error
                    .to_string()
                    .starts_with("http://u/channeldata.json: invalid channeldata.json"),
                "{error}"
            );
        }
    }
}
