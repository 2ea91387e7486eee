//! Seeding a mirror's `specs` from what users already have: a conda `environment.yml` or
//! an explicit lockfile (`conda list --explicit`, `@EXPLICIT` followed by package URLs).
//!
//! The output is a list of match-spec strings for `mirror.toml`. Channel prefixes
//! (`conda-forge::numpy`) are dropped (a mirror has one upstream), `pip:` sections are
//! ignored (not conda packages), and an explicit lockfile's URLs become exact pins
//! `name ==version build`.

use std::path::Path;

use crate::record::parse_filename;
use crate::select::parse_spec;

/// The input could not be turned into specs.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Reading the file failed (names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The environment file is not valid YAML of the expected shape, or a dependency is not
    /// a match spec.
    #[error("{origin}: not a conda environment file: {message}")]
    Environment {
        /// The file.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// The lockfile has no `@EXPLICIT` line.
    #[error("{origin}: not an explicit lockfile (no @EXPLICIT line)")]
    NotExplicit {
        /// The file.
        origin: String,
    },
    /// A lockfile line is not a package URL.
    #[error("{origin}:{line}: not a conda package URL: {text:?}")]
    BadPackageUrl {
        /// The file.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Specs from an `environment.yml`'s `dependencies` (channel prefixes dropped, `pip:`
/// sections ignored), in file order, each written in canonical match-spec syntax.
/// `origin` names the file in errors.
pub fn specs_from_environment_yaml(text: &str, origin: &str) -> Result<Vec<String>, SeedError> {
    let env = rattler_conda_types::EnvironmentYaml::from_yaml_str(text).map_err(|e| {
        SeedError::Environment {
            origin: origin.to_owned(),
            message: e.to_string(),
        }
    })?;
    let mut specs: Vec<String> = Vec::new();
    for spec in env.match_specs() {
        let mut spec = spec.clone();
        spec.channel = None;
        spec.subdir = None;
        let text = spec.to_string();
        if !specs.contains(&text) {
            specs.push(text);
        }
    }
    Ok(specs)
}

/// Pins `name ==version build` from an explicit lockfile, in file order.
pub fn specs_from_explicit_lockfile(text: &str, origin: &str) -> Result<Vec<String>, SeedError> {
    let mut explicit = false;
    let mut specs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "@EXPLICIT" {
            explicit = true;
            continue;
        }
        let bad = || SeedError::BadPackageUrl {
            origin: origin.to_owned(),
            line: number + 1,
            text: line.to_owned(),
        };
        if !explicit {
            return Err(SeedError::NotExplicit {
                origin: origin.to_owned(),
            });
        }
        // `<channel>/<subdir>/<file>#<md5 or sha256>`, possibly with a query.
        let without_hash = line.split(['#', '?']).next().unwrap_or(line);
        if !without_hash.contains("://") {
            return Err(bad());
        }
        let filename =
            mirror_paths::percent_decode(without_hash.rsplit('/').next().unwrap_or_default())
                .ok_or_else(bad)?;
        let parts = parse_filename(&filename).map_err(|_| bad())?;
        let spec = format!("{} =={} {}", parts.name, parts.version, parts.build);
        parse_spec(&spec).map_err(|_| bad())?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    if !explicit {
        return Err(SeedError::NotExplicit {
            origin: origin.to_owned(),
        });
    }
    Ok(specs)
}

/// Read `path` and seed from it: an explicit lockfile when it has an `@EXPLICIT` line,
/// otherwise an `environment.yml`.
pub fn specs_from_file(path: &Path) -> Result<Vec<String>, SeedError> {
    let text = fs_err::read_to_string(path)?;
    let origin = path.display().to_string();
    if text.lines().any(|l| l.trim() == "@EXPLICIT") {
        specs_from_explicit_lockfile(&text, &origin)
    } else {
        specs_from_environment_yaml(&text, &origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_yaml() {
        let text = "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.12\n  \
                    - conda-forge::numpy >=1.26\n  - zlib\n  - pip\n  - pip:\n    - requests==2.0\n  - zlib\n";
        let specs = specs_from_environment_yaml(text, "environment.yml").expect("valid");
        assert_eq!(specs.len(), 4, "{specs:?}");
        assert!(specs[0].starts_with("python 3.12"), "{specs:?}");
        assert_eq!(specs[1], "numpy >=1.26");
        assert_eq!(&specs[2..], ["zlib", "pip"]);
        // Every spec parses back, also strictly.
        for spec in &specs {
            rattler_conda_types::MatchSpec::from_str(
                spec,
                rattler_conda_types::ParseStrictness::Strict,
            )
            .expect("canonical specs parse strictly");
        }
        let err = specs_from_environment_yaml("dependencies: [\"numpy >=>1\"]", "env.yml")
            .expect_err("bad spec");
        assert!(err.to_string().contains("env.yml"), "{err}");
    }

    #[test]
    fn explicit_lockfile() {
        let text = "# This file may be used to create an environment using:\n# platform: linux-64\n\
                    @EXPLICIT\n\nhttp://127.0.0.1:1/ch/linux-64/zlib-1.2.11-h7b6447c_3.conda#cb23839f06da92ec92c6d2d2d5e0cb4a\n\
                    file:///srv/ch/noarch/python-dateutil-2.8.2-pyhd8ed1ab_0.tar.bz2\n\
                    http://127.0.0.1:1/ch/linux-64/foo-1%212.0-h_0.conda\n";
        let specs = specs_from_explicit_lockfile(text, "lock.txt").expect("valid");
        assert_eq!(
            specs,
            [
                "zlib ==1.2.11 h7b6447c_3",
                "python-dateutil ==2.8.2 pyhd8ed1ab_0",
                "foo ==1!2.0 h_0"
            ]
        );
        let err =
            specs_from_explicit_lockfile("http://h/x-1-0.conda\n", "lock.txt").expect_err("no tag");
        assert!(matches!(err, SeedError::NotExplicit { .. }));
        let err = specs_from_explicit_lockfile("@EXPLICIT\nhttp://h/ch/README.md\n", "lock.txt")
            .expect_err("not a package");
        assert!(err.to_string().contains("lock.txt:2"), "{err}");
    }
}
