//! `mirror.toml`: what to mirror, where the store is, which keys to use.
//!
//! Relative paths in the file are relative to the file's own directory, so a config and
//! its keys can be moved together. Unknown keys are errors: a typo must not silently turn
//! a selective mirror into a full one.
//!
//! The file's own keys (`store`, `[signing]`, `[transfer]`, `[fetch]`) are defined here;
//! each mirror section (`[[apt]]`, `[[conda]]`) belongs to its format crate and is read
//! through the [registry](crate::formats). This module never copies a format's fields.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mirror_core::settings::{ConfigDir, MirrorSettings};
use serde::Deserialize;

use crate::formats::FORMATS;

/// The whole file.
#[derive(Debug)]
pub struct Config {
    /// Store directory (default `./mirror-data`).
    pub store: PathBuf,
    /// Our signing key.
    pub signing: Option<Signing>,
    /// Inside: whose bundles `import` accepts.
    pub transfer: Option<Transfer>,
    /// HTTP behaviour of the fetcher.
    pub fetch: Fetch,
    /// Every mirror, in registry order (APT first), paths already resolved.
    pub mirrors: Vec<Box<dyn MirrorSettings>>,
    /// Directory the config was read from (for relative paths).
    pub dir: ConfigDir,
}

/// What is left of the file once the registry has taken the mirror sections.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Base {
    #[serde(default = "default_store")]
    store: PathBuf,
    #[serde(default)]
    signing: Option<Signing>,
    #[serde(default)]
    transfer: Option<Transfer>,
    #[serde(default)]
    fetch: Fetch,
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

/// `[transfer]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Public keys whose bundles `import` accepts.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// Parallel requests (at least 1).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of a failed request.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Silence after which a transfer has stalled (`60s`). Default 60 s.
    #[serde(default)]
    pub read_timeout: Option<String>,
    /// Bytes per second below which a body is too slow (0: off). Default 1024.
    #[serde(default)]
    pub min_rate: Option<u64>,
    /// The window `min_rate` is measured over (`30s`). Default 30 s.
    #[serde(default)]
    pub rate_window: Option<String>,
    /// The longest one response body may take (`1h`). Default 1 hour.
    #[serde(default)]
    pub request_deadline: Option<String>,
    /// The largest index held in memory, compressed or decoded (`512MiB`).
    #[serde(default)]
    pub max_index_size: Option<String>,
}

impl Default for Fetch {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            retries: default_retries(),
            read_timeout: None,
            min_rate: None,
            rate_window: None,
            request_deadline: None,
            max_index_size: None,
        }
    }
}

impl Fetch {
    /// The fetcher's options from these settings; an unreadable duration names its key.
    pub fn options(&self) -> Result<mirror_core::fetch::FetchOptions, String> {
        let defaults = mirror_core::fetch::FetchOptions::default();
        // Zero would fail every transfer at its first byte: refused here, not at a sync.
        let duration = |key: &str, value: &Option<String>, default| match value {
            None => Ok(default),
            Some(text) => match mirror_core::time_util::parse_duration(text) {
                Some(d) if d.is_zero() => {
                    Err(format!("[fetch] {key} = {text:?} must be more than 0"))
                }
                Some(d) => Ok(d),
                None => Err(format!(
                    "[fetch] {key} = {text:?} is not a duration such as \"30s\" or \"1h\""
                )),
            },
        };
        Ok(mirror_core::fetch::FetchOptions {
            concurrency: self.concurrency,
            retries: self.retries,
            read_timeout: duration("read_timeout", &self.read_timeout, defaults.read_timeout)?,
            min_rate: self.min_rate.unwrap_or(defaults.min_rate),
            rate_window: duration("rate_window", &self.rate_window, defaults.rate_window)?,
            request_deadline: duration(
                "request_deadline",
                &self.request_deadline,
                defaults.request_deadline,
            )?,
            max_index_size: match &self.max_index_size {
                None => defaults.max_index_size,
                Some(text) => mirror_core::size::parse_size(text, "[fetch] max_index_size")
                    .map_err(|e| e.to_string())?,
            },
            ..defaults
        })
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_retries() -> u32 {
    4
}

/// Let each mirror resolve the names of others it refers to (`resolve_with`).
fn link_mirrors(mirrors: &mut [Box<dyn MirrorSettings>]) -> anyhow::Result<()> {
    for position in 0..mirrors.len() {
        let (before, rest) = mirrors.split_at_mut(position);
        let (me, after) = rest.split_first_mut().expect("position is in range");
        let others: Vec<&dyn MirrorSettings> = before
            .iter()
            .chain(after.iter())
            .map(|other| &**other)
            .collect();
        let name = me.name().to_owned();
        me.link(&others).with_context(|| format!("mirror {name}"))?;
    }
    Ok(())
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
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, ConfigDir::new(base))
            .with_context(|| format!("{}: invalid config", path.display()))
    }

