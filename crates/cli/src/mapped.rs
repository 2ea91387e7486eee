//! A file the operator named, mapped rather than read: `inspect` parses a 50 MB Packages
//! where it lies instead of copying it into the heap first (the copy was a tenth of the
//! run and the whole file again in peak memory).
//!
//! This is the workspace's only `unsafe`: the libraries forbid it, and take `&[u8]`.
#![allow(unsafe_code)]

use std::ops::Deref;
use std::path::Path;

/// Below this a plain read is as fast and needs no mapping.
const MAP_FROM_BYTES: u64 = 1 << 20;

/// A file's bytes: mapped when large and regular, read otherwise (small files, pipes,
/// `/dev/stdin`).
pub enum Contents {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl Deref for Contents {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Contents::Mapped(map) => map,
            Contents::Read(bytes) => bytes,
        }
    }
}

/// The bytes of `path`, errors naming it.
pub fn read(path: &Path) -> std::io::Result<Contents> {
    let file = fs_err::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() || metadata.len() < MAP_FROM_BYTES {
        return fs_err::read(path).map(Contents::Read);
    }
    // SAFETY: the mapping is only ever read, and nothing in this process writes the file.
    // Another process could: a concurrent write makes the parse see bytes that change
    // under it (the parsers take any bytes and either accept or refuse them; no unsafe
    // code relies on their content), and a truncation makes a read past the new end
    // raise SIGBUS, killing the process. `inspect` writes nothing, so either leaves no
    // state behind; the store's own objects are read-only and never rewritten in place.
    let map = unsafe { memmap2::Mmap::map(file.file()) }.map_err(|e| {
        std::io::Error::new(e.kind(), format!("failed to map {}: {e}", path.display()))
    })?;
    // The parse reads every byte, on every core at once: ask for all of it up front
    // rather than one fault-around window at a time.
    let _ = map.advise(memmap2::Advice::WillNeed);
    Ok(Contents::Mapped(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_are_mapped_small_ones_read_and_both_hold_the_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small");
        let large = dir.path().join("large");
        std::fs::write(&small, b"Package: a\n").expect("write");
        let big: Vec<u8> = (0..MAP_FROM_BYTES + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&large, &big).expect("write");

        let read_small = read(&small).expect("small");
        assert!(matches!(read_small, Contents::Read(_)));
        assert_eq!(&*read_small, b"Package: a\n");
        let read_large = read(&large).expect("large");
        assert!(matches!(read_large, Contents::Mapped(_)));
        assert_eq!(&*read_large, &big[..]);

        let missing = read(&dir.path().join("absent")).err().expect("missing");
        assert!(missing.to_string().contains("absent"), "{missing}");
    }
}
