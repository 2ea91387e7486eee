//! [`SimplestreamsError`]: what can go wrong, each naming the file or URL.

use mirror_core::error::{Classify, ErrorClass};
use mirror_core::fetch::FetchError;
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;

/// A simplestreams mirror's failure.
#[derive(Debug, thiserror::Error)]
pub enum SimplestreamsError {
    /// The settings are unusable.
    #[error("simplestreams mirror {mirror}: {reason}")]
    InvalidConfig {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        reason: String,
    },
    /// A stream file that is not what simplestreams writes.
    #[error("{origin}: {reason}")]
    Malformed {
        /// The URL.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// An item with no SHA-256 (md5 or sha1 only): nothing strong to verify it by.
    #[error("{origin}: item {item} states no sha256 (md5/sha1 are not enough to verify it)")]
    WeakChecksum {
        /// The product file.
        origin: String,
        /// `product version item`.
        item: String,
    },
    /// An item taken by its md5 or sha1 (`allow_weak_checksums`) that does not match it.
    #[error("{url}: {algorithm} mismatch: expected {expected}, got {actual}")]
    WeakMismatch {
        /// The item's URL.
        url: String,
        /// `md5` or `sha1`.
        algorithm: &'static str,
        /// What the product file states.
        expected: String,
        /// What the download has (its size, when that is what differs).
        actual: String,
    },
    /// The filters select nothing.
    #[error(
        "simplestreams mirror {mirror}: the filters select no item; nothing published (set `allow_empty = true` if this is intended)"
    )]
    EmptySelection {
        /// The mirror.
        mirror: String,
    },
    /// A signature that does not verify, or no signature (boxed: it is large).
    #[error(transparent)]
    Signature(Box<SigningError>),
    /// Downloading.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SigningError> for SimplestreamsError {
    fn from(error: SigningError) -> Self {
        SimplestreamsError::Signature(Box::new(error))
    }
}

impl Classify for SimplestreamsError {
    fn class(&self) -> ErrorClass {
        match self {
            SimplestreamsError::InvalidConfig { .. } => ErrorClass::Config,
            SimplestreamsError::EmptySelection { .. } => ErrorClass::EmptySelection,
            SimplestreamsError::Signature(e) => e.class(),
            SimplestreamsError::Fetch(e) => e.class(),
            SimplestreamsError::Store(e) => e.class(),
            SimplestreamsError::WeakChecksum { .. } | SimplestreamsError::WeakMismatch { .. } => {
                ErrorClass::Verification
            }
            SimplestreamsError::Malformed { .. } => ErrorClass::Other,
        }
    }
}
