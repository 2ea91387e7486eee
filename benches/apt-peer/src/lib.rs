//! Loading the bookworm Packages index for the peer benchmark (see `benches/packages_parse.rs`).
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The fixture's Packages index, relative to `$MIRROR_FIXTURES`.
pub const PACKAGES_XZ: &str = "debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz";

/// Reads and decompresses the bookworm Packages.xz named by `$MIRROR_FIXTURES`, or `None`
/// (with a note on stderr) when the variable is unset, so `cargo bench` stays runnable.
pub fn load_packages() -> Option<Vec<u8>> {
    let Some(root) = std::env::var_os("MIRROR_FIXTURES") else {
        eprintln!("skipping: MIRROR_FIXTURES not set");
        return None;
    };
    let path = PathBuf::from(root).join(PACKAGES_XZ);
    let compressed =
        std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let mut reader = lzma_rust2::XzReader::new(compressed.as_slice(), true);
    let mut text = Vec::with_capacity(compressed.len() * 8);
    std::io::Read::read_to_end(&mut reader, &mut text)
        .unwrap_or_else(|error| panic!("decompressing {}: {error}", path.display()));
    Some(text)
}
