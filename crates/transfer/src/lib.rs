//! # mirror-transfer
//!
//! Signed, incremental bundles that carry a mirror store's snapshots across an air gap,
//! and the verified, atomic import on the other side. Format-agnostic: a bundle moves
//! content-addressed objects and [`Snapshot`](mirror_core::snapshot::Snapshot) manifests
//! and never needs to know APT from conda.
//!
//! - [`plan_export`] / [`write_bundle`] (outside): the newest snapshot of each mirror and
//!   every object the inside lacks, by the [`Ledger`] of earlier bundles (or everything,
//!   or what an [`InsideState`] carried back lacks), in tar volumes of bounded size, with
//!   a [`Manifest`] signed by the outside's key, `SHA256SUMS` and a `README.txt`.
//! - [`import`] (inside): signature first (trusted keys only), then sequence, space,
//!   every volume and object hash into staging, and only then objects, snapshots, publish
//!   and the [`ImportRecord`], in that order.
//! - [`verify_bundle`] / [`verify_store`]: read-only, parallel re-hashing.
//! - [`parse_volume_size`]: `700M`, `4.7G`, `25G`...
//!
//! Every refusal is a [`TransferError`] whose [`class`](TransferError::class) says which
//! kind it is (bad signature, corruption, missing volume, gap, replay, unsafe entry, no
//! space), so callers can map each to its own exit code. The format is described in
//! `docs/bundle-format.md`.
//!
//! ```
//! use mirror_core::{digest::Sha256Digest, reporter::NoReporter, signing::SigningKey};
//! use mirror_core::snapshot::{Snapshot, SnapshotFile};
//! use mirror_core::store::Store;
//! use mirror_transfer::{ExportOptions, ImportOptions, ImportOutcome, import, plan_export, write_bundle};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let outside = Store::open(dir.path().join("outside"))?;
//! let digest = outside.objects().insert_bytes(b"hello")?;
//! let file = SnapshotFile { path: "greeting.txt".into(), sha256: digest, size: 5 };
//! outside.save_snapshot(&Snapshot::new("demo", "apt", "file:///up", "fp", vec![file])?)?;
//!
//! let key = SigningKey::generate("Outside <outside@example.invalid>")?;
//! let plan = plan_export(&outside, &ExportOptions::default())?;
//! assert_eq!(plan.object_count, 1);
//! let bundle = dir.path().join("bundle");
//! write_bundle(&outside, plan, &key, &bundle, 1 << 20, &NoReporter)?;
//!
//! let inside = Store::open(dir.path().join("inside"))?;
//! let report = import(&inside, &key.public_keyring(), &bundle, &ImportOptions::default(), &NoReporter)?;
//! assert_eq!(report.outcome, ImportOutcome::Imported);
//! assert_eq!(std::fs::read(inside.public_dir().join("demo/greeting.txt"))?, b"hello");
//! // The next export carries nothing new.
//! assert_eq!(plan_export(&outside, &ExportOptions::default())?.object_count, 0);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

mod bundle_file;
mod error;
mod export;
mod hashing;
mod import;
mod manifest;
mod record;
mod signed;
mod size;
mod space;
mod stage;
mod status;
mod verify;
mod volume_writer;

#[cfg(test)]
mod tests;

pub use bundle_file::{BundleFile, MAX_MANIFEST, MAX_SIGNATURE, MAX_SUMS};
pub use error::TransferError;
pub use export::{ExportOptions, ExportPlan, ExportReport, plan_export, write_bundle};
pub use hashing::hash_file;
pub use import::{FreeSpaceFn, ImportOptions, ImportOutcome, ImportReport, ImportStep, import};
pub use manifest::{
    BundleObject, ExpectedEntry, FORMAT_VERSION, MANIFEST, Manifest, Part, README, SIGNATURE, SUMS,
    Volume, entry_name, is_volume_name, parse_entry_name,
};
pub use mirror_core::error::{Classify, ErrorClass};
pub use record::{ImportRecord, ImportedBundle, InsideState, Ledger, LedgerEntry};
pub use signed::{VerifiedManifest, parse_sums, read_verified_manifest};
pub use size::{MIN_VOLUME_SIZE, parse_volume_size};
pub use space::available_space;
pub use stage::check_volume_entries;
pub use status::{ExportedStatus, MirrorStatus, STATUS_VERSION, StoreStatus};
pub use verify::{BundleVerification, StoreVerification, verify_bundle, verify_store};
