//! mirror-pypi's integration tests: syncing hand-built simple indices of real wheels from
//! loopback upstreams, and the real pip installing from what was published.

mod mirror;
