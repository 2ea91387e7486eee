//! Distribution file names: wheels (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`,
//! the binary distribution format) and sdists (`{name}-{version}.tar.gz`, PEP 625, or the
//! older `.zip`). An index names the file; the mirror stores it under that name, so the
//! name is checked to be one plain path component before anything else.

use crate::name::normalize;

/// A distribution file name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("distribution file name {filename:?}: {reason}")]
pub struct FilenameError {
    /// The name as given.
    pub filename: String,
    /// What is wrong.
    pub reason: String,
}

/// What kind of distribution a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A built wheel, with its compatibility tags (each possibly several, `py2.py3`).
    Wheel {
        /// Build tag, when given (starts with a digit).
        build: Option<String>,
        /// Python tags (`cp311`, `py3`).
        python: Vec<String>,
        /// ABI tags (`cp311`, `abi3`, `none`).
        abi: Vec<String>,
        /// Platform tags (`manylinux_2_28_x86_64`, `any`).
        platform: Vec<String>,
    },
    /// A source distribution (`.tar.gz` or `.zip`).
    Sdist,
}

/// A parsed distribution file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    /// The project, normalised (PEP 503).
    pub project: String,
    /// The version as written in the name.
    pub version: String,
    /// Wheel or sdist.
    pub kind: Kind,
}

impl DistFilename {
    /// Parses `filename`, which must be one plain path component.
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        let error = |reason: String| FilenameError {
            filename: filename.to_owned(),
            reason,
        };
        mirror_paths::check_relative(filename).map_err(|e| error(e.to_string()))?;
        if filename.contains('/') {
            return Err(error("not a single path component".into()));
        }
        if let Some(stem) = filename.strip_suffix(".whl") {
            return Self::wheel(stem).map_err(error);
        }
        let stem = [".tar.gz", ".zip"]
            .iter()
            .find_map(|ext| filename.strip_suffix(ext))
            .ok_or_else(|| error("neither a wheel (.whl) nor an sdist (.tar.gz, .zip)".into()))?;
        // The version is what follows the last '-' (PEP 625 escapes the name's own).
        let (name, version) = stem
            .rsplit_once('-')
            .ok_or_else(|| error("no '-' between name and version".into()))?;
        Ok(DistFilename {
            project: normalize(name).map_err(|e| error(e.to_string()))?,
            version: check_version(version).map_err(error)?,
            kind: Kind::Sdist,
        })
    }

    fn wheel(stem: &str) -> Result<Self, String> {
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [name, version, python, abi, platform] => {
                (name, version, None, [python, abi, platform])
            }
            [name, version, build, python, abi, platform] => {
                if !build.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!("build tag {build:?} must start with a digit"));
                }
                (
                    name,
                    version,
                    Some((*build).to_owned()),
                    [python, abi, platform],
                )
            }
            _ => return Err("a wheel name has 5 or 6 '-'-separated parts".into()),
        };
        let tag_set = |tags: &str| -> Result<Vec<String>, String> {
            let set: Vec<String> = tags.split('.').map(str::to_owned).collect();
            if set.iter().any(|tag| {
                tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) {
                return Err(format!("invalid compatibility tag set {tags:?}"));
            }
            Ok(set)
        };
        Ok(DistFilename {
            project: normalize(name).map_err(|e| e.to_string())?,
            version: check_version(version)?,
            kind: Kind::Wheel {
                build,
                python: tag_set(tags[0])?,
                abi: tag_set(tags[1])?,
                platform: tag_set(tags[2])?,
            },
        })
    }

    /// Whether this is a wheel that installs on any platform (`any`).
    pub fn is_pure(&self) -> bool {
        matches!(&self.kind, Kind::Wheel { platform, .. } if platform.iter().any(|p| p == "any"))
    }
}

/// A version as a file name writes it: starts with a digit (or `v`), and only the
/// characters PEP 440 versions use.
fn check_version(version: &str) -> Result<String, String> {
    let plausible = version
        .trim_start_matches(['v', 'V'])
        .starts_with(|c: char| c.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'!'));
    if plausible {
        Ok(version.to_owned())
    } else {
        Err(format!("{version:?} is not a version"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wheels_and_sdists() {
        let wheel = DistFilename::parse(
            "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .expect("wheel");
        assert_eq!(wheel.project, "numpy");
        assert_eq!(wheel.version, "2.1.0");
        assert_eq!(
            wheel.kind,
            Kind::Wheel {
                build: None,
                python: vec!["cp311".into()],
                abi: vec!["cp311".into()],
                platform: vec![
                    "manylinux_2_17_x86_64".into(),
                    "manylinux2014_x86_64".into()
                ],
            }
        );
        assert!(!wheel.is_pure());
        let pure = DistFilename::parse("requests-2.32.3-py3-none-any.whl").expect("pure");
        assert!(pure.is_pure());
        let built = DistFilename::parse("Zope.Interface-6.0-1build-py2.py3-none-any.whl")
            .expect("build tag");
        assert_eq!(built.project, "zope-interface");
        assert!(
            matches!(built.kind, Kind::Wheel { build: Some(ref b), ref python, .. }
            if b == "1build" && python == &["py2", "py3"])
        );
        let sdist = DistFilename::parse("charset_normalizer-3.3.2.tar.gz").expect("sdist");
        assert_eq!(
            (sdist.project.as_str(), sdist.version.as_str()),
            ("charset-normalizer", "3.3.2")
        );
        assert_eq!(sdist.kind, Kind::Sdist);
    }

    #[test]
    fn refuses_paths_and_what_is_no_distribution() {
        for bad in [
            "../requests-2.32.3-py3-none-any.whl",
            "/abs/requests-2.32.3-py3-none-any.whl",
            "sub/requests-2.32.3-py3-none-any.whl",
            "requests-2.32.3-py3-none.whl",
            "requests-2.32.3-x-py3-none-any.whl",
            "requests-latest-py3-none-any.whl",
            "requests-2.32.3-py3-none-any!.whl",
            "requests-2.32.3.exe",
            "requests.tar.gz",
            "",
        ] {
            let error = DistFilename::parse(bad).expect_err(bad);
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }
}
