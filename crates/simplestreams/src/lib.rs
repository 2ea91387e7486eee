//! simplestreams mirroring: the image streams MAAS, cloud tooling and LXD read
//! (`streams/v1/index.sjson` and the product files it names), as the fourth format on
//! the same seam as APT, conda and PyPI.
//!
//! Trust flows as in APT: the configured keyring verifies the clear-signed index and
//! each product file (`.sjson`, through `mirror_core::signing`, the policy InRelease
//! gets); each item is then downloaded against the SHA-256 and size its product file
//! states. Unsigned `.json` twins are never read: ours are the signed texts.
//!
//! - [`filter`]: `sstream-mirror`'s filters;
//! - [`stream`]: the index and product files, items with their inherited attributes,
//!   selection and cutting a file down to it;
//! - [`SimplestreamsMirror`]: the `Repository`: an unfiltered mirror publishes
//!   upstream's signed files byte for byte; a filtered one publishes its product files
//!   and index cut to the selection and signed with our key, with `.json` twins.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

mod config;
mod error;
pub mod filter;
pub mod inspect;
mod mirror;
pub mod seed;
pub mod stream;

pub use config::SimplestreamsConfig;
pub use error::SimplestreamsError;
pub use mirror::{SimplestreamsMirror, SimplestreamsSummary};
