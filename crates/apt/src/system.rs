//! What an installed Debian/Ubuntu system says about its own APT setup: the sources it
//! fetches from (one-line `.list` files and deb822 `.sources`), the keyrings they trust
//! and the packages dpkg has installed. `mirror-cli init --from-system` turns this into
//! one mirror per upstream URL selecting exactly what the machine runs.
//!
//! Reading is plain file I/O under a root directory (`/` on a real machine, a temp dir in
//! tests); nothing here touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::control::{ControlError, Paragraphs};

/// One `deb` line's worth of source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The repository URL, without a trailing `/`.
    pub uri: String,
    /// The suite (`bookworm`, `bookworm-updates`).
    pub suite: String,
    /// Components (`main contrib`).
    pub components: Vec<String>,
    /// The `signed-by` keyring, when the source names one file.
    pub signed_by: Option<String>,
}

/// One upstream URL and everything the system fetches from it: a mirror to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemMirror {
    /// A mirror name made from the URL's last path segment (`debian`, `debian-security`),
    /// unique among the system's mirrors.
    pub name: String,
    /// The repository URL.
    pub uri: String,
    /// Suites, in the order the sources list them.
    pub suites: Vec<String>,
    /// Components of every suite, sorted.
    pub components: Vec<String>,
    /// The keyrings its signature must verify with: the source's `signed-by`, else every
    /// keyring in `trusted.gpg.d`, else Debian's archive keyring.
    pub keyrings: Vec<String>,
}

/// Reading the system's files failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// A file or directory could not be read.
    #[error("reading {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A deb822 file (a `.sources` file, dpkg's status) is malformed.
    #[error("parsing {path}")]
    Control {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ControlError,
    },
}

/// Where a system keeps what this module reads, under a root directory.
#[derive(Debug, Clone)]
pub struct SystemPaths {
    /// `<root>/etc/apt`: `sources.list`, `sources.list.d/`, `trusted.gpg.d/`.
    pub apt_etc: PathBuf,
    /// `<root>/var/lib/dpkg/status`.
    pub dpkg_status: PathBuf,
}

impl SystemPaths {
    /// The paths of a system whose root is `root`.
    pub fn under(root: &Path) -> Self {
        Self {
            apt_etc: root.join("etc/apt"),
            dpkg_status: root.join("var/lib/dpkg/status"),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SystemError> {
    std::fs::read(path).map_err(|source| SystemError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Every enabled `deb` source under `apt_etc`: `sources.list`, then the `.list` and
/// `.sources` files of `sources.list.d` in name order (as apt reads them).
pub fn read_sources(apt_etc: &Path) -> Result<Vec<AptSource>, SystemError> {
    let mut out = Vec::new();
    let main = apt_etc.join("sources.list");
    if main.is_file() {
        out.extend(parse_one_line(&String::from_utf8_lossy(&read(&main)?)));
    }
    let dir = apt_etc.join("sources.list.d");
    if dir.is_dir() {
        let io = |source| SystemError::Io {
            path: dir.clone(),
            source,
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            entries.push(entry.map_err(io)?.path());
        }
        entries.sort();
        for path in entries {
            let name = path.to_string_lossy();
            if name.ends_with(".list") {
                out.extend(parse_one_line(&String::from_utf8_lossy(&read(&path)?)));
            } else if name.ends_with(".sources") {
                let sources = parse_deb822(&read(&path)?)
                    .map_err(|source| SystemError::Control { path, source })?;
                out.extend(sources);
            }
        }
    }
    Ok(out)
}

/// One-line sources: `deb [signed-by=/k.gpg arch=amd64] http://host/debian bookworm main`.
/// `deb-src`, comments and malformed lines are skipped, as apt skips what it cannot use.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                continue;
            };
            for option in options.split_whitespace() {
                if let Some(value) = option.strip_prefix("signed-by=") {
                    signed_by = Some(value.to_owned());
                }
            }
            rest = after.trim();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            uri: uri.trim_end_matches('/').to_owned(),
            suite: suite.to_owned(),
            components: words.map(str::to_owned).collect(),
            signed_by,
        });
    }
    out
}

