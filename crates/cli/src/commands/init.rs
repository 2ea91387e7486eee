//! `init [--from-system]`: write a commented `mirror.toml` and a signing key.
//!
//! `--from-system` reads this machine's apt sources (one-line `.list` and deb822
//! `.sources`), the keyrings they trust, its architecture and its installed packages, and
//! writes one `[[apt]]` mirror per upstream URL selecting exactly what the machine runs
//! (plus dependencies): a newcomer mirrors their own fleet without writing config.
//! `--conda-env` seeds a conda mirror from an environment file. Each format writes its
//! own sections (`crate::formats`); this module only assembles the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mirror_core::signing::SigningKey;

use super::keygen::{public_path, write_key};
use super::{Context, Output};
use crate::formats::FORMATS;

/// The files (and upstream URLs) `init` seeds mirrors from.
pub struct Seeds<'a> {
    /// `--conda-env FILE`.
    pub conda_env: Option<&'a Path>,
    /// `--conda-url URL`.
    pub conda_url: Option<&'a str>,
    /// `--pip-freeze FILE`.
    pub pip_freeze: Option<&'a Path>,
    /// `--pypi-url URL`.
    pub pypi_url: Option<&'a str>,
    /// `--maas-images RELEASES --arch ARCHES --images-url URL [--images-keyring FILE]`.
    pub maas_images: crate::formats::Images<'a>,
}

/// `from_system`: the root whose apt configuration and dpkg status to read (`/` for this
/// machine), when `--from-system` is given.
pub fn run(
    ctx: &Context,
    from_system: Option<PathBuf>,
    force: bool,
    seeds: Seeds<'_>,
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

    // Each format writes its own sections (its settings type, serialised), or its
    // commented example when nothing seeds it.
    let mut mirrors = 0;
    for format in FORMATS {
        // A file or list the operator named wins over what --from-system finds.
        let seeded = if let (Some(env_file), Some(seed)) = (seeds.conda_env, format.from_env) {
            Some(seed(env_file, seeds.conda_url)?)
        } else if let (Some(freeze), Some(seed)) = (seeds.pip_freeze, format.from_pip_freeze) {
            Some(seed(freeze, seeds.pypi_url)?)
        } else if let (false, Some(seed)) =
            (seeds.maas_images.releases.is_empty(), format.from_images)
        {
            Some(seed(&seeds.maas_images)?)
        } else if let (Some(root), Some(seed)) = (&from_system, format.from_system) {
            Some(seed(root)?)
        } else {
            None
        };
        match seeded {
            Some(seeded) => {
                text.push_str(&seeded.text);
                mirrors += seeded.mirrors;
                notes.extend(seeded.notes);
            }
            None => text.push_str(format.example),
        }
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

const HEADER: &str = "\
# mirror-cli configuration. Relative paths are relative to this file.
# Docs: docs/cli.md. Check it with `mirror-cli status`.

";

const TRANSFER_EXAMPLE: &str = r#"# Inside only: whose bundles `import` accepts.
# [transfer]
# trusted_keys = ["keys/outside.pub"]
"#;
