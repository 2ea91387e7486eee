//! End-to-end tests of `mirror-cli`: the real binary against loopback upstreams and real
//! clients (`apt-get` in an isolated root, py-rattler). One test binary for the whole CLI,
//! one module per area, as ripgrep's `tests/tests.rs` and uv's `tests/it`: each extra
//! binary would link the whole dependency tree again.
//!
//! Run one area with `cargo test -p mirror-cli --test it apt::`.

mod common;

mod apt;
mod apt_auth;
mod apt_dates;
mod apt_group;
mod apt_indices;
mod apt_sources;
mod apt_versions;
mod attack_matrix;
mod conda;
mod conformance;
mod exit_codes;
mod failpoints;
mod operations;
mod proxy;
mod proxy_apt;
mod proxy_pypi;
mod pypi;
mod schedule;
mod serve_limits;
mod simplestreams;
mod transfer;
