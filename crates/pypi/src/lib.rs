//! Python package indexes for the mirror: a selective mirror of a PyPI-style "simple"
//! repository, read from an upstream and written for pip and uv (issue 15; the plan is
//! `docs/pypi-plan.md`).
//!
//! - [`PypiConfig`] (`[[pypi]]` in `mirror.toml`) and [`PypiMirror`], the
//!   [`Repository`](mirror_core::repository::Repository): resolve, fetch, publish;
//! - [`resolve`]: the closure of the requirements for one target, by PubGrub;
//! - [`requirements_file`]: requirements files as pip reads them (`pip freeze`), and
//!   [`seed`]: `init --pip-freeze`;
//! - [`environment`]: the targets (a Python on a system) and their marker values;
//! - [`name`]: project names, normalised as PEP 503 compares them;
//! - [`filename`]: wheel and sdist file names, parsed and checked, so a hostile index
//!   cannot name a path (`..`, `/`) where a distribution file goes;
//! - [`simple`]: a project page of the simple API, read from PEP 691 JSON (every field
//!   a client relies on, unknown ones ignored, PEP 714's metadata key and its older
//!   spellings) or PEP 503 HTML, and written as both;
//! - [`tags`]: which wheels a target (a CPython version and its platforms) installs;
//! - [`metadata`]: a distribution's core metadata (`METADATA`, PEP 658 `.metadata`):
//!   name, version, `Requires-Python`, `Requires-Dist`, `Provides-Extra`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

pub mod config;
pub mod environment;
pub mod error;
pub mod filename;
pub mod metadata;
pub mod mirror;
pub mod name;
pub mod proxy;
pub mod requirements_file;
pub mod resolve;
pub mod seed;
pub mod simple;
pub mod tags;
mod wheel;

pub use config::PypiConfig;
pub use error::PypiError;
pub use mirror::PypiMirror;
