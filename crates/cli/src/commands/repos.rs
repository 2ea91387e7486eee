//! Building library repositories from config sections.

use anyhow::Context as _;

use crate::config::{self, Config};

/// An APT mirror from its `[[apt]]` section.
pub fn apt(config: &Config, m: &config::AptMirror) -> anyhow::Result<mirror_apt::AptMirror> {
    let settings = mirror_apt::AptMirrorConfig {
        name: m.name.clone(),
        url: config.resolve_url(&m.url),
        suites: m.suites.clone(),
        components: m.components.clone(),
        architectures: m.architectures.clone(),
        keyrings: m
            .keyring
            .paths()
            .iter()
            .map(|p| config.resolve(p))
            .collect(),
        packages: m.packages.clone(),
        recommends: m.recommends,
        missing_packages_are_errors: m.missing_packages == config::MissingPackages::Error,
    };
    mirror_apt::AptMirror::new(settings).with_context(|| format!("[[apt]] {}", m.name))
}

/// A conda mirror from its `[[conda]]` section.
pub fn conda(
    config: &Config,
    m: &config::CondaMirror,
) -> anyhow::Result<mirror_conda::CondaMirror> {
    let settings = mirror_conda::CondaConfig {
        name: m.name.clone(),
        url: config.resolve_url(&m.url),
        subdirs: m.subdirs.clone(),
        specs: m.specs.clone(),
        keep_versions: m.keep_versions,
        exclude: m.exclude.clone(),
        licenses: m.licenses.clone().unwrap_or_default(),
    };
    mirror_conda::CondaMirror::new(settings).with_context(|| format!("[[conda]] {}", m.name))
}
