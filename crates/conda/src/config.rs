//! [`CondaConfig`]: one `[[conda]]` mirror's settings, as written in `mirror.toml`, and
//! their validation into what the mirror runs with.

use mirror_core::error::RepositoryError;
use mirror_core::repository::Repository;
use mirror_core::settings::{ConfigDir, MirrorSettings, Mode};
use serde::{Deserialize, Serialize};

use crate::error::CondaError;
use crate::mirror::CondaMirror;
use crate::select::{Filter, NOARCH, parse_spec};

/// One conda mirror's settings.
///
/// ```toml
/// [[conda]]
/// name = "conda-forge"
/// url = "http://HOST/conda-forge"
/// subdirs = ["linux-64"]            # the default; noarch is always added
/// specs = ["python 3.12.*", "numpy >=1.26"]
/// keep_versions = 2
/// exclude = ["*-dbg"]
/// licenses = ["MIT", "BSD-3-Clause"]
/// allow_empty = false               # true: publishing nothing (or emptying a subdir) is fine
/// skip_bad_records = false          # true: skip (and count) malformed or hostile records
/// ```
///
/// A pull-through cache instead (`serve` fetches what clients ask for, verified):
///
/// ```toml
/// [[conda]]
/// name = "conda-forge"
/// url = "https://HOST/conda-forge"
/// mode = "proxy"
/// revalidate_after = "10m"          # ask upstream whether repodata changed this often
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondaConfig {
    /// The mirror's name: its directory under `public/` and its URL prefix.
    pub name: String,
    /// The channel root: `http://`, `https://` or `file://` (no trailing `/<subdir>`).
    pub url: String,
    /// Platform subdirs (`linux-64`, `osx-arm64`...). `noarch` is always mirrored too.
    /// Default `["linux-64"]`.
    #[serde(default = "default_subdirs")]
    pub subdirs: Vec<String>,
    /// Match specs (conda syntax, parsed leniently like conda does). The mirror keeps every
    /// record matching one, plus their dependency closure. Empty: every record.
    #[serde(default)]
    pub specs: Vec<String>,
    /// Keep only the newest N versions per package name in each match set (all builds of
    /// those versions). Dependencies that need an older version still get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_versions: Option<usize>,
    /// Match specs of records never to mirror (neither as roots nor as dependencies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// License allow-list: when non-empty, only records whose `license` field equals one
    /// of these strings exactly are mirrored; records without a `license` field are dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Publish a selection with no package, or one that empties a subdir which had
    /// packages in the previous snapshot. Default `false`: a spec that matches nothing,
    /// or an upstream that dropped or invalidated every record, fails the sync (exit 7)
    /// instead of silently publishing an empty channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// Skip records that fail their checks as malformed or hostile (an unsafe or
    /// non-package file name, fields that disagree with the file name or the subdir, an
    /// invalid `sha256`, JSON that is not a record) with a warning, counted in the sync
    /// summary. Default `false`: such a record fails the sync (exit 1) and nothing is
    /// published, since a channel that serves one is broken or compromised. Records with
    /// no `sha256` at all (old packages) are skipped either way: they cannot be verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_bad_records: bool,
    /// Publish upstream's CEP-16 shards where it serves them, each checked against the
    /// digest its shard index gives, instead of making them again from `repodata.json`
    /// (a subdir upstream does not shard gets ours). Unfiltered mirrors only (no specs,
    /// exclude, keep_versions or licenses): a selection's records are not upstream's.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upstream_shards: bool,
    /// `mirror` (the default): `sync` fetches the selection. `proxy`: `serve` fetches
    /// what clients ask for, checked as `sync` checks it, and keeps it (a selection,
    /// `specs`/`exclude`/`keep_versions`/`licenses`, is refused: clients select).
    #[serde(default, skip_serializing_if = "Mode::is_mirror")]
    pub mode: Mode,
    /// Proxy mode: how long a subdir's repodata is served before upstream is asked
    /// again, with a conditional request, whether it changed. Default `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate_after: Option<String>,
}

fn default_subdirs() -> Vec<String> {
    vec!["linux-64".into()]
}

impl Default for CondaConfig {
    /// The documented defaults, with an empty name and URL.
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            subdirs: default_subdirs(),
            specs: Vec::new(),
            keep_versions: None,
            exclude: Vec::new(),
            licenses: Vec::new(),
            allow_empty: false,
            skip_bad_records: false,
            upstream_shards: false,
            mode: Mode::Mirror,
            revalidate_after: None,
        }
    }
}

impl MirrorSettings for CondaConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn upstream(&self) -> &str {
        &self.url
    }

    fn resolve_paths(&mut self, dir: &ConfigDir) {
        self.url = dir.url(&self.url);
    }

    fn validate(&self) -> Result<(), RepositoryError> {
        self.validate().map(drop).map_err(RepositoryError::new)
    }

    fn build(&self) -> Result<Box<dyn Repository>, RepositoryError> {
        Ok(Box::new(
            CondaMirror::new(self.clone()).map_err(RepositoryError::new)?,
        ))
    }

    fn is_proxy(&self) -> bool {
        self.mode == Mode::Proxy
    }

    fn proxy(
        &self,
        ctx: &mirror_core::proxy::ProxyContext,
    ) -> Option<Result<std::sync::Arc<dyn mirror_core::proxy::ProxySource>, RepositoryError>> {
        self.is_proxy()
            .then(|| mirror_core::proxy::shared(crate::proxy::CondaProxy::new(self, ctx)))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub channel: String,
    pub subdirs: Vec<String>,
    pub filter: Filter,
    pub licenses: Vec<String>,
    /// Proxy mode: how long repodata is served before it is revalidated.
    pub revalidate_after: std::time::Duration,
}

