//! Which wheels install on a target: a CPython version and the platforms configured
//! (`python = ["3.11"]`, `platforms = ["manylinux_2_28_x86_64"]`), as pip and uv decide
//! it from compatibility tags (the binary distribution format and `packaging.tags`).
//!
//! A mirror keeps every file some target can install, so this answers yes or no, not
//! the client's order of preference. A manylinux platform accepts every older glibc of
//! its architecture (`manylinux_2_28` takes `manylinux_2_17` and the legacy names
//! `manylinux2014`, `manylinux2010`, `manylinux1`), a musllinux platform every older
//! musl; other platforms (macOS, Windows, `linux_*`) are taken as written. `any` is
//! every target's. sdists are not a matter of tags (they are kept when asked for).

use crate::filename::{DistFilename, Kind};

/// A target that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target: {0}")]
pub struct TargetError(String);

/// One interpreter and the platforms it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// CPython 3.`minor`.
    minor: u32,
    /// Platform tags accepted (expanded), `any` included.
    platforms: Vec<String>,
}

impl Target {
    /// CPython `python` (`3.11`) on `platforms` (tags as wheels write them).
    pub fn new(python: &str, platforms: &[String]) -> Result<Self, TargetError> {
        let minor = python
            .strip_prefix("3.")
            .and_then(|minor| minor.parse::<u32>().ok())
            .ok_or_else(|| TargetError(format!("python {python:?}: expected 3.N")))?;
        let mut accepted = vec!["any".to_owned()];
        for platform in platforms {
            if platform.is_empty()
                || !platform
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(TargetError(format!("platform {platform:?}")));
            }
            accepted.extend(expand(platform));
        }
        accepted.sort();
        accepted.dedup();
        Ok(Target {
            minor,
            platforms: accepted,
        })
    }

    /// Whether a client on this target can install `file` (every sdist: yes).
    pub fn accepts(&self, file: &DistFilename) -> bool {
        let Kind::Wheel {
            python,
            abi,
            platform,
            ..
        } = &file.kind
        else {
            return true;
        };
        platform.iter().any(|p| self.platforms.contains(p))
            && python
                .iter()
                .any(|py| abi.iter().any(|abi| self.interpreter(py, abi)))
    }

    /// Whether the python and ABI tags fit CPython 3.`minor`.
    fn interpreter(&self, python: &str, abi: &str) -> bool {
        let version = |tag: &str, prefix: &str| {
            tag.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('3'))
                .and_then(|minor| {
                    if minor.is_empty() {
                        Some(None)
                    } else {
                        minor.parse::<u32>().ok().map(Some)
                    }
                })
        };
        match (version(python, "cp"), version(python, "py")) {
            // cp3M: built for exactly this CPython (its ABI, the stable ABI or none), or
            // for an older one against the stable ABI.
            (Some(Some(minor)), _) if minor == self.minor => {
                abi == format!("cp3{minor}") || abi == "abi3" || abi == "none"
            }
            (Some(Some(minor)), _) => minor < self.minor && abi == "abi3",
            // py3 and py3M (M not newer): pure Python.
            (None, Some(None)) => abi == "none",
            (None, Some(Some(minor))) => minor <= self.minor && abi == "none",
            _ => false,
        }
    }
}

/// The platform tags a configured one accepts: itself, and the older manylinux or
/// musllinux of its architecture.
fn expand(platform: &str) -> Vec<String> {
    let mut tags = vec![platform.to_owned()];
    let glibc = |rest: &str| -> Option<(u32, String)> {
        let (minor, arch) = rest.strip_prefix("2_")?.split_once('_')?;
        Some((minor.parse().ok()?, arch.to_owned()))
    };
    if let Some((minor, arch)) = platform.strip_prefix("manylinux_").and_then(glibc) {
        tags.extend((5..=minor).map(|m| format!("manylinux_2_{m}_{arch}")));
        for (alias, needs) in [
            ("manylinux2014", 17),
            ("manylinux2010", 12),
            ("manylinux1", 5),
        ] {
            if minor >= needs {
                tags.push(format!("{alias}_{arch}"));
            }
        }
    }
    if let Some((minor, arch)) = platform
        .strip_prefix("musllinux_1_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(minor, arch)| Some((minor.parse::<u32>().ok()?, arch)))
    {
        tags.extend((0..=minor).map(|m| format!("musllinux_1_{m}_{arch}")));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(name: &str) -> DistFilename {
        DistFilename::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn target(python: &str, platforms: &[&str]) -> Target {
        let platforms: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
        Target::new(python, &platforms).expect("target")
    }

    #[test]
    fn cpython_on_manylinux_takes_what_pip_would_install() {
        let t = target("3.11", &["manylinux_2_28_x86_64"]);
        for yes in [
            "a-1-py3-none-any.whl",
            "a-1-py2.py3-none-any.whl",
            "a-1-py311-none-any.whl",
            "a-1-py38-none-any.whl",
            "a-1-cp311-cp311-manylinux_2_28_x86_64.whl",
            "a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "a-1-cp311-cp311-manylinux2010_x86_64.whl",
            "a-1-cp311-cp311-manylinux1_x86_64.whl",
            "a-1-cp38-abi3-manylinux_2_17_x86_64.whl",
            "a-1-cp311-none-any.whl",
        ] {
            assert!(t.accepts(&wheel(yes)), "{yes}");
        }
        for no in [
            "a-1-cp312-cp312-manylinux_2_28_x86_64.whl",
            "a-1-cp310-cp310-manylinux_2_28_x86_64.whl",
            "a-1-cp311-cp311-manylinux_2_34_x86_64.whl",
            "a-1-cp311-cp311-manylinux_2_28_aarch64.whl",
            "a-1-cp311-cp311-musllinux_1_2_x86_64.whl",
            "a-1-cp311-cp311-win_amd64.whl",
            "a-1-cp311-cp311-linux_x86_64.whl",
            "a-1-py312-none-any.whl",
            "a-1-py2-none-any.whl",
            "a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
        ] {
            assert!(!t.accepts(&wheel(no)), "{no}");
        }
        assert!(
            t.accepts(&wheel("a-1.0.tar.gz")),
            "sdists are not a matter of tags"
        );
    }

    #[test]
    fn musllinux_and_platforms_taken_as_written() {
        let t = target(
            "3.12",
            &["musllinux_1_2_aarch64", "linux_x86_64", "win_amd64"],
        );
        assert!(t.accepts(&wheel("a-1-cp312-cp312-musllinux_1_1_aarch64.whl")));
        assert!(!t.accepts(&wheel("a-1-cp312-cp312-musllinux_1_3_aarch64.whl")));
        assert!(t.accepts(&wheel("a-1-cp312-cp312-linux_x86_64.whl")));
        assert!(t.accepts(&wheel("a-1-cp312-cp312-win_amd64.whl")));
        assert!(!t.accepts(&wheel("a-1-cp312-cp312-manylinux_2_17_x86_64.whl")));
    }

    #[test]
    fn bad_targets_are_refused() {
        for (python, platform) in [
            ("2.7", "any"),
            ("3", "any"),
            ("3.x", "any"),
            ("3.11", "a/b"),
            ("3.11", ""),
        ] {
            assert!(
                Target::new(python, &[platform.to_owned()]).is_err(),
                "{python} {platform}"
            );
        }
    }
}
