//! `init --pip-freeze FILE`: a `[[pypi]]` section whose requirements are what a Python
//! environment has installed, as `pip freeze` lists it (`name==version` lines). What
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
    let config = PypiConfig {
        name: "pypi".into(),
        url: url.unwrap_or("http://HOST/simple").into(),
        requirements,
        python: vec!["3.12".into()],
        platforms: vec!["manylinux_2_28_x86_64".into()],
        sdists: false,
        requirements_file: None,
        keep_versions: None,
        exclude: Vec::new(),
    };
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