/// deb822 sources: `Types: deb`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`,
/// `Enabled: no`. An embedded (multi-line) `Signed-By` key is not a file and is left out.
pub fn parse_deb822(bytes: &[u8]) -> Result<Vec<AptSource>, ControlError> {
    // apt allows `#` comment lines in .sources files; control files do not.
    let text: Vec<u8> = bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"#"))
        .flatten()
        .copied()
        .collect();
    let mut out = Vec::new();
    for paragraph in Paragraphs::new(&text) {
        let field = |name: &str| -> Result<String, ControlError> {
            Ok(paragraph.get_str(name)?.unwrap_or("").trim().to_owned())
        };
        if !field("Types")?.split_whitespace().any(|t| t == "deb") || field("Enabled")? == "no" {
            continue;
        }
        let signed_by = Some(field("Signed-By")?).filter(|s| !s.is_empty() && !s.contains('\n'));
        let components: Vec<String> = field("Components")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for uri in field("URIs")?.split_whitespace() {
            for suite in field("Suites")?.split_whitespace() {
                out.push(AptSource {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suite: suite.to_owned(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// One mirror per upstream URL, named after its last path segment and made unique;
/// sources without `signed-by` trust the keyrings of `apt_etc/trusted.gpg.d`.
pub fn group_by_uri(sources: &[AptSource], apt_etc: &Path) -> Vec<SystemMirror> {
    let mut by_uri: BTreeMap<&str, Vec<&AptSource>> = BTreeMap::new();
    for source in sources {
        by_uri.entry(&source.uri).or_default().push(source);
    }
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (uri, group) in by_uri {
        let base: String = uri
            .rsplit('/')
            .find(|s| !s.is_empty() && !s.contains(':'))
            .unwrap_or("apt")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.insert(name.clone());
        let mut suites: Vec<String> = group.iter().map(|s| s.suite.clone()).collect();
        suites.dedup();
        let mut components: Vec<String> = group.iter().flat_map(|s| s.components.clone()).collect();
        components.sort();
        components.dedup();
        let keyrings = match group.iter().find_map(|s| s.signed_by.clone()) {
            Some(keyring) => vec![keyring],
            None => default_keyrings(apt_etc),
        };
        out.push(SystemMirror {
            name,
            uri: uri.to_owned(),
            suites,
            components,
            keyrings,
        });
    }
    // Sorted by name, as the config lists them.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The keyrings apt trusts for a source without `signed-by`: `trusted.gpg.d/*.gpg` and
/// `*.asc`, or Debian's archive keyring when there are none.
pub fn default_keyrings(apt_etc: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(apt_etc.join("trusted.gpg.d")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("gpg" | "asc")
            ) {
                out.push(path.display().to_string());
            }
        }
    }
    out.sort();
    if out.is_empty() {
        out.push("/usr/share/keyrings/debian-archive-keyring.gpg".into());
    }
    out
}

/// What dpkg's status file says about a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgStatus {
    /// Names of the packages marked installed (`Status: install ok installed`), sorted,
    /// without duplicates.
    pub installed: Vec<String>,
    /// The architecture most installed packages are built for (not counting `all`): the
    /// native architecture of the machine the file comes from. `None` when no installed
    /// package names one.
    pub main_architecture: Option<String>,
}

/// Read and parse dpkg's status file at `status`.
pub fn read_dpkg_status(status: &Path) -> Result<DpkgStatus, SystemError> {
    parse_dpkg_status(&read(status)?).map_err(|source| SystemError::Control {
        path: status.to_owned(),
        source,
    })
}

/// [`read_dpkg_status`] of a status file's bytes, in one pass.
pub fn parse_dpkg_status(status: &[u8]) -> Result<DpkgStatus, ControlError> {
    let mut installed = Vec::new();
    let mut architectures: BTreeMap<&str, usize> = BTreeMap::new();
    for paragraph in Paragraphs::new(status) {
        if !paragraph
            .get_str("Status")?
            .is_some_and(|s| s.trim().ends_with(" installed"))
        {
            continue;
        }
        if let Some(name) = paragraph.get_str("Package")? {
            installed.push(name.trim().to_owned());
        }
        if let Some(arch) = paragraph.get_str("Architecture")?
            && arch.trim() != "all"
        {
            *architectures.entry(arch.trim()).or_default() += 1;
        }
    }
    installed.sort();
    installed.dedup();
    // The most common; ties go to the first in name order, so the answer is stable.
    let main_architecture = architectures
        .into_iter()
        .fold(None, |best: Option<(&str, usize)>, (arch, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((arch, n)),
        })
        .map(|(arch, _)| arch.to_owned());
    Ok(DpkgStatus {
        installed,
        main_architecture,
    })
}

/// Keyrings named by another root's sources (`/usr/share/keyrings/x.gpg`) are that root's
/// files: use the copy under `root` when it is there, else the path as written (the same
/// keyring package is usually installed here too).
pub fn keyrings_under(root: &Path, keyrings: &[String]) -> Vec<String> {
    keyrings
        .iter()
        .map(|keyring| {
            let inside = root.join(keyring.trim_start_matches('/'));
            if root != Path::new("/") && inside.is_file() {
                inside.display().to_string()
            } else {
                keyring.clone()
            }
        })
        .collect()
}

/// The machine's native architecture from `dpkg --print-architecture`, or `amd64` when
/// dpkg is not there.
pub fn native_architecture() -> String {
    std::process::Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "amd64".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_source_formats() {
        let one = parse_one_line(
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://h/debian/ bookworm main contrib\ndeb-src http://h/debian bookworm main\ndeb [broken\n",
        );
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].uri, "http://h/debian");
        assert_eq!(one[0].components, ["main", "contrib"]);
        assert_eq!(one[0].signed_by.as_deref(), Some("/k.gpg"));
        let deb822 = parse_deb822(
            b"Types: deb\n# a comment\nURIs: http://h/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://h/debian-security\nSuites: bookworm-security\nComponents: main\nEnabled: no\n",
        )
        .expect("parses");
        assert_eq!(deb822.len(), 2);
        assert_eq!(deb822[1].suite, "bookworm-updates");
        let mirrors = group_by_uri(&deb822, Path::new("/nonexistent"));
        assert_eq!(mirrors.len(), 1);
        assert_eq!(mirrors[0].name, "debian");
        assert_eq!(mirrors[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(
            mirrors[0].keyrings,
            ["/usr/share/keyrings/debian-archive-keyring.gpg"]
        );
    }

    #[test]
    fn one_mirror_per_url_with_unique_names_and_default_keyrings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let etc = dir.path();
        std::fs::create_dir_all(etc.join("trusted.gpg.d")).expect("mkdir");
        std::fs::write(etc.join("trusted.gpg.d/b.gpg"), b"").expect("write");
        std::fs::write(etc.join("trusted.gpg.d/a.asc"), b"").expect("write");
        std::fs::write(etc.join("trusted.gpg.d/readme"), b"").expect("write");
        let sources = parse_one_line(
            "deb http://a/debian bookworm main\ndeb http://b/debian bookworm contrib\ndeb http://a/debian bookworm-updates main non-free\n",
        );
        let mirrors = group_by_uri(&sources, etc);
        let names: Vec<&str> = mirrors.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["debian", "debian-2"]);
        assert_eq!(mirrors[0].uri, "http://a/debian");
        assert_eq!(mirrors[0].components, ["main", "non-free"]);
        let keyrings: Vec<&str> = mirrors[0]
            .keyrings
            .iter()
            .map(|k| k.rsplit('/').next().unwrap_or(k))
            .collect();
        assert_eq!(keyrings, ["a.asc", "b.gpg"]);
    }

    #[test]
    fn installed_packages_are_those_dpkg_marks_installed() {
        let status = b"Package: jq\nStatus: install ok installed\n\nPackage: gone\nStatus: deinstall ok config-files\n\nPackage: curl\nStatus: install ok installed\n";
        assert_eq!(
            parse_dpkg_status(status).expect("parses").installed,
            ["curl", "jq"]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status");
        std::fs::write(
            &path,
            b"Package: a\nStatus: install ok installed\nArchitecture: arm64\n\n\
              Package: b\nStatus: install ok installed\nArchitecture: arm64\n\n\
              Package: c\nStatus: install ok installed\nArchitecture: all\n\n\
              Package: d\nStatus: install ok installed\nArchitecture: all\n\n\
              Package: e\nStatus: install ok installed\nArchitecture: all\n\n\
              Package: f\nStatus: deinstall ok config-files\nArchitecture: amd64\n\n\
              Package: g\nStatus: install ok installed\nArchitecture: i386\n",
        )
        .expect("write");
        assert_eq!(
            read_dpkg_status(&path)
                .expect("reads")
                .main_architecture
                .as_deref(),
            Some("arm64")
        );
        std::fs::create_dir_all(dir.path().join("usr/share/keyrings")).expect("mkdir");
        std::fs::write(dir.path().join("usr/share/keyrings/k.gpg"), b"").expect("write");
        let resolved = keyrings_under(
            dir.path(),
            &["/usr/share/keyrings/k.gpg".into(), "/etc/other.gpg".into()],
        );
        assert_eq!(
            resolved[0],
            dir.path()
                .join("usr/share/keyrings/k.gpg")
                .display()
                .to_string()
        );
        assert_eq!(resolved[1], "/etc/other.gpg");
        let err = read_dpkg_status(Path::new("/nonexistent/status")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/status"), "{err}");
    }
}
