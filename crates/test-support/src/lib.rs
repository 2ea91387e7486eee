//! # mirror-test-support
//!
//! Helpers shared by the tests of every mirror crate, so that no crate grows its own copy:
//!
//! - [`TestServer`]: a loopback HTTP upstream serving a directory (Range requests included)
//!   on an OS-chosen port, on its own thread and runtime so that both plain `#[test]`s and
//!   `#[tokio::test]`s can use it. It records every request and injects [`Fault`]s per path
//!   (error statuses, truncated, stalled, trickling or endless bodies, corrupted bytes,
//!   delays, redirects, replaced bodies with another content type, header floods).
//! - [`fixtures`]: the real fixture tree, the repository's `tests/fixtures` (or
//!   `MIRROR_FIXTURES`), checked once per process against its `PROVENANCE.tsv` files
//!   ([`verify_fixtures`]); [`copy_tree`] for tests that must modify a copy.
//! - [`skip`]: a test that cannot run here (a real client is missing) says why, records it
//!   for `cargo xtask test`'s summary (`MIRROR_SKIP_LOG`), and fails when `CI` is set.
//! - [`dir_state`]: a directory's whole content as a value, to assert that nothing changed.
//! - [`conda_channel`]: real `.tar.bz2`/`.conda` packages and their repodata, written by
//!   hand into a channel directory.
//! - [`pypi_index`]: real wheels and a PEP 503 simple index of them; [`pip_install`]
//!   and [`uv_install`] drive the real pip and uv against a mirror.
//!
//! ```
//! use mirror_test_support::{Fault, TestServer};
//! let dir = tempfile::tempdir().expect("tempdir");
//! std::fs::write(dir.path().join("hello.txt"), b"hello").expect("write");
//! let server = TestServer::serve_dir(dir.path());
//! server.inject("/hello.txt", Fault::Status(503));
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! assert!(server.requests().is_empty());
//! ```
//!
//! This crate depends on no mirror crate on purpose: `mirror-core` uses it as a
//! dev-dependency, and a cycle would give core's unit tests two incompatible copies of
//! core's types.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conda_channel;
mod conda_client;
mod dir_state;
mod fixtures;
mod provenance;
mod pypi_client;
pub mod pypi_index;
mod server;

pub use conda_client::conda_client_install;
pub use dir_state::dir_state;
pub use fixtures::{copy_tree, fixtures, skip, workspace_root};
pub use provenance::verify_fixtures;
pub use pypi_client::{install_with_each_client, pip_install, uv_install};
pub use server::{Fault, RecordedRequest, TestServer};
