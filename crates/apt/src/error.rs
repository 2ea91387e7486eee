//! Errors of APT mirroring. Each names the suite, file or URL involved and keeps the
//! underlying error as its source (so the CLI can map signature and digest failures to
//! their own exit codes).

use mirror_core::compression::CompressionError;
use mirror_core::error::{Classify, ErrorClass};
use mirror_core::fetch::FetchError;
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;

/// What went wrong while mirroring an APT repository.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// The upstream signature did not verify (or the keyring could not be read).
    /// Boxed: signature errors carry every rejected signature and are large.
    #[error("upstream signature check failed: {0}")]
    Signature(#[source] Box<SigningError>),
    /// A configured keyring cannot be read or holds no usable key: the configuration
    /// is wrong (exit 3), nothing upstream was checked yet.
    #[error("[[apt]] {mirror}: keyring: {source}")]
    Keyring {
        /// The mirror.
        mirror: String,
        /// What is wrong with the file (the message names it).
        source: Box<SigningError>,
    },
    /// A download failed or did not match its digest.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store refused something (digest mismatch, I/O).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file the Release lists was served wrong (by-hash or plain): its digest or size
    /// differs from the Release's, or the transfer failed.
    #[error("{url}, as the Release lists it")]
    Listed {
        /// The file's plain URL (the by-hash URL tried is in the source).
        url: String,
        /// What went wrong (boxed: a fetch error is large, and every `AptError` would
        /// pay for it).
        #[source]
        source: Box<FetchError>,
    },
    /// An index could not be decompressed.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A Release, Packages or control file is malformed.
    #[error("{origin}: {message}")]
    Malformed {
        /// File or URL.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Neither InRelease nor Release exist for a suite (upstream does not serve it).
    #[error("{url}: suite {suite} has neither InRelease nor Release + Release.gpg")]
    NoRelease {
        /// The suite's dists/ URL.
        url: String,
        /// The suite.
        suite: String,
    },
    /// A Release is served without InRelease or Release.gpg: an unsigned repository,
    /// refused as apt refuses it.
    #[error("{url}: unsigned: no InRelease and no Release.gpg beside the Release")]
    Unsigned {
        /// The Release URL.
        url: String,
    },
    /// The Release lists no Packages index for a component/architecture.
    #[error("{origin}: lists no Packages index for {component}/binary-{architecture}")]
    NoIndex {
        /// The Release file.
        origin: String,
        /// Component.
        component: String,
        /// Architecture.
        architecture: String,
    },
    /// `sources = true`, and the Release lists no Sources index for a component.
    #[error("{origin}: lists no Sources index for {component} (the mirror sets `sources = true`)")]
    NoSources {
        /// The Release file.
        origin: String,
        /// Component.
        component: String,
    },
    /// A signed Release older than the one last accepted for its suite: a replayed or
    /// rolled-back Release (or a frozen mirror upstream).
    #[error(
        "{origin}: Date {served} is older than {accepted}, the Date of the Release last \
         accepted for this suite (a replayed or rolled-back Release); refused, set \
         `allow_date_rollback = true` for a deliberate downgrade"
    )]
    DateRollback {
        /// The Release file.
        origin: String,
        /// Its Date.
        served: String,
        /// The Date last accepted.
        accepted: String,
    },
    /// A signed Release dated further ahead of this machine's clock than the allowed skew.
    #[error(
        "{origin}: Date {served} is more than {skew} ahead of this machine's clock ({now}); \
         refused (check the clock, or set `max_date_skew`)"
    )]
    DateInFuture {
        /// The Release file.
        origin: String,
        /// Its Date.
        served: String,
        /// This machine's time.
        now: String,
        /// The allowed skew.
        skew: String,
    },
    /// A listed file's body is larger than the size the Release states: refused without
    /// reading the rest (a bomb or a lie).
    #[error(
        "{url}: larger than the {stated} bytes the Release states; refused without reading the rest"
    )]
    Oversized {
        /// The URL.
        url: String,
        /// The size the Release states.
        stated: u64,
    },
    /// An index decodes (or, per the Release, would decode) to more than
    /// `[fetch] max_index_size`.
    #[error("{url}: {}", too_large(*stated, *cap))]
    IndexTooLarge {
        /// The index.
        url: String,
        /// The decoded size the Release states, when it states one.
        stated: Option<u64>,
        /// The cap.
        cap: u64,
    },
    /// The Release lists an index, and upstream serves none of its compressions.
    #[error("{url}: listed in the Release but not served upstream (tried {})", tried.join(", "))]
    IndexMissing {
        /// The index URL tried first.
        url: String,
        /// Every listed path tried (below `dists/<suite>/`).
        tried: Vec<String>,
    },
    /// The Release's Valid-Until lies in the past: a stale or replayed upstream.
    #[error("{origin}: expired (Valid-Until {valid_until}); refusing stale metadata")]
    Expired {
        /// The Release file.
        origin: String,
        /// Its Valid-Until value.
        valid_until: String,
    },
    /// Requested packages that no index of the mirror contains.
    #[error("packages not found in any suite/component of the mirror: {}", names.join(", "))]
    UnknownPackages {
        /// The names.
        names: Vec<String>,
    },
    /// Two indices name the same pool path with different content.
    #[error("{path}: listed twice with different SHA256 ({first} and {second})")]
    ConflictingPool {
        /// The pool path.
        path: String,
        /// One digest.
        first: String,
        /// The other.
        second: String,
    },
    /// A filtered mirror needs our signing key to sign its regenerated Release.
    #[error(
        "a filtered mirror regenerates and signs its Release: configure [signing] key (mirror-cli keygen)"
    )]
    NoSigningKey,
    /// The settings are unusable.
    #[error("apt mirror {mirror}: {reason}")]
    InvalidConfig {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        reason: String,
    },
    /// The credentials files cannot be used (never shows a secret).
    #[error("apt mirror {mirror}: credentials: {reason}")]
    Credentials {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        reason: String,
    },
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SigningError> for AptError {
    fn from(error: SigningError) -> Self {
        AptError::Signature(Box::new(error))
    }
}

