//! Key and signature policy: which key of a keyring may vouch for a document right now.
//!
//! rPGP checks cryptography and nothing else. The rules GnuPG and Sequoia apply on top live
//! here: a primary key needs a verifying self-signature, a subkey a verifying binding by its
//! primary with the signing flag and a verifying back-signature (without it, anyone could
//! attach someone else's signing key to their own certificate), revoked and expired keys are
//! out, and MD5, SHA-1 and RIPEMD-160 are refused wherever a signature vouches for something
//! (they are what apt refuses too). Revocations count whatever hash they use: refusing to
//! honour a revocation is never the safe side.
//!
//! Everything is evaluated against a given time, so tests can look at the future.

use pgp::{
    composed::{SignedPublicKey, SignedPublicSubKey},
    crypto::hash::HashAlgorithm,
    packet::{PublicKey, PublicSubkey, Signature, SignatureType, SubpacketData},
    types::{KeyDetails, Tag, Timestamp},
};

/// One key of a certificate that may have made a data signature.
#[derive(Clone, Copy)]
pub(crate) enum Component<'a> {
    /// The certificate's primary key.
    Primary(&'a PublicKey),
    /// One of its subkeys, with its binding signatures.
    Subkey(&'a SignedPublicSubKey),
}

impl Component<'_> {
    /// Upper-case hex fingerprint of this key (not of its primary).
    pub(crate) fn fingerprint(&self) -> String {
        match self {
            Component::Primary(key) => format!("{:X}", key.fingerprint()),
            Component::Subkey(sub) => format!("{:X}", sub.key.fingerprint()),
        }
    }

    pub(crate) fn created_at(&self) -> Timestamp {
        match self {
            Component::Primary(key) => key.created_at(),
            Component::Subkey(sub) => sub.key.created_at(),
        }
    }

    /// Cryptographic check of `signature` over `data` with this key (no policy).
    pub(crate) fn verify(&self, signature: &Signature, data: &[u8]) -> pgp::errors::Result<()> {
        match self {
            Component::Primary(key) => signature.verify(*key, data),
            Component::Subkey(sub) => signature.verify(&sub.key, data),
        }
    }
}

/// `Some(reason)` when a signature made with `hash` must not be trusted.
pub(crate) fn hash_refusal(hash: Option<HashAlgorithm>) -> Option<String> {
    match hash {
        Some(
            HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512,
        ) => None,
        Some(weak @ (HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)) => {
            Some(format!(
                "it uses the {weak} hash, which is refused (MD5, SHA-1 and RIPEMD-160 are broken \
                 or too weak; re-sign with SHA-256 or stronger)"
            ))
        }
        Some(other) => Some(format!("its hash algorithm {other} is not supported")),
        None => Some("its signature version is not supported".to_string()),
    }
}

/// RFC 3339 rendering of an OpenPGP time, for messages.
pub(crate) fn format_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .map(crate::time_util::rfc3339)
        .unwrap_or_else(|| format!("{secs} seconds after 1970"))
}

/// When a signature stops being valid, if it says so (zero means never).
pub(crate) fn signature_expiry(signature: &Signature) -> Option<u64> {
    let created = signature.created()?;
    let lifetime = signature.signature_expiration_time()?;
    (lifetime.as_secs() != 0).then(|| u64::from(created.as_secs()) + u64::from(lifetime.as_secs()))
}

/// A self-signature or binding we may rely on: strong hash, a creation time, not expired.
/// (Cryptographic verification is done by the caller, who knows what it binds.)
fn usable_binding(signature: &Signature, now: Timestamp) -> bool {
    hash_refusal(signature.hash_alg()).is_none()
        && signature.created().is_some()
        && signature_expiry(signature).is_none_or(|expiry| expiry > u64::from(now.as_secs()))
}

/// The newest of `signatures` by creation time.
fn newest<'a>(signatures: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    signatures.max_by_key(|signature| signature.created())
}

/// Key flags of a binding, `None` when it carries no key-flags subpacket (rPGP's
/// `key_flags()` cannot tell "absent" from "all clear").
fn signing_flag(signature: &Signature) -> Option<bool> {
    let config = signature.config()?;
    config
        .hashed_subpackets()
        .find_map(|subpacket| match &subpacket.data {
            SubpacketData::KeyFlags(flags) => Some(flags.sign()),
            _ => None,
        })
}

