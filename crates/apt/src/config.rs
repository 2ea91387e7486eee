//! [`AptConfig`]: one `[[apt]]` mirror's settings as written in `mirror.toml`, their
//! defaults and their checks.

use std::path::PathBuf;

use mirror_core::error::RepositoryError;
use mirror_core::repository::Repository;
use mirror_core::settings::{ConfigDir, MirrorSettings, Mode};
use serde::{Deserialize, Serialize};

use crate::error::AptError;
use crate::repository::AptMirror;

/// One APT mirror's settings.
///
/// ```toml
/// [[apt]]
/// name = "debian"                      # directory under public/, URL prefix
/// url = "http://HOST/debian"           # the directory holding dists/ and pool/
/// suites = ["bookworm", "bookworm-updates"]
/// components = ["main"]                # default ["main"]
/// architectures = ["amd64"]            # default ["amd64"]; the first is native
/// keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"   # one path or a list
/// packages = ["jq", "curl"]            # absent: mirror everything, verbatim
/// recommends = true                    # default true, as apt
/// missing_packages = "error"           # or "warn"; default "error"
/// languages = ["en"]                   # Translation-* carried; default: all listed
///                                      # (full mirror) or ["en"] (filtered)
/// keep_versions = 2                    # filtered: the newest 2 versions of each package
/// installer = true                    # full mirror: debian-installer indices + udebs
/// sources = true                      # Sources indices and source packages (apt-get source)
/// allow_date_rollback = false          # refuse a Release older than the last accepted
/// max_date_skew = "6h"                 # refuse a Release dated further ahead than this
/// auth_file = "/etc/apt/auth.conf.d/esm.conf"   # apt's auth.conf format, or:
/// bearer_token_file = "keys/token"     # `Authorization: Bearer <file content>`
/// resolve_with = ["debian-security"]   # filtered: resolve together with these mirrors
/// self_contained = true                # default: true unless every suite is a pocket
///                                      # (-updates, -security, -backports, -proposed)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptConfig {
    /// Name: directory under public/ and URL prefix.
    pub name: String,
    /// Upstream base URL (the directory holding `dists/` and `pool/`).
    pub url: String,
    /// Suites (`bookworm`, `bookworm-updates`).
    pub suites: Vec<String>,
    /// Components. Default `["main"]`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Architectures (`amd64`; `all` for binary-all indices). The first is native.
    /// Default `["amd64"]`.
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    /// Keyring(s) the upstream Release must verify with.
    pub keyring: Keyrings,
    /// Allow-list (with dependency closure); `None` mirrors everything.
    #[serde(default)]
    pub packages: Option<Vec<String>>,
    /// Follow Recommends in the closure. Default `true`, as apt installs them.
    #[serde(default = "yes")]
    pub recommends: bool,
    /// A listed package no index carries. Default [`MissingPackages::Error`].
    #[serde(default)]
    pub missing_packages: MissingPackages,
    /// Languages of the `i18n/Translation-*` indices carried. `None` (the default): every
    /// language upstream lists for a full mirror, `en` (apt's default) for a filtered one.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// Other `[[apt]]` mirrors (by name) to resolve the selection together with, as apt
    /// does with every source of a machine: each name's candidate is the highest version
    /// across the group, dependencies are satisfied from the union of the group's
    /// indices, and this mirror publishes the candidates it carries. Filtered mirrors only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolve_with: Vec<String>,
    /// With `resolve_with`: also publish the closure of the selection within this mirror
    /// alone, so that a client or installer using only it still resolves. Default: true
    /// unless every suite is a pocket that needs its release suite (see
    /// [`AptConfig::is_self_contained`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_contained: Option<bool>,
    /// Filtered mirror: keep the newest N versions of each selected package (with each
    /// version's own dependencies), so a site can stay on, or go back to, the version it
    /// tested (`apt-get install pkg=version`). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_versions: Option<usize>,
    /// Full mirror: carry the `debian-installer/` indices and the udebs they name (for
    /// netboot installs from the mirror). Default `true`.
    #[serde(default = "yes")]
    pub installer: bool,
    /// Carry source packages, so `apt-get source` works from the mirror: a full mirror
    /// carries the `source/Sources` indices and every file they name; a filtered one the
    /// source package of each selected binary (its `Source:` name and version) with a
    /// generated Sources index. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sources: bool,
    /// Accept a signed Release whose `Date` is older than the one last accepted for its
    /// suite (a deliberate downgrade). Default `false`: it is refused as a rollback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_date_rollback: bool,
    /// How far ahead of this machine's clock a Release's `Date` may be (`90s`, `30m`,
    /// `6h`, `2d`). Default `6h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_date_skew: Option<String>,
    /// Credentials in apt's `auth.conf` format (`machine host/path login L password P`),
    /// sent to the URLs each entry names. The file is read when a sync starts; its
    /// content is never logged or stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_file: Option<PathBuf>,
    /// A file holding a bearer token, sent as `Authorization: Bearer` to every URL under
    /// `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// `mirror` (the default): `sync` fetches the selection. `proxy`: `serve` fetches
    /// what clients ask for, verified from the keyring down as `sync` verifies it, and
    /// keeps it (a selection, `packages` and what shapes one, is refused: clients select).
    #[serde(default, skip_serializing_if = "Mode::is_mirror")]
    pub mode: Mode,
    /// Proxy mode: how long a suite's Release is served before upstream is asked again.
    /// Default `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate_after: Option<String>,
    /// The settings of the `resolve_with` mirrors, filled in by [`MirrorSettings::link`].
    #[serde(skip)]
    pub group: Vec<AptConfig>,
}

