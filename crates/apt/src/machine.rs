//! `mirror-cli init --from-system`: the settings that mirror what a machine runs, one
//! [`AptConfig`] per upstream URL of its sources, selecting its installed packages (with
//! their dependencies) and resolving over all its sources at once, as its apt does.
//!
//! The reading is [`crate::system`]; this module only decides the settings. The CLI
//! serialises them (the format's own type; no TOML is written by hand).

use std::path::{Path, PathBuf};

use crate::config::{AptConfig, Keyrings, MissingPackages};
use crate::system::{self, SystemError, SystemPaths};

/// The mirrors of one machine.
#[derive(Debug, Clone)]
pub struct MachineMirrors {
    /// One per upstream URL, in the order the sources name them.
    pub mirrors: Vec<AptConfig>,
    /// How many packages dpkg has installed (each mirror selects them all).
    pub installed: usize,
    /// The dpkg status file read.
    pub dpkg_status: PathBuf,
}

/// What is wrong with the machine's configuration for mirroring it.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Reading its files failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// It has no enabled `deb` source.
    #[error("no enabled `deb` sources found under {0}")]
    NoSources(PathBuf),
}

/// The mirrors of the machine whose files are under `root` (`/` for this one).
pub fn mirrors_for_machine(root: &Path) -> Result<MachineMirrors, MachineError> {
    let paths = SystemPaths::under(root);
    let sources = system::read_sources(&paths.apt_etc)?;
    if sources.is_empty() {
        return Err(MachineError::NoSources(paths.apt_etc));
    }
    let status = system::read_dpkg_status(&paths.dpkg_status)?;
    // Another machine's architecture is what its packages are built for; this one's is
    // what dpkg here says.
    let arch = match status.main_architecture {
        Some(arch) if root != Path::new("/") => arch,
        _ => system::native_architecture(),
    };
    let found = system::group_by_uri(&sources, &paths.apt_etc);
    let names: Vec<String> = found.iter().map(|m| m.name.clone()).collect();
    let mirrors = found
        .into_iter()
        .map(|found| {
            let keyrings = system::keyrings_under(root, &found.keyrings);
            let mut config = AptConfig::new(
                found.name.clone(),
                found.uri,
                found.suites,
                Keyrings::Many(keyrings.into_iter().map(PathBuf::from).collect()),
            );
            config.components = found.components;
            config.architectures = vec![arch.clone()];
            config.recommends = true;
            // Installed names come from several origins: one no source carries is a
            // warning, not a failure.
            config.missing_packages = MissingPackages::Warn;
            // A security archive's packages depend on the release suite's.
            config.resolve_with = names
                .iter()
                .filter(|n| **n != found.name)
                .cloned()
                .collect();
            config.packages = Some(status.installed.clone());
            config
        })
        .collect();
    Ok(MachineMirrors {
        mirrors,
        installed: status.installed.len(),
        dpkg_status: paths.dpkg_status,
    })
}
