//! The on-disk store: one directory that holds everything a mirror host knows.
//!
//! ```text
//! <store>/objects/sha256/ab/abcdef...     every file ever fetched or generated, immutable
//! <store>/snapshots/<mirror>/<id>.json    complete file lists of published trees
//! <store>/trees/<mirror>/<id>/            materialised trees: hard links into objects/
//! <store>/state/<n>/public/<mirror>       symlink -> ../../../trees/<mirror>/<id>
//! <store>/state/<n>/<file>                small state that switches with the trees (import record)
//! <store>/live                            symlink -> state/<n>: the commit point (one rename)
//! <store>/public                          symlink -> live/public: what clients and serve read
//! <store>/pending.json                    journal of a change not yet committed (see pending.rs)
//! <store>/transfer/                       export ledger
//! <store>/tmp/                            temp files (same filesystem, so rename is atomic)
//! <store>/audit.jsonl                     append-only audit trail
//! <store>/lock                            one writer at a time
//! ```
//! [`Store`] names these paths; [`ObjectStore`] owns `objects/`; [`StoreLock`] owns `lock`;
//! `live.rs` switches generations; `pending.rs` rolls an interrupted change back.

mod durable;
mod error;
mod live;
mod lock;
mod objects;
mod pending;
mod scratch;

pub(crate) use durable::sync_filesystem;
pub use error::StoreError;
pub use lock::StoreLock;
pub use objects::{BATCH_BYTES, BATCH_OBJECTS, Expected, ObjectStore};
pub use pending::Pending;
pub use scratch::DryRunScratch;

use std::path::{Path, PathBuf};

/// The root of a store and the paths inside it.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    objects: ObjectStore,
}

