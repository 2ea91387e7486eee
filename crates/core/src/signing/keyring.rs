//! Trusted public keys: loading binary keyrings (Debian's `.gpg` files, several keys
//! concatenated) and ASCII-armored key files, and finding the keys a signature names.

use std::path::{Path, PathBuf};

use pgp::{
    composed::{Deserializable, SignedPublicKey},
    packet::Signature,
    types::KeyDetails,
};

use super::{error::SigningError, policy::Component};

const BEGIN_PUBLIC: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_PUBLIC: &str = "-----END PGP PUBLIC KEY BLOCK-----";
const BEGIN_PRIVATE: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----";

/// OpenPGP public keys (certificates: primary key, subkeys and their self-signatures) that
/// signatures are checked against.
///
/// Loading only parses; whether a key is usable (validly bound, not expired, not revoked)
/// is decided when a signature is verified, because expiry depends on the time.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// Files or URLs the keys came from, for messages.
    origins: Vec<String>,
}

impl Keyring {
    /// Reads a keyring file: binary (one or more keys concatenated, like
    /// `/usr/share/keyrings/debian-archive-keyring.gpg`) or ASCII-armored (one or more
    /// `PUBLIC KEY BLOCK`s; text around the blocks is ignored).
    pub fn load(path: &Path) -> Result<Keyring, SigningError> {
        let origin = path.display().to_string();
        let bytes = fs_err::read(path).map_err(|source| SigningError::Read {
            origin: origin.clone(),
            source,
        })?;
        Keyring::from_bytes(&bytes, &origin)
    }

    /// Reads several keyring files into one keyring (see [`Keyring::load`]).
    pub fn load_all(paths: &[PathBuf]) -> Result<Keyring, SigningError> {
        let mut keyring = Keyring::default();
        for path in paths {
            keyring.merge(Keyring::load(path)?);
        }
        Ok(keyring)
    }

    /// Parses a keyring from memory; `origin` (file name or URL) is used in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Keyring, SigningError> {
        let trimmed = bytes.trim_ascii_start();
        let keys = if trimmed.first().is_some_and(|byte| byte & 0x80 != 0) {
            parse_binary(trimmed, origin)?
        } else {
            parse_armored(bytes, origin)?
        };
        if keys.is_empty() {
            return Err(SigningError::NoKeys {
                origin: origin.to_string(),
            });
        }
        tracing::debug!(origin, keys = keys.len(), "loaded OpenPGP keyring");
        Ok(Keyring {
            keys,
            origins: vec![origin.to_string()],
        })
    }

    /// A keyring of already parsed certificates.
    pub(crate) fn from_keys(keys: Vec<SignedPublicKey>, origin: &str) -> Keyring {
        Keyring {
            keys,
            origins: vec![origin.to_string()],
        }
    }

    /// Adds the keys of `other` to this keyring.
    pub fn merge(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
        self.origins.extend(other.origins);
    }

    /// Upper-case hex fingerprints of the primary keys, in file order, without repeats.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut fingerprints: Vec<String> = Vec::new();
        for key in &self.keys {
            let fingerprint = format!("{:X}", key.fingerprint());
            if !fingerprints.contains(&fingerprint) {
                fingerprints.push(fingerprint);
            }
        }
        fingerprints
    }

    /// `true` when the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The files or URLs the keys came from, joined for messages.
    pub fn describe(&self) -> String {
        if self.origins.is_empty() {
            "an empty keyring".to_string()
        } else {
            self.origins.join(", ")
        }
    }

    /// The keys (primary or subkeys) that `signature` names as its issuer, each with its
    /// certificate. A signature naming no issuer at all could be by any key.
    pub(crate) fn candidates<'a>(
        &'a self,
        signature: &Signature,
    ) -> Vec<(&'a SignedPublicKey, Component<'a>)> {
        let fingerprints = signature.issuer_fingerprint();
        let key_ids = signature.issuer_key_id();
        let anonymous = fingerprints.is_empty() && key_ids.is_empty();
        let matches = |key: &dyn KeyDetails| {
            anonymous
                || fingerprints.iter().any(|&fp| *fp == key.fingerprint())
                || key_ids.iter().any(|&id| *id == key.legacy_key_id())
        };
        let mut found = Vec::new();
        for cert in &self.keys {
            if matches(&cert.primary_key) {
                found.push((cert, Component::Primary(&cert.primary_key)));
            }
            for subkey in &cert.public_subkeys {
                if matches(&subkey.key) {
                    found.push((cert, Component::Subkey(subkey)));
                }
            }
        }
        found
    }
}

fn parse_error(origin: &str, source: pgp::errors::Error) -> SigningError {
    SigningError::Parse {
        origin: origin.to_string(),
        what: "OpenPGP public key",
        source,
    }
}

fn parse_binary(bytes: &[u8], origin: &str) -> Result<Vec<SignedPublicKey>, SigningError> {
    if first_packet_tag(bytes).is_some_and(|tag| tag == SECRET_KEY_TAG) {
        return Err(SigningError::UnexpectedSecretKey {
            origin: origin.to_string(),
        });
    }
    SignedPublicKey::from_bytes_many(bytes)
        .map_err(|source| parse_error(origin, source))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| parse_error(origin, source))
}