    /// Parse the text of a config whose relative paths resolve against `dir`.
    fn parse(text: &str, dir: ConfigDir) -> anyhow::Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        let mut mirrors = Vec::new();
        for format in FORMATS {
            let Some(section) = table.remove(format.section) else {
                continue;
            };
            let toml::Value::Array(entries) = section else {
                bail!(
                    "`{0}` must be an array of tables: write each mirror as [[{0}]]",
                    format.section
                );
            };
            for (index, entry) in entries.into_iter().enumerate() {
                let label = entry_label(format.section, index, &entry);
                let mut settings = (format.load)(entry).with_context(|| label.clone())?;
                settings.resolve_paths(&dir);
                settings.validate().with_context(|| label.clone())?;
                mirrors.push(settings);
            }
        }
        link_mirrors(&mut mirrors)?;
        let base: Base = toml::Value::Table(table).try_into()?;
        let config = Config {
            store: base.store,
            signing: base.signing,
            transfer: base.transfer,
            fetch: base.fetch,
            mirrors,
            dir,
        };
        config.check()?;
        Ok(config)
    }

    /// Checks across sections.
    fn check(&self) -> anyhow::Result<()> {
        let mut names = std::collections::HashSet::new();
        for mirror in &self.mirrors {
            let name = mirror.name();
            mirror_core::paths::check_mirror_name(name)?;
            if !names.insert(name) {
                bail!("mirror name {name:?} is used twice");
            }
        }
        if self.fetch.concurrency == 0 {
            bail!("[fetch] concurrency must be at least 1");
        }
        // An empty path would put the store in (or read the key from) the config's own
        // directory.
        if self.store.as_os_str().is_empty() {
            bail!("store = \"\": name the store directory (default ./mirror-data)");
        }
        if let Some(signing) = &self.signing
            && signing.key.as_os_str().is_empty()
        {
            bail!("[signing] key = \"\": name the armored secret key file (`mirror-cli keygen`)");
        }
        if let Some(transfer) = &self.transfer
            && let Some(empty) = transfer
                .trusted_keys
                .iter()
                .find(|k| k.as_os_str().is_empty())
        {
            bail!("[transfer] trusted_keys: an empty path ({empty:?})");
        }
        // Checked at load, so `status` already reports a bad duration.
        self.fetch.options().map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }

    /// A path from the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.dir.path(path)
    }

    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.resolve(&self.store)
    }

    /// Names of every configured mirror, APT first.
    pub fn mirror_names(&self) -> Vec<String> {
        self.mirrors.iter().map(|m| m.name().to_owned()).collect()
    }

    /// The settings of the mirror called `name`.
    pub fn mirror(&self, name: &str) -> Option<&dyn MirrorSettings> {
        self.mirrors.iter().find(|m| m.name() == name).map(|m| &**m)
    }

    /// Check that `wanted` names configured mirrors; empty = all.
    pub fn select(&self, wanted: &[String]) -> anyhow::Result<Vec<String>> {
        self.select_among(wanted, self.mirror_names())
    }

    /// Like [`select`](Self::select), over the configured mirrors and those the store
    /// holds snapshots of: on the inside, mirrors come from imported bundles, not from
    /// `[[apt]]`/`[[conda]]` sections, and must still be published (rolled back).
    pub fn select_stored(
        &self,
        wanted: &[String],
        store: &mirror_core::store::Store,
    ) -> anyhow::Result<Vec<String>> {
        let mut all = self.mirror_names();
        for name in store.mirrors_with_snapshots()? {
            if !all.contains(&name) {
                all.push(name);
            }
        }
        self.select_among(wanted, all)
    }

    fn select_among(&self, wanted: &[String], all: Vec<String>) -> anyhow::Result<Vec<String>> {
        if wanted.is_empty() {
            return Ok(all);
        }
        for w in wanted {
            if !all.contains(w) {
                return Err(crate::exit::UsageError(format!(
                    "no mirror named {w:?} in the config (have: {})",
                    all.join(", ")
                ))
                .into());
            }
        }
        Ok(wanted.to_vec())
    }
}

/// `[[apt]] #2 (debian)`: which table an error is about, by position and, when it has
/// one, by name.
fn entry_label(section: &str, index: usize, entry: &toml::Value) -> String {
    match entry.get("name").and_then(toml::Value::as_str) {
        Some(name) => format!("[[{section}]] #{} ({name})", index + 1),
        None => format!("[[{section}]] #{}", index + 1),
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
        let apt = format!("{:?}", config.mirror("debian").expect("apt mirror"));
        assert!(apt.contains(r#"components: ["main"]"#), "{apt}");
        assert!(apt.contains("recommends: true"), "{apt}");
        let conda = format!("{:?}", config.mirror("cf").expect("conda mirror"));
        assert!(conda.contains(r#"url: "file:///"#), "{conda}");
        assert_eq!(config.mirror_names(), ["debian", "cf"]);
        assert!(config.select(&["nope".into()]).is_err());

        fs_err::write(&path, "[[apt]]\nname = \"d\"\nurl = \"x\"\nsuites = [\"s\"]\nkeyring = \"k\"\npackage = [\"jq\"]\n")
            .expect("write");
        let err = format!("{:#}", Config::load(&path).expect_err("typo"));
        assert!(err.contains("package"), "{err}");
        assert!(err.contains("[[apt]] #1 (d)"), "{err}");

        fs_err::write(&path, "[[conda]]\nname = \"c\"\nurl = \"gopher://x\"\n").expect("write");
        let err = format!("{:#}", Config::load(&path).expect_err("bad scheme"));
        assert!(
            err.contains("[[conda]] #1 (c)") && err.contains("gopher"),
            "{err}"
        );

        fs_err::write(&path, "apt = { name = \"d\" }\n").expect("write");
        let err = format!("{:#}", Config::load(&path).expect_err("not an array"));
        assert!(err.contains("[[apt]]"), "{err}");

        fs_err::write(&path, "stor = \"x\"\n").expect("write");
        let err = format!("{:#}", Config::load(&path).expect_err("top-level typo"));
        assert!(err.contains("stor"), "{err}");
    }
}