impl Store {
    /// Open (creating when absent) the store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for sub in [
            "objects/sha256",
            "snapshots",
            "trees",
            "state",
            "transfer",
            "tmp",
        ] {
            fs_err::create_dir_all(root.join(sub))?;
        }
        let objects = ObjectStore::new(root.join("objects/sha256"), root.join("tmp"));
        let store = Self { root, objects };
        store.ensure_public_link()?;
        Ok(store)
    }

    /// A scratch store at `scratch` whose objects fall back to `lower`'s, which is only
    /// ever read: `sync --dry-run` plans against what the real store holds and writes
    /// what planning stores (indices, generated files) into `scratch`, so the real store
    /// is left exactly as it was.
    /// The upstream caches are copied up (a few KB each), so a dry run asks upstream
    /// what a real sync would (conditionally) and leaves the real caches untouched.
    pub fn scratch_over(scratch: &Path, lower: Option<&Store>) -> Result<Self, StoreError> {
        let mut store = Store::open(scratch)?;
        store.objects.lower = lower.map(|l| l.objects.dir.clone());
        if let Some(lower) = lower
            && let Ok(entries) = fs_err::read_dir(lower.cache_dir())
        {
            fs_err::create_dir_all(store.cache_dir())?;
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    fs_err::copy(entry.path(), store.cache_dir().join(entry.file_name()))?;
                }
            }
        }
        Ok(store)
    }

    /// Open an existing store without creating anything (read-only commands).
    pub fn open_existing(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        if !root.join("objects/sha256").is_dir() {
            return Err(StoreError::NotAStore { path: root });
        }
        let objects = ObjectStore::new(root.join("objects/sha256"), root.join("tmp"));
        Ok(Self { root, objects })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The content-addressed objects.
    pub fn objects(&self) -> &ObjectStore {
        &self.objects
    }
    /// `snapshots/`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `public/`: what `serve` exposes and clients read (a symlink to `live/public`).
    pub fn public_dir(&self) -> PathBuf {
        self.root.join("public")
    }
    /// `trees/`: every materialised snapshot tree, live or not.
    pub fn trees_root(&self) -> PathBuf {
        self.root.join("trees")
    }
    /// `state/`: the generations of live state.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    /// `live`: the symlink naming the live generation.
    pub fn live_link(&self) -> PathBuf {
        self.root.join("live")
    }
    /// `transfer/`: the export ledger.
    pub fn transfer_dir(&self) -> PathBuf {
        self.root.join("transfer")
    }
    /// `tmp/`: scratch space on the store's filesystem.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// `audit.jsonl`.
    pub fn audit_path(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }
    /// `lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// Take the writer lock (fails at once when another writer holds it), then bring the
    /// store to a committed state: a store from the earlier layout is converted, and a
    /// change a crash interrupted is rolled back (or, if it had committed, finished).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let mut lock = StoreLock::acquire(&self.lock_path())?;
        lock.objects = Some(self.objects.clone());
        self.migrate_legacy_public()?;
        self.recover_pending()?;
        self.remove_leftovers()?;
        self.repair_torn_audit_tail()?;
        Ok(lock)
    }

    /// This store with a batch of objects of its own: what a proxy's fill stores waits
    /// until its own [`ObjectStore::make_durable`], after its log lines, whatever other
    /// fills flush meanwhile.
    pub fn detached(&self) -> Store {
        Store {
            root: self.root.clone(),
            objects: self.objects.detached(),
        }
    }

    /// This store as a proxy's fills use it: the same `objects/`, with objects waiting in
    /// `tmp/proxy-<pid>/`, a directory a writer taking the lock leaves alone (it removes
    /// only its own kind of temp file), so a `sync` starting mid-fill never deletes what
    /// a proxy is about to keep. Such directories of processes that are gone are removed
    /// here. The caller makes each fill durable itself ([`ObjectStore::make_durable`]),
    /// after recording it.
    pub fn for_proxy(&self) -> Result<Store, StoreError> {
        let tmp = self.tmp_dir();
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.filter_map(|e| e.ok()) {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("proxy-"))
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    tracing::debug!(path = %entry.path().display(), "removing a stopped proxy's temp files");
                    let _ = fs_err::remove_dir_all(entry.path());
                }
            }
        }
        let own = tmp.join(format!("proxy-{}", std::process::id()));
        fs_err::create_dir_all(&own)?;
        Ok(Store {
            root: self.root.clone(),
            objects: ObjectStore::new(self.root.join("objects/sha256"), own),
        })
    }

    /// Temp files a killed writer left: objects being streamed in (`tmp/object-*`) or
    /// waiting to be made durable (`tmp/unsynced-*`), and atomic writes that never
    /// reached their rename (`.tmp-*` beside snapshots, state and transfer records).
    /// Under the lock no writer owns them any more (this handle's own waiting objects
    /// are moved into place first). An import's staging directory (`tmp/import-*`) is
    /// the import's to settle, and stays.
    fn remove_leftovers(&self) -> Result<(), StoreError> {
        self.objects.make_durable()?;
        scratch::remove_stale_dry_runs(&self.tmp_dir())?;
        let mut dirs = vec![self.tmp_dir(), self.root.clone(), self.transfer_dir()];
        if let Ok(entries) = std::fs::read_dir(self.snapshots_dir()) {
            dirs.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(|e| e.ok()) {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let temp = name.starts_with(".tmp-")
                    || (dir == self.tmp_dir()
                        && (name.starts_with("object-")
                            || name.starts_with(objects::UNSYNCED_PREFIX)));
                if temp && entry.file_type().is_ok_and(|t| t.is_file()) {
                    tracing::debug!(path = %entry.path().display(), "removing a killed writer's temp file");
                    crate::failpoint::step("remove");
                    fs_err::remove_file(entry.path())?;
                }
            }
        }
        Ok(())
    }
}

/// Write `bytes` to `path` atomically: temp file in the same directory, fsync, rename,
/// fsync the directory. A reader sees the old file or the new one, never a torn write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|source| StoreError::io(dir, source))?;
    tmp.write_all(bytes)
        .map_err(|e| StoreError::io(tmp.path(), e))?;
    // A temp file is created 0600; what it becomes (state, snapshots, audit records,
    // bundle files a non-root importer must read) is 0644 whatever the umask.
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| StoreError::io(tmp.path(), e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io(path, e))?;
    crate::failpoint::step("rename");
    tmp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    sync_dir(dir)?;
    Ok(())
}

/// fsync a directory so a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::failpoint::step("fsync");
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Store;

    #[test]
    fn the_next_writer_removes_a_killed_writers_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let snapshots = store.snapshots_dir().join("m");
        fs_err::create_dir_all(&snapshots).expect("mkdir");
        fs_err::create_dir_all(store.tmp_dir().join("import-1")).expect("mkdir");
        let leftovers = [
            store.tmp_dir().join("object-abc123"),
            snapshots.join(".tmp-xyz"),
            dir.path().join(".tmp-live"),
        ];
        for path in &leftovers {
            fs_err::write(path, b"half").expect("write");
        }
        let kept = snapshots.join("0001.json");
        fs_err::write(&kept, b"{}").expect("write");
        drop(store.lock().expect("lock"));
        for path in &leftovers {
            assert!(!path.exists(), "{} removed", path.display());
        }
        assert!(kept.exists(), "a committed file stays");
        assert!(
            store.tmp_dir().join("import-1").is_dir(),
            "an import's staging is the import's"
        );
    }
}
