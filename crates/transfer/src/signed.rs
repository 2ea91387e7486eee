//! What `import` and `verify --bundle` both check before anything else, and in the same
//! way, so a bundle one accepts the other does not refuse: the manifest's signature by a
//! trusted key, and `SHA256SUMS` against the signed manifest. Read-only; the verifier and
//! the importer both use it, and neither imports the other.

use std::collections::BTreeMap;
use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::signing::{Keyring, verify_detached};

use crate::bundle_file::{BundleFile, MAX_MANIFEST, MAX_SIGNATURE, MAX_SUMS, read_bounded};
use crate::error::TransferError;
use crate::manifest::{MANIFEST, Manifest, SIGNATURE, SUMS};

/// A verified manifest and who signed it.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// Fingerprint of the trusted key that signed it.
    pub signer: String,
    /// SHA-256 of `manifest.json` as signed (the import's audit record names it).
    pub sha256: mirror_core::Sha256Digest,
}

/// Read `manifest.json`, check `manifest.json.asc` against `trusted`, then parse it.
pub fn read_verified_manifest(
    bundle: &Path,
    trusted: &Keyring,
) -> Result<VerifiedManifest, TransferError> {
    let manifest_path = bundle.join(MANIFEST);
    let bytes = read_bounded(&manifest_path, BundleFile::Manifest, MAX_MANIFEST)?;
    let signature = read_bounded(
        &bundle.join(SIGNATURE),
        BundleFile::Signature,
        MAX_SIGNATURE,
    )?;
    let signer = verify_detached(trusted, &bytes, &signature, SIGNATURE).map_err(|source| {
        TransferError::Signature {
            dir: bundle.to_owned(),
            source: Box::new(source),
        }
    })?;
    let manifest = Manifest::from_json(&bytes, &manifest_path)?;
    Ok(VerifiedManifest {
        manifest,
        signer,
        sha256: mirror_core::Sha256Digest::of(&bytes),
    })
}

/// Read `SHA256SUMS` and check it says what the manifest says: every volume listed with
/// the manifest's digest and, for a signed bundle, `manifest.json` listed with the
/// digest of the manifest on disk. `verify --bundle` and `import` both refuse a
/// contradiction (exit 11), so a bundle one accepts the other does not refuse.
pub(crate) fn sums_agree_with_manifest(
    bundle: &Path,
    manifest: &Manifest,
    signed: bool,
) -> Result<BTreeMap<String, Sha256Digest>, TransferError> {
    let sums_path = bundle.join(SUMS);
    let bytes = read_bounded(&sums_path, BundleFile::Sums, MAX_SUMS).map_err(|e| match e {
        hostile @ TransferError::HostileFile { .. } => hostile,
        other => TransferError::Sums {
            path: sums_path.clone(),
            reason: format!("cannot be read: {other}"),
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| TransferError::Sums {
        path: sums_path.clone(),
        reason: "is not UTF-8 text".into(),
    })?;
    let sums = parse_sums(&sums_path, &text)?;
    for v in &manifest.volumes {
        match sums.get(&v.name) {
            Some(d) if *d == v.sha256 => {}
            Some(d) => {
                return Err(TransferError::Sums {
                    path: sums_path,
                    reason: format!(
                        "{} is listed as {d}, the signed manifest says {}",
                        v.name, v.sha256
                    ),
                });
            }
            None => {
                return Err(TransferError::Sums {
                    path: sums_path,
                    reason: format!("{} (in the manifest) is not listed", v.name),
                });
            }
        }
    }
    if signed {
        let Some(listed) = sums.get(MANIFEST) else {
            return Err(TransferError::Sums {
                path: sums_path,
                reason: "manifest.json is not listed".into(),
            });
        };
        let actual = Sha256Digest::of(&read_bounded(
            &bundle.join(MANIFEST),
            BundleFile::Manifest,
            MAX_MANIFEST,
        )?);
        if *listed != actual {
            return Err(TransferError::Sums {
                path: sums_path,
                reason: format!("manifest.json is listed as {listed}, it hashes to {actual}"),
            });
        }
    }
    Ok(sums)
}

/// Parse `sha256sum` output: `<64 hex>  <name>` (or ` *<name>`) per line.
pub fn parse_sums(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, Sha256Digest>, TransferError> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = || TransferError::Sums {
            path: path.to_owned(),
            reason: format!("line {}: not `<sha256>  <file>`: {line:?}", n + 1),
        };
        let (hex, name) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .ok_or_else(bad)?;
        let digest = hex.parse().map_err(|_| bad())?;
        if name.contains('/') || name.starts_with('.') || name.is_empty() {
            return Err(bad());
        }
        out.insert(name.to_owned(), digest);
    }
    Ok(out)
}
