//! Our own signing key: generating it, storing it armored, and signing what we publish
//! (InRelease, Release.gpg, a bundle's manifest.json.asc).
//!
//! Keys are v4 with an `EdDSALegacy` (algorithm 22) Ed25519 primary that signs: Debian 12's
//! gpgv (GnuPG 2.2) does not know RFC 9580's Ed25519 (algorithm 27) or v6 keys, and apt then
//! reports the repository as unsigned. Signatures use SHA-256.

use std::{fmt, path::Path};

use pgp::{
    composed::{
        ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType,
        SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
    },
    crypto::{hash::HashAlgorithm, public_key::PublicKeyAlgorithm, sym::SymmetricKeyAlgorithm},
    ser::Serialize,
    types::{KeyDetails, KeyVersion, Password, Timestamp},
};
// rPGP 0.21 takes RNGs implementing rand 0.8's traits (rand_core 0.6), not the workspace's rand.
use rand_core_06::OsRng;

use super::{
    error::SigningError,
    keyring::Keyring,
    policy::{self, Component},
};

/// An unprotected OpenPGP secret key that signs what we publish.
///
/// `Debug` shows the fingerprint only, never key material.
#[derive(Clone)]
pub struct SigningKey {
    secret: SignedSecretKey,
    public: SignedPublicKey,
    fingerprint: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key: a v4 Ed25519 (`EdDSALegacy`) primary key that certifies and
    /// signs, no expiry, no passphrase, with `user_id` (e.g. `"Mirror <ops@example.org>"`).
    pub fn generate(user_id: &str) -> Result<SigningKey, SigningError> {
        let generate_error =
            |source: Box<dyn std::error::Error + Send + Sync>| SigningError::Generate {
                user_id: user_id.to_string(),
                source,
            };
        if user_id.trim().is_empty() {
            return Err(generate_error("the user id is empty".into()));
        }
        let params = SecretKeyParamsBuilder::default()
            .version(KeyVersion::V4)
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_string())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
            .preferred_symmetric_algorithms(
                vec![SymmetricKeyAlgorithm::AES256, SymmetricKeyAlgorithm::AES128].into(),
            )
            .build()
            .map_err(|error| generate_error(Box::new(error)))?;
        let secret = params
            .generate(OsRng)
            .map_err(|error| generate_error(Box::new(error)))?;
        let key = SigningKey::from_secret(secret, "newly generated key")?;
        tracing::info!(
            fingerprint = key.fingerprint,
            "generated OpenPGP signing key"
        );
        Ok(key)
    }

    /// Reads an armored, unprotected secret key file (what `keygen` writes).
    pub fn load(path: &Path) -> Result<SigningKey, SigningError> {
        let origin = path.display().to_string();
        let text = fs_err::read_to_string(path).map_err(|source| SigningError::Read {
            origin: origin.clone(),
            source,
        })?;
        SigningKey::from_armored(&text, &origin)
    }

    /// Parses an armored, unprotected secret key; `origin` names it in errors.
    pub fn from_armored(text: &str, origin: &str) -> Result<SigningKey, SigningError> {
        let unusable = |reason: &str| SigningError::UnusableSigningKey {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        if !text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Err(unusable(
                if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                    "it is a public key; signing needs the secret key"
                } else {
                    "no -----BEGIN PGP PRIVATE KEY BLOCK----- found"
                },
            ));
        }
        // rPGP reads the first armor block only; a second key must not be silently ignored.
        let blocks = text
            .lines()
            .filter(|line| line.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"))
            .count();
        if blocks > 1 {
            return Err(unusable(&format!(
                "it holds {blocks} secret key blocks; exactly one key is needed"
            )));
        }
        let parse_error = |source| SigningError::Parse {
            origin: origin.to_string(),
            what: "OpenPGP secret key",
            source,
        };
        let (keys, _headers) = SignedSecretKey::from_string_many(text).map_err(parse_error)?;
        let mut keys = keys.collect::<Result<Vec<_>, _>>().map_err(parse_error)?;
        if keys.len() != 1 {
            return Err(unusable(&format!(
                "it holds {} secret keys; exactly one is needed",
                keys.len()
            )));
        }
        let secret = keys.remove(0);
        SigningKey::from_secret(secret, origin)
    }

    /// Checks that `secret` can sign in a way gpgv and apt accept, and wraps it.
    fn from_secret(secret: SignedSecretKey, origin: &str) -> Result<SigningKey, SigningError> {
        let unusable = |reason: String| SigningError::UnusableSigningKey {
            origin: origin.to_string(),
            reason,
        };
        let fingerprint = format!("{:X}", secret.fingerprint());
        if secret.primary_key.secret_params().is_encrypted() {
            return Err(unusable(format!(
                "key {fingerprint} is passphrase-protected; only unprotected keys are supported \
                 (protect the file instead)"
            )));
        }
        if secret.version() != KeyVersion::V4 || secret.algorithm() == PublicKeyAlgorithm::Ed25519 {
            return Err(unusable(format!(
                "key {fingerprint} is a {:?} key of algorithm {:?}, which Debian 12's gpgv cannot \
                 verify; generate a v4 Ed25519 (legacy EdDSA) or RSA key",
                secret.version(),
                secret.algorithm()
            )));
        }
        let public = secret.to_public_key();
        // Our own key must pass the same policy our verifier applies, or what we publish
        // would not verify.
        policy::check_signing_key(
            &public,
            Component::Primary(&public.primary_key),
            Timestamp::now(),
        )
        .map_err(|reason| unusable(format!("key {fingerprint} cannot sign: {reason}")))?;
        Ok(SigningKey {
            secret,
            public,
            fingerprint,
        })
    }

    /// The secret key, ASCII-armored (keep it private).
    pub fn armored_secret(&self) -> Result<String, SigningError> {
        self.secret
            .to_armored_string(ArmorOptions::default())
            .map_err(|source| self.create_error("armored secret key", source))
    }

    /// The public key, ASCII-armored, for clients and the inside's `trusted_keys`.
    pub fn armored_public(&self) -> Result<String, SigningError> {
        self.public
            .to_armored_string(ArmorOptions::default())
            .map_err(|source| self.create_error("armored public key", source))
    }

    /// The public key in binary form (what `gpg --export` writes; usable as an apt
    /// `signed-by` keyring or a gpgv `--keyring`).
    pub fn public_binary(&self) -> Result<Vec<u8>, SigningError> {
        self.public
            .to_bytes()
            .map_err(|source| self.create_error("binary public key", source))
    }

    /// Upper-case hex fingerprint of the primary key.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// A keyring holding just this key's public part.
    pub fn public_keyring(&self) -> Keyring {
        Keyring::from_keys(
            vec![self.public.clone()],
            &format!("public key {}", self.fingerprint),
        )
    }

    /// Cleartext-signs `text` (InRelease from Release) with a SHA-256 text signature.
    ///
    /// As with `gpg --clearsign`, a final line break of `text` becomes the line break before
    /// the signature and is not signed, so the InRelease body reads exactly like the
    /// Release file. Trailing spaces and tabs of lines are not covered by OpenPGP cleartext
    /// signatures; the verifier hands back the text without them.
    pub fn clearsign(&self, text: &str) -> Result<String, SigningError> {
        let body = text
            .strip_suffix('\n')
            .map_or(text, |body| body.strip_suffix('\r').unwrap_or(body));
        let message =
            CleartextSignedMessage::sign(OsRng, body, &self.secret.primary_key, &Password::empty())
                .map_err(|source| self.create_error("cleartext signature", source))?;
        message
            .to_armored_string(ArmorOptions::default())
            .map_err(|source| self.create_error("cleartext signature", source))
    }

    /// An armored detached SHA-256 binary signature of `data` (Release.gpg,
    /// manifest.json.asc); `gpgv SIG DATA` accepts it.
    pub fn sign_detached_armored(&self, data: &[u8]) -> Result<String, SigningError> {
        let signature = DetachedSignature::sign_binary_data(
            OsRng,
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|source| self.create_error("detached signature", source))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|source| self.create_error("detached signature", source))
    }

    fn create_error(&self, what: &'static str, source: pgp::errors::Error) -> SigningError {
        SigningError::Create {
            fingerprint: self.fingerprint.clone(),
            what,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::signing::{SigningError, verify_cleartext, verify_detached};

    const RELEASE: &str = "Origin: Mirror\nLabel: Mirror\nSuite: stable\nCodename: bookworm\n\
        Date: Wed, 25 Nov 2026 15:00:00 UTC\nSHA256:\n \
        515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f 50060337 \
        main/binary-amd64/Packages\n";

    fn key() -> SigningKey {
        SigningKey::generate("Mirror Test <mirror-test@example.invalid>").expect("keygen")
    }

    #[test]
    fn generated_key_is_v4_eddsa_legacy() {
        let key = key();
        assert_eq!(key.secret.version(), KeyVersion::V4);
        assert_eq!(key.secret.algorithm(), PublicKeyAlgorithm::EdDSALegacy);
        assert_eq!(key.fingerprint().len(), 40);
        assert!(
            key.fingerprint()
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(key.public_keyring().fingerprints(), vec![key.fingerprint()]);
        // Debug must not leak key material.
        assert_eq!(
            format!("{key:?}"),
            format!("SigningKey {{ fingerprint: {:?}, .. }}", key.fingerprint())
        );
    }

    #[test]
    fn clearsigned_text_verifies_with_public_keyring() {
        let key = key();
        let text = format!("{RELEASE}- a line starting with a dash\n-----five dashes\n");
        let signed = key.clearsign(&text).expect("clearsign");
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"));
        // Like gpg: the body is the text itself, its final newline the one before the armor.
        assert!(signed.contains("- -----five dashes\n-----BEGIN PGP SIGNATURE-----"));

        let verified =
            verify_cleartext(&key.public_keyring(), signed.as_bytes(), "InRelease").expect("ok");
        assert_eq!(verified.signer, key.fingerprint());
        assert_eq!(format!("{}\n", verified.text), text);

        // Tampering with our own output is caught too.
        let tampered = signed.replacen("Suite: stable", "Suite: stabl3", 1);
        let error = verify_cleartext(&key.public_keyring(), tampered.as_bytes(), "InRelease")
            .expect_err("tampered");
        assert!(
            matches!(error, SigningError::NoValidSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn detached_signature_verifies_and_detects_changes() {
        let key = key();
        let manifest = br#"{"format":1,"sequence":7}"#;
        let signature = key.sign_detached_armored(manifest).expect("sign");
        assert!(signature.starts_with("-----BEGIN PGP SIGNATURE-----"));
        let signer = verify_detached(
            &key.public_keyring(),
            manifest,
            signature.as_bytes(),
            "manifest.json.asc",
        )
        .expect("verifies");
        assert_eq!(signer, key.fingerprint());

        let error = verify_detached(
            &key.public_keyring(),
            br#"{"format":1,"sequence":8}"#,
            signature.as_bytes(),
            "manifest.json.asc",
        )
        .expect_err("changed data");
        assert!(
            error.to_string().starts_with("manifest.json.asc: "),
            "{error}"
        );

        let mut appended = signature.clone();
        appended.push_str("trailing junk\n");
        let error = verify_detached(
            &key.public_keyring(),
            manifest,
            appended.as_bytes(),
            "manifest.json.asc",
        )
        .expect_err("junk after armor");
        assert!(
            matches!(error, SigningError::DataOutsideSignedBlock { .. }),
            "{error}"
        );
    }

    #[test]
    fn armored_secret_round_trip_keeps_fingerprint_and_signs() {
        let original = key();
        let armored = original.armored_secret().expect("armor");
        assert!(armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        let reloaded = SigningKey::from_armored(&armored, "signing.asc").expect("reload");
        assert_eq!(reloaded.fingerprint(), original.fingerprint());

        // Through a file as well, as `keygen` and `[signing] key` use it.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("signing.asc");
        fs_err::write(&path, &armored).expect("write");
        let loaded = SigningKey::load(&path).expect("load");
        assert_eq!(loaded.fingerprint(), original.fingerprint());

        // Signatures of the reloaded key verify with the original's published public key.
        let public = Keyring::from_bytes(
            original.armored_public().expect("armor").as_bytes(),
            "signing.asc.pub",
        )
        .expect("public key parses");
        let signed = loaded.clearsign(RELEASE).expect("clearsign");
        let verified = verify_cleartext(&public, signed.as_bytes(), "InRelease").expect("ok");
        assert_eq!(verified.signer, original.fingerprint());
        let signature = reloaded.sign_detached_armored(b"data").expect("sign");
        verify_detached(&public, b"data", signature.as_bytes(), "data.asc").expect("ok");
    }

    #[test]
    fn unusable_secret_key_files_are_refused() {
        let key = key();
        let public = key.armored_public().expect("armor");
        let error = SigningKey::from_armored(&public, "mirror.pub").expect_err("public key");
        assert!(error.to_string().contains("mirror.pub"), "{error}");
        assert!(error.to_string().contains("is a public key"), "{error}");

        let two = format!(
            "{}{}",
            key.armored_secret().expect("armor"),
            super::SigningKey::generate("Other <o@example.invalid>")
                .expect("keygen")
                .armored_secret()
                .expect("armor")
        );
        let error = SigningKey::from_armored(&two, "two.asc").expect_err("two keys");
        assert!(error.to_string().contains("2 secret key blocks"), "{error}");

        let protected = SecretKeyParamsBuilder::default()
            .version(KeyVersion::V4)
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id("Locked <locked@example.invalid>".to_string())
            .passphrase(Some("secret".to_string()))
            .build()
            .expect("params")
            .generate(OsRng)
            .expect("keygen")
            .to_armored_string(ArmorOptions::default())
            .expect("armor");
        let error = SigningKey::from_armored(&protected, "locked.asc").expect_err("protected");
        assert!(
            error.to_string().contains("passphrase-protected"),
            "{error}"
        );

        let modern = SecretKeyParamsBuilder::default()
            .version(KeyVersion::V6)
            .key_type(KeyType::Ed25519)
            .can_certify(true)
            .can_sign(true)
            .build()
            .expect("params")
            .generate(OsRng)
            .expect("keygen")
            .to_armored_string(ArmorOptions::default())
            .expect("armor");
        let error = SigningKey::from_armored(&modern, "v6.asc").expect_err("v6 key");
        assert!(error.to_string().contains("gpgv"), "{error}");

        let error = SigningKey::generate("  ").expect_err("empty user id");
        assert!(matches!(error, SigningError::Generate { .. }), "{error}");

        let error = SigningKey::load(Path::new("/nonexistent/signing.asc")).expect_err("missing");
        assert!(
            error.to_string().contains("/nonexistent/signing.asc"),
            "{error}"
        );
    }

    /// Runs gpgv on `args` with a fresh GNUPGHOME; returns (success, status-fd output).
    fn gpgv(home: &Path, keyring: &Path, args: &[&Path]) -> (bool, String) {
        let output = Command::new("/usr/bin/gpgv")
            .env("GNUPGHOME", home)
            .arg("--status-fd=1")
            .arg("--keyring")
            .arg(keyring)
            .args(args)
            .output()
            .expect("gpgv runs");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), report)
    }

    #[test]
    fn real_gpgv_accepts_our_signatures() {
        if !Path::new("/usr/bin/gpgv").exists() {
            mirror_test_support::skip("/usr/bin/gpgv not installed");
            return;
        }
        let key = key();
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("gnupg");
        fs_err::create_dir(&home).expect("mkdir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // gpg warns about a group- or world-readable home.
            fs_err::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }

        // The keyring as apt's signed-by would hold it: our binary export, and (when gpg is
        // installed) the armored public key dearmored by gpg.
        let mut keyrings = vec![dir.path().join("export.gpg")];
        fs_err::write(&keyrings[0], key.public_binary().expect("export")).expect("write");
        if Path::new("/usr/bin/gpg").exists() {
            let armored = dir.path().join("mirror.asc");
            let dearmored = dir.path().join("dearmored.gpg");
            fs_err::write(&armored, key.armored_public().expect("armor")).expect("write");
            let status = Command::new("/usr/bin/gpg")
                .env("GNUPGHOME", &home)
                .arg("--batch")
                .arg("--output")
                .arg(&dearmored)
                .arg("--dearmor")
                .arg(&armored)
                .status()
                .expect("gpg runs");
            assert!(status.success());
            keyrings.push(dearmored);
        } else {
            // Visible in `cargo xtask test`'s skip list, and a failure under CI (the set-up
            // installs gnupg).
            mirror_test_support::skip(
                "/usr/bin/gpg not installed: the dearmored keyring is not checked",
            );
        }

        let in_release = dir.path().join("InRelease");
        let release = dir.path().join("Release");
        let release_gpg = dir.path().join("Release.gpg");
        fs_err::write(&in_release, key.clearsign(RELEASE).expect("clearsign")).expect("write");
        fs_err::write(&release, RELEASE).expect("write");
        fs_err::write(
            &release_gpg,
            key.sign_detached_armored(RELEASE.as_bytes()).expect("sign"),
        )
        .expect("write");
        let validsig = format!("VALIDSIG {}", key.fingerprint());

        for keyring in &keyrings {
            let (ok, report) = gpgv(&home, keyring, &[&in_release]);
            assert!(ok && report.contains(&validsig), "InRelease: {report}");
            let (ok, report) = gpgv(&home, keyring, &[&release_gpg, &release]);
            assert!(ok && report.contains(&validsig), "Release.gpg: {report}");
        }

        // And gpgv notices a change, so the checks above can fail.
        fs_err::write(&release, RELEASE.replace("stable", "stabl3")).expect("write");
        let (ok, report) = gpgv(&home, &keyrings[0], &[&release_gpg, &release]);
        assert!(
            !ok && report.contains("BADSIG"),
            "tampered Release: {report}"
        );
    }
}