/// When a key bound by `binding` expires, if it does.
fn key_expiry(created: Timestamp, binding: &Signature) -> Option<u64> {
    let lifetime = binding.key_expiration_time()?;
    (lifetime.as_secs() != 0).then(|| u64::from(created.as_secs()) + u64::from(lifetime.as_secs()))
}

fn revocation_suffix(signature: &Signature) -> String {
    let when = signature
        .created()
        .map(|created| format!(" on {}", format_time(u64::from(created.as_secs()))))
        .unwrap_or_default();
    let why = signature
        .revocation_reason_string()
        .map(|reason| String::from_utf8_lossy(reason).trim().to_string())
        .filter(|reason| !reason.is_empty())
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default();
    format!("{when}{why}")
}

/// What the primary key's self-signatures say, once they check out.
struct PrimaryBinding {
    /// `None`: no key-flags subpacket, any use allowed.
    can_sign: Option<bool>,
}

/// Checks the primary key of `cert`: not revoked, validly self-signed, not expired.
fn check_primary(cert: &SignedPublicKey, now: Timestamp) -> Result<PrimaryBinding, String> {
    let primary = &cert.primary_key;

    // Only revocations the key made itself can be checked; those of designated revokers
    // need the revoker's key, which a keyring of archive keys does not hold.
    for revocation in &cert.details.revocation_signatures {
        if revocation.typ() == Some(SignatureType::KeyRevocation)
            && revocation.verify_key(primary).is_ok()
        {
            return Err(format!(
                "the key was revoked{}",
                revocation_suffix(revocation)
            ));
        }
    }

    let direct = newest(cert.details.direct_signatures.iter().filter(|signature| {
        signature.typ() == Some(SignatureType::Key)
            && usable_binding(signature, now)
            && signature.verify_key(primary).is_ok()
    }));

    // The self-certification of the primary user id (flagged primary, else the newest).
    let mut user_binding: Option<&Signature> = None;
    for user in &cert.details.users {
        let verifies = |signature: &Signature| {
            signature
                .verify_certification(primary, Tag::UserId, &user.id)
                .is_ok()
        };
        let Some(certification) = newest(user.signatures.iter().filter(|signature| {
            signature.is_certification()
                && signature.typ() != Some(SignatureType::CertRevocation)
                && usable_binding(signature, now)
                && verifies(signature)
        })) else {
            continue;
        };
        let revoked = user.signatures.iter().any(|signature| {
            signature.typ() == Some(SignatureType::CertRevocation)
                && signature.created() >= certification.created()
                && verifies(signature)
        });
        if revoked {
            continue;
        }
        user_binding = match user_binding {
            None => Some(certification),
            Some(current) => {
                let rank = |signature: &Signature| (signature.is_primary(), signature.created());
                if rank(certification) > rank(current) {
                    Some(certification)
                } else {
                    Some(current)
                }
            }
        };
    }

    if direct.is_none() && user_binding.is_none() {
        return Err(
            "the key has no valid self-signature (it must verify and use SHA-224 or \
                    a stronger hash)"
                .to_string(),
        );
    }

    let bindings = || direct.into_iter().chain(user_binding);
    let expiry = bindings()
        .filter_map(|binding| key_expiry(primary.created_at(), binding))
        .min();
    if let Some(expiry) = expiry
        && expiry <= u64::from(now.as_secs())
    {
        return Err(format!("the key expired on {}", format_time(expiry)));
    }

    let can_sign = direct
        .and_then(signing_flag)
        .or_else(|| user_binding.and_then(signing_flag));
    Ok(PrimaryBinding { can_sign })
}