/// What to do about a listed package the upstream does not carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPackages {
    /// Fail the sync (a typo must not go unnoticed).
    #[default]
    Error,
    /// Log and carry on (`init --from-system` lists packages from several origins).
    Warn,
}

/// One keyring path or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keyrings {
    /// `keyring = "/path"`
    One(PathBuf),
    /// `keyring = ["/a", "/b"]`
    Many(Vec<PathBuf>),
}

impl Keyrings {
    /// Every path.
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            Keyrings::One(path) => std::slice::from_ref(path),
            Keyrings::Many(paths) => paths,
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

impl AptConfig {
    /// Settings with the documented defaults for everything but the required keys.
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        suites: Vec<String>,
        keyring: Keyrings,
    ) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            suites,
            components: default_components(),
            architectures: default_architectures(),
            keyring,
            packages: None,
            recommends: true,
            missing_packages: MissingPackages::Error,
            languages: None,
            resolve_with: Vec::new(),
            self_contained: None,
            keep_versions: None,
            installer: true,
            sources: false,
            allow_date_rollback: false,
            max_date_skew: None,
            auth_file: None,
            bearer_token_file: None,
            mode: Mode::Mirror,
            revalidate_after: None,
            group: Vec::new(),
        }
    }

    /// Proxy mode's `revalidate_after`, or the default (checked by [`check`](Self::check)).
    pub fn revalidate_interval(&self) -> std::time::Duration {
        mirror_core::settings::revalidate_after(self.mode, self.revalidate_after.as_deref())
            .unwrap_or(mirror_core::proxy::DEFAULT_REVALIDATE_AFTER)
    }

    /// `max_date_skew`, or [`crate::freshness::DEFAULT_DATE_SKEW`].
    pub fn date_skew(&self) -> std::time::Duration {
        self.max_date_skew
            .as_deref()
            .and_then(mirror_core::time_util::parse_duration)
            .unwrap_or(crate::freshness::DEFAULT_DATE_SKEW)
    }

    /// Check what can be checked without files or network.
    pub fn check(&self) -> Result<(), AptError> {
        let invalid = |reason: String| AptError::InvalidConfig {
            mirror: self.name.clone(),
            reason,
        };
        mirror_core::paths::check_mirror_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        // Said at load (exit 3), not at the first request of a sync.
        let scheme = self
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https" | "file")) {
            return Err(invalid(format!(
                "url {:?}: expected an http://, https:// or file:// repository URL",
                self.url
            )));
        }
        mirror_core::redact::check_no_userinfo(&self.url).map_err(invalid)?;
        if self.suites.is_empty() || self.components.is_empty() || self.architectures.is_empty() {
            return Err(invalid(
                "suites, components and architectures must not be empty".into(),
            ));
        }
        if let Some(languages) = &self.languages
            && let Some(bad) = languages.iter().find(|l| !is_language(l))
        {
            return Err(invalid(format!(
                "languages: {bad:?} is not a language code like \"en\" or \"pt_BR\""
            )));
        }
        if !self.resolve_with.is_empty() && self.packages.is_none() {
            return Err(invalid(
                "resolve_with applies to a filtered mirror (one with `packages`): a full mirror carries everything anyway".into(),
            ));
        }
        if let Some(skew) = &self.max_date_skew
            && mirror_core::time_util::parse_duration(skew).is_none()
        {
            return Err(invalid(format!(
                "max_date_skew {skew:?} is not a duration such as \"90s\", \"30m\", \"6h\" or \"2d\""
            )));
        }
        if self.keep_versions == Some(0) {
            return Err(invalid("keep_versions must be at least 1".into()));
        }
        if self.keep_versions.is_some() && self.packages.is_none() {
            return Err(invalid(
                "keep_versions applies to a filtered mirror (one with `packages`): a full mirror keeps every version upstream lists".into(),
            ));
        }
        if self.resolve_with.contains(&self.name) {
            return Err(invalid("resolve_with names this mirror itself".into()));
        }
        if self.keyring.paths().is_empty() {
            return Err(invalid("keyring must name at least one file".into()));
        }
        if self.mode == Mode::Proxy
            && (self.packages.is_some()
                || !self.resolve_with.is_empty()
                || self.keep_versions.is_some()
                || self.sources)
        {
            return Err(invalid(
                "mode = \"proxy\" serves what clients ask for: packages, resolve_with, \
                 keep_versions and sources belong to a mirror"
                    .into(),
            ));
        }
        mirror_core::settings::revalidate_after(self.mode, self.revalidate_after.as_deref())
            .map_err(invalid)?;
        Ok(())
    }
}

