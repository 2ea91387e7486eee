//! Opening the files of a bundle directory, which come on media nobody checked yet.
//!
//! A hostile or damaged medium can put anything where `manifest.json` should be: a
//! symlink to `/dev/zero` (read for ever), a FIFO (an `open` that blocks for ever while
//! the import holds the writer lock), a sparse file of gigabytes (read whole into
//! memory). Every bundle file is therefore opened without blocking, checked to be a
//! regular file on the descriptor that will be read (no window between a check and the
//! open), and read only up to a limit: the control files by the caps below, volumes by the
//! size the signed manifest states.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use mirror_core::regular_file::OpenRegularError;

use crate::TransferError;

/// The largest `manifest.json` read: it lists every object and snapshot file of the
/// bundle (~150 bytes a file; a full Debian suite is ~70,000 files, ~15 MB).
pub const MAX_MANIFEST: u64 = 512 << 20;
/// The largest `manifest.json.asc` read (an armored signature is ~1 KiB a key).
pub const MAX_SIGNATURE: u64 = 1 << 20;
/// The largest `SHA256SUMS` read (one ~80-byte line per volume).
pub const MAX_SUMS: u64 = 16 << 20;

/// A volume that yields no byte for this long is a stalled medium (a hung USB or
/// network mount): the read fails instead of holding the writer lock for ever. The same
/// silence the fetcher allows an upstream by default (`[fetch] read_timeout`).
pub const MEDIA_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which bundle file, so a refusal gets its file's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFile {
    /// `manifest.json` (exit 11).
    Manifest,
    /// `manifest.json.asc` (exit 10).
    Signature,
    /// `SHA256SUMS` (exit 11).
    Sums,
    /// A data volume (exit 15: not a plain file, as an unsafe tar entry).
    Volume,
}

/// Open `path` for reading if it is a regular file (a symlink to one is followed; to a
/// device, FIFO, socket or directory it is refused). Never blocks on a FIFO.
pub(crate) fn open_regular(path: &Path, which: BundleFile) -> Result<File, TransferError> {
    match mirror_core::regular_file::open_regular(path) {
        Ok(file) => Ok(file),
        Err(OpenRegularError::Io(source)) => Err(opening(path, which, source)),
        Err(not_regular @ OpenRegularError::NotRegular(_)) => {
            Err(refused(path, which, not_regular.to_string()))
        }
    }
}

/// A reader over a bundle file that gives up after `timeout` without data.
///
/// A read that blocks in the kernel cannot be interrupted, so the file is read on a
/// thread of its own, in 1 MiB chunks through a small channel, and the consumer waits on
/// the channel with the timeout. On a stall the consumer gets `TimedOut` and the import
/// fails and releases its lock; the blocked thread ends with the process. The thread
/// also stops when the consumer is dropped.
pub(crate) struct SilenceGuard {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    finished: bool,
    timeout: Duration,
    path: PathBuf,
}

impl SilenceGuard {
    pub(crate) fn new(mut file: File, path: &Path, timeout: Duration) -> Self {
        let (sender, chunks) = sync_channel(4);
        let spawned = std::thread::Builder::new()
            .name("bundle-reader".into())
            .spawn(move || {
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    let sent = match file.read(&mut chunk) {
                        Ok(n) => {
                            chunk.truncate(n);
                            let end = n == 0;
                            sender.send(Ok(chunk)).is_ok() && !end
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
                        Err(e) => {
                            let _ = sender.send(Err(e));
                            false
                        }
                    };
                    if !sent {
                        return;
                    }
                }
            });
        let mut guard = Self {
            chunks,
            current: Vec::new(),
            at: 0,
            finished: false,
            timeout,
            path: path.to_owned(),
        };
        if let Err(e) = spawned {
            // No thread: report it on the first read.
            let (sender, chunks) = sync_channel(1);
            let _ = sender.send(Err(e));
            guard.chunks = chunks;
        }
        guard
    }
}

