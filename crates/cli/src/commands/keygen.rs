//! `keygen --out PATH`: a new signing key, PATH (armored secret) and PATH.pub (public).

use std::path::Path;

use anyhow::{Context, bail};
use mirror_core::signing::SigningKey;

use super::Output;

/// What `keygen --json` prints.
#[derive(serde::Serialize)]
struct KeygenReport<'a> {
    secret_key: &'a Path,
    public_key: &'a Path,
    fingerprint: &'a str,
}

pub fn run(out: &Path, user_id: &str) -> anyhow::Result<Output> {
    let public = public_path(out);
    if out.exists() || public.exists() {
        bail!(
            "{} or {} already exists; refusing to overwrite a key",
            out.display(),
            public.display()
        );
    }
    let key = SigningKey::generate(user_id).context("generating the signing key")?;
    write_key(&key, out)?;
    let fingerprint = key.fingerprint();
    let report = KeygenReport {
        secret_key: out,
        public_key: &public,
        fingerprint: &fingerprint,
    };
    Ok(Output::new(
        serde_json::to_value(&report)?,
        format!(
            "secret key: {}\npublic key: {} (give this to clients and to the inside's [transfer] trusted_keys)\nfingerprint: {fingerprint}",
            out.display(),
            public.display()
        ),
    ))
}

/// `PATH.pub` beside `PATH`.
pub fn public_path(secret: &Path) -> std::path::PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// Write the secret key (mode 0600) and the public key beside it.
pub fn write_key(key: &SigningKey, out: &Path) -> anyhow::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    use std::io::Write;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let secret = key.armored_secret()?;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    fs_err::write(public_path(out), key.armored_public()?)?;
    Ok(())
}
