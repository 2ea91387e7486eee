//! What a format's settings section (`[[apt]]`, `[[conda]]` in `mirror.toml`) offers the
//! front end that reads it.
//!
//! Each format crate owns its schema: a serde struct with `deny_unknown_fields` and
//! documented defaults that implements [`MirrorSettings`]. The front end only deserialises
//! it, resolves relative paths with [`ConfigDir`], and reports errors with the file and
//! key; it never copies fields.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::RepositoryError;
use crate::repository::Repository;

/// The directory a config file was read from: relative paths and `file://` URLs in the
/// file are relative to it, so that a config and its keys can be moved together.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    base: PathBuf,
}

impl ConfigDir {
    /// Paths resolve against `base`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// The directory itself.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `path` as written in the file, resolved against the file's directory.
    pub fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// A URL as written in the file: `file://` with a relative path resolves against the
    /// file's directory; any URL loses its trailing `/`.
    pub fn url(&self, url: &str) -> String {
        match url.strip_prefix("file://") {
            Some(rest) if !rest.starts_with('/') => {
                let joined = self.base.join(rest);
                let absolute = std::path::absolute(&joined).unwrap_or(joined);
                format!("file://{}", absolute.display())
            }
            _ => url.trim_end_matches('/').to_owned(),
        }
    }
}

/// A mirror's upstream URL as its settings give it, checked when the config is loaded:
/// `http://`, `https://` or `file://` (`what` names the kind in the message: "channel
/// URL"), parseable, with no user name or password in it (credentials go in files the
/// settings name, never in a URL that is logged and recorded). Returned without its
/// trailing `/`.
pub fn upstream_url(url: &str, what: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/').to_owned();
    let parsed = url::Url::parse(&trimmed).map_err(|e| format!("url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https" | "file") {
        return Err(format!(
            "url {url:?}: expected an http://, https:// or file:// {what}"
        ));
    }
    crate::redact::check_no_userinfo(url)?;
    Ok(trimmed)
}

/// How a mirror is filled (`mode = ...` in its section).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `sync` fetches what the settings select; `serve` serves the published snapshot.
    #[default]
    Mirror,
    /// `serve` fetches what clients ask for, verified as `sync` would, and keeps it: a
    /// pull-through cache (see [`crate::proxy`]).
    Proxy,
}

impl Mode {
    /// The default, which configs need not write.
    pub fn is_mirror(&self) -> bool {
        *self == Mode::Mirror
    }
}

/// A proxy's `revalidate_after` setting (`"10m"`, `"30s"`), checked; the default when
/// absent. A mirror refuses the key: it means nothing there.
pub fn revalidate_after(mode: Mode, setting: Option<&str>) -> Result<std::time::Duration, String> {
    match (mode, setting) {
        (Mode::Mirror, Some(_)) => Err("revalidate_after applies to mode = \"proxy\" only".into()),
        (_, None) => Ok(crate::proxy::DEFAULT_REVALIDATE_AFTER),
        (Mode::Proxy, Some(text)) => crate::time_util::parse_duration(text).ok_or_else(|| {
            format!("revalidate_after {text:?}: expected a duration such as \"10m\"")
        }),
    }
}

/// One mirror's settings, as a format crate defines them.
pub trait MirrorSettings: fmt::Debug + Send + Sync {
    /// The mirror's name: its directory under `public/` and its URL prefix.
    fn name(&self) -> &str;

    /// The upstream URL (for `serve`'s routing by host name).
    fn upstream(&self) -> &str;

    /// Resolve the paths and URLs the settings name against the config's directory.
    fn resolve_paths(&mut self, dir: &ConfigDir);

    /// Cheap checks that need no file or network (run when the config is loaded, so that
    /// `status` already reports a bad setting).
    fn validate(&self) -> Result<(), RepositoryError>;

    /// The repository these settings describe (loads keyrings, parses specs).
    fn build(&self) -> Result<Box<dyn Repository>, RepositoryError>;

    /// Credentials the mirror's upstream needs (read from the files the settings name).
    /// The default needs none.
    fn credentials(&self) -> Result<Vec<crate::fetch::Credential>, RepositoryError> {
        Ok(Vec::new())
    }

    /// True when the mirror is in proxy mode (`mode = "proxy"`): `serve` fills it on
    /// demand and `sync` leaves it alone. The default is a mirror.
    fn is_proxy(&self) -> bool {
        false
    }

    /// The proxy that fills this mirror on demand, when it is in proxy mode; `None` for
    /// a mirror (the default, and formats without a proxy).
    fn proxy(
        &self,
        _ctx: &crate::proxy::ProxyContext,
    ) -> Option<Result<std::sync::Arc<dyn crate::proxy::ProxySource>, RepositoryError>> {
        None
    }

    /// The concrete settings, for [`link`](Self::link) to read a sibling's.
    fn as_any(&self) -> &dyn std::any::Any;

    /// Settings may name other mirrors of the same config (an APT mirror resolving its
    /// dependencies together with others). Called once every section is loaded, with
    /// every other mirror; an unknown or unsuitable name is the error. The default names
    /// none.
    fn link(&mut self, _others: &[&dyn MirrorSettings]) -> Result<(), RepositoryError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_file_urls_resolve_against_the_config_dir() {
        let dir = ConfigDir::new("/etc/mirror");
        assert_eq!(
            dir.path(Path::new("keys/a.asc")),
            Path::new("/etc/mirror/keys/a.asc")
        );
        assert_eq!(dir.path(Path::new("/abs")), Path::new("/abs"));
        assert_eq!(dir.url("file://channel"), "file:///etc/mirror/channel");
        assert_eq!(dir.url("file:///srv/x/"), "file:///srv/x");
        assert_eq!(dir.url("http://h/debian/"), "http://h/debian");
    }
}
