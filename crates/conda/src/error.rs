//! [`CondaError`]: what can go wrong mirroring a conda channel. Every message names the
//! mirror, URL, file or spec involved and keeps the underlying error as its source.

use mirror_core::compression::CompressionError;
use mirror_core::error::{Classify, ErrorClass};
use mirror_core::fetch::FetchError;
use mirror_core::store::StoreError;

/// A conda mirror failed.
#[derive(Debug, thiserror::Error)]
pub enum CondaError {
    /// The selection is empty, or empties a subdir that had packages.
    // (The sync error around it names the mirror.)
    #[error("{what}; nothing published (set `allow_empty = true` if this is intended)")]
    EmptySelection {
        /// The mirror.
        mirror: String,
        /// What is empty, and why that is suspicious.
        what: String,
    },
    /// A record that is malformed or hostile, under the default `skip_bad_records = false`.
    #[error(
        "{url}: record {file:?}: {reason} ({detail}){}; nothing published (a broken or \
         compromised channel; `skip_bad_records = true` skips such records)",
        if *others > 0 { format!(", and {others} more such records") } else { String::new() }
    )]
    BadRecord {
        /// The repodata URL.
        url: String,
        /// The record's file name (its key in the repodata).
        file: String,
        /// The check it failed.
        reason: crate::record::SkipReason,
        /// The offending value.
        detail: String,
        /// How many other records of the subdir failed the same way.
        others: usize,
    },
    /// A repodata body (or its decoded form) above `[fetch] max_index_size`.
    #[error(
        "{url}: larger than `[fetch] max_index_size` ({cap} bytes); refused without reading \
         the rest (raise the setting for a channel this large)"
    )]
    RepodataTooLarge {
        /// The repodata URL.
        url: String,
        /// The cap.
        cap: u64,
    },
    /// A downloaded package has the right digest but a broken structure.
    #[error("{path}: malformed package: {source}")]
    MalformedPackage {
        /// The package's path in the channel.
        path: String,
        /// What is wrong.
        source: crate::package_check::PackageError,
    },
    /// The settings are unusable.
    #[error("conda mirror {mirror}: {reason}")]
    InvalidConfig {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        reason: String,
    },
    /// A `specs` or `exclude` entry does not parse as a match spec.
    #[error("conda mirror {mirror}: invalid match spec {spec:?}: {source}")]
    InvalidSpec {
        /// The mirror.
        mirror: String,
        /// The spec as written.
        spec: String,
        /// The parser's error.
        source: rattler_conda_types::ParseMatchSpecError,
    },
    /// Downloading failed (the fetch error names the URL).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A platform subdir has no repodata upstream in any of the forms tried.
    #[error("{subdir}: upstream has no repodata (tried {tried})")]
    RepodataMissing {
        /// The subdir.
        subdir: String,
        /// The URLs tried, comma-separated.
        tried: String,
    },
    /// Upstream answered 304 for a subdir's repodata, but the copy the cache named is no
    /// longer whole in the store. The cache entry is dropped: the next sync fetches it.
    #[error(
        "{url}: upstream says it is unchanged, but our cached copy (object {sha256}) is \
         missing or damaged; dropped from the cache, run sync again to fetch it whole"
    )]
    CachedIndexDamaged {
        /// The repodata URL.
        url: String,
        /// The object the cache named.
        sha256: String,
    },
    /// The published repodata of a subdir could not be sharded.
    #[error("{subdir}: sharded repodata: {source}")]
    Shards {
        /// The subdir.
        subdir: String,
        /// What failed.
        source: crate::shards::ShardError,
    },
    /// Upstream's shard index cannot be used (`upstream_shards`).
    #[error(transparent)]
    ShardIndex(#[from] crate::upstream_shards::ShardIndexError),
    /// Upstream's `channeldata.json` is not the expected JSON object.
    #[error(transparent)]
    ChannelData(#[from] crate::channeldata::ChannelDataError),
    /// A repodata file does not decompress (or is too large).
    #[error(transparent)]
    Decompress(#[from] CompressionError),
    /// A repodata file is not valid JSON of the expected shape.
    #[error("{url}: invalid repodata.json: {source}")]
    InvalidRepodata {
        /// Where it came from.
        url: String,
        /// The JSON error (with line and column).
        source: serde_json::Error,
    },
    /// A repodata file says it describes another subdir.
    #[error("{url}: repodata describes subdir {found:?}, expected {expected:?}")]
    SubdirMismatch {
        /// Where it came from.
        url: String,
        /// The subdir requested.
        expected: String,
        /// What its `info.subdir` says.
        found: String,
    },
    /// `info.base_url` cannot be resolved to a package URL.
    #[error("{url}: invalid info.base_url {base_url:?}: {source}")]
    InvalidBaseUrl {
        /// Where the repodata came from.
        url: String,
        /// The value.
        base_url: String,
        /// The URL parser's error.
        source: url::ParseError,
    },
    /// The store refused something.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading a local file failed (the error names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Classify for CondaError {
    fn class(&self) -> ErrorClass {
        match self {
            CondaError::Fetch(e) => e.class(),
            CondaError::Store(e) => e.class(),
            CondaError::Decompress(e) => e.class(),
            CondaError::InvalidConfig { .. } | CondaError::InvalidSpec { .. } => ErrorClass::Config,
            CondaError::EmptySelection { .. } => ErrorClass::EmptySelection,
            CondaError::RepodataTooLarge { .. } => ErrorClass::Upstream,
            CondaError::CachedIndexDamaged { .. } => ErrorClass::Corrupt,
            // Its digest matched the record: upstream published a broken package, which
            // is not tampering in transit.
            CondaError::MalformedPackage { .. }
            | CondaError::RepodataMissing { .. }
            | CondaError::InvalidRepodata { .. }
            | CondaError::BadRecord { .. }
            | CondaError::SubdirMismatch { .. }
            | CondaError::InvalidBaseUrl { .. }
            | CondaError::Shards { .. }
            | CondaError::ChannelData(_)
            | CondaError::ShardIndex(_)
            | CondaError::Io(_) => ErrorClass::Other,
        }
    }
}

impl Classify for crate::package_check::PackageError {
    /// A package that matched its record's digest but is no usable archive: upstream
    /// published it broken, which is not tampering in transit.
    fn class(&self) -> ErrorClass {
        ErrorClass::Other
    }
}

impl Classify for crate::seed::SeedError {
    /// `init --conda-env FILE`: the file the operator named is not usable.
    fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
}
