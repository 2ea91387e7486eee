//! Verifying upstream and bundle signatures: cleartext-signed documents (InRelease) and
//! detached signatures (Release.gpg, manifest.json.asc).
//!
//! A document passes when at least one of its signatures verifies with a usable key of the
//! keyring (see [`policy`](super::policy)); signatures by other keys are ignored, because
//! Debian signs with several keys and a client trusts only some of them. When none passes,
//! the error lists every signature with the reason it was refused.

use pgp::{
    composed::{Deserializable, DetachedSignature},
    packet::{Signature, SignatureType},
    types::{KeyDetails, Timestamp},
};

use super::{
    cleartext::{check_nothing_after, end_of_signature, parse_cleartext},
    error::{SignatureRejection, SigningError},
    keyring::Keyring,
    policy::{self, format_time},
};

const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";

/// A cleartext-signed document whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed text, dash-unescaped, exactly what the signature covers: OpenPGP signs
    /// lines without their trailing spaces and tabs, joined by line breaks, without the
    /// line break before the signature. Line breaks are given as `\n`. For Debian's
    /// InRelease this is the Release file without its final newline.
    pub text: String,
    /// Upper-case hex fingerprint of the primary key whose key (or subkey) made the
    /// accepted signature.
    pub signer: String,
}

/// Verifies a cleartext-signed document such as `InRelease` and returns its signed text.
///
/// Anything but whitespace before `-----BEGIN PGP SIGNED MESSAGE-----` or after the
/// signature's `-----END PGP SIGNATURE-----` line is refused: a client reading the whole
/// file could otherwise be fed data nobody signed.
pub fn verify_cleartext(
    keyring: &Keyring,
    signed: &[u8],
    origin: &str,
) -> Result<Verified, SigningError> {
    verify_cleartext_at(keyring, signed, origin, Timestamp::now())
}

/// [`verify_cleartext`] as if the time were `now` (key expiry depends on it).
pub(crate) fn verify_cleartext_at(
    keyring: &Keyring,
    signed: &[u8],
    origin: &str,
    now: Timestamp,
) -> Result<Verified, SigningError> {
    let message = parse_cleartext(signed, origin)?;
    // Every signature is checked over exactly this (dash-unescaped, trailing whitespace
    // trimmed, CRLF line breaks), so it is what we hand back.
    let signer = accept_any(
        keyring,
        &message.signatures,
        message.signed_text.as_bytes(),
        origin,
        now,
    )?;
    Ok(Verified {
        text: message.signed_text.replace("\r\n", "\n"),
        signer,
    })
}

/// The body of a clear-signed message (an `InRelease`) as its signer wrote it:
/// framed exactly as [`verify_cleartext`] requires (nothing outside the signed block),
/// dash-escaping undone, line breaks `\n`. The signature is **not** checked: this is for
/// showing a file (`inspect`), never for trusting it.
pub fn cleartext_body(signed: &[u8], origin: &str) -> Result<String, SigningError> {
    let message = parse_cleartext(signed, origin)?;
    Ok(message.signed_text.replace("\r\n", "\n"))
}

/// Verifies a detached signature (armored or binary) over `data`, e.g. `Release` with
/// `Release.gpg`, and returns the signer's primary fingerprint.
pub fn verify_detached(
    keyring: &Keyring,
    data: &[u8],
    signature: &[u8],
    origin: &str,
) -> Result<String, SigningError> {
    verify_detached_at(keyring, data, signature, origin, Timestamp::now())
}

/// [`verify_detached`] as if the time were `now`.
pub(crate) fn verify_detached_at(
    keyring: &Keyring,
    data: &[u8],
    signature: &[u8],
    origin: &str,
    now: Timestamp,
) -> Result<String, SigningError> {
    let signatures = parse_detached(signature, origin)?;
    accept_any(keyring, &signatures, data, origin, now)
}