impl CondaConfig {
    /// Check the settings: mirror name, URL scheme, subdir names, every spec.
    pub(crate) fn validate(&self) -> Result<Settings, CondaError> {
        let invalid = |reason: String| CondaError::InvalidConfig {
            mirror: self.name.clone(),
            reason,
        };
        mirror_core::paths::check_mirror_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        let channel =
            mirror_core::settings::upstream_url(&self.url, "channel URL").map_err(invalid)?;
        let mut subdirs = Vec::new();
        for subdir in self.subdirs.iter().map(String::as_str).chain([NOARCH]) {
            let valid = !subdir.is_empty()
                && subdir.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid {
                return Err(invalid(format!(
                    "subdir {subdir:?}: expected a platform such as linux-64 or noarch"
                )));
            }
            if !subdirs.iter().any(|s| s == subdir) {
                subdirs.push(subdir.to_owned());
            }
        }
        if self.keep_versions == Some(0) {
            return Err(invalid("keep_versions must be at least 1".into()));
        }
        let parse_all = |specs: &[String]| {
            specs
                .iter()
                .map(|s| {
                    parse_spec(s).map_err(|source| CondaError::InvalidSpec {
                        mirror: self.name.clone(),
                        spec: s.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let filter = Filter {
            specs: parse_all(&self.specs)?,
            keep_versions: self.keep_versions,
            exclude: parse_all(&self.exclude)?,
        };
        if self.upstream_shards && !(filter.selects_everything() && self.licenses.is_empty()) {
            return Err(invalid(
                "upstream_shards takes upstream's shards as they are, which only an \
                 unfiltered mirror publishes (no specs, exclude, keep_versions or licenses)"
                    .into(),
            ));
        }
        if self.mode == Mode::Proxy
            && !(filter.selects_everything() && self.licenses.is_empty() && !self.upstream_shards)
        {
            return Err(invalid(
                "mode = \"proxy\" serves what clients ask for: specs, exclude, \
                 keep_versions, licenses and upstream_shards belong to a mirror"
                    .into(),
            ));
        }
        let revalidate_after =
            mirror_core::settings::revalidate_after(self.mode, self.revalidate_after.as_deref())
                .map_err(invalid)?;
        Ok(Settings {
            channel,
            subdirs,
            filter,
            licenses: self.licenses.clone(),
            revalidate_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CondaConfig {
        CondaConfig {
            name: "cf".into(),
            url: "http://127.0.0.1:1/cf/".into(),
            subdirs: vec!["linux-64".into(), "noarch".into()],
            specs: vec!["python=3.12".into(), "numpy >=1.26".into(), "r-*".into()],
            ..CondaConfig::default()
        }
    }

    #[test]
    fn validates_and_normalises() {
        let settings = config().validate().expect("valid");
        assert_eq!(settings.channel, "http://127.0.0.1:1/cf");
        assert_eq!(settings.subdirs, ["linux-64", "noarch"]);
        assert_eq!(settings.filter.specs.len(), 3);
        let only_noarch = CondaConfig {
            subdirs: vec![],
            specs: vec![],
            ..config()
        };
        let settings = only_noarch.validate().expect("valid");
        assert_eq!(settings.subdirs, ["noarch"]);
        assert!(settings.filter.selects_everything());
    }

    #[test]
    fn refuses_bad_settings_naming_them() {
        let cases = [
            CondaConfig {
                name: "../x".into(),
                ..config()
            },
            CondaConfig {
                url: "ftp://host/x".into(),
                ..config()
            },
            CondaConfig {
                subdirs: vec!["../linux-64".into()],
                ..config()
            },
            CondaConfig {
                keep_versions: Some(0),
                ..config()
            },
            CondaConfig {
                specs: vec!["numpy >=>1".into()],
                ..config()
            },
            CondaConfig {
                mode: Mode::Proxy,
                ..config()
            },
            CondaConfig {
                revalidate_after: Some("10m".into()),
                ..config()
            },
            CondaConfig {
                mode: Mode::Proxy,
                specs: vec![],
                revalidate_after: Some("soon".into()),
                ..config()
            },
        ];
        for case in cases {
            let err = case.validate().expect_err("invalid");
            assert!(
                err.to_string().contains("cf") || err.to_string().contains("../x"),
                "{err}"
            );
        }
        let err = CondaConfig {
            exclude: vec!["numpy >=>1".into()],
            ..config()
        }
        .validate()
        .expect_err("bad exclude");
        assert!(err.to_string().contains("numpy >=>1"), "{err}");
    }

    #[test]
    fn proxy_mode_takes_an_interval_and_no_selection() {
        let proxy = CondaConfig {
            mode: Mode::Proxy,
            specs: vec![],
            revalidate_after: Some("30s".into()),
            ..config()
        };
        let settings = proxy.validate().expect("valid");
        assert_eq!(
            settings.revalidate_after,
            std::time::Duration::from_secs(30)
        );
        assert!(MirrorSettings::is_proxy(&proxy));
        assert!(!MirrorSettings::is_proxy(&config()));
    }

    #[test]
    fn toml_round_trip() {
        let c = CondaConfig {
            keep_versions: Some(2),
            licenses: vec!["MIT".into()],
            ..config()
        };
        let text = serde_json::to_string(&c).expect("serialises");
        let back: CondaConfig = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, c);
        assert!(serde_json::from_str::<CondaConfig>(r#"{"name":"x","url":"y","typo":1}"#).is_err());
    }
}
