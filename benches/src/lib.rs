//! Benchmarks live in `benches/benches/`; see docs/benchmarks.md.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
