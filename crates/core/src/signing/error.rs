//! The error type of the signing glue: every variant names the file, URL or key it is about.

use std::fmt;

/// Why one signature of a document was not accepted.
///
/// [`SigningError::NoValidSignature`] lists one per signature, so that an operator sees
/// which keys signed the document and why none of them was good enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRejection {
    /// Who claims to have made the signature: issuer fingerprint(s), else key id(s).
    pub issuer: String,
    /// Why it was refused, e.g. "no key with this id in the keyring".
    pub reason: String,
}

impl fmt::Display for SignatureRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signature by {}: {}", self.issuer, self.reason)
    }
}

/// Joins rejections for the error message (thiserror formats fields through this).
pub(crate) struct Rejections<'a>(pub(crate) &'a [SignatureRejection]);

impl fmt::Display for Rejections<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("it carries no signature");
        }
        for (index, rejection) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{rejection}")?;
        }
        Ok(())
    }
}

/// rPGP's parse errors can quote the whole input as a byte list; keep messages readable
/// (the full error stays available as the source).
fn shorten(error: &pgp::errors::Error) -> String {
    const LIMIT: usize = 300;
    let text = error.to_string();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Errors of loading keys, verifying signatures and signing.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key, keyring or signature file could not be read.
    #[error("cannot read {origin}: {source}")]
    Read {
        /// The file.
        origin: String,
        /// The I/O error (it names the path too).
        #[source]
        source: std::io::Error,
    },

    /// OpenPGP data that does not parse.
    #[error("{origin}: cannot parse {what}: {}", shorten(source))]
    Parse {
        /// File name or URL of the data.
        origin: String,
        /// What we tried to read, e.g. "OpenPGP public key".
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: pgp::errors::Error,
    },

    /// A key file that holds no public key at all.
    #[error("{origin}: no OpenPGP public key found")]
    NoKeys {
        /// The key file.
        origin: String,
    },

    /// A secret key where a public key (a trust anchor) was expected.
    #[error("{origin}: is an OpenPGP secret key; give the public key instead (e.g. the .pub file)")]
    UnexpectedSecretKey {
        /// The key file.
        origin: String,
    },

    /// A cleartext-signed document (InRelease) that is not UTF-8 text.
    #[error("{origin}: cleartext-signed message is not valid UTF-8: {source}")]
    NotUtf8 {
        /// The document.
        origin: String,
        /// Where decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },

    /// The document is not in the cleartext signature framework at all.
    #[error("{origin}: not an OpenPGP cleartext-signed message ({reason})")]
    NotClearsigned {
        /// The document.
        origin: String,
        /// What is missing.
        reason: &'static str,
    },

    /// Bytes before the signed block or after the signature: a client that reads the whole
    /// file would see data nobody signed, so the document is refused as a whole.
    #[error("{origin}: data outside the signed block ({position} it): {excerpt:?}")]
    DataOutsideSignedBlock {
        /// The document.
        origin: String,
        /// "before" or "after".
        position: &'static str,
        /// The first characters of the unsigned data.
        excerpt: String,
    },

    /// OpenPGP data (a signature, an armored key) that is not what it should be.
    #[error("{origin}: malformed OpenPGP data: {reason}")]
    Malformed {
        /// The document or signature file.
        origin: String,
        /// What is wrong.
        reason: String,
    },

    /// Verification was asked for against a keyring without keys.
    #[error("{origin}: cannot verify: the keyring ({keyring}) holds no keys")]
    EmptyKeyring {
        /// The document.
        origin: String,
        /// The keyring's files.
        keyring: String,
    },

    /// None of the document's signatures was made by a valid key of the keyring.
    #[error(
        "{origin}: no valid signature by a key in {keyring}: {}",
        Rejections(rejections)
    )]
    NoValidSignature {
        /// The document.
        origin: String,
        /// The keyring's files.
        keyring: String,
        /// One entry per signature found, with the reason it was refused.
        rejections: Vec<SignatureRejection>,
    },

    /// A secret key file with more or less than one key, or a key we cannot use.
    #[error("{origin}: unusable signing key: {reason}")]
    UnusableSigningKey {
        /// The key file.
        origin: String,
        /// Why.
        reason: String,
    },

    /// Key generation failed.
    #[error("cannot generate a signing key for {user_id:?}: {source}")]
    Generate {
        /// The requested user id.
        user_id: String,
        /// Why (rPGP's error, or ours).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Producing a signature or exporting a key failed.
    #[error("key {fingerprint}: cannot create {what}: {source}")]
    Create {
        /// The key.
        fingerprint: String,
        /// What we were making, e.g. "cleartext signature".
        what: &'static str,
        /// rPGP's error.
        #[source]
        source: pgp::errors::Error,
    },
}

impl crate::error::Classify for SigningError {
    /// Every signing failure refuses the data it was about, including a keyring that cannot
    /// be read: nothing unverified goes on.
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Verification
    }
}
