//! mirror-conda's integration tests: syncing hand-built and real channels from loopback
//! upstreams, and the real py-rattler client installing from what was published. One
//! test binary, one module per area (each extra binary links the dependency tree again).

mod support;

mod channeldata;
mod client;
mod conditional;
mod fixtures;
mod mirror;
mod upstream_shards;
