//! [`SimplestreamsConfig`]: one `[[simplestreams]]` mirror's settings.

use std::path::PathBuf;

use mirror_core::error::RepositoryError;
use mirror_core::repository::Repository;
use mirror_core::settings::{ConfigDir, MirrorSettings};
use serde::{Deserialize, Serialize};

use crate::error::SimplestreamsError;
use crate::filter::{Filter, Selection};
use crate::mirror::SimplestreamsMirror;

/// One simplestreams mirror (MAAS boot images, cloud images, LXD images).
///
/// ```toml
/// [[simplestreams]]
/// name = "maas"                            # index at /maas/streams/v1/index.sjson
/// url = "http://HOST/ephemeral-v3/stable/" # the directory holding streams/v1/
/// keyring = ["/usr/share/keyrings/...gpg"] # verifies upstream's .sjson files
/// filters = ["arch=amd64"]                # sstream-mirror's syntax, all must match
/// selections = [["release~^(jammy|noble)$"], ["content_id~bootloader"]]  # and one of these
/// keep_versions = 1                        # newest version names per product
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimplestreamsConfig {
    /// The mirror's name: its directory under `public/` and its URL prefix.
    pub name: String,
    /// The stream root (`http://`, `https://` or `file://`): the directory holding
    /// `streams/v1/index.sjson`.
    pub url: String,
    /// OpenPGP keys (binary keyrings or armored files) that sign upstream's `.sjson`.
    pub keyring: Vec<PathBuf>,
    /// `sstream-mirror` filters (`key=value`, `key!=value`, `key~regex`, `key!~regex`)
    /// on each item's attributes, its own and inherited (`content_id`, `release`,
    /// `arch`, `subarch`, `os`, `ftype`, ...). Every filter must match. Empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Groups of filters, one of which each kept item must pass whole (besides
    /// `filters`): a union of selections, as MAAS makes one, e.g.
    /// `[["release~^(jammy|noble)$"], ["content_id~bootloader"]]`. Empty: no such condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selections: Vec<Vec<String>>,
    /// Keep the newest N version names of each product (after the filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_versions: Option<usize>,
    /// Take items whose product file states only an md5 or sha1 (old streams): each is
    /// downloaded whole (within `max_index_size`), checked against that digest and its
    /// size, stored under the SHA-256 it turns out to have, and counted (`weak`) in the
    /// summary. Default `false`: such an item fails the sync (exit 4), since md5 and sha1
    /// can be forged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_weak_checksums: bool,
    /// Publishing a selection with no item is fine. Default `false`: filters that match
    /// nothing fail the sync (exit 7).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
}

/// Settings checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub url: String,
    pub selection: Selection,
}

impl SimplestreamsConfig {
    /// A mirror of everything under `url`, verified with `keyring`.
    pub fn new(name: &str, url: &str, keyring: Vec<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            keyring,
            filters: Vec::new(),
            selections: Vec::new(),
            keep_versions: None,
            allow_weak_checksums: false,
            allow_empty: false,
        }
    }

    /// True when every item is kept: upstream's signed files are published as they are.
    pub fn unfiltered(&self) -> bool {
        self.filters.is_empty() && self.selections.is_empty() && self.keep_versions.is_none()
    }

    pub(crate) fn check(&self) -> Result<Settings, SimplestreamsError> {
        let invalid = |reason: String| SimplestreamsError::InvalidConfig {
            mirror: self.name.clone(),
            reason,
        };
        mirror_core::paths::check_mirror_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        let url = mirror_core::settings::upstream_url(&self.url, "stream URL").map_err(invalid)?;
        if self.keyring.is_empty() {
            return Err(invalid("keyring must name at least one file".into()));
        }
        if self.keep_versions == Some(0) {
            return Err(invalid("keep_versions must be at least 1".into()));
        }
        let parse = |texts: &[String]| -> Result<Vec<Filter>, SimplestreamsError> {
            texts
                .iter()
                .map(|f| Filter::parse(f).map_err(invalid))
                .collect()
        };
        let selection = Selection {
            all: parse(&self.filters)?,
            any: self
                .selections
                .iter()
                .map(|group| parse(group))
                .collect::<Result<_, _>>()?,
        };
        Ok(Settings { url, selection })
    }
}

impl MirrorSettings for SimplestreamsConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn upstream(&self) -> &str {
        &self.url
    }

    fn resolve_paths(&mut self, dir: &ConfigDir) {
        self.url = dir.url(&self.url);
        self.keyring = self.keyring.iter().map(|p| dir.path(p)).collect();
    }

    fn validate(&self) -> Result<(), RepositoryError> {
        self.check().map(drop).map_err(RepositoryError::new)
    }

    fn build(&self) -> Result<Box<dyn Repository>, RepositoryError> {
        Ok(Box::new(
            SimplestreamsMirror::new(self.clone()).map_err(RepositoryError::new)?,
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