/// Parses an armored or binary detached signature into its signature packets.
fn parse_detached(signature: &[u8], origin: &str) -> Result<Vec<Signature>, SigningError> {
    let parse_error = |source| SigningError::Parse {
        origin: origin.to_string(),
        what: "detached signature",
        source,
    };
    let trimmed = signature.trim_ascii_start();
    let parsed = if trimmed.first().is_some_and(|byte| byte & 0x80 != 0) {
        DetachedSignature::from_bytes_many(trimmed).map_err(parse_error)?
    } else {
        let text = std::str::from_utf8(trimmed).map_err(|_| SigningError::Malformed {
            origin: origin.to_string(),
            reason: "neither a binary OpenPGP signature nor ASCII armor".to_string(),
        })?;
        if !text.starts_with(BEGIN_SIGNATURE) {
            return Err(SigningError::Malformed {
                origin: origin.to_string(),
                reason: "it does not start with -----BEGIN PGP SIGNATURE-----".to_string(),
            });
        }
        let end = end_of_signature(text).ok_or_else(|| SigningError::Malformed {
            origin: origin.to_string(),
            reason: "no -----END PGP SIGNATURE----- line".to_string(),
        })?;
        check_nothing_after(&text[end..], origin)?;
        let (parsed, _headers) =
            DetachedSignature::from_armor_many(&text.as_bytes()[..end]).map_err(parse_error)?;
        parsed
    };
    let signatures = parsed
        .map(|detached| detached.map(|detached| detached.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(parse_error)?;
    if signatures.is_empty() {
        return Err(SigningError::Malformed {
            origin: origin.to_string(),
            reason: "it holds no signature packet".to_string(),
        });
    }
    Ok(signatures)
}

/// Accepts the document if any signature is good; else lists why each was refused.
fn accept_any(
    keyring: &Keyring,
    signatures: &[Signature],
    data: &[u8],
    origin: &str,
    now: Timestamp,
) -> Result<String, SigningError> {
    if keyring.is_empty() {
        return Err(SigningError::EmptyKeyring {
            origin: origin.to_string(),
            keyring: keyring.describe(),
        });
    }
    let mut rejections = Vec::new();
    for signature in signatures {
        match check_signature(keyring, signature, data, now) {
            Ok(signer) => {
                tracing::debug!(origin, signer, "signature verified");
                return Ok(signer);
            }
            Err(rejection) => {
                tracing::debug!(origin, %rejection, "signature not accepted");
                rejections.push(rejection);
            }
        }
    }
    Err(SigningError::NoValidSignature {
        origin: origin.to_string(),
        keyring: keyring.describe(),
        rejections,
    })
}

/// Who a signature says made it, for messages.
fn describe_issuer(signature: &Signature) -> String {
    let fingerprints = signature.issuer_fingerprint();
    if !fingerprints.is_empty() {
        return fingerprints
            .iter()
            .map(|fingerprint| format!("{fingerprint:X}"))
            .collect::<Vec<_>>()
            .join("/");
    }
    let key_ids = signature.issuer_key_id();
    if !key_ids.is_empty() {
        return key_ids
            .iter()
            .map(|key_id| format!("key id {}", hex::encode_upper(key_id.as_ref())))
            .collect::<Vec<_>>()
            .join("/");
    }
    "an unnamed key".to_string()
}

/// Checks one data signature: its own properties, then each keyring key it names.
/// Returns the primary fingerprint of the key that made it.
fn check_signature(
    keyring: &Keyring,
    signature: &Signature,
    data: &[u8],
    now: Timestamp,
) -> Result<String, SignatureRejection> {
    let issuer = describe_issuer(signature);
    let reject = |reason: String| SignatureRejection {
        issuer: issuer.clone(),
        reason,
    };

    if !matches!(
        signature.typ(),
        Some(SignatureType::Binary | SignatureType::Text)
    ) {
        return Err(reject(format!(
            "it is not a document signature (type {:?})",
            signature.typ()
        )));
    }
    if let Some(reason) = policy::hash_refusal(signature.hash_alg()) {
        return Err(reject(reason));
    }
    let Some(created) = signature.created() else {
        return Err(reject("it has no creation time".to_string()));
    };
    if let Some(expiry) = policy::signature_expiry(signature)
        && expiry <= u64::from(now.as_secs())
    {
        return Err(reject(format!(
            "the signature expired on {}",
            format_time(expiry)
        )));
    }

    let candidates = keyring.candidates(signature);
    if candidates.is_empty() {
        return Err(reject("no key with this id in the keyring".to_string()));
    }
    let mut reasons = Vec::new();
    for (cert, component) in candidates {
        let key = component.fingerprint();
        // Name the key only where the issuer did not already (key-id-only issuers).
        let prefix = if issuer == key {
            String::new()
        } else {
            format!("key {key}: ")
        };
        if let Err(reason) = policy::check_signing_key(cert, component, now) {
            reasons.push(format!("{prefix}{reason}"));
            continue;
        }
        if created < component.created_at() {
            reasons.push(format!("{prefix}the signature is older than the key"));
            continue;
        }
        match component.verify(signature, data) {
            Ok(()) => return Ok(format!("{:X}", cert.fingerprint())),
            Err(error) => {
                // rPGP's text here is an assertion dump; it helps debugging, not operators.
                tracing::debug!(key, %error, "signature check failed");
                reasons.push(format!(
                    "{prefix}the signature does not match the data (the document was \
                     modified or is corrupt)"
                ));
            }
        }
    }
    Err(reject(reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::signing::{SigningKey, test_fixtures::fixture_dir};

    const BOOKWORM_ARCHIVE_SUBKEY: &str = "4CB50190207B4758A3F73A796ED0E7B82643E131";
    const BOOKWORM_RELEASE_KEY: &str = "4D64FEC119C2029067D6E791F8D2585B8783D481";

    struct Debian {
        dir: PathBuf,
        in_release: Vec<u8>,
    }

    impl Debian {
        fn load() -> Option<Debian> {
            let dir = fixture_dir()?.join("debian-bookworm");
            let in_release = fs_err::read(dir.join("dists/bookworm/InRelease")).expect("fixture");
            Some(Debian { dir, in_release })
        }

        fn keyring(&self, name: &str) -> Keyring {
            Keyring::load(&self.dir.join("keyrings").join(name)).expect("fixture keyring")
        }

        fn file(&self, name: &str) -> Vec<u8> {
            fs_err::read(self.dir.join("dists/bookworm").join(name)).expect("fixture")
        }
    }

    #[test]
    fn real_inrelease_verifies_with_debian_keyring() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let verified =
            verify_cleartext(&keyring, &debian.in_release, "InRelease").expect("verifies");
        // Its first signature is by the bookworm archive key's signing subkey; the signer
        // reported is the primary key.
        assert_eq!(verified.signer, "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8");
        assert!(verified.text.starts_with("Origin: Debian\n"));
        // The signed text is the Release file without its final newline.
        let release = String::from_utf8(debian.file("Release")).expect("utf-8");
        assert_eq!(format!("{}\n", verified.text), release);
    }

    #[test]
    fn cleartext_body_undoes_dash_escaping_and_keeps_the_framing_rules() {
        let key = SigningKey::generate("Test <test@example.invalid>").expect("key");
        let body = "Origin: Test\n- a line that starts with a dash\n-----five dashes\n";
        let signed = key.clearsign(body).expect("clearsign");
        assert!(
            signed.contains("\n- -----five dashes"),
            "dash-escaped: {signed}"
        );
        let shown = cleartext_body(signed.as_bytes(), "InRelease").expect("body");
        assert_eq!(shown.trim_end(), body.trim_end());
        let mut prepended = b"Origin: Evil\n\n".to_vec();
        prepended.extend_from_slice(signed.as_bytes());
        assert!(cleartext_body(&prepended, "InRelease").is_err());
    }

    #[test]
    fn real_inrelease_verifies_with_release_key_alone() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-bookworm-stable.gpg");
        let verified =
            verify_cleartext(&keyring, &debian.in_release, "InRelease").expect("verifies");
        assert_eq!(verified.signer, BOOKWORM_RELEASE_KEY);
    }

    #[test]
    fn real_release_verifies_against_release_gpg() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let release = debian.file("Release");
        let signature = debian.file("Release.gpg");
        let signer =
            verify_detached(&keyring, &release, &signature, "Release.gpg").expect("verifies");
        assert_eq!(signer, "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8");

        // The same signature dearmored (binary) works too.
        let (parsed, _) = DetachedSignature::from_armor_many(&signature[..]).expect("armor");
        let mut binary = Vec::new();
        for detached in parsed {
            let detached = detached.expect("signature");
            pgp::ser::Serialize::to_writer(&detached, &mut binary).expect("serialize");
        }
        let signer = verify_detached(&keyring, &release, &binary, "Release.gpg (binary)")
            .expect("binary verifies");
        assert_eq!(signer, "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8");

        // A one-byte change of the data is refused.
        let mut tampered = release.clone();
        tampered[10] ^= 0x01;
        let error = verify_detached(&keyring, &tampered, &signature, "Release.gpg")
            .expect_err("tampered Release");
        assert!(
            error.to_string().contains("does not match the data"),
            "{error}"
        );
    }

    #[test]
    fn one_byte_change_in_the_signed_body_is_refused() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let text = String::from_utf8(debian.in_release.clone()).expect("utf-8");
        let tampered = text.replacen("Version: 12.15", "Version: 12.16", 1);
        assert_ne!(tampered, text);
        let error = verify_cleartext(&keyring, tampered.as_bytes(), "dists/bookworm/InRelease")
            .expect_err("tampered body");
        let message = error.to_string();
        assert!(
            matches!(error, SigningError::NoValidSignature { .. }),
            "{message}"
        );
        assert!(message.contains("dists/bookworm/InRelease"), "{message}");
        assert!(message.contains("does not match the data"), "{message}");
    }

    #[test]
    fn unknown_key_is_refused_naming_the_issuers() {
        let Some(debian) = Debian::load() else { return };
        let stranger = SigningKey::generate("Stranger <stranger@example.invalid>").expect("keygen");
        let error = verify_cleartext(&stranger.public_keyring(), &debian.in_release, "InRelease")
            .expect_err("wrong keyring");
        let message = error.to_string();
        let SigningError::NoValidSignature { rejections, .. } = &error else {
            panic!("unexpected error {message}");
        };
        assert_eq!(rejections.len(), 3, "{message}");
        assert!(message.starts_with("InRelease: "), "{message}");
        assert!(message.contains(BOOKWORM_ARCHIVE_SUBKEY), "{message}");
        assert!(message.contains(BOOKWORM_RELEASE_KEY), "{message}");
        assert!(message.contains("no key with this id"), "{message}");
    }

    #[test]
    fn appended_text_after_the_signature_is_refused() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let mut appended = debian.in_release.clone();
        appended.extend_from_slice(b"\nPackages: evil\n");
        let error = verify_cleartext(&keyring, &appended, "InRelease").expect_err("appended");
        assert!(
            matches!(
                error,
                SigningError::DataOutsideSignedBlock {
                    position: "after",
                    ..
                }
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("InRelease"), "{message}");
        assert!(
            message.contains("data outside the signed block"),
            "{message}"
        );

        // Trailing whitespace is fine.
        let mut spaced = debian.in_release.clone();
        spaced.extend_from_slice(b"\n\n  \n");
        verify_cleartext(&keyring, &spaced, "InRelease").expect("whitespace after is allowed");
    }

    #[test]
    fn prepended_text_before_the_signed_block_is_refused() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let mut prepended = b"Origin: Evil\n\n".to_vec();
        prepended.extend_from_slice(&debian.in_release);
        let error = verify_cleartext(&keyring, &prepended, "InRelease").expect_err("prepended");
        assert!(
            matches!(
                error,
                SigningError::DataOutsideSignedBlock {
                    position: "before",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("data outside the signed block"));

        let mut spaced = b"\n \n".to_vec();
        spaced.extend_from_slice(&debian.in_release);
        verify_cleartext(&keyring, &spaced, "InRelease").expect("whitespace before is allowed");
    }

    #[test]
    fn a_second_signed_block_after_the_first_is_refused() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let mut doubled = debian.in_release.clone();
        doubled.extend_from_slice(&debian.in_release);
        let error = verify_cleartext(&keyring, &doubled, "InRelease").expect_err("two blocks");
        assert!(
            matches!(error, SigningError::DataOutsideSignedBlock { .. }),
            "{error}"
        );
    }

    #[test]
    fn crlf_line_endings_verify_to_the_same_text() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let lf = verify_cleartext(&keyring, &debian.in_release, "InRelease").expect("verifies");
        let text = String::from_utf8(debian.in_release.clone()).expect("utf-8");
        let crlf = text.replace('\n', "\r\n");
        let verified = verify_cleartext(&keyring, crlf.as_bytes(), "InRelease").expect("CRLF");
        assert_eq!(verified, lf);
    }

    #[test]
    fn corrupt_armor_gives_a_short_parse_error() {
        let Some(debian) = Debian::load() else { return };
        let keyring = debian.keyring("debian-archive-keyring.gpg");
        let text = String::from_utf8(debian.in_release.clone()).expect("utf-8");
        let armor_start = text.find(BEGIN_SIGNATURE).expect("armor") + BEGIN_SIGNATURE.len() + 2;
        let mut corrupt = text.clone();
        corrupt.replace_range(armor_start..armor_start + 4, "!!!!");
        let error = verify_cleartext(&keyring, corrupt.as_bytes(), "mirror/InRelease")
            .expect_err("corrupt armor");
        let message = error.to_string();
        assert!(message.starts_with("mirror/InRelease: "), "{message}");
        assert!(message.len() < 600, "{message}");
    }

    #[test]
    fn expired_keys_are_refused() {
        let Some(debian) = Debian::load() else { return };
        // The bookworm release key expires on 2031-01-21; in 2032 it no longer vouches.
        let keyring = debian.keyring("debian-archive-bookworm-stable.gpg");
        let in_2032 = Timestamp::from_secs(1_956_528_000);
        let error = verify_cleartext_at(&keyring, &debian.in_release, "InRelease", in_2032)
            .expect_err("expired");
        let message = error.to_string();
        assert!(
            message.contains("the key expired on 2031-01-2"),
            "{message}"
        );
        // ... while at the time the fixture was taken it did.
        let in_2026 = Timestamp::from_secs(1_795_000_000);
        verify_cleartext_at(&keyring, &debian.in_release, "InRelease", in_2026)
            .expect("valid in 2026");
    }

    #[test]
    fn not_clearsigned_and_empty_keyring_errors_name_the_origin() {
        let keyring = SigningKey::generate("K <k@example.invalid>")
            .expect("keygen")
            .public_keyring();
        let error = verify_cleartext(&keyring, b"Origin: Debian\n", "plain/InRelease")
            .expect_err("not signed");
        assert!(
            matches!(error, SigningError::NotClearsigned { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("plain/InRelease"));

        let error =
            verify_cleartext(&keyring, &[0xff, 0xfe], "binary/InRelease").expect_err("not text");
        assert!(matches!(error, SigningError::NotUtf8 { .. }), "{error}");

        let error = verify_detached(&keyring, b"data", b"not a signature", "x.asc")
            .expect_err("garbage signature");
        assert!(matches!(error, SigningError::Malformed { .. }), "{error}");
        assert!(error.to_string().contains("x.asc"));

        let empty = Keyring::default();
        let key = SigningKey::generate("E <e@example.invalid>").expect("keygen");
        let signed = key.clearsign("hello\n").expect("sign");
        let error = verify_cleartext(&empty, signed.as_bytes(), "hello.txt").expect_err("empty");
        assert!(
            matches!(error, SigningError::EmptyKeyring { .. }),
            "{error}"
        );
    }
}
