//! Writing volumes: tar files that never exceed the volume size, objects stored as
//! `objects/sha256/ab/<hex>`, and an object larger than the space left in a volume split
//! into `<hex>.part-0001`, `<hex>.part-0002`... across volumes.
//!
//! Every entry is a plain ustar regular file with fixed owner, mode and time, so the same
//! objects in the same order give the same bytes. A volume's size is known exactly while
//! writing (512-byte header + data rounded up to 512, plus 1024 bytes of end marker), so
//! the limit is kept without seeking back.

use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::digest::HashingWriter;
use mirror_core::reporter::Reporter;

use crate::error::TransferError;
use crate::hashing::HashingReader;
use crate::manifest::{BundleObject, Part, Volume, entry_name};

const BLOCK: u64 = 512;
const END_OF_ARCHIVE: u64 = 2 * BLOCK;

type VolumeFile = tar::Builder<HashingWriter<BufWriter<fs_err::File>>>;

struct OpenVolume {
    name: String,
    path: PathBuf,
    builder: VolumeFile,
    used: u64,
}

/// Fills `data-0001.tar`, `data-0002.tar`... in a directory.
pub(crate) struct VolumeWriter<'a> {
    dir: PathBuf,
    limit: u64,
    current: Option<OpenVolume>,
    done: Vec<Volume>,
    reporter: &'a dyn Reporter,
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

impl<'a> VolumeWriter<'a> {
    /// Volumes of at most `limit` bytes (at least 64 KiB, see `parse_volume_size`).
    pub(crate) fn new(dir: &Path, limit: u64, reporter: &'a dyn Reporter) -> Self {
        assert!(
            limit >= 4 * BLOCK + END_OF_ARCHIVE,
            "volume limit too small"
        );
        Self {
            dir: dir.to_owned(),
            limit,
            current: None,
            done: Vec::new(),
            reporter,
        }
    }

    /// Data bytes the current volume can still take in one entry.
    fn capacity(&self) -> u64 {
        match &self.current {
            None => 0,
            Some(v) => {
                let left = self.limit.saturating_sub(v.used + END_OF_ARCHIVE + BLOCK);
                left / BLOCK * BLOCK
            }
        }
    }

    fn open_next(&mut self) -> Result<(), TransferError> {
        self.close()?;
        let name = format!("data-{:04}.tar", self.done.len() + 1);
        let path = self.dir.join(&name);
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        // Readable by a non-root importer after a copy that keeps modes, whatever the umask.
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        let writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        self.current = Some(OpenVolume {
            name,
            path,
            builder: tar::Builder::new(writer),
            used: 0,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), TransferError> {
        let Some(volume) = self.current.take() else {
            return Ok(());
        };
        let io = |e: std::io::Error| {
            TransferError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", volume.path.display()),
            ))
        };
        let hashing = volume.builder.into_inner().map_err(io)?;
        let (buffered, sha256, size) = hashing.finish();
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        mirror_core::failpoint::step("fsync");
        file.sync_all()?;
        debug_assert_eq!(size, volume.used + END_OF_ARCHIVE);
        debug_assert!(size <= self.limit);
        tracing::debug!(volume = %volume.name, size, "volume written");
        self.done.push(Volume {
            name: volume.name,
            size,
            sha256,
        });
        Ok(())
    }

