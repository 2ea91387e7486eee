//! Error classes: the one vocabulary every crate's errors are sorted into, so that a
//! front end (the CLI's exit codes, a service's status) can tell a tampered upstream from
//! a network outage without knowing how each crate nests its errors.
//!
//! Every public error type of the mirror crates implements [`Classify`]; an error that
//! wraps another delegates to it, so the class of the innermost cause that has one wins
//! over a generic wrapper. [`RepositoryError`] carries a format's error through the
//! format-agnostic sync driver with its class taken at the seam.

use std::error::Error;
use std::fmt;

use serde::Serialize;

/// Broad kinds of failure. The CLI gives each its own exit code (docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// Nothing more specific: I/O, malformed upstream metadata, internal errors.
    Other,
    /// The command line asks for something that is not there (an unknown mirror, a flag
    /// value out of range).
    Usage,
    /// The configuration is unusable (a missing key, an invalid value).
    Config,
    /// A signature, digest or size did not verify: tampering or corruption upstream.
    Verification,
    /// The upstream is unreachable or answers with errors.
    Upstream,
    /// The store is locked by another writer.
    Locked,
    /// Bundle: the manifest signature is missing, bad, or by a key that is not trusted.
    BundleSignature,
    /// Bundle or store: a volume, object or tree file does not match its SHA-256/size.
    Corrupt,
    /// Bundle: a volume named by the manifest is missing.
    MissingVolume,
    /// Bundle: does not follow the last import (a gap, another lineage, base objects
    /// missing).
    Sequence,
    /// Bundle: older than (or as old as) the last one imported.
    Replay,
    /// Bundle: a tar entry that is not a plain file at a well-formed object path.
    UnsafeEntry,
    /// Not enough free space.
    NoSpace,
    /// A sync would publish an empty selection, or empty a subdir that had packages,
    /// without the mirror allowing it.
    EmptySelection,
}

/// An error that knows its [`ErrorClass`].
pub trait Classify {
    /// The class of this error (delegating to the wrapped error where there is one).
    fn class(&self) -> ErrorClass;
}

/// A format's error on its way through the format-agnostic driver: the error itself (its
/// message and source chain unchanged) and the class it had at the seam.
#[derive(Debug)]
pub struct RepositoryError {
    class: ErrorClass,
    source: Box<dyn Error + Send + Sync>,
}

impl RepositoryError {
    /// Wrap `error`, keeping its class.
    pub fn new<E>(error: E) -> Self
    where
        E: Error + Classify + Send + Sync + 'static,
    {
        Self {
            class: error.class(),
            source: Box::new(error),
        }
    }

    /// The wrapped error, for callers that know the format (`downcast_ref`).
    pub fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl Classify for RepositoryError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Display for RepositoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The wrapper adds nothing to the message: the format's error says it all.
        fmt::Display::fmt(&self.source, f)
    }
}

impl Error for RepositoryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn repository_error_keeps_message_class_and_chain() {
        let inner = StoreError::Locked {
            path: "/s/lock".into(),
            holder: "pid 1".into(),
        };
        let message = inner.to_string();
        let wrapped = RepositoryError::new(inner);
        assert_eq!(wrapped.class(), ErrorClass::Locked);
        assert_eq!(wrapped.to_string(), message);
        assert!(wrapped.inner().downcast_ref::<StoreError>().is_some());
    }
}
