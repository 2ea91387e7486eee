//! The store's writer lock: one `sync`/`publish`/`import`/`prune` at a time.
//!
//! An OS file lock (`File::try_lock`), so a crashed writer never leaves a stale lock
//! behind. Readers (`serve`, `status`, `verify`) never take it: they only read immutable
//! objects and follow symlinks that are switched atomically.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{ObjectStore, StoreError};

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
    /// The store's objects when taken by [`super::Store::lock`]: their waiting batch is
    /// made durable before the lock goes, so the next writer never finds it half done.
    pub(super) objects: Option<ObjectStore>,
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
                    holder: describe_holder(holder.trim()),
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
            objects: None,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the lock file says about its holder, unless that is known to be stale: the line
/// is written just after the lock is taken, so for an instant the file still names the
/// previous holder (or nothing); a holder whose process is gone is not named.
fn describe_holder(line: &str) -> String {
    const UNKNOWN: &str = "holder not yet known";
    if line.is_empty() {
        return UNKNOWN.to_owned();
    }
    let pid = line
        .strip_prefix("pid ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse::<u32>().ok());
    if let Some(pid) = pid
        && Path::new("/proc/self").is_dir()
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        return UNKNOWN.to_owned();
    }
    line.to_owned()
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // A holder that is gone is named by no one (see `describe_holder`).
        let _ = self.file.set_len(0);
        // A command that fails part way keeps what it fetched (see objects.rs).
        if let Some(objects) = &self.objects
            && let Err(e) = objects.make_durable()
        {
            tracing::warn!(error = %e, "could not make the last batch of objects durable");
        }
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_or_unwritten_holder_is_not_named() {
        assert_eq!(describe_holder(""), "holder not yet known");
        let me = format!("pid {} since now (mirror-cli sync)", std::process::id());
        assert_eq!(describe_holder(&me), me);
        // pid_max on Linux is at most 2^22: this pid cannot be running.
        assert_eq!(
            describe_holder("pid 4294967295 since then (mirror-cli sync)"),
            "holder not yet known"
        );
    }

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
