//! `init --pip-freeze FILE` and `init --from-system`: a `[[pypi]]` section whose
//! requirements are what a Python environment has installed, as `pip freeze` lists it
//! (`name==version` lines) or as the machine's `*.dist-info` directories say. What
//! the index cannot serve is left out with a note: editable installs (`-e ...`) and
//! direct references (`name @ file:///...`), which name source trees, not releases.

use std::path::Path;

use crate::config::PypiConfig;
use crate::requirements_file::{self, RequirementsError};
use crate::resolve::Req;

/// The freeze file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// It cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a requirement.
    #[error(transparent)]
    Line(#[from] RequirementsError),
    /// No line names a release.
    #[error("{0}: no requirement the index can serve")]
    Empty(String),
}

impl mirror_core::error::Classify for SeedError {
    /// `init --pip-freeze FILE`: the file the operator named is not usable.
    fn class(&self) -> mirror_core::error::ErrorClass {
        mirror_core::error::ErrorClass::Config
    }
}

/// A `[[pypi]]` mirror of what `freeze` lists, from the index at `url` (a placeholder
/// when none is given), and notes for the operator.
pub fn from_freeze(
    freeze: &Path,
    url: Option<&str>,
) -> Result<(PypiConfig, Vec<String>), SeedError> {
    let origin = freeze.display().to_string();
    let text = std::fs::read_to_string(freeze).map_err(|source| SeedError::Read {
        path: origin.clone(),
        source,
    })?;
    let mut notes = Vec::new();
    // Editable installs are the environment's own source trees.
    let kept: String = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("-e ") || trimmed.starts_with("--editable") {
                notes.push(format!("{origin}: left out an editable install: {trimmed}"));
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut requirements = Vec::new();
    for (line, text) in requirements_file::read(&kept, &origin)? {
        let requirement: Req = text.parse().map_err(|e| RequirementsError {
            origin: origin.clone(),
            line,
            reason: format!("{text:?}: {e}"),
        })?;
        if let Some(pep508_rs::VersionOrUrl::Url(_)) = requirement.version_or_url {
            notes.push(format!(
                "{origin}:{line}: left out {}, installed from a URL, not an index",
                requirement.name
            ));
            continue;
        }
        requirements.push(text);
    }
    if requirements.is_empty() {
        return Err(SeedError::Empty(origin));
    }
    notes.push(format!(
        "[[pypi]] seeded with {} requirements from {origin}; set python and platforms to \
         the machines that install from the mirror",
        requirements.len()
    ));
    let config = PypiConfig::new("pypi", url.unwrap_or("http://HOST/simple"), requirements);
    Ok((config, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_seeds_its_releases_and_notes_what_it_leaves_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let freeze = dir.path().join("freeze.txt");
        std::fs::write(
            &freeze,
            "certifi==2024.8.30\n-e git+https://example.invalid/x.git#egg=x\nlocal @ file:///src/local\nrequests==2.32.3\n",
        )
        .expect("write");
        let (config, notes) =
            from_freeze(&freeze, Some("http://mirror.invalid/simple")).expect("seeds");
        assert_eq!(
            config.requirements,
            ["certifi==2024.8.30", "requests==2.32.3"]
        );
        assert_eq!(config.url, "http://mirror.invalid/simple");
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(config.validate().is_ok());
        std::fs::write(&freeze, "# nothing\n").expect("write");
        assert!(matches!(
            from_freeze(&freeze, None),
            Err(SeedError::Empty(_))
        ));
    }
}

/// What `init --from-system` found for PyPI under a root.
#[derive(Debug)]
pub struct SystemSeed {
    /// The section, when the machine has packages installed with pip and an index
    /// configured for pip.
    pub config: Option<PypiConfig>,
    /// For the operator.
    pub notes: Vec<String>,
}

/// `init --from-system`: a `[[pypi]]` mirror of what pip installed on the machine under
/// `root` (`/` for this one): every distribution in `usr/local/lib/python3.N/
/// {dist,site}-packages` (where pip installs on Debian; `usr/lib/python3.N/dist-packages`
/// is apt's, and is left to the APT mirror) and `usr/lib/python3.N/site-packages` (other
/// distributions), pinned at its installed version, for the Python versions found, from
/// the index `etc/pip.conf` names (`index-url` under `[global]`, `[install]` or
/// `[download]`). Without such an index there is no section (a note says so): the
/// mirror's upstream is never guessed. Distributions installed from a URL or a source
/// tree (`direct_url.json`) are left out with a note.
pub fn from_system(root: &Path) -> Result<SystemSeed, SeedError> {
    let mut notes = Vec::new();
    let mut pythons = std::collections::BTreeSet::new();
    let mut requirements = std::collections::BTreeSet::new();
    for (lib, kinds) in [
        ("usr/local/lib", &["dist-packages", "site-packages"][..]),
        ("usr/lib", &["site-packages"][..]),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir_name = entry.file_name().to_string_lossy().into_owned();
            let Some(minor) = dir_name
                .strip_prefix("python3.")
                .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            for kind in kinds {
                let Ok(dists) = std::fs::read_dir(entry.path().join(kind)) else {
                    continue;
                };
                for dist in dists.flatten() {
                    let name = dist.file_name().to_string_lossy().into_owned();
                    if !name.ends_with(".dist-info") {
                        continue;
                    }
                    let path = dist.path();
                    if path.join("direct_url.json").is_file() {
                        notes.push(format!(
                            "{}: left out, installed from a URL or a source tree",
                            path.display()
                        ));
                        continue;
                    }
                    let Ok(metadata) = std::fs::read(path.join("METADATA")) else {
                        continue;
                    };
                    let origin = path.join("METADATA").display().to_string();
                    match crate::metadata::Metadata::parse(&metadata, &origin) {
                        Ok(m) => {
                            requirements.insert(format!("{}=={}", m.name, m.version));
                            pythons.insert(format!("3.{minor}"));
                        }
                        Err(e) => notes.push(format!("left out: {e}")),
                    }
                }
            }
        }
    }
    if requirements.is_empty() {
        return Ok(SystemSeed {
            config: None,
            notes,
        });
    }
    let conf = root.join("etc/pip.conf");
    let Some(url) = std::fs::read_to_string(&conf)
        .ok()
        .and_then(|text| index_url(&text))
    else {
        notes.push(format!(
            "{} distributions installed with pip, but {} names no index-url: no [[pypi]] \
             section written (add one, or run init --pip-freeze FILE --pypi-url URL)",
            requirements.len(),
            conf.display()
        ));
        return Ok(SystemSeed {
            config: None,
            notes,
        });
    };
    notes.push(format!(
        "[[pypi]] seeded with {} distributions installed with pip, from {url} ({})",
        requirements.len(),
        conf.display()
    ));
    Ok(SystemSeed {
        config: Some(PypiConfig {
            python: pythons.into_iter().collect(),
            ..PypiConfig::new("pypi", &url, requirements.into_iter().collect())
        }),
        notes,
    })
}

/// pip's `index-url` from a `pip.conf` (INI: `[global]`, `[install]` or `[download]`).
fn index_url(text: &str) -> Option<String> {
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase().replace('_', "-");
        if key == "index-url" && matches!(section.as_str(), "global" | "install" | "download") {
            return Some(value.trim().to_owned());
        }
    }
    None
}

