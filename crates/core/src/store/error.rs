//! Errors of the store, snapshots and publishing.

use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;

/// What went wrong in the store. Every variant names the file or object involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error; the message names the path (fs-err or [`StoreError::io`]).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Content did not hash to what it was supposed to.
    #[error("{what}: SHA-256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The file or URL.
        what: String,
        /// The digest it should have.
        expected: Sha256Digest,
        /// The digest it has.
        actual: Sha256Digest,
    },
    /// Content had the wrong length.
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The file or URL.
        what: String,
        /// Expected length.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// An object a snapshot needs is not in the store.
    #[error("object {digest} (for {path}) is missing from the store")]
    MissingObject {
        /// The object.
        digest: Sha256Digest,
        /// The tree path that needed it.
        path: String,
    },
    /// Another process holds the store's writer lock.
    #[error("store is locked by another writer ({path}: {holder}); wait for it to finish")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// A path that would escape the tree or is otherwise unsafe.
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath {
        /// The offending path.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A snapshot file that does not parse.
    #[error("snapshot {path}: {source}")]
    BadSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A snapshot that breaks an invariant (duplicate path, bad mirror name...).
    #[error("snapshot {id}: {reason}")]
    InvalidSnapshot {
        /// The snapshot id or file.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// No such snapshot.
    #[error("no snapshot {id} for mirror {mirror}")]
    NoSuchSnapshot {
        /// Mirror name.
        mirror: String,
        /// Snapshot id (or "latest").
        id: String,
    },
    /// The journal of an interrupted change does not parse.
    #[error("{path}: unreadable journal of an interrupted change: {source}")]
    BadJournal {
        /// `pending.json`.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The directory is not a store.
    #[error("{path} is not a mirror store (no objects/sha256 inside)")]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
}

impl StoreError {
    /// Wrap a std I/O error with the path it concerns.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        ))
    }
}

impl crate::error::Classify for StoreError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass;
        match self {
            StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => {
                ErrorClass::Verification
            }
            StoreError::Locked { .. } => ErrorClass::Locked,
            _ => ErrorClass::Other,
        }
    }
}
