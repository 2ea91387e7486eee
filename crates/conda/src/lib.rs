//! # mirror-conda
//!
//! Mirrors a conda channel: fetches each subdir's `repodata.json`, keeps the records a
//! mirror's settings select (with their dependency closure), and names every file of the
//! published channel for [`mirror_core::sync::sync`] to download, verify, snapshot and
//! publish. The published tree is itself a channel (`<subdir>/repodata.json`,
//! `<subdir>/repodata.json.zst`, `<subdir>/<package>`) that conda, mamba and rattler read
//! directly, and that another mirror can use as its upstream.
//!
//! ## Types
//! - [`CondaConfig`] (the `[[conda]]` settings) and [`CondaMirror`], the
//!   [`Repository`](mirror_core::repository::Repository) implementation.
//! - [`repodata::RepoDataView`]: the lazy parser. Records stay raw JSON slices of the input;
//!   [`writer::write_repodata`] copies chosen ones through byte for byte.
//! - [`record`]: checks of untrusted records; [`select`]: specs, `keep_versions`,
//!   `exclude`, licenses and the dependency closure.
//! - [`seed`]: specs from an `environment.yml` or an explicit lockfile (for `init`);
//!   [`inspect`]: a summary of a `repodata.json[.zst|.bz2]`; [`package_check`]: a cheap
//!   structural check of package archives.
//!
//! ## Trust and integrity
//! Conda channels are not signed: there is no signature to verify an index against, so an
//! index is trusted as served (use `https://` upstreams). What is verified is every
//! package: the core fetcher streams it into the store only when its SHA-256 (and size,
//! when the record gives one) equals the record's; a mismatch is an error naming the file,
//! the expected and the actual digest. Records without a `sha256` cannot be verified and
//! are skipped.
//!
//! Records are untrusted input too. A record whose file name has a path separator, `..`
//! or characters no package name has, whose `name`/`version`/`build` disagree with its file
//! name, whose `subdir` disagrees with the subdir it is filed under, whose `sha256` is not
//! a digest, or which is not a record at all fails the sync ([`CondaError::BadRecord`],
//! naming the URL and the record) and nothing is published: a channel serving one is
//! broken or compromised. `skip_bad_records = true` skips such records with a warning and
//! counts them in the sync summary instead; either way they never reach the published
//! channel. (A mirror of everything checks every record; a filtered mirror checks the
//! records its selection considers.) Invalid JSON is an error naming the URL.
//!
//! [`package_check`] refuses archives that match their digest but are not installable
//! (the malformed `.conda` of the fixtures nests its members under a directory); the sync
//! driver runs it on every downloaded package (`Repository::check_download`), so such a
//! package fails the sync before any snapshot names it.
//!
//! ## What is published
//! - **Every record kept** (an unfiltered mirror, or a filter that happens to keep a whole
//!   subdir): upstream's `repodata.json` bytes unchanged, and upstream's
//!   `repodata.json.zst` when it has one (else one we compress), unless a record had to be
//!   skipped or the index has a `base_url` (repodata version 2): then it is rewritten as
//!   below.
//! - **Filtered**: a `repodata.json` holding exactly the selected records, each copied
//!   through unchanged (so upstream's repodata patches survive), keys sorted, plus its
//!   `.zst`. `info` is kept minus `base_url` (packages live next to the index in the
//!   mirror), `removed` and `repodata_version` are kept; other top-level keys
//!   (`signatures`, `v3`...) are not.
//! - `noarch` is always mirrored; when upstream has no `noarch/repodata.json`, an empty
//!   valid one is published (clients require it).
//! - Beside each subdir's index: `current_repodata.json` (the newest version of each
//!   name), CEP-16 sharded repodata (`shards`), both made from the published
//!   `repodata.json`; at the channel's root, upstream's `channeldata.json` cut down to the
//!   published names ([`channeldata`]). Upstream's own shards replace ours with
//!   `upstream_shards = true` ([`upstream_shards`]). Not mirrored: `run_exports.json`.
//!
//! ## Selection
//! Specs and `depends` entries are parsed leniently, like conda does (`python=3.12`,
//! `numpy 1.26*`); user specs may use name globs (`r-*`). See [`select`] for the rules,
//! `keep_versions` in particular. A `licenses` allow-list compares the record's whole
//! `license` string exactly; records without a `license` field are dropped by it.
//!
//! ## Example
//! ```
//! use mirror_conda::{CondaConfig, CondaMirror, repodata::RepoDataView, writer::write_repodata};
//!
//! let mirror = CondaMirror::new(CondaConfig {
//!     name: "conda-forge".into(),
//!     url: "http://127.0.0.1:8080/conda-forge".into(),
//!     subdirs: vec!["linux-64".into()],
//!     specs: vec!["python 3.12.*".into(), "numpy >=1.26".into()],
//!     keep_versions: Some(2),
//!     ..CondaConfig::default()
//! })?;
//! assert_eq!(mirror.subdirs(), ["linux-64", "noarch"]);
//!
//! // The lazy parser and writer on their own: records are copied through unchanged.
//! let upstream = br#"{"info": {"subdir": "noarch"}, "packages": {
//!     "a-1-0.tar.bz2": {"name": "a", "version": "1", "build": "0"}}}"#;
//! let view = RepoDataView::parse(upstream)?;
//! let ours = write_repodata(&view, "noarch", |_| true);
//! assert!(String::from_utf8(ours)?.contains(r#"{"name": "a", "version": "1", "build": "0"}"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

pub mod channeldata;
mod config;
mod error;
pub mod inspect;
mod mirror;
pub mod package_check;
pub mod proxy;
pub mod record;
pub mod repodata;
pub mod seed;
pub mod select;
pub mod shards;
pub mod upstream;
pub mod upstream_shards;
pub mod writer;

pub use config::CondaConfig;
pub use error::CondaError;
pub use inspect::{RepodataSummary, inspect_repodata, inspect_repodata_file};
pub use mirror::{CondaMirror, CondaSummary, SubdirSummary};
pub use seed::{
    SeedError, specs_from_environment_yaml, specs_from_explicit_lockfile, specs_from_file,
};
