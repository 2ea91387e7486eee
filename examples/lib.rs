//! # mirror-examples
//!
//! Programs that use the mirror libraries the way another Rust tool would, without the
//! CLI. Each is built and run by `cargo xtask test` (their `#[test]`s run them against
//! loopback upstreams), so they cannot rot.
//!
//! - `filtered_apt_mirror`: mirror the dependency closure of a few packages from a signed
//!   APT repository into a store, sign the regenerated indices with our own key, publish,
//!   and see the second run come out unchanged.
//!   `cargo run -p mirror-examples --example filtered_apt_mirror -- URL SUITE KEYRING STORE PACKAGE...`
//! - `bundle_transfer`: export a store's snapshots as a signed bundle, verify and import
//!   it into another store, then carry only what changed in an incremental bundle.
//!   `cargo run -p mirror-examples --example bundle_transfer -- [WORK_DIR]`
#![forbid(unsafe_code)]
#![deny(missing_docs)]
