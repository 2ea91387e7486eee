//! `init [--from-system]`: write a commented `mirror.toml` and a signing key.
//!
//! `--from-system` reads this machine's apt sources (one-line `.list` and deb822
//! `.sources`), the keyrings they trust, its architecture and its installed packages, and
//! writes one `[[apt]]` mirror per upstream URL selecting exactly what the machine runs
//! (plus dependencies): a newcomer mirrors their own fleet without writing config.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mirror_apt::control::Paragraphs;
use mirror_core::signing::SigningKey;

use super::keygen::{public_path, write_key};
use super::{Context, Output};

/// Where a system keeps what `--from-system` reads (overridable for tests).
struct SystemPaths {
    apt_etc: PathBuf,
    dpkg_status: PathBuf,
}

impl SystemPaths {
    fn from_env() -> Self {
        let root = std::env::var_os("MIRROR_SYSTEM_ROOT")
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        Self {
            apt_etc: root.join("etc/apt"),
            dpkg_status: root.join("var/lib/dpkg/status"),
        }
    }
}

/// One `deb` line's worth of source.
#[derive(Debug, Clone)]
struct AptSource {
    uri: String,
    suite: String,
    components: Vec<String>,
    signed_by: Option<String>,
}

pub fn run(
    ctx: &Context,
    from_system: bool,
    force: bool,
    conda_env: Option<&Path>,
    conda_url: Option<&str>,
) -> anyhow::Result<Output> {
    let config_path = &ctx.config_path;
    if config_path.exists() && !force {
        bail!(
            "{} exists; pass --force to overwrite it",
            config_path.display()
        );
    }
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key_rel = Path::new("keys/signing.asc");
    let key_path = base.join(key_rel);
    let mut notes = Vec::new();
    if key_path.exists() {
        notes.push(format!("kept the existing key {}", key_path.display()));
    } else {
        let key =
            SigningKey::generate("mirror-cli signing key").context("generating the signing key")?;
        write_key(&key, &key_path)?;
        notes.push(format!(
            "wrote signing key {} (public: {}), fingerprint {}",
            key_path.display(),
            public_path(&key_path).display(),
            key.fingerprint()
        ));
    }

    let mut text = String::from(HEADER);
    let _ = writeln!(text, "store = \"./mirror-data\"\n");
    let _ = writeln!(
        text,
        "[signing]\n# armored OpenPGP secret key; clients trust {}.pub",
        key_rel.display()
    );
    let _ = writeln!(text, "key = \"{}\"\n", key_rel.display());

    let mut mirrors = 0;
    if from_system {
        let sys = SystemPaths::from_env();
        let sources = read_sources(&sys.apt_etc)?;
        if sources.is_empty() {
            bail!(
                "no enabled `deb` sources found under {}",
                sys.apt_etc.display()
            );
        }
        let arch = native_architecture();
        let installed = installed_packages(&sys.dpkg_status)?;
        notes.push(format!(
            "{} installed packages selected from {}",
            installed.len(),
            sys.dpkg_status.display()
        ));
        for (name, group) in group_by_uri(&sources) {
            write_apt_section(&mut text, &name, &group, &arch, &installed, &sys.apt_etc);
            mirrors += 1;
        }
    } else {
        text.push_str(APT_EXAMPLE);
    }

    if let Some(env_file) = conda_env {
        let specs = mirror_conda::specs_from_file(env_file)
            .with_context(|| format!("reading specs from {}", env_file.display()))?;
        let url = conda_url.unwrap_or("http://HOST/conda-forge");
        let _ = writeln!(text, "[[conda]]\nname = \"conda\"\nurl = {}", toml_str(url));
        let _ = writeln!(text, "subdirs = [\"linux-64\", \"noarch\"]");
        let _ = writeln!(text, "# seeded from {}", env_file.display());
        let _ = writeln!(text, "specs = {}\n", toml_list(&specs));
        mirrors += 1;
    } else {
        text.push_str(CONDA_EXAMPLE);
    }
    text.push_str(TRANSFER_EXAMPLE);

    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    mirror_core::store::write_atomic(config_path, text.as_bytes())?;
    notes.insert(
        0,
        format!("wrote {} with {mirrors} mirror(s)", config_path.display()),
    );
    Ok(Output::new(
        serde_json::json!({"config": config_path, "signing_key": key_path, "mirrors": mirrors}),
        notes.join("\n"),
    ))
}

fn read_sources(apt_etc: &Path) -> anyhow::Result<Vec<AptSource>> {
    let mut out = Vec::new();
    let main = apt_etc.join("sources.list");
    if main.is_file() {
        out.extend(parse_one_line(&fs_err::read_to_string(&main)?));
    }
    let dir = apt_etc.join("sources.list.d");
    if dir.is_dir() {
        let mut entries: Vec<PathBuf> = fs_err::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.to_string_lossy();
            if name.ends_with(".list") {
                out.extend(parse_one_line(&fs_err::read_to_string(&path)?));
            } else if name.ends_with(".sources") {
                out.extend(
                    parse_deb822(&fs_err::read(&path)?)
                        .with_context(|| format!("parsing {}", path.display()))?,
                );
            }
        }
    }
    Ok(out)
}