/// Parses every `PUBLIC KEY BLOCK` in the text (one block may hold several keys, and
/// files like `gpg --export --armor A B` or hand-concatenated ones hold several blocks).
fn parse_armored(bytes: &[u8], origin: &str) -> Result<Vec<SignedPublicKey>, SigningError> {
    let text = String::from_utf8_lossy(bytes);
    let mut keys = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = find_line(rest, BEGIN_PUBLIC) {
        let block = &rest[start..];
        let end = find_line(block, END_PUBLIC)
            .map(|end| end + END_PUBLIC.len())
            .ok_or_else(|| SigningError::Malformed {
                origin: origin.to_string(),
                reason: format!("a key block has no {END_PUBLIC} line"),
            })?;
        let (parsed, _headers) = SignedPublicKey::from_armor_many(&block.as_bytes()[..end])
            .map_err(|source| parse_error(origin, source))?;
        for key in parsed {
            keys.push(key.map_err(|source| parse_error(origin, source))?);
        }
        rest = &block[end..];
    }
    if keys.is_empty() && find_line(&text, BEGIN_PRIVATE).is_some() {
        return Err(SigningError::UnexpectedSecretKey {
            origin: origin.to_string(),
        });
    }
    Ok(keys)
}

/// Byte offset of the first line of `text` that starts with `marker`.
pub(crate) fn find_line(text: &str, marker: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(marker) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

const SECRET_KEY_TAG: u8 = 5;

/// The packet tag of the first OpenPGP packet header (old or new format).
fn first_packet_tag(bytes: &[u8]) -> Option<u8> {
    let header = *bytes.first()?;
    if header & 0x80 == 0 {
        return None;
    }
    Some(if header & 0x40 != 0 {
        header & 0x3f
    } else {
        (header >> 2) & 0x0f
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SigningKey, test_fixtures::fixture_dir};

    #[test]
    fn loads_debian_archive_keyring() {
        let Some(dir) = fixture_dir() else { return };
        let path = dir.join("debian-bookworm/keyrings/debian-archive-keyring.gpg");
        let keyring = Keyring::load(&path).expect("Debian's keyring parses");
        let fingerprints = keyring.fingerprints();
        // The bookworm archive key and the bookworm stable release key are both in it.
        assert!(fingerprints.contains(&"B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8".to_string()));
        assert!(fingerprints.contains(&"4D64FEC119C2029067D6E791F8D2585B8783D481".to_string()));
        assert_eq!(fingerprints.len(), 9, "{fingerprints:?}");
        assert!(!keyring.is_empty());
        assert!(keyring.describe().contains("debian-archive-keyring.gpg"));
    }

    #[test]
    fn loads_several_files_and_armored_keys() {
        let Some(dir) = fixture_dir() else { return };
        let keyrings = dir.join("debian-bookworm/keyrings");
        let ours = SigningKey::generate("Keyring Test <keyring@example.invalid>").expect("keygen");
        let temp = tempfile::tempdir().expect("tempdir");
        let armored = temp.path().join("ours.asc");
        let text = format!(
            "Comment outside the block\n{}",
            ours.armored_public().expect("armor")
        );
        fs_err::write(&armored, text).expect("write");

        let keyring = Keyring::load_all(&[
            keyrings.join("debian-archive-bookworm-stable.gpg"),
            armored.clone(),
        ])
        .expect("both load");
        assert_eq!(
            keyring.fingerprints(),
            vec![
                "4D64FEC119C2029067D6E791F8D2585B8783D481".to_string(),
                ours.fingerprint()
            ]
        );
        assert!(keyring.describe().contains("ours.asc"));
    }

    #[test]
    fn two_armored_blocks_in_one_file_both_load() {
        let first = SigningKey::generate("First <first@example.invalid>").expect("keygen");
        let second = SigningKey::generate("Second <second@example.invalid>").expect("keygen");
        let text = format!(
            "{}\n{}",
            first.armored_public().expect("armor"),
            second.armored_public().expect("armor")
        );
        let keyring = Keyring::from_bytes(text.as_bytes(), "two.asc").expect("parses");
        assert_eq!(
            keyring.fingerprints(),
            vec![first.fingerprint(), second.fingerprint()]
        );

        // The binary export loads too (what `gpg --export` writes).
        let binary = first.public_binary().expect("export");
        let keyring = Keyring::from_bytes(&binary, "first.gpg").expect("parses");
        assert_eq!(keyring.fingerprints(), vec![first.fingerprint()]);
    }

    #[test]
    fn refuses_secret_keys_garbage_and_missing_files() {
        let key = SigningKey::generate("Secret <secret@example.invalid>").expect("keygen");
        let secret = key.armored_secret().expect("armor");
        let error = Keyring::from_bytes(secret.as_bytes(), "secret.asc").expect_err("secret key");
        assert!(
            matches!(error, SigningError::UnexpectedSecretKey { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("secret.asc"), "{error}");

        let error = Keyring::from_bytes(b"hello world\n", "notes.txt").expect_err("no key");
        assert!(matches!(error, SigningError::NoKeys { .. }), "{error}");
        assert!(error.to_string().contains("notes.txt"), "{error}");

        let error = Keyring::from_bytes(&[0x99, 0x00, 0x05, 1, 2], "broken.gpg")
            .expect_err("truncated packet");
        assert!(error.to_string().contains("broken.gpg"), "{error}");

        let error = Keyring::load(Path::new("/nonexistent/keyring.gpg")).expect_err("missing");
        assert!(matches!(error, SigningError::Read { .. }), "{error}");
        assert!(
            error.to_string().contains("/nonexistent/keyring.gpg"),
            "{error}"
        );
    }
}
