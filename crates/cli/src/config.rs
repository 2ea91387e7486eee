//! `mirror.toml`: what to mirror, where the store is, which keys to use.
//!
//! Relative paths in the file are relative to the file's own directory, so a config and
//! its keys can be moved together. Unknown keys are errors: a typo must not silently turn
//! a selective mirror into a full one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store directory (default `./mirror-data`).
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// Our signing key.
    #[serde(default)]
    pub signing: Option<Signing>,
    /// APT mirrors.
    #[serde(default)]
    pub apt: Vec<AptMirror>,
    /// conda mirrors.
    #[serde(default)]
    pub conda: Vec<CondaMirror>,
    /// Inside: whose bundles `import` accepts (read by `import`, issue 4).
    #[allow(dead_code)]
    #[serde(default)]
    pub transfer: Option<Transfer>,
    /// HTTP behaviour of the fetcher.
    #[serde(default)]
    pub fetch: Fetch,
    /// Directory the config was read from (for relative paths).
    #[serde(skip)]
    pub base: PathBuf,
}

fn default_store() -> PathBuf {
    PathBuf::from("./mirror-data")
}

/// `[signing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// Armored OpenPGP secret key.
    pub key: PathBuf,
}

/// `[[apt]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptMirror {
    pub name: String,
    pub url: String,
    pub suites: Vec<String>,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    /// Keyring(s) the upstream signature must verify with.
    pub keyring: Keyrings,
    /// Allow-list; absent = everything.
    #[serde(default)]
    pub packages: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub recommends: bool,
    /// A listed package the upstream lacks: `error` (default) or `warn`.
    #[serde(default)]
    pub missing_packages: MissingPackages,
}

/// What to do about a listed package the upstream does not carry.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MissingPackages {
    /// Fail the sync (a typo must not go unnoticed).
    #[default]
    Error,
    /// Log and carry on (`init --from-system` lists packages from several origins).
    Warn,
}

/// One keyring path or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Keyrings {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl Keyrings {
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Keyrings::One(p) => vec![p.clone()],
            Keyrings::Many(v) => v.clone(),
        }
    }
}

fn default_components() -> Vec<String> {
    vec!["main".into()]
}
fn default_architectures() -> Vec<String> {
    vec!["amd64".into()]
}
fn yes() -> bool {
    true
}

/// `[[conda]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondaMirror {
    pub name: String,
    pub url: String,
    #[serde(default = "default_subdirs")]
    pub subdirs: Vec<String>,
    #[serde(default)]
    pub specs: Vec<String>,
    #[serde(default)]
    pub keep_versions: Option<usize>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub licenses: Option<Vec<String>>,
}

fn default_subdirs() -> Vec<String> {
    vec!["linux-64".into(), "noarch".into()]
}

/// `[transfer]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    #[serde(default)]
    #[allow(dead_code)]
    pub trusted_keys: Vec<PathBuf>,
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl Default for Fetch {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            retries: default_retries(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_retries() -> u32 {
    4
}

impl Config {
    /// Read and check `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = fs_err::read_to_string(path).with_context(|| {
            format!(
                "no config: write one with `mirror-cli init` or pass --config FILE ({})",
                path.display()
            )
        })?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))?;
        config.base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        config
            .validate()
            .with_context(|| format!("{}: invalid config", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let mut names = std::collections::HashSet::new();
        for name in self
            .apt
            .iter()
            .map(|m| &m.name)
            .chain(self.conda.iter().map(|m| &m.name))
        {
            mirror_core::paths::check_mirror_name(name)?;
            if !names.insert(name) {
                bail!("mirror name {name:?} is used twice");
            }
        }
        for m in &self.apt {
            if m.suites.is_empty() || m.components.is_empty() || m.architectures.is_empty() {
                bail!(
                    "[[apt]] {}: suites, components and architectures must not be empty",
                    m.name
                );
            }
        }
        if self.fetch.concurrency == 0 {
            bail!("[fetch] concurrency must be at least 1");
        }
        Ok(())
    }

    /// A path from the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.resolve(&self.store)
    }

    /// A URL from the file: `file://` with a relative path resolves against the file's dir.
    pub fn resolve_url(&self, url: &str) -> String {
        match url.strip_prefix("file://") {
            Some(rest) if !rest.starts_with('/') => {
                let abs = std::path::absolute(self.base.join(rest))
                    .unwrap_or_else(|_| self.base.join(rest));
                format!("file://{}", abs.display())
            }
            _ => url.trim_end_matches('/').to_owned(),
        }
    }

    /// Names of every configured mirror, APT first.
    pub fn mirror_names(&self) -> Vec<String> {
        self.apt
            .iter()
            .map(|m| m.name.clone())
            .chain(self.conda.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// Check that `wanted` names configured mirrors; empty = all.
    pub fn select(&self, wanted: &[String]) -> anyhow::Result<Vec<String>> {
        let all = self.mirror_names();
        if wanted.is_empty() {
            return Ok(all);
        }
        for w in wanted {
            if !all.contains(w) {
                bail!(
                    "no mirror named {w:?} in the config (have: {})",
                    all.join(", ")
                );
            }
        }
        Ok(wanted.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_design_example_and_rejects_typos() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mirror.toml");
        fs_err::write(
            &path,
            r#"
store = "./data"
[signing]
key = "keys/signing.asc"
[[apt]]
name = "debian"
url = "http://127.0.0.1:1/debian"
suites = ["bookworm"]
keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
packages = ["jq"]
[[conda]]
name = "cf"
url = "file://channel"
specs = ["python 3.12.*"]
keep_versions = 2
[transfer]
trusted_keys = ["keys/outside.pub"]
"#,
        )
        .expect("write");
        let config = Config::load(&path).expect("valid");
        assert_eq!(config.store_dir(), dir.path().join("./data"));
        assert_eq!(config.apt[0].components, ["main"]);
        assert!(config.apt[0].recommends);
        assert!(
            config
                .resolve_url(&config.conda[0].url)
                .starts_with("file:///")
        );
        assert_eq!(config.mirror_names(), ["debian", "cf"]);
        assert!(config.select(&["nope".into()]).is_err());

        fs_err::write(&path, "[[apt]]\nname = \"d\"\nurl = \"x\"\nsuites = [\"s\"]\nkeyring = \"k\"\npackage = [\"jq\"]\n")
            .expect("write");
        let err = format!("{:#}", Config::load(&path).expect_err("typo"));
        assert!(err.contains("package"), "{err}");
    }
}