impl Read for SilenceGuard {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            if self.finished {
                return Ok(0);
            }
            match self.chunks.recv_timeout(self.timeout) {
                Ok(Ok(chunk)) if chunk.is_empty() => self.finished = true,
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{}: no data for {:?}; the medium stalled",
                            self.path.display(),
                            self.timeout
                        ),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(std::io::Error::other(format!(
                        "{}: the reading thread ended early",
                        self.path.display()
                    )));
                }
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// SHA-256 and length of a bundle file, read as media are (regular files only, a stall
/// is an error).
pub(crate) fn hash_media_file(
    path: &Path,
    which: BundleFile,
) -> Result<(mirror_core::Sha256Digest, u64), TransferError> {
    let file = open_regular(path, which)?;
    mirror_core::digest::hash_reader(SilenceGuard::new(file, path, MEDIA_READ_TIMEOUT))
        .map_err(TransferError::Io)
}

/// The whole of a control file, refused past `limit` bytes (its stated size is checked
/// before reading, and the read itself stops there too).
pub(crate) fn read_bounded(
    path: &Path,
    which: BundleFile,
    limit: u64,
) -> Result<Vec<u8>, TransferError> {
    let file = open_regular(path, which)?;
    let too_large = || {
        refused(
            path,
            which,
            format!("is larger than the {limit}-byte limit for this file; refused"),
        )
    };
    let stated = file
        .metadata()
        .map_err(|source| opening(path, which, source))?
        .len();
    if stated > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(stated).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| opening(path, which, source))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn opening(path: &Path, which: BundleFile, source: std::io::Error) -> TransferError {
    match which {
        // Missing or unreadable: unsigned, as before (exit 10).
        BundleFile::Signature => TransferError::NoSignature {
            dir: path.parent().unwrap_or(path).to_owned(),
            source,
        },
        BundleFile::Volume if source.kind() == std::io::ErrorKind::NotFound => {
            TransferError::MissingVolume {
                volume: path.to_owned(),
            }
        }
        _ => TransferError::Io(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        )),
    }
}

fn refused(path: &Path, which: BundleFile, reason: String) -> TransferError {
    TransferError::HostileFile {
        path: path.to_owned(),
        which,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::error::{Classify, ErrorClass};

    #[test]
    fn devices_fifos_and_oversized_files_are_refused_without_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zero = dir.path().join("manifest.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let error = read_bounded(&zero, BundleFile::Manifest, MAX_MANIFEST).expect_err("device");
        assert!(error.to_string().contains("a device"), "{error}");
        assert_eq!(error.class(), ErrorClass::Corrupt);

        let fifo = dir.path().join("manifest.json.asc");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        // Would block for ever without O_NONBLOCK: no writer ever opens it.
        let error = read_bounded(&fifo, BundleFile::Signature, MAX_SIGNATURE).expect_err("fifo");
        assert!(error.to_string().contains("a FIFO"), "{error}");
        assert_eq!(error.class(), ErrorClass::BundleSignature);

        let sparse = dir.path().join("SHA256SUMS");
        File::create(&sparse)
            .expect("create")
            .set_len(MAX_SUMS + 1)
            .expect("sparse");
        let error = read_bounded(&sparse, BundleFile::Sums, MAX_SUMS).expect_err("too large");
        assert!(error.to_string().contains("larger than"), "{error}");

        let volume = dir.path().join("data-0001.tar");
        std::fs::create_dir(&volume).expect("dir");
        let error = open_regular(&volume, BundleFile::Volume).expect_err("directory");
        assert_eq!(error.class(), ErrorClass::UnsafeEntry);

        // A medium that stops answering: a reader that never returns.
        let (_hold, never) = std::os::unix::net::UnixStream::pair().expect("pair");
        let mut stalled = SilenceGuard::new(
            File::from(std::os::fd::OwnedFd::from(never)),
            Path::new("data-0001.tar"),
            Duration::from_millis(200),
        );
        let error = stalled.read(&mut [0u8; 16]).expect_err("stalled");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("data-0001.tar"), "{error}");

        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"ok").expect("write");
        assert_eq!(
            read_bounded(&plain, BundleFile::Sums, 2).expect("within the limit"),
            b"ok"
        );
        assert!(read_bounded(&plain, BundleFile::Sums, 1).is_err());
        let mut guarded = SilenceGuard::new(
            File::open(&plain).expect("open"),
            &plain,
            MEDIA_READ_TIMEOUT,
        );
        let mut all = Vec::new();
        guarded.read_to_end(&mut all).expect("read");
        assert_eq!(all, b"ok");
    }
}