#[cfg(test)]
mod system_tests {
    use super::*;

    #[test]
    fn pip_installs_and_pips_index_seed_a_section_and_nothing_is_guessed() {
        let root = tempfile::tempdir().expect("tempdir");
        let site = root.path().join("usr/local/lib/python3.11/dist-packages");
        for (name, version) in [("Requests", "2.32.3"), ("idna", "3.10")] {
            let dist = site.join(format!("{name}-{version}.dist-info"));
            std::fs::create_dir_all(&dist).expect("mkdir");
            std::fs::write(
                dist.join("METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
            )
            .expect("write");
        }
        let local = site.join("mine-0.1.dist-info");
        std::fs::create_dir_all(&local).expect("mkdir");
        std::fs::write(
            local.join("METADATA"),
            "Metadata-Version: 2.1\nName: mine\nVersion: 0.1\n",
        )
        .expect("write");
        std::fs::write(local.join("direct_url.json"), "{}").expect("write");
        // apt's own Python packages are the APT mirror's.
        let apt = root
            .path()
            .join("usr/lib/python3/dist-packages/six-1.16.dist-info");
        std::fs::create_dir_all(&apt).expect("mkdir");

        let seed = from_system(root.path()).expect("reads");
        assert!(
            seed.config.is_none(),
            "no index configured: {:?}",
            seed.notes
        );
        assert!(
            seed.notes.iter().any(|n| n.contains("names no index-url")),
            "{:?}",
            seed.notes
        );

        std::fs::create_dir_all(root.path().join("etc")).expect("mkdir");
        std::fs::write(
            root.path().join("etc/pip.conf"),
            "[global]\ntimeout = 60\nindex-url = http://mirror.invalid/simple\n",
        )
        .expect("write");
        let seed = from_system(root.path()).expect("reads");
        let config = seed.config.expect("seeded");
        assert_eq!(config.requirements, ["idna==3.10", "requests==2.32.3"]);
        assert_eq!(config.python, ["3.11"]);
        assert_eq!(config.url, "http://mirror.invalid/simple");
        assert!(
            seed.notes.iter().any(|n| n.contains("mine-0.1")),
            "{:?}",
            seed.notes
        );
    }
}