/// Checks a subkey of a valid primary: bound, flagged for signing, back-signed, current.
fn check_subkey(
    primary: &PublicKey,
    subkey: &SignedPublicSubKey,
    now: Timestamp,
) -> Result<(), String> {
    let key: &PublicSubkey = &subkey.key;
    let verifies = |signature: &Signature| signature.verify_subkey_binding(primary, key).is_ok();

    if let Some(revocation) = subkey.signatures.iter().find(|signature| {
        signature.typ() == Some(SignatureType::SubkeyRevocation) && verifies(signature)
    }) {
        return Err(format!(
            "the subkey was revoked{}",
            revocation_suffix(revocation)
        ));
    }

    let Some(binding) = newest(subkey.signatures.iter().filter(|signature| {
        signature.typ() == Some(SignatureType::SubkeyBinding)
            && usable_binding(signature, now)
            && verifies(signature)
    })) else {
        return Err(
            "the subkey has no valid binding signature by its primary key (it must \
                    verify and use SHA-224 or a stronger hash)"
                .to_string(),
        );
    };

    if signing_flag(binding) != Some(true) {
        return Err("the subkey is not flagged for signing".to_string());
    }

    let back_signed = binding.embedded_signature().is_some_and(|back| {
        back.typ() == Some(SignatureType::KeyBinding)
            && usable_binding(back, now)
            && back.verify_primary_key_binding(key, primary).is_ok()
    });
    if !back_signed {
        return Err(
            "the signing subkey has no valid back-signature (primary key binding), \
                    so it may not belong to this certificate"
                .to_string(),
        );
    }

    if let Some(expiry) = key_expiry(key.created_at(), binding)
        && expiry <= u64::from(now.as_secs())
    {
        return Err(format!("the subkey expired on {}", format_time(expiry)));
    }
    Ok(())
}

/// `Ok` when `component` of `cert` may make data signatures at `now`, else the reason.
pub(crate) fn check_signing_key(
    cert: &SignedPublicKey,
    component: Component<'_>,
    now: Timestamp,
) -> Result<(), String> {
    let primary = check_primary(cert, now)?;
    match component {
        Component::Primary(_) => match primary.can_sign {
            Some(false) => Err("the primary key is not flagged for signing".to_string()),
            None | Some(true) => Ok(()),
        },
        Component::Subkey(subkey) => check_subkey(&cert.primary_key, subkey, now),
    }
}

#[cfg(test)]
mod tests {
    use pgp::{
        composed::{
            ArmorOptions, CleartextSignedMessage, DetachedSignature, KeyType,
            SecretKeyParamsBuilder, SignedSecretKey, SubkeyParamsBuilder,
        },
        packet::{KeyFlags, RevocationCode, SignatureConfig, Subpacket},
        types::{Duration, KeyVersion, Password},
    };
    use rand_core_06::OsRng;

    use super::*;
    use crate::signing::{
        Keyring, SigningError,
        verify::{verify_cleartext_at, verify_detached_at},
    };

    /// A v4 Ed25519 key; the primary signs when `primary_signs`, and a signing subkey is
    /// added when `subkey`.
    fn secret_key(primary_signs: bool, subkey: bool) -> SignedSecretKey {
        secret_key_of(KeyType::Ed25519Legacy, primary_signs, subkey)
    }

    fn secret_key_of(key_type: KeyType, primary_signs: bool, subkey: bool) -> SignedSecretKey {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .version(KeyVersion::V4)
            .key_type(key_type)
            .can_certify(true)
            .can_sign(primary_signs)
            .primary_user_id("Policy Test <policy@example.invalid>".to_string());
        if subkey {
            params.subkey(
                SubkeyParamsBuilder::default()
                    .version(KeyVersion::V4)
                    .key_type(KeyType::Ed25519Legacy)
                    .can_sign(true)
                    .build()
                    .expect("subkey params"),
            );
        }
        params
            .build()
            .expect("params")
            .generate(OsRng)
            .expect("keygen")
    }

    fn keyring(cert: SignedPublicKey) -> Keyring {
        Keyring::from_keys(vec![cert], "test keyring")
    }

    fn sign(key: &impl pgp::types::SigningKey, hash: HashAlgorithm, data: &[u8]) -> String {
        DetachedSignature::sign_binary_data(OsRng, key, &Password::empty(), hash, data)
            .expect("sign")
            .to_armored_string(ArmorOptions::default())
            .expect("armor")
    }