    fn append(&mut self, name: &str, size: u64, data: impl Read) -> Result<String, TransferError> {
        let volume = self.current.as_mut().expect("a volume is open");
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        volume.builder.append(&header, data).map_err(|e| {
            TransferError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", volume.path.display()),
            ))
        })?;
        volume.used += BLOCK + round_up(size);
        self.reporter.advance(size);
        Ok(volume.name.clone())
    }

    /// Add one object of `size` bytes read from `data`, which must hash to `digest`.
    pub(crate) fn add(
        &mut self,
        digest: Sha256Digest,
        size: u64,
        data: impl Read,
        origin: &Path,
    ) -> Result<BundleObject, TransferError> {
        let mut reader = HashingReader::new(data);
        let mut remaining = size;
        let mut parts: Vec<Part> = Vec::new();
        loop {
            if self.current.is_none() {
                self.open_next()?;
            }
            let capacity = self.capacity();
            if remaining <= capacity {
                let part = (!parts.is_empty()).then(|| parts.len() as u32 + 1);
                let volume = self.append(
                    &entry_name(&digest, part),
                    remaining,
                    (&mut reader).take(remaining),
                )?;
                if part.is_some() {
                    parts.push(Part {
                        volume,
                        size: remaining,
                    });
                }
                break;
            }
            if capacity == 0 {
                self.open_next()?;
                continue;
            }
            // Larger than the space left: fill this volume with a part, go on in the next.
            let n = parts.len() as u32 + 1;
            let volume = self.append(
                &entry_name(&digest, Some(n)),
                capacity,
                (&mut reader).take(capacity),
            )?;
            parts.push(Part {
                volume,
                size: capacity,
            });
            remaining -= capacity;
            self.open_next()?;
        }
        let (actual, len) = reader.digest_so_far();
        if len != size || actual != digest {
            return Err(TransferError::Mismatch {
                file: origin.display().to_string(),
                what: "SHA-256",
                expected: format!("{digest} ({size} bytes)"),
                actual: format!(
                    "{actual} ({len} bytes): the store's object is damaged; run `mirror-cli verify`"
                ),
            });
        }
        let volume = parts
            .first()
            .map(|p| p.volume.clone())
            .or_else(|| self.current.as_ref().map(|v| v.name.clone()))
            .expect("an object was written to a volume");
        Ok(BundleObject {
            sha256: digest,
            size,
            volume,
            parts,
        })
    }

    /// Close the last volume and return every volume written.
    pub(crate) fn finish(mut self) -> Result<Vec<Volume>, TransferError> {
        self.close()?;
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::reporter::NoReporter;

    #[test]
    fn big_objects_split_and_volumes_stay_under_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limit = 64 * 1024;
        let mut writer = VolumeWriter::new(dir.path(), limit, &NoReporter);
        let small = b"small".to_vec();
        let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let a = writer
            .add(Sha256Digest::of(&small), 5, &small[..], Path::new("small"))
            .expect("small");
        assert!(a.parts.is_empty());
        let b = writer
            .add(
                Sha256Digest::of(&big),
                big.len() as u64,
                &big[..],
                Path::new("big"),
            )
            .expect("big");
        assert!(b.parts.len() >= 3, "{b:?}");
        assert_eq!(
            b.parts.iter().map(|p| p.size).sum::<u64>(),
            big.len() as u64
        );
        let volumes = writer.finish().expect("finish");
        for v in &volumes {
            let on_disk = fs_err::metadata(dir.path().join(&v.name))
                .expect("meta")
                .len();
            assert_eq!(on_disk, v.size);
            assert!(v.size <= limit, "{} is {} bytes", v.name, v.size);
        }
        // Joining the parts in order gives the object back.
        let mut joined = Vec::new();
        for (i, p) in b.parts.iter().enumerate() {
            let mut archive =
                tar::Archive::new(fs_err::File::open(dir.path().join(&p.volume)).expect("open"));
            let name = entry_name(&b.sha256, Some(i as u32 + 1));
            for entry in archive.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                if entry.path_bytes().as_ref() == name.as_bytes() {
                    entry.read_to_end(&mut joined).expect("read");
                }
            }
        }
        assert_eq!(joined, big);
    }

    #[test]
    fn wrong_object_content_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = VolumeWriter::new(dir.path(), 1 << 20, &NoReporter);
        let err = writer
            .add(Sha256Digest::of(b"good"), 4, &b"evil"[..], Path::new("obj"))
            .expect_err("mismatch");
        assert!(err.to_string().contains("obj"), "{err}");
    }
}
