//! OpenPGP signing glue: checking upstream signatures and signing what we publish.
//!
//! - [`Keyring`]: trusted public keys, from Debian-style binary keyrings or armored files.
//! - [`verify_cleartext`]: an `InRelease`-style cleartext-signed document; returns the
//!   signed text ([`Verified`]). Text outside the signed block is refused.
//! - [`verify_detached`]: `Release` + `Release.gpg`, `manifest.json` + `manifest.json.asc`.
//! - [`SigningKey`]: our key; generates (v4 Ed25519, which Debian 12's gpgv accepts),
//!   loads and saves armored, clearsigns and makes detached signatures.
//!
//! rPGP does the cryptography; the policy on top (binding and back-signatures, expiry,
//! revocation, no MD5/SHA-1) is in the private `policy` module. A document passes when at
//! least one of its signatures is good; signatures by keys we do not hold are ignored.
//!
//! ```
//! use mirror_core::signing::{SigningKey, verify_cleartext, verify_detached};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate("Example Mirror <mirror@example.invalid>")?;
//! let release = "Origin: Example\nSuite: stable\n";
//! let in_release = key.clearsign(release)?;
//! let verified = verify_cleartext(&key.public_keyring(), in_release.as_bytes(), "InRelease")?;
//! assert_eq!(verified.text, "Origin: Example\nSuite: stable");
//! assert_eq!(verified.signer, key.fingerprint());
//!
//! let signature = key.sign_detached_armored(release.as_bytes())?;
//! let signer = verify_detached(
//!     &key.public_keyring(),
//!     release.as_bytes(),
//!     signature.as_bytes(),
//!     "Release.gpg",
//! )?;
//! assert_eq!(signer, key.fingerprint());
//! # Ok(()) }
//! ```

mod cleartext;
mod error;
mod keyring;
mod policy;
mod sign;
mod verify;

pub use error::{SignatureRejection, SigningError};
pub use keyring::Keyring;
pub use sign::SigningKey;
pub use verify::{Verified, cleartext_body, verify_cleartext, verify_detached};

#[cfg(test)]
pub(crate) mod test_fixtures {
    //! Where the real fixtures are, if the environment says.
    use std::path::PathBuf;

    /// The fixture root (`mirror_test_support::fixtures`: skips outside CI, fails in it).
    pub(crate) fn fixture_dir() -> Option<PathBuf> {
        mirror_test_support::fixtures()
    }
}
