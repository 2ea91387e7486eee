//! Opening a file that someone else controls (a `file://` upstream, a bundle on media)
//! so that it can neither hang nor flood the reader: the open never blocks (a FIFO
//! would block until a writer appears, for ever with the store's lock held), and the
//! descriptor that will be read must be a regular file (a symlink to `/dev/zero` reads
//! for ever, a directory or socket makes no sense). The check is made on the opened
//! descriptor, so nothing can be swapped between a check and the open.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be opened as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum OpenRegularError {
    /// The open or the `fstat` failed (missing, permissions, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// It is something else than a regular file; the text says what ("a FIFO").
    #[error("is {0}, not a regular file; refused without reading it")]
    NotRegular(&'static str),
}

/// Open `path` for reading if it is a regular file (a symlink to one is followed).
pub fn open_regular(path: &Path) -> Result<File, OpenRegularError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(OpenRegularError::NotRegular(if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&plain, &link).expect("symlink");
        for (path, what) in [
            (&fifo, "a FIFO"),
            (&zero, "a device"),
            (&dir.path().to_owned(), "a directory"),
        ] {
            match open_regular(path) {
                Err(OpenRegularError::NotRegular(said)) => assert_eq!(said, what),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(open_regular(&plain).is_ok());
        assert!(
            open_regular(&link).is_ok(),
            "a symlink to a regular file is followed"
        );
        assert!(matches!(
            open_regular(&dir.path().join("missing")),
            Err(OpenRegularError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
    }
}