    fn metadata(key: &impl KeyDetails) -> Vec<Subpacket> {
        vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))
                .expect("subpacket"),
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))
                .expect("subpacket"),
        ]
    }

    fn later(seconds: u32) -> Timestamp {
        Timestamp::from_secs(Timestamp::now().as_secs() + seconds)
    }

    #[test]
    fn weak_hashes_are_refused_and_strong_ones_accepted() {
        // RSA, because rPGP will not even make an Ed25519 signature over a SHA-1 digest.
        let secret = secret_key_of(KeyType::Rsa(2048), true, false);
        let keys = keyring(secret.to_public_key());
        let now = Timestamp::now();
        for (hash, name) in [(HashAlgorithm::Sha1, "SHA1"), (HashAlgorithm::Md5, "MD5")] {
            let signature = sign(&secret.primary_key, hash, b"data");
            let error = verify_detached_at(&keys, b"data", signature.as_bytes(), "weak.asc", now)
                .expect_err("weak hash");
            let message = error.to_string();
            assert!(
                message.contains(name) && message.contains("refused"),
                "{message}"
            );
        }
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let signature = sign(&secret.primary_key, hash, b"data");
            verify_detached_at(&keys, b"data", signature.as_bytes(), "strong.asc", now)
                .expect("strong hash verifies");
        }

        // A cleartext document signed with SHA-1 is refused the same way.
        let mut config =
            SignatureConfig::v4(SignatureType::Text, secret.algorithm(), HashAlgorithm::Sha1);
        config.hashed_subpackets = metadata(&secret.primary_key);
        let message = CleartextSignedMessage::new(
            "Origin: Old\n",
            config,
            &secret.primary_key,
            &Password::empty(),
        )
        .expect("sign")
        .to_armored_string(ArmorOptions::default())
        .expect("armor");
        let error = verify_cleartext_at(&keys, message.as_bytes(), "InRelease", now)
            .expect_err("SHA-1 cleartext");
        assert!(
            error.to_string().contains("SHA1 hash, which is refused"),
            "{error}"
        );
    }

    #[test]
    fn revoked_key_is_refused() {
        let secret = secret_key(true, false);
        let signature = sign(&secret.primary_key, HashAlgorithm::Sha256, b"data");
        let mut public = secret.to_public_key();
        verify_detached_at(
            &keyring(public.clone()),
            b"data",
            signature.as_bytes(),
            "d",
            later(0),
        )
        .expect("valid before revocation");

        let mut config = SignatureConfig::v4(
            SignatureType::KeyRevocation,
            secret.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = metadata(&secret.primary_key);
        config.hashed_subpackets.push(
            Subpacket::regular(SubpacketData::RevocationReason(
                RevocationCode::KeyCompromised,
                "key lost".into(),
            ))
            .expect("subpacket"),
        );
        let revocation = config
            .sign_key(&secret.primary_key, &Password::empty(), &public.primary_key)
            .expect("revoke");
        public.details.revocation_signatures.push(revocation);
        let error = verify_detached_at(
            &keyring(public),
            b"data",
            signature.as_bytes(),
            "manifest.json.asc",
            later(0),
        )
        .expect_err("revoked");
        let message = error.to_string();
        assert!(
            message.contains("was revoked") && message.contains("key lost"),
            "{message}"
        );
    }

    #[test]
    fn signing_subkey_is_accepted_and_reported_as_its_primary() {
        let secret = secret_key(false, true);
        let public = secret.to_public_key();
        let keys = keyring(public.clone());
        let subkey = &secret.secret_subkeys[0].key;
        let signature = sign(subkey, HashAlgorithm::Sha256, b"data");
        let signer = verify_detached_at(&keys, b"data", signature.as_bytes(), "d", later(0))
            .expect("subkey signature verifies");
        assert_eq!(signer, format!("{:X}", public.fingerprint()));

        // The primary is certify-only here: its own data signatures are refused.
        let signature = sign(&secret.primary_key, HashAlgorithm::Sha256, b"data");
        let error = verify_detached_at(&keys, b"data", signature.as_bytes(), "d", later(0))
            .expect_err("primary may not sign");
        assert!(
            error.to_string().contains("not flagged for signing"),
            "{error}"
        );
    }

    #[test]
    fn subkey_without_back_signature_or_foreign_binding_is_refused() {
        let secret = secret_key(false, true);
        let subkey = &secret.secret_subkeys[0].key;
        let signature = sign(subkey, HashAlgorithm::Sha256, b"data");
        let mut flags = KeyFlags::default();
        flags.set_sign(true);

        // A binding by the right primary, but without the subkey's back-signature.
        let unbacked = subkey
            .sign(
                OsRng,
                &secret.primary_key,
                secret.primary_key.public_key(),
                &Password::empty(),
                flags.clone(),
                None,
            )
            .expect("binding");
        let mut public = secret.to_public_key();
        public.public_subkeys[0].signatures = vec![unbacked];
        let error = verify_detached_at(
            &keyring(public),
            b"data",
            signature.as_bytes(),
            "d",
            later(0),
        )
        .expect_err("no back-signature");
        assert!(
            error.to_string().contains("no valid back-signature"),
            "{error}"
        );

        // Someone else's primary claiming our subkey (the binding does not verify with the
        // certificate's primary).
        let stranger = secret_key(true, false);
        let foreign = subkey
            .sign(
                OsRng,
                &stranger.primary_key,
                stranger.primary_key.public_key(),
                &Password::empty(),
                flags,
                None,
            )
            .expect("binding");
        let mut public = secret.to_public_key();
        public.public_subkeys[0].signatures = vec![foreign];
        let error = verify_detached_at(
            &keyring(public),
            b"data",
            signature.as_bytes(),
            "d",
            later(0),
        )
        .expect_err("foreign binding");
        assert!(
            error.to_string().contains("no valid binding signature"),
            "{error}"
        );
    }

    #[test]
    fn revoked_or_expired_subkey_is_refused() {
        let secret = secret_key(false, true);
        let subkey = &secret.secret_subkeys[0].key;
        let signature = sign(subkey, HashAlgorithm::Sha256, b"data");

        let mut config = SignatureConfig::v4(
            SignatureType::SubkeyRevocation,
            secret.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = metadata(&secret.primary_key);
        let revocation = config
            .sign_subkey_binding(
                &secret.primary_key,
                secret.primary_key.public_key(),
                &Password::empty(),
                subkey.public_key(),
            )
            .expect("revocation");
        let mut public = secret.to_public_key();
        public.public_subkeys[0].signatures.push(revocation);
        let error = verify_detached_at(
            &keyring(public),
            b"data",
            signature.as_bytes(),
            "d",
            later(0),
        )
        .expect_err("revoked subkey");
        assert!(error.to_string().contains("subkey was revoked"), "{error}");

        // A binding that gives the subkey a one-hour life: fine now, refused in two hours.
        let backsig = subkey
            .sign_primary_key_binding(OsRng, secret.primary_key.public_key(), &Password::empty())
            .expect("back-signature");
        let mut flags = KeyFlags::default();
        flags.set_sign(true);
        let mut config = SignatureConfig::v4(
            SignatureType::SubkeyBinding,
            secret.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = metadata(&secret.primary_key);
        config.hashed_subpackets.extend([
            Subpacket::regular(SubpacketData::KeyFlags(flags)).expect("subpacket"),
            Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(3600)))
                .expect("subpacket"),
            Subpacket::regular(SubpacketData::EmbeddedSignature(Box::new(backsig)))
                .expect("subpacket"),
        ]);
        let binding = config
            .sign_subkey_binding(
                &secret.primary_key,
                secret.primary_key.public_key(),
                &Password::empty(),
                subkey.public_key(),
            )
            .expect("binding");
        let mut public = secret.to_public_key();
        public.public_subkeys[0].signatures = vec![binding];
        let keys = keyring(public);
        verify_detached_at(&keys, b"data", signature.as_bytes(), "d", later(60))
            .expect("subkey still valid");
        let error = verify_detached_at(&keys, b"data", signature.as_bytes(), "d", later(7200))
            .expect_err("expired subkey");
        assert!(error.to_string().contains("subkey expired on"), "{error}");
        assert!(matches!(error, SigningError::NoValidSignature { .. }));
    }

    #[test]
    fn hash_refusal_names_the_algorithm() {
        assert_eq!(hash_refusal(Some(HashAlgorithm::Sha256)), None);
        assert_eq!(hash_refusal(Some(HashAlgorithm::Sha3_512)), None);
        let sha1 = hash_refusal(Some(HashAlgorithm::Sha1)).expect("refused");
        assert!(sha1.contains("SHA1"), "{sha1}");
        assert!(hash_refusal(Some(HashAlgorithm::Ripemd160)).is_some());
        assert!(hash_refusal(None).is_some());
    }
}