/// `en`, `pt_BR`, `ca@valencia`: what follows `Translation-` in a Release path.
fn is_language(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'-'))
}

impl AptConfig {
    /// The credentials `auth_file` and `bearer_token_file` hold.
    pub fn read_credentials(&self) -> Result<Vec<mirror_core::fetch::Credential>, AptError> {
        use mirror_core::fetch::{Credential, Secret};
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|source| AptError::Credentials {
                mirror: self.name.clone(),
                reason: format!("reading {}: {source}", path.display()),
            })
        };
        let mut credentials = Vec::new();
        if let Some(path) = &self.auth_file {
            let text = read(path)?;
            // Each entry only under this mirror's url: a redirect elsewhere on the same
            // host never carries them (see `Credential::within`).
            credentials.extend(
                crate::auth::parse_auth_conf(&text, &path.display().to_string())
                    .map_err(|error| AptError::Credentials {
                        mirror: self.name.clone(),
                        reason: error.to_string(),
                    })?
                    .iter()
                    .filter_map(|entry| entry.within(&self.url)),
            );
        }
        if let Some(path) = &self.bearer_token_file {
            let token = read(path)?.trim().to_owned();
            let invalid = |reason: &str| AptError::Credentials {
                mirror: self.name.clone(),
                reason: format!("{}: {reason}", path.display()),
            };
            if token.is_empty() || token.contains(char::is_whitespace) {
                return Err(invalid("expected one token on one line"));
            }
            credentials.push(
                Credential::for_url(&self.url, Secret::Bearer(token))
                    .ok_or_else(|| invalid("the mirror's url has no host to send the token to"))?,
            );
        }
        Ok(credentials)
    }
}

/// Suite suffixes of pockets that only add to a release suite (Debian and Ubuntu).
const POCKETS: [&str; 5] = [
    "-updates",
    "-security",
    "-backports",
    "-proposed",
    "/updates",
];

impl AptConfig {
    /// Whether the mirror must resolve on its own too: the setting, else true when some
    /// suite is a release suite (`bookworm`, `noble`), not only pockets such as
    /// `bookworm-security` whose packages depend on their release suite.
    pub fn is_self_contained(&self) -> bool {
        self.self_contained.unwrap_or_else(|| {
            self.suites
                .iter()
                .any(|suite| !POCKETS.iter().any(|pocket| suite.ends_with(pocket)))
        })
    }

    /// The Translation languages carried: the setting, else every listed one (`None`)
    /// for a full mirror and `en` for a filtered one.
    pub fn effective_languages(&self) -> Option<Vec<String>> {
        match (&self.languages, &self.packages) {
            (Some(languages), _) => Some(languages.clone()),
            (None, None) => None,
            (None, Some(_)) => Some(vec!["en".to_owned()]),
        }
    }
}

