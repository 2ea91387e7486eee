//! The scratch directory of `sync --dry-run`: planning writes what it stores (indices,
//! generated files) there, above the real store, which is only read.
//!
//! A dry run takes no lock, so a killed one is noticed another way: the run holds an
//! exclusive `flock` on `owner.lock` inside its directory for as long as it lives, and a
//! scratch directory whose lock can be taken belongs to nobody and is removed (by the
//! next dry run, and by the next writer through `Store::lock`). It lives under the
//! store's own `tmp/` when there is a store, so it is found and cleaned there, on the
//! store's filesystem and size; only a dry run of a store that does not exist yet uses
//! the system's temp directory (creating the store would be a change).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// How a dry run's scratch directory is named.
const PREFIX: &str = "dry-run-";
/// The file whose lock says the dry run is alive.
const OWNER: &str = "owner.lock";

/// A dry run's scratch directory, removed when dropped; its lock is held until then.
#[derive(Debug)]
pub struct DryRunScratch {
    // Field order: the lock is released after the directory is gone.
    dir: tempfile::TempDir,
    _owner: File,
}

impl DryRunScratch {
    /// Where the scratch store goes.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Store {
    /// A new scratch directory for a dry run over `real` (the store as it is, if there is
    /// one), after removing those killed dry runs left.
    pub fn dry_run_scratch(real: Option<&Store>) -> Result<DryRunScratch, StoreError> {
        let parent = match real {
            Some(store) => store.tmp_dir(),
            None => std::env::temp_dir(),
        };
        fs_err::create_dir_all(&parent)?;
        remove_stale_dry_runs(&parent)?;
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(&parent)
            .map_err(|e| StoreError::io(&parent, e))?;
        let lock = dir.path().join(OWNER);
        let owner = File::create(&lock).map_err(|e| StoreError::io(&lock, e))?;
        owner.lock().map_err(|e| StoreError::io(&lock, e))?;
        Ok(DryRunScratch { dir, _owner: owner })
    }
}

/// Remove every dry-run scratch directory in `parent` whose owner is gone.
pub(super) fn remove_stale_dry_runs(parent: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let named = entry.file_name().to_string_lossy().starts_with(PREFIX);
        if !named || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir: PathBuf = entry.path();
        // No owner file: killed between creating the directory and its lock file.
        let free = match File::open(dir.join(OWNER)) {
            Ok(owner) => owner.try_lock().is_ok(),
            Err(_) => true,
        };
        if free {
            tracing::debug!(path = %dir.display(), "removing a killed dry run's scratch directory");
            fs_err::remove_dir_all(&dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_dry_run_is_kept_a_dead_one_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let live = Store::dry_run_scratch(Some(&store)).expect("scratch");
        assert!(live.path().starts_with(store.tmp_dir()));
        // A killed run: its directory stays, its lock is gone with its process.
        let dead = store.tmp_dir().join("dry-run-killed");
        std::fs::create_dir_all(dead.join("objects")).expect("mkdir");
        std::fs::write(dead.join(OWNER), b"").expect("owner");
        drop(store.lock().expect("the next writer"));
        assert!(
            !dead.exists(),
            "the next writer removes a dead dry run's scratch"
        );
        assert!(live.path().is_dir(), "a running dry run's scratch stays");
        let second = Store::dry_run_scratch(Some(&store)).expect("scratch");
        assert!(live.path().is_dir() && second.path().is_dir());
        let gone = live.path().to_owned();
        drop(live);
        assert!(!gone.exists());
    }
}
