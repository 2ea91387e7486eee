//! Hashing while bytes stream past: a reader that hashes what it yields, and whole-file
//! hashing with a large buffer (what `verify` runs in parallel across files).

use std::io::{self, Read};
use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::digest::Hasher;

/// A reader that hashes everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub(crate) fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Read the rest to EOF and return the digest and total length.
    pub(crate) fn finish(mut self) -> io::Result<(Sha256Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.finish())
    }

    /// The digest of what was read so far (without draining).
    pub(crate) fn digest_so_far(self) -> (Sha256Digest, u64) {
        self.hasher.finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// SHA-256 and length of a whole file.
pub fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    mirror_core::digest::hash_reader(fs_err::File::open(path)?)
}
