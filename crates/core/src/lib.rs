//! # mirror-core
//!
//! What every mirror format shares: the content-addressed object store, snapshots,
//! atomic publishing, the writer lock, the audit log, the async fetcher, OpenPGP signing
//! glue, and the [`Repository`](repository::Repository) trait that `mirror-apt` and
//! `mirror-conda` implement.
//!
//! Data flows one way: a [`Repository`](repository::Repository) fetches and verifies
//! upstream metadata, decides the selection and names every file of the tree it wants
//! (with the digest each must have and where to get it); [`sync::sync`] downloads what the
//! store lacks through the [`Fetcher`](fetch::Fetcher) (verifying SHA-256 while streaming),
//! records a [`Snapshot`](snapshot::Snapshot), and [`Store::publish`](store::Store::publish)
//! turns it into a live tree atomically.
//!
//! ```
//! use mirror_core::{digest::Sha256Digest, snapshot::{Snapshot, SnapshotFile}, store::Store};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let digest = store.objects().insert_bytes(b"hello")?;
//! let file = SnapshotFile { path: "greeting.txt".into(), sha256: digest, size: 5 };
//! let snapshot = Snapshot::new("demo", "apt", "file:///nowhere", "fp", vec![file])?;
//! store.save_snapshot(&snapshot)?;
//! store.publish(&snapshot)?;
//! assert_eq!(std::fs::read(store.public_dir().join("demo/greeting.txt"))?, b"hello");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

pub mod audit;
pub mod audit_anchor;
pub mod compression;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod digest;
pub mod error;
pub mod failpoint;
pub mod fetch;
pub mod paths;
pub mod proxy;
pub mod prune;
pub mod publish;
pub mod redact;
pub mod regular_file;
pub mod reporter;
pub mod repository;
pub mod settings;
pub mod signing;
pub mod size;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod time_util;
pub mod upstream_cache;

pub use digest::Sha256Digest;
pub use store::Store;