impl MirrorSettings for AptConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn upstream(&self) -> &str {
        &self.url
    }

    fn resolve_paths(&mut self, dir: &ConfigDir) {
        self.url = dir.url(&self.url);
        self.keyring = Keyrings::Many(self.keyring.paths().iter().map(|p| dir.path(p)).collect());
        self.auth_file = self.auth_file.as_deref().map(|p| dir.path(p));
        self.bearer_token_file = self.bearer_token_file.as_deref().map(|p| dir.path(p));
    }

    fn credentials(&self) -> Result<Vec<mirror_core::fetch::Credential>, RepositoryError> {
        self.read_credentials().map_err(RepositoryError::new)
    }

    fn validate(&self) -> Result<(), RepositoryError> {
        self.check().map_err(RepositoryError::new)
    }

    fn build(&self) -> Result<Box<dyn Repository>, RepositoryError> {
        Ok(Box::new(
            AptMirror::new(self.clone()).map_err(RepositoryError::new)?,
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
            .then(|| mirror_core::proxy::shared(crate::proxy::AptProxy::new(self, ctx)))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn link(&mut self, others: &[&dyn MirrorSettings]) -> Result<(), RepositoryError> {
        let invalid = |reason: String| {
            RepositoryError::new(AptError::InvalidConfig {
                mirror: self.name.clone(),
                reason,
            })
        };
        let mut group = Vec::new();
        for name in &self.resolve_with {
            let other = others.iter().find(|o| o.name() == name).ok_or_else(|| {
                invalid(format!(
                    "resolve_with names {name:?}, which is no mirror of this config"
                ))
            })?;
            let other = other.as_any().downcast_ref::<AptConfig>().ok_or_else(|| {
                invalid(format!(
                    "resolve_with names {name:?}, which is not an [[apt]] mirror"
                ))
            })?;
            let mut member = other.clone();
            // One level: the members' own groups do not widen this one.
            member.group.clear();
            group.push(member);
        }
        self.group = group;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_typos() {
        let config: AptConfig = serde_json::from_str(
            r#"{"name": "debian", "url": "http://h/debian", "suites": ["bookworm"], "keyring": "/k.gpg"}"#,
        )
        .expect("parses");
        assert_eq!(
            config,
            AptConfig::new(
                "debian",
                "http://h/debian",
                vec!["bookworm".into()],
                Keyrings::One("/k.gpg".into())
            )
        );
        config.check().expect("valid");
        let typo = serde_json::from_str::<AptConfig>(
            r#"{"name": "d", "url": "x", "suites": ["s"], "keyring": "k", "package": ["jq"]}"#,
        )
        .expect_err("typo");
        assert!(typo.to_string().contains("package"), "{typo}");
    }

    #[test]
    fn proxy_mode_refuses_a_selection_and_takes_an_interval() {
        let mut config = AptConfig::new(
            "d",
            "http://h/x",
            vec!["s".into()],
            Keyrings::One("k".into()),
        );
        config.revalidate_after = Some("5m".into());
        let err = config
            .check()
            .expect_err("a mirror has no interval")
            .to_string();
        assert!(err.contains("revalidate_after"), "{err}");
        config.mode = Mode::Proxy;
        config.check().expect("a proxy");
        assert_eq!(
            config.revalidate_interval(),
            std::time::Duration::from_secs(300)
        );
        assert!(MirrorSettings::is_proxy(&config));
        config.packages = Some(vec!["jq".into()]);
        let err = config.check().expect_err("no selection").to_string();
        assert!(err.contains("proxy") && err.contains("d"), "{err}");
    }

    #[test]
    fn empty_lists_and_bad_names_are_refused_naming_the_mirror() {
        let mut config = AptConfig::new(
            "d",
            "ftp://h/x",
            vec!["s".into()],
            Keyrings::One("k".into()),
        );
        let err = config.check().expect_err("ftp").to_string();
        assert!(err.contains("ftp://h/x"), "{err}");
        config.url = "http://h/x".into();
        config.suites = vec![];
        config.keyring = Keyrings::Many(vec![]);
        let err = config.check().expect_err("no suites");
        assert!(err.to_string().contains("d:"), "{err}");
        config.suites = vec!["s".into()];
        assert!(
            config
                .check()
                .expect_err("no keyring")
                .to_string()
                .contains("keyring")
        );
        config.keyring = Keyrings::One("k".into());
        config.name = "../x".into();
        assert!(config.check().is_err());
    }

    #[test]
    fn resolve_with_links_named_apt_mirrors_only() {
        let keyring = || Keyrings::One("k".into());
        let mut security = AptConfig::new(
            "security",
            "http://h/u",
            vec!["bookworm-security".into()],
            keyring(),
        );
        security.packages = Some(vec!["jq".into()]);
        security.resolve_with = vec!["debian".into()];
        let debian = AptConfig::new("debian", "http://h/u", vec!["bookworm".into()], keyring());
        security.link(&[&debian]).expect("links");
        assert_eq!(security.group.len(), 1);
        assert_eq!(security.group[0], debian);
        assert!(!security.is_self_contained(), "a pocket alone");
        assert!(debian.is_self_contained(), "a release suite");

        security.resolve_with = vec!["nosuch".into()];
        let err = security.link(&[&debian]).expect_err("unknown").to_string();
        assert!(err.contains("security") && err.contains("nosuch"), "{err}");

        security.resolve_with = vec!["security".into()];
        assert!(security.check().is_err(), "itself");
        let mut full = debian;
        full.resolve_with = vec!["security".into()];
        let err = full.check().expect_err("full mirror").to_string();
        assert!(err.contains("filtered"), "{err}");
    }

    #[test]
    fn paths_resolve_against_the_config_dir() {
        let mut config = AptConfig::new(
            "d",
            "file://upstream/",
            vec!["s".into()],
            Keyrings::One("keys/a.gpg".into()),
        );
        config.resolve_paths(&ConfigDir::new("/etc/m"));
        assert_eq!(config.url, "file:///etc/m/upstream/");
        assert_eq!(config.keyring.paths(), [PathBuf::from("/etc/m/keys/a.gpg")]);
    }
}