impl Classify for AptError {
    fn class(&self) -> ErrorClass {
        match self {
            AptError::Signature(_)
            | AptError::DateRollback { .. }
            | AptError::DateInFuture { .. }
            | AptError::Oversized { .. }
            | AptError::Unsigned { .. }
            // Past its own Valid-Until: a frozen (or replayed) Release, as apt refuses it.
            | AptError::Expired { .. } => ErrorClass::Verification,
            AptError::Fetch(e) => e.class(),
            AptError::Listed { source, .. } => source.class(),
            AptError::Store(e) => e.class(),
            AptError::Compression(e) => e.class(),
            AptError::InvalidConfig { .. }
            | AptError::NoSigningKey
            | AptError::Credentials { .. }
            | AptError::Keyring { .. } => ErrorClass::Config,
            // Upstream answers 404 for a file its own signed Release lists.
            AptError::IndexMissing { .. } => ErrorClass::Upstream,
            // Beyond what this site allows in memory: upstream's, unless the cap is raised.
            AptError::IndexTooLarge { .. } => ErrorClass::Upstream,
            // Upstream does not serve the suite (or not yet, or no longer).
            AptError::NoRelease { .. } => ErrorClass::Upstream,
            AptError::Malformed { .. }
            | AptError::NoIndex { .. }
            | AptError::NoSources { .. }
            | AptError::UnknownPackages { .. }
            | AptError::ConflictingPool { .. }
            | AptError::Internal(_) => ErrorClass::Other,
        }
    }
}

impl AptError {
    /// A Release that does not parse, from `origin`; the message keeps the causes (an
    /// unsafe path names the path).
    pub fn malformed_release(origin: &str, error: &crate::release::ReleaseError) -> AptError {
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            message.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        AptError::Malformed {
            origin: origin.to_owned(),
            message,
        }
    }
}

/// `error` and its causes on one line (`a: b: c`), for an error whose text is kept as a
/// message rather than as a source.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// The pure parsers' errors (which must build without mirror-core) have their classes
/// here, beside the error that wraps them on the way out of a sync. All are malformed
/// input, or a request no index can satisfy: nothing more specific than "other".
macro_rules! other_class {
    ($($ty:ty),* $(,)?) => {
        $(impl Classify for $ty {
            fn class(&self) -> ErrorClass {
                ErrorClass::Other
            }
        })*
    };
}

other_class!(
    crate::closure::ClosureError,
    crate::control::ControlError,
    crate::packages::PackageError,
    crate::relation::RelationError,
    crate::release::ReleaseError,
    crate::system::SystemError,
    crate::version::VersionError,
);

fn too_large(stated: Option<u64>, cap: u64) -> String {
    if let Some(stated) = stated {
        format!(
            "the Release states {stated} bytes, above `[fetch] max_index_size` ({cap} bytes); \
             refused before reading it"
        )
    } else {
        format!(
            "decodes to more than `[fetch] max_index_size` ({cap} bytes); decoding stopped \
             there (a compression bomb, or raise the setting)"
        )
    }
}
