//! [`PypiError`]: what can go wrong mirroring a Python package index. Every message names
//! the mirror, URL, file or requirement involved.

use mirror_core::error::{Classify, ErrorClass};
use mirror_core::fetch::FetchError;
use mirror_core::store::StoreError;

/// A PyPI mirror failed.
#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    /// The settings are unusable.
    #[error("pypi mirror {mirror}: {reason}")]
    InvalidConfig {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        reason: String,
    },
    /// Downloading failed (the fetch error names the URL).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A project page cannot be used (malformed, or naming an unsafe file).
    #[error(transparent)]
    Page(#[from] crate::simple::PageError),
    /// A metadata file cannot be read.
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    /// A project page redirected off the index's origin.
    #[error(
        "{url}: redirected to {to}, off the index's origin; refused (the index is what the \
         mirror trusts; configure the URL it redirects to if that is intended)"
    )]
    RedirectedOffSite {
        /// The page asked for.
        url: String,
        /// Where it redirected.
        to: String,
    },
    /// A file's URL on a project page cannot be used.
    #[error("{page}: file {file}: {reason}")]
    FileUrl {
        /// The project page.
        page: String,
        /// The file's name.
        file: String,
        /// What is wrong with its URL.
        reason: String,
    },
    /// A file the selection needs has no SHA-256 on its page: it could not be verified.
    #[error("{page}: {file} has no sha256 digest; a mirror never takes a file it cannot verify")]
    Unhashed {
        /// The project page.
        page: String,
        /// The file's name.
        file: String,
    },
    /// A metadata file contradicts the file it describes.
    #[error("{url}: {reason}")]
    MetadataMismatch {
        /// The metadata file's URL.
        url: String,
        /// What contradicts what.
        reason: String,
    },
    /// An sdist's dependencies cannot be read without building it (the index announces no
    /// PEP 658 metadata for it).
    #[error(
        "{page}: {file}: the index serves no metadata file (PEP 658) for this sdist, and an \
         sdist's dependencies are known only once it is built"
    )]
    NoMetadata {
        /// The project page.
        page: String,
        /// The file's name.
        file: String,
    },
    /// A wheel (its digest matched) whose METADATA cannot be read.
    #[error("{url}: broken wheel: {reason}")]
    BadWheel {
        /// The wheel's URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The requirements have no solution for a target.
    #[error("pypi mirror {mirror}: no resolution for target {target}:\n{report}")]
    Unsatisfiable {
        /// The mirror.
        mirror: String,
        /// The target (`cp311-manylinux_2_28_x86_64`).
        target: String,
        /// The resolver's explanation: which requirement, and what was found.
        report: String,
    },
    /// The resolution did not settle (a bug, or an index changing under the sync).
    #[error("pypi mirror {mirror}: {reason}")]
    Resolution {
        /// The mirror.
        mirror: String,
        /// What happened.
        reason: String,
    },
    /// The store refused an object (a digest or size lie is a verification error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our side failed (a proxy's log could not be written).
    #[error("{0}")]
    Internal(String),
}

impl Classify for PypiError {
    fn class(&self) -> ErrorClass {
        match self {
            PypiError::Fetch(e) => e.class(),
            PypiError::Store(e) => e.class(),
            PypiError::InvalidConfig { .. } => ErrorClass::Config,
            PypiError::RedirectedOffSite { .. } => ErrorClass::Upstream,
            PypiError::MetadataMismatch { .. } => ErrorClass::Verification,
            PypiError::Page(_)
            | PypiError::Metadata(_)
            | PypiError::FileUrl { .. }
            | PypiError::Unhashed { .. }
            | PypiError::NoMetadata { .. }
            | PypiError::BadWheel { .. }
            | PypiError::Unsatisfiable { .. }
            | PypiError::Resolution { .. }
            | PypiError::Internal(_) => ErrorClass::Other,
        }
    }
}