/// `deb [signed-by=/k.gpg arch=amd64] http://host/debian bookworm main contrib`
fn parse_one_line(text: &str) -> Vec<AptSource> {
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
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((options, after)) = opts.split_once(']') else {
                continue;
            };
            for opt in options.split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_owned());
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

/// deb822 `.sources`: `Types: deb`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`.
fn parse_deb822(bytes: &[u8]) -> anyhow::Result<Vec<AptSource>> {
    // apt allows `#` comment lines in .sources files; control files do not.
    let text: Vec<u8> = bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"#"))
        .flatten()
        .copied()
        .collect();
    let mut out = Vec::new();
    for paragraph in Paragraphs::new(&text) {
        let field = |name: &str| -> anyhow::Result<String> {
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

/// One mirror per upstream URL, named after its last path segment (`debian`,
/// `debian-security`), made unique.
fn group_by_uri(sources: &[AptSource]) -> BTreeMap<String, Vec<AptSource>> {
    let mut by_uri: BTreeMap<String, Vec<AptSource>> = BTreeMap::new();
    for s in sources {
        by_uri.entry(s.uri.clone()).or_default().push(s.clone());
    }
    let mut out = BTreeMap::new();
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
        while out.contains_key(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.insert(name, group);
    }
    out
}

fn write_apt_section(
    text: &mut String,
    name: &str,
    group: &[AptSource],
    arch: &str,
    installed: &[String],
    apt_etc: &Path,
) {
    let mut suites: Vec<String> = group.iter().map(|s| s.suite.clone()).collect();
    suites.dedup();
    let mut components: Vec<String> = group.iter().flat_map(|s| s.components.clone()).collect();
    components.sort();
    components.dedup();
    let keyrings: Vec<String> = match group.iter().find_map(|s| s.signed_by.clone()) {
        Some(k) => vec![k],
        None => default_keyrings(apt_etc),
    };
    let _ = writeln!(
        text,
        "[[apt]]\nname = \"{name}\"\nurl = {}",
        toml_str(&group[0].uri)
    );
    let _ = writeln!(text, "suites = {}", toml_list(&suites));
    let _ = writeln!(text, "components = {}", toml_list(&components));
    let _ = writeln!(text, "architectures = [\"{arch}\"]");
    let _ = writeln!(text, "keyring = {}", toml_list(&keyrings));
    let _ = writeln!(text, "recommends = true");
    let _ = writeln!(
        text,
        "# every package installed on this machine ({}), with its dependencies;",
        installed.len()
    );
    let _ = writeln!(
        text,
        "# names this upstream does not carry are skipped with a warning"
    );
    let _ = writeln!(text, "missing_packages = \"warn\"");
    let _ = writeln!(text, "packages = {}\n", toml_list(installed));
}

fn default_keyrings(apt_etc: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = fs_err::read_dir(apt_etc.join("trusted.gpg.d")) {
        for e in entries.flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|e| e.to_str()), Some("gpg" | "asc")) {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    if out.is_empty() {
        out.push("/usr/share/keyrings/debian-archive-keyring.gpg".into());
    }
    out
}

fn native_architecture() -> String {
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

/// Names of packages with `Status: install ok installed` in dpkg's status file.
fn installed_packages(status: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = fs_err::read(status)?;
    let mut out = Vec::new();
    for paragraph in Paragraphs::new(&bytes) {
        if paragraph
            .get_str("Status")?
            .is_some_and(|s| s.trim().ends_with(" installed"))
            && let Some(name) = paragraph.get_str("Package")?
        {
            out.push(name.trim().to_owned());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", inner.join(", "))
}

const HEADER: &str = "\
# mirror-cli configuration. Relative paths are relative to this file.
# Docs: docs/cli.md. Check it with `mirror-cli status`.

";

const APT_EXAMPLE: &str = r#"# An APT mirror (published at public/debian, served at /debian/):
# [[apt]]
# name = "debian"
# url = "http://HOST/debian"                  # http://, https:// or file://
# suites = ["bookworm", "bookworm-updates"]
# components = ["main"]
# architectures = ["amd64"]
# keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"   # upstream must verify
# packages = ["jq", "curl"]    # optional: these + dependencies; absent = everything
# recommends = true            # follow Recommends, as apt does by default

"#;

const CONDA_EXAMPLE: &str = r#"# A conda channel mirror:
# [[conda]]
# name = "conda-forge"
# url = "http://HOST/conda-forge"
# subdirs = ["linux-64", "noarch"]
# specs = ["python 3.12.*", "numpy >=1.26"]   # optional: these + dependencies
# keep_versions = 2                           # optional: newest N versions per name

"#;

const TRANSFER_EXAMPLE: &str = r#"# Inside only: whose bundles `import` accepts.
# [transfer]
# trusted_keys = ["keys/outside.pub"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_source_formats() {
        let one = parse_one_line(
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://h/debian/ bookworm main contrib\ndeb-src http://h/debian bookworm main\n",
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
        let groups = group_by_uri(&deb822);
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["debian"]);
    }
}
