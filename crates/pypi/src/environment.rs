//! The machines a mirror serves, as a resolver sees them: each configured Python version
//! on each operating system and architecture the configured platforms name. A target
//! has the compatibility tags its pip accepts ([`Target`]) and the values its PEP 508
//! markers compare (`sys_platform`, `platform_machine`, `python_full_version`...), taken
//! from the configuration, never from the machine the mirror runs on: `pip download`
//! evaluates markers for its own interpreter, which is how a mirror made on one machine
//! ends up missing what another needs.

use pep508_rs::pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

use crate::tags::Target;

/// One interpreter on one operating system and architecture.
#[derive(Debug, Clone)]
pub struct TargetEnv {
    /// For messages: `cp311-manylinux_2_28_x86_64`.
    pub label: String,
    /// Which files it installs.
    pub tags: Target,
    /// What its markers compare.
    pub markers: MarkerEnvironment,
    /// Its full Python version (`Requires-Python` is compared with it).
    pub python: Version,
}

/// (`sys_platform`, `platform_system`, `os_name`, `platform_machine`).
type System = (&'static str, &'static str, &'static str, String);

/// The operating system and machine a platform tag is for: (`sys_platform`,
/// `platform_system`, `os_name`, `platform_machine`).
fn system_of(platform: &str) -> Option<System> {
    let linux = |machine: &str| Some(("linux", "Linux", "posix", machine.to_owned()));
    // manylinux_2_28_x86_64, musllinux_1_2_aarch64: two version numbers, then the machine.
    for prefix in ["manylinux_", "musllinux_"] {
        if let Some(rest) = platform.strip_prefix(prefix) {
            let mut parts = rest.splitn(3, '_');
            let (major, minor, machine) = (parts.next()?, parts.next()?, parts.next()?);
            let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            return (numeric(major) && numeric(minor)).then(|| linux(machine))?;
        }
    }
    for prefix in ["manylinux2014_", "manylinux2010_", "manylinux1_", "linux_"] {
        if let Some(machine) = platform.strip_prefix(prefix) {
            return linux(machine);
        }
    }
    if let Some(rest) = platform.strip_prefix("macosx_") {
        let machine = rest.splitn(3, '_').nth(2)?;
        // A universal2 wheel runs on both; the marker sees the machine it runs on.
        let machine = if machine == "universal2" {
            "arm64"
        } else {
            machine
        };
        return Some(("darwin", "Darwin", "posix", machine.to_owned()));
    }
    let windows = |machine: &str| Some(("win32", "Windows", "nt", machine.to_owned()));
    match platform {
        "win_amd64" => windows("AMD64"),
        "win32" => windows("x86"),
        "win_arm64" => windows("ARM64"),
        _ => None,
    }
}

/// Every target of `pythons` (`3.11`, or `3.11.9` for a full version; `3.11` is taken
/// as `3.11.0`) × the systems `platforms` name. Platforms of the same system and machine
/// (`manylinux_2_28_x86_64` and `linux_x86_64`) are one target's.
pub fn targets(pythons: &[String], platforms: &[String]) -> Result<Vec<TargetEnv>, String> {
    let mut systems: Vec<(System, Vec<String>)> = Vec::new();
    for platform in platforms {
        let system = system_of(platform).ok_or_else(|| {
            format!(
                "platform {platform:?}: expected a wheel platform tag such as \
                 manylinux_2_28_x86_64, musllinux_1_2_aarch64, macosx_11_0_arm64 or win_amd64"
            )
        })?;
        match systems.iter_mut().find(|(known, _)| *known == system) {
            Some((_, tags)) => tags.push(platform.clone()),
            None => systems.push((system, vec![platform.clone()])),
        }
    }
    let mut targets = Vec::new();
    for python in pythons {
        let full: Version = python
            .parse()
            .map_err(|e| format!("python {python:?}: {e}"))?;
        let release = full.release();
        let (Some(3), Some(minor)) = (release.first().copied(), release.get(1).copied()) else {
            return Err(format!("python {python:?}: expected 3.N or 3.N.M"));
        };
        if release.len() > 3 || full.any_prerelease() || full.is_post() || full.is_dev() {
            return Err(format!("python {python:?}: expected 3.N or 3.N.M"));
        }
        let patch = release.get(2).copied().unwrap_or(0);
        let python_version = format!("3.{minor}");
        let python_full = format!("3.{minor}.{patch}");
        for ((sys_platform, platform_system, os_name, machine), tags) in &systems {
            let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
                implementation_name: "cpython",
                implementation_version: &python_full,
                os_name,
                platform_machine: machine,
                platform_python_implementation: "CPython",
                platform_release: "",
                platform_system,
                platform_version: "",
                python_full_version: &python_full,
                python_version: &python_version,
                sys_platform,
            })
            .map_err(|e| format!("python {python:?}: {e}"))?;
            targets.push(TargetEnv {
                label: format!("cp3{minor}-{}", tags.join("+")),
                tags: Target::new(&python_version, tags).map_err(|e| e.to_string())?,
                markers,
                python: python_full.parse().map_err(|e| format!("{e}"))?,
            });
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pep508_rs::{MarkerTree, VerbatimUrl};

    fn marker(text: &str) -> MarkerTree {
        let requirement: pep508_rs::Requirement<VerbatimUrl> =
            format!("x; {text}").parse().expect("valid in the test");
        requirement.marker
    }

    #[test]
    fn markers_are_the_targets_not_the_hosts() {
        let targets = targets(
            &["3.11".into(), "3.12.4".into()],
            &[
                "manylinux_2_28_x86_64".into(),
                "linux_x86_64".into(),
                "win_amd64".into(),
            ],
        )
        .expect("valid in the test");
        let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "cp311-manylinux_2_28_x86_64+linux_x86_64",
                "cp311-win_amd64",
                "cp312-manylinux_2_28_x86_64+linux_x86_64",
                "cp312-win_amd64"
            ]
        );
        let windows = &targets[1].markers;
        assert!(marker("sys_platform == 'win32'").evaluate(windows, &[]));
        assert!(!marker("sys_platform == 'linux'").evaluate(windows, &[]));
        let linux312 = &targets[2].markers;
        assert!(
            marker("platform_machine == 'x86_64' and python_full_version >= '3.12.4'")
                .evaluate(linux312, &[])
        );
        assert!(!marker("python_version < '3.12'").evaluate(linux312, &[]));
        assert_eq!(targets[0].python.to_string(), "3.11.0");
    }

    #[test]
    fn unknown_platforms_and_pythons_are_refused() {
        assert!(targets(&["3.11".into()], &["solaris_sparc".into()]).is_err());
        assert!(targets(&["2.7".into()], &["linux_x86_64".into()]).is_err());
        assert!(targets(&["3.13rc1".into()], &["linux_x86_64".into()]).is_err());
    }
}
