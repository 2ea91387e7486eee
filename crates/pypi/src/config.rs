//! [`PypiConfig`]: one `[[pypi]]` mirror's settings, as written in `mirror.toml`, and
//! their validation into what the mirror runs with.

use mirror_core::error::RepositoryError;
use mirror_core::repository::Repository;
use mirror_core::settings::{ConfigDir, MirrorSettings, Mode};
use pep508_rs::VersionOrUrl;
use serde::{Deserialize, Serialize};

use crate::environment::{TargetEnv, targets};
use crate::error::PypiError;
use crate::mirror::PypiMirror;
use crate::resolve::{Policy, Req};

/// One Python package index mirror's settings.
///
/// ```toml
/// [[pypi]]
/// name = "pypi"                           # published at public/pypi, index at /pypi/simple/
/// url = "http://HOST/simple"              # a PEP 503/691 simple index
/// requirements = ["requests>=2.31"]       # PEP 508, with their closure
/// python = ["3.11", "3.12"]               # target interpreters (3.N, or 3.N.M)
/// platforms = ["manylinux_2_28_x86_64"]   # plus pure-Python wheels, always
/// sdists = false                          # true: sdists too (as candidates, and published)
/// requirements_file = "requirements.txt"  # more requirements (pip's format; `pip freeze`)
/// keep_versions = 2                       # each requirement's newest 2 releases, each closed
/// exclude = ["urllib3<2"]                 # never these releases
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiConfig {
    /// The mirror's name: its directory under `public/` and its URL prefix.
    pub name: String,
    /// The upstream simple index (`http://`, `https://` or `file://`), without the
    /// project part: project pages are at `<url>/<normalised name>/`.
    pub url: String,
    /// PEP 508 requirements (`requests>=2.31`, `uvicorn[standard]`, markers allowed):
    /// the mirror keeps every release their closure needs on any target.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// A requirements file (pip's format, as `pip freeze` writes it: one requirement a
    /// line, `#` comments, `\` continuations, `--hash` options ignored), relative to the
    /// config; its requirements join `requirements`. Read when the mirror is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements_file: Option<std::path::PathBuf>,
    /// Also keep each requirement's newest N releases that install on a target (not only
    /// the one the resolution picks), each with its own closure there. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_versions: Option<usize>,
    /// Releases never mirrored, as roots or dependencies: PEP 508 names with optional
    /// versions (`torch`, `urllib3<2`). A requirement that needs one fails the sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Take a file its page gives no sha256 for: downloaded (within `max_index_size`),
    /// stored under the digest it turns out to have, which our page then states, listed
    /// in the sync summary (`unverified`) and logged. Default `false`: such a file fails
    /// the sync, since nothing would vouch for its bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unhashed: bool,
    /// Target CPython versions (`3.11`, taken as 3.11.0, or `3.11.9`). Default `["3.12"]`.
    #[serde(default = "default_python")]
    pub python: Vec<String>,
    /// Target platform tags, as wheels write them (`manylinux_2_28_x86_64`,
    /// `musllinux_1_2_aarch64`, `macosx_11_0_arm64`, `win_amd64`; a manylinux tag takes
    /// every older glibc's wheels too). Pure-Python wheels are always taken. Default
    /// `["manylinux_2_28_x86_64"]`.
    #[serde(default = "default_platforms")]
    pub platforms: Vec<String>,
    /// Also take sdists: as candidates where no wheel installs, and published beside the
    /// wheels of every selected release. Default `false` (pip's `--only-binary :all:`):
    /// an sdist needs its build dependencies to install, which the closure does not hold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sdists: bool,
    /// `mirror` (the default): `sync` fetches the closure of the requirements. `proxy`:
    /// `serve` fetches the pages and files clients ask for, each file verified against
    /// its page's sha256 (`requirements`, `requirements_file`, `keep_versions`, `exclude`
    /// and `allow_unhashed` belong to a mirror and are refused).
    #[serde(default, skip_serializing_if = "Mode::is_mirror")]
    pub mode: Mode,
    /// Proxy mode: how long a project page is served before upstream is asked again.
    /// Default `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate_after: Option<String>,
}

