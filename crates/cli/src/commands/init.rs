//! `init [--from-system]`: write a commented `mirror.toml` and a signing key.
//!
//! `--from-system` reads this machine's apt sources (one-line `.list` and deb822
//! `.sources`), the keyrings they trust, its architecture and its installed packages, and
//! writes one `[[apt]]` mirror per upstream URL selecting exactly what the machine runs
//! (plus dependencies): a newcomer mirrors their own fleet without writing config. The
//! reading is `mirror_apt::system`; this module only writes the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mirror_apt::system::{self, SystemMirror};
use mirror_core::signing::SigningKey;

use super::keygen::{public_path, write_key};
use super::{Context, Output};

/// `from_system`: the root whose apt configuration and dpkg status to read (`/` for this
/// machine), when `--from-system` is given.
pub fn run(
    ctx: &Context,
    from_system: Option<PathBuf>,
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
    if let Some(root) = from_system {
        let sys = system::SystemPaths::under(&root);
        let sources = system::read_sources(&sys.apt_etc)?;
        if sources.is_empty() {
            bail!(
                "no enabled `deb` sources found under {}",
                sys.apt_etc.display()
            );
        }
        let status = system::read_dpkg_status(&sys.dpkg_status)?;
        let installed = status.installed;
        // Another machine's architecture is what its packages are built for; this one's
        // is what dpkg here says.
        let arch = match status.main_architecture {
            Some(arch) if root != Path::new("/") => arch,
            _ => system::native_architecture(),
        };
        notes.push(format!(
            "{} installed packages selected from {}",
            installed.len(),
            sys.dpkg_status.display()
        ));
        let system_mirrors = system::group_by_uri(&sources, &sys.apt_etc);
        let names: Vec<String> = system_mirrors.iter().map(|m| m.name.clone()).collect();
        for mut mirror in system_mirrors {
            mirror.keyrings = system::keyrings_under(&root, &mirror.keyrings);
            // The machine's apt resolves over all its sources at once; so do its mirrors
            // (a security archive's packages depend on the release suite's).
            let others: Vec<String> = names
                .iter()
                .filter(|n| **n != mirror.name)
                .cloned()
                .collect();
            write_apt_section(&mut text, &mirror, &arch, &installed, &others);
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
    let report = InitReport {
        config: config_path,
        signing_key: &key_path,
        mirrors,
    };
    Ok(Output::new(
        serde_json::to_value(&report)?,
        notes.join("\n"),
    ))
}

/// What `init --json` prints.
#[derive(serde::Serialize)]
struct InitReport<'a> {
    config: &'a Path,
    signing_key: &'a Path,
    mirrors: usize,
}

/// One `[[apt]]` section selecting what the machine has installed.
fn write_apt_section(
    text: &mut String,
    mirror: &SystemMirror,
    arch: &str,
    installed: &[String],
    resolve_with: &[String],
) {
    let _ = writeln!(
        text,
        "[[apt]]\nname = \"{}\"\nurl = {}",
        mirror.name,
        toml_str(&mirror.uri)
    );
    let _ = writeln!(text, "suites = {}", toml_list(&mirror.suites));
    let _ = writeln!(text, "components = {}", toml_list(&mirror.components));
    let _ = writeln!(text, "architectures = [\"{arch}\"]");
    let _ = writeln!(text, "keyring = {}", toml_list(&mirror.keyrings));
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
    if !resolve_with.is_empty() {
        let _ = writeln!(
            text,
            "# resolved together with the machine's other sources, as its apt does"
        );
        let _ = writeln!(text, "resolve_with = {}", toml_list(resolve_with));
    }
    let _ = writeln!(text, "packages = {}\n", toml_list(installed));
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
