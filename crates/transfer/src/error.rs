//! The one error type of the crate, and its [`ErrorClass`]es, which let the CLI give each
//! kind of refusal its own exit code.

use std::path::PathBuf;

use mirror_core::Sha256Digest;
use mirror_core::error::{Classify, ErrorClass};
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;

/// Everything that can go wrong exporting, importing or verifying a bundle. Every
/// variant names the file, volume or object involved.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// An I/O error (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The store refused something.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bundle file is not a regular file, or is larger than its limit: hostile or
    /// damaged media, refused before it is read (see `bundle_file.rs`).
    #[error("{path}: {reason}")]
    HostileFile {
        /// The file.
        path: PathBuf,
        /// Which bundle file it is (decides the exit code).
        which: crate::BundleFile,
        /// What is wrong.
        reason: String,
    },
    /// The bundle has no manifest signature (`manifest.json.asc`): an unsigned bundle is
    /// refused like a badly signed one.
    #[error("bundle {dir}: no manifest signature (manifest.json.asc): {source}")]
    NoSignature {
        /// The bundle directory.
        dir: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// `manifest.json.asc` does not verify against the trusted keys.
    #[error("bundle {dir}: manifest.json signature rejected: {source}")]
    Signature {
        /// The bundle directory.
        dir: PathBuf,
        /// Why the signature was refused.
        source: Box<SigningError>,
    },
    /// Signing the manifest failed (export).
    #[error("signing {path}: {source}")]
    Sign {
        /// The manifest being signed.
        path: PathBuf,
        /// The signing error.
        source: Box<SigningError>,
    },
    /// `manifest.json` (signed, so written by a trusted exporter) is malformed.
    #[error("{path}: invalid bundle manifest: {reason}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON file (manifest, ledger, import record, state file) does not parse.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A volume the manifest lists is not in the bundle.
    #[error(
        "volume {volume} is missing (the manifest lists it); copy it into the bundle directory"
    )]
    MissingVolume {
        /// The missing file.
        volume: PathBuf,
    },
    /// A file's SHA-256 or size differs from the manifest or SHA256SUMS.
    #[error("{file}: {what} mismatch: expected {expected}, got {actual} (corrupt or tampered)")]
    Mismatch {
        /// The volume, object or bundle file.
        file: String,
        /// "SHA-256" or "size".
        what: &'static str,
        /// What the manifest says.
        expected: String,
        /// What the file has.
        actual: String,
    },
    /// A tar entry that is well formed but not what the manifest announced.
    #[error("{volume}: entry {entry:?}: {reason}")]
    UnexpectedEntry {
        /// The volume.
        volume: String,
        /// The entry path.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A tar entry that could escape staging or is not a plain file: refused outright.
    #[error("{volume}: unsafe tar entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The volume.
        volume: String,
        /// The entry path as stored.
        entry: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The bundle builds on bundles the inside has not imported.
    #[error(
        "bundle {bundle_id} (sequence {sequence}) needs bundles up to sequence {base} first, \
         but the last one imported is {last}: missing sequence {}",
        missing.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    SequenceGap {
        /// The refused bundle.
        bundle_id: String,
        /// Its sequence.
        sequence: u64,
        /// The sequence it builds on.
        base: u64,
        /// The last sequence imported.
        last: u64,
        /// The sequence numbers to import first.
        missing: Vec<u64>,
    },
    /// The bundle comes from another export lineage than what was imported.
    #[error(
        "bundle {bundle_id} follows {follows}, but the inside imported {imported} as sequence {sequence}: bundles from another outside store"
    )]
    Lineage {
        /// The refused bundle.
        bundle_id: String,
        /// The bundle id it says it follows.
        follows: String,
        /// The bundle id the inside has at that sequence.
        imported: String,
        /// That sequence.
        sequence: u64,
    },
    /// The bundle is not newer than the last import.
    #[error(
        "bundle {bundle_id} has sequence {sequence}, but sequence {last} is already imported: refusing to replay an older bundle"
    )]
    Replay {
        /// The refused bundle.
        bundle_id: String,
        /// Its sequence.
        sequence: u64,
        /// The last sequence imported.
        last: u64,
    },
    /// Snapshots need objects that neither the bundle nor the store has.
    #[error(
        "bundle {bundle_id}: {count} objects its snapshots need are neither in the bundle nor in the store (first: {digest} for {mirror}/{path}); export with --since <inside status> or --full"
    )]
    MissingBase {
        /// The bundle.
        bundle_id: String,
        /// How many objects are missing.
        count: usize,
        /// The first missing object.
        digest: Sha256Digest,
        /// Its mirror.
        mirror: String,
        /// Its path in the tree.
        path: String,
    },
    /// The preflight found too little free space.
    #[error(
        "not enough free space on {path}: the import needs {needed} bytes, {available} are available"
    )]
    NoSpace {
        /// Where the objects go.
        path: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A volume size (or another byte size) that does not parse or is too small.
    #[error("invalid {what} {text:?}: {reason}")]
    VolumeSize {
        /// What the size is for (`volume size`, `max_index_size`).
        what: &'static str,
        /// What was given.
        text: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Export has nothing to carry (no snapshot for a mirror).
    #[error("mirror {mirror}: no snapshot to export; run `mirror-cli sync {mirror}` first")]
    NoSnapshot {
        /// The mirror.
        mirror: String,
    },
    /// The `--out` directory already holds files.
    #[error("{path}: not empty; export writes into a new or empty directory")]
    OutputNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// A `--since` state does not match this outside's ledger.
    #[error("{path}: {reason}")]
    Since {
        /// The state file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// `SHA256SUMS` is malformed or disagrees with the manifest.
    #[error("{path}: {reason}")]
    Sums {
        /// The SHA256SUMS file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `verify` found missing or damaged objects or tree files in the store.
    #[error("store verification failed: {missing} missing, {corrupt} corrupt (first: {first})")]
    StoreDamaged {
        /// Objects or tree files missing.
        missing: usize,
        /// Objects or tree files whose content is wrong.
        corrupt: usize,
        /// The first problem, described.
        first: String,
    },
}

impl Classify for TransferError {
    /// The class of failure (the CLI maps each to its own exit code). I/O, argument and
    /// store problems are [`ErrorClass::Other`]: a bundle's own damage is already
    /// [`ErrorClass::Corrupt`] before anything reaches the store.
    fn class(&self) -> ErrorClass {
        match self {
            TransferError::Signature { .. } | TransferError::NoSignature { .. } => {
                ErrorClass::BundleSignature
            }
            TransferError::BadManifest { .. }
            | TransferError::Mismatch { .. }
            | TransferError::UnexpectedEntry { .. }
            | TransferError::Sums { .. }
            | TransferError::StoreDamaged { .. } => ErrorClass::Corrupt,
            TransferError::MissingVolume { .. } => ErrorClass::MissingVolume,
            TransferError::SequenceGap { .. }
            | TransferError::Lineage { .. }
            | TransferError::MissingBase { .. } => ErrorClass::Sequence,
            TransferError::Replay { .. } => ErrorClass::Replay,
            TransferError::UnsafeEntry { .. } => ErrorClass::UnsafeEntry,
            TransferError::HostileFile { which, .. } => match which {
                crate::BundleFile::Signature => ErrorClass::BundleSignature,
                crate::BundleFile::Volume => ErrorClass::UnsafeEntry,
                crate::BundleFile::Manifest | crate::BundleFile::Sums => ErrorClass::Corrupt,
            },
            TransferError::NoSpace { .. } => ErrorClass::NoSpace,
            // The `--since` file is the operator's input, like a setting.
            TransferError::Since { .. } => ErrorClass::Config,
            _ => ErrorClass::Other,
        }
    }
}

impl TransferError {
    pub(crate) fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        TransferError::Json {
            path: path.into(),
            source,
        }
    }
}
