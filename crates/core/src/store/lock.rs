//! The store's writer lock: one `sync`/`publish`/`import`/`prune` at a time.
//!
//! An OS file lock (`File::try_lock`), so a crashed writer never leaves a stale lock
//! behind. Readers (`serve`, `status`, `verify`) never take it: they only read immutable
//! objects and follow symlinks that are switched atomically.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Take the lock at `path`, failing at once when another process holds it.
    pub fn acquire(path: &Path) -> Result<Self, StoreError> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    path: path.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(path, e)),
        }
        // Who holds it, for the error message another writer will see.
        file.set_len(0).map_err(|e| StoreError::io(path, e))?;
        file.rewind().map_err(|e| StoreError::io(path, e))?;
        // A scheduled run that finds the store locked says who holds it and since when.
        let command: Vec<String> = std::env::args().take(4).collect();
        write!(
            file,
            "pid {} since {} ({})",
            std::process::id(),
            crate::time_util::now_rfc3339(),
            command.join(" ")
        )
        .map_err(|e| StoreError::io(path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_until_first_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let first = StoreLock::acquire(&path).expect("first lock");
        let err = StoreLock::acquire(&path).expect_err("second must fail");
        assert!(err.to_string().contains("locked"), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {} since 20", std::process::id())),
            "who and since when: {message}"
        );
        drop(first);
        StoreLock::acquire(&path).expect("free again");
    }
}