fn default_python() -> Vec<String> {
    vec!["3.12".into()]
}

fn default_platforms() -> Vec<String> {
    vec!["manylinux_2_28_x86_64".into()]
}

impl MirrorSettings for PypiConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn upstream(&self) -> &str {
        &self.url
    }

    fn resolve_paths(&mut self, dir: &ConfigDir) {
        self.url = dir.url(&self.url);
        if let Some(file) = &self.requirements_file {
            self.requirements_file = Some(dir.path(file));
        }
    }

    fn validate(&self) -> Result<(), RepositoryError> {
        match self.mode {
            Mode::Proxy => self.validate_proxy().map(drop),
            Mode::Mirror => self.validate().map(drop),
        }
        .map_err(RepositoryError::new)
    }

    fn is_proxy(&self) -> bool {
        self.mode == Mode::Proxy
    }

    fn proxy(
        &self,
        ctx: &mirror_core::proxy::ProxyContext,
    ) -> Option<Result<std::sync::Arc<dyn mirror_core::proxy::ProxySource>, RepositoryError>> {
        self.is_proxy()
            .then(|| mirror_core::proxy::shared(crate::proxy::PypiProxy::new(self, ctx)))
    }

    fn build(&self) -> Result<Box<dyn Repository>, RepositoryError> {
        Ok(Box::new(
            PypiMirror::new(self.clone()).map_err(RepositoryError::new)?,
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The index URL, no trailing `/`.
    pub index: String,
    pub targets: Vec<TargetEnv>,
    pub policy: Policy,
    /// Releases kept per requirement and target.
    pub keep_versions: usize,
}

impl PypiConfig {
    /// A mirror named `name` of the index at `url` carrying `requirements`, every other
    /// setting at its default (what `init` seeds and tests start from).
    pub fn new(name: &str, url: &str, requirements: Vec<String>) -> Self {
        PypiConfig {
            name: name.to_owned(),
            url: url.to_owned(),
            requirements,
            requirements_file: None,
            keep_versions: None,
            exclude: Vec::new(),
            allow_unhashed: false,
            python: default_python(),
            platforms: default_platforms(),
            sdists: false,
            mode: Mode::Mirror,
            revalidate_after: None,
        }
    }

    /// Check the settings of a mirror in proxy mode; returns the index URL.
    pub(crate) fn validate_proxy(&self) -> Result<String, PypiError> {
        let invalid = |reason: String| PypiError::InvalidConfig {
            mirror: self.name.clone(),
            reason,
        };
        mirror_core::paths::check_mirror_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        let index =
            mirror_core::settings::upstream_url(&self.url, "simple index URL").map_err(invalid)?;
        if !self.requirements.is_empty()
            || self.requirements_file.is_some()
            || self.keep_versions.is_some()
            || !self.exclude.is_empty()
            || self.allow_unhashed
        {
            return Err(invalid(
                "mode = \"proxy\" serves what clients ask for: requirements, \
                 requirements_file, keep_versions, exclude and allow_unhashed belong to a mirror"
                    .into(),
            ));
        }
        mirror_core::settings::revalidate_after(self.mode, self.revalidate_after.as_deref())
            .map_err(invalid)?;
        Ok(index)
    }

    /// Check the settings: mirror name, URL, every requirement, python and platform.
    pub(crate) fn validate(&self) -> Result<Settings, PypiError> {
        let invalid = |reason: String| PypiError::InvalidConfig {
            mirror: self.name.clone(),
            reason,
        };
        mirror_core::paths::check_mirror_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        let index =
            mirror_core::settings::upstream_url(&self.url, "simple index URL").map_err(invalid)?;
        if self.requirements.is_empty() && self.requirements_file.is_none() {
            return Err(invalid(
                "requirements is empty and no requirements_file is given: name what the \
                 mirror carries (a whole index is not mirrored)"
                    .into(),
            ));
        }
        if self.keep_versions == Some(0) {
            return Err(invalid("keep_versions must be at least 1".into()));
        }
        mirror_core::settings::revalidate_after(self.mode, self.revalidate_after.as_deref())
            .map_err(invalid)?;
        let parse = |key: &str, text: &str| -> Result<Req, PypiError> {
            let requirement: Req = text
                .parse()
                .map_err(|e| invalid(format!("{key} {text:?}: {e}")))?;
            if let Some(VersionOrUrl::Url(_)) = requirement.version_or_url {
                return Err(invalid(format!(
                    "{key} {text:?}: a URL names no index file; give a name and versions"
                )));
            }
            Ok(requirement)
        };
        let requirements = self
            .requirements
            .iter()
            .map(|text| parse("requirement", text))
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = self
            .exclude
            .iter()
            .map(|text| parse("exclude", text))
            .collect::<Result<Vec<_>, _>>()?;
        if self.python.is_empty() || self.platforms.is_empty() {
            return Err(invalid(
                "python and platforms must each name at least one".into(),
            ));
        }
        let targets = targets(&self.python, &self.platforms).map_err(invalid)?;
        Ok(Settings {
            index,
            targets,
            policy: Policy {
                requirements,
                sdists: self.sdists,
                exclude,
            },
            keep_versions: self.keep_versions.unwrap_or(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PypiConfig {
        PypiConfig::new(
            "pypi",
            "http://127.0.0.1:1/simple/",
            vec!["requests>=2.31".into()],
        )
    }

    #[test]
    fn proxy_mode_refuses_a_selection() {
        let mut config = PypiConfig::new("pypi", "http://127.0.0.1:1/simple/", vec![]);
        config.mode = Mode::Proxy;
        assert_eq!(
            config.validate_proxy().expect("a proxy"),
            "http://127.0.0.1:1/simple"
        );
        assert!(MirrorSettings::is_proxy(&config));
        config.requirements = vec!["requests".into()];
        let err = config
            .validate_proxy()
            .expect_err("no selection")
            .to_string();
        assert!(err.contains("proxy") && err.contains("pypi"), "{err}");
        let mut mirror = PypiConfig::new("pypi", "http://h/simple", vec!["a".into()]);
        mirror.revalidate_after = Some("1m".into());
        assert!(
            mirror.validate().is_err(),
            "an interval means nothing to a mirror"
        );
    }

    #[test]
    fn a_valid_config_has_one_target_per_python_and_system() {
        let mut config = config();
        config.python = vec!["3.11".into(), "3.12".into()];
        let settings = config.validate().expect("valid");
        assert_eq!(settings.index, "http://127.0.0.1:1/simple");
        assert_eq!(settings.targets.len(), 2);
    }

    #[test]
    fn bad_settings_name_the_key_and_value() {
        type Case = (fn(&mut PypiConfig), &'static str);
        let cases: [Case; 6] = [
            (|c| c.requirements.clear(), "requirements is empty"),
            (
                |c| c.keep_versions = Some(0),
                "keep_versions must be at least 1",
            ),
            (
                |c| c.requirements = vec!["requests >>= 2".into()],
                "requests >>= 2",
            ),
            (
                |c| c.requirements = vec!["x @ https://example.invalid/x.whl".into()],
                "a URL names no index file",
            ),
            (|c| c.url = "ftp://x/simple".into(), "ftp://x/simple"),
            (|c| c.platforms = vec!["beos_ppc".into()], "beos_ppc"),
        ];
        for (change, expected) in cases {
            let mut config = config();
            change(&mut config);
            let error = config.validate().expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
            assert!(error.starts_with("pypi mirror pypi: "), "{error}");
        }
    }
}
