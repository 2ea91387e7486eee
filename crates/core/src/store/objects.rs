//! `objects/sha256/`: every file, stored once under its SHA-256.
//!
//! Nothing enters without being hashed on the way in: writers stream into a temp file in
//! `tmp/` (same filesystem) and the digest is compared with what was expected. Objects are
//! made read-only because published trees are hard links to them: a stray write through a
//! tree must not corrupt the store.
//!
//! Durability comes in batches, not per object: a checked object waits in
//! `tmp/unsynced-<sha256>` (visible to this process through [`ObjectStore::path`], to no
//! other) until [`ObjectStore::make_durable`] flushes the filesystem once, renames every
//! waiting object into place and flushes once more. Nothing names an object durably (a
//! snapshot, a live switch) before that has run, and a crash before it leaves `objects/`
//! as it was (the next writer removes the waiting files). Two fsyncs per object were most
//! of a full mirror's time; two per batch are not. A batch is flushed when it reaches
//! [`BATCH_OBJECTS`] objects or [`BATCH_BYTES`] bytes, so a crash late in a long sync
//! loses at most one batch of downloads, and when the last handle to the store is dropped,
//! so a sync that fails keeps what it fetched.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreError;
use super::sync_filesystem;
use crate::digest::{Hasher, Sha256Digest, hash_reader};

/// Objects one batch holds before it is made durable. Large batches of small objects
/// (a conda subdir's 46,500 repodata shards) flush faster than several smaller ones:
/// each `syncfs` took 1-3 s here, 8,192 a batch made a first publish 18-21 s where one
/// batch took 11-12 s. Downloads are bounded by [`BATCH_BYTES`] long before this.
pub const BATCH_OBJECTS: usize = 65536;
/// Bytes one batch holds before it is made durable.
pub const BATCH_BYTES: u64 = 1 << 30;

/// What a file is supposed to be: its digest and, when known, its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// SHA-256 the content must have.
    pub sha256: Sha256Digest,
    /// Size in bytes, when the source states it.
    pub size: Option<u64>,
}

impl Expected {
    /// Check a computed digest and length; `what` names the file or URL in the error.
    pub fn check(&self, what: &str, actual: Sha256Digest, len: u64) -> Result<(), StoreError> {
        if let Some(size) = self.size
            && size != len
        {
            return Err(StoreError::SizeMismatch {
                what: what.to_owned(),
                expected: size,
                actual: len,
            });
        }
        if actual != self.sha256 {
            return Err(StoreError::DigestMismatch {
                what: what.to_owned(),
                expected: self.sha256,
                actual,
            });
        }
        Ok(())
    }
}

/// The content-addressed object directory.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(super) dir: PathBuf,
    tmp: PathBuf,
    /// A store read beneath this one and never written (`sync --dry-run`: the real
    /// store, so what it holds counts as present, while anything new lands in scratch).
    pub(super) lower: Option<PathBuf>,
    /// The batch not yet durable, shared by every clone of this handle.
    unsynced: Arc<Unsynced>,
}

/// Checked objects waiting for [`ObjectStore::make_durable`]: where each waits, and how
/// many bytes the batch holds.
#[derive(Debug)]
struct Unsynced {
    dir: PathBuf,
    tmp: PathBuf,
    batch: Mutex<Batch>,
    /// When a batch is full: [`BATCH_OBJECTS`] and [`BATCH_BYTES`] (smaller in tests).
    limits: (usize, u64),
}

#[derive(Debug, Default)]
struct Batch {
    waiting: HashMap<Sha256Digest, PathBuf>,
    bytes: u64,
}

impl Unsynced {
    fn batch(&self) -> MutexGuard<'_, Batch> {
        // A panic while the lock was held leaves the map as consistent as any step of it.
        self.batch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Flush the data of every waiting object, rename each into place, flush the
    /// renames. An object leaves the batch only once its rename is done, so an error
    /// part way leaves the rest waiting (and still found by `path`).
    fn flush(&self, batch: &mut Batch) -> Result<usize, StoreError> {
        if batch.waiting.is_empty() {
            return Ok(0);
        }
        let count = batch.waiting.len();
        sync_filesystem(&self.tmp, batch.waiting.values().map(PathBuf::as_path))?;
        let mut parents = Vec::new();
        let digests: Vec<Sha256Digest> = batch.waiting.keys().copied().collect();
        for digest in digests {
            let waiting = &batch.waiting[&digest];
            let dest = object_path(&self.dir, &digest);
            let parent = dest.parent().expect("object paths have a fan-out parent");
            if !parent.is_dir() {
                fs_err::create_dir_all(parent)?;
                parents.push(parent.to_owned());
            }
            if dest.is_file() {
                fs_err::remove_file(waiting)?;
            } else {
                crate::failpoint::step("rename");
                fs_err::rename(waiting, &dest)?;
            }
            batch.waiting.remove(&digest);
        }
        parents.push(self.dir.clone());
        sync_filesystem(&self.dir, parents.iter().map(PathBuf::as_path))?;
        batch.bytes = 0;
        tracing::debug!(objects = count, "batch of objects made durable");
        Ok(count)
    }
}

impl Drop for Unsynced {
    /// The last handle is going: a command that fails part way keeps what it fetched.
    /// (A killed process never gets here; its waiting files are removed by the next
    /// writer, so `objects/` never holds an object whose data might not be on disk.)
    fn drop(&mut self) {
        let mut batch = std::mem::take(&mut *self.batch());
        if !self.tmp.is_dir() {
            // A scratch store (`sync --dry-run`) whose directory went first.
            return;
        }
        if let Err(e) = self.flush(&mut batch) {
            tracing::warn!(error = %e, "could not make the last batch of objects durable");
        }
    }
}

fn object_path(dir: &Path, digest: &Sha256Digest) -> PathBuf {
    let hex = digest.to_hex();
    dir.join(&hex[..2]).join(hex)
}

impl ObjectStore {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> Self {
        let unsynced = Arc::new(Unsynced {
            dir: dir.clone(),
            tmp: tmp.clone(),
            batch: Mutex::default(),
            limits: (BATCH_OBJECTS, BATCH_BYTES),
        });
        Self {
            dir,
            tmp,
            lower: None,
            unsynced,
        }
    }

    /// A handle on the same directories with a batch of its own: what it writes waits
    /// until *its* [`make_durable`](Self::make_durable), whatever other handles do (a
    /// proxy fill keeps a package out of `objects/` until it has passed every check).
    pub fn detached(&self) -> ObjectStore {
        ObjectStore::new(self.dir.clone(), self.tmp.clone())
    }

    /// Make every object this handle has written durable and move it into place (see
    /// the module docs); returns how many. Whoever commits something that names objects
    /// (a snapshot, a live switch) calls this first.
    pub fn make_durable(&self) -> Result<usize, StoreError> {
        let mut batch = self.unsynced.batch();
        self.unsynced.flush(&mut batch)
    }

    /// Objects written and not yet made durable.
    pub fn unsynced(&self) -> usize {
        self.unsynced.batch().waiting.len()
    }

    /// Put a checked, read-only file into the waiting batch, moving it to its waiting
    /// name in `tmp/`; flushes the batch when it is full.
    fn wait(&self, digest: Sha256Digest, from: WaitFrom<'_>, len: u64) -> Result<(), StoreError> {
        let waiting = self
            .tmp
            .join(format!("{UNSYNCED_PREFIX}{}", digest.to_hex()));
        match from {
            WaitFrom::Temp(tmp) => {
                tmp.persist(&waiting)
                    .map_err(|e| StoreError::io(&waiting, e.error))?;
            }
            WaitFrom::Path(path) => fs_err::rename(path, &waiting)?,
        }
        let mut batch = self.unsynced.batch();
        batch.waiting.insert(digest, waiting);
        batch.bytes += len;
        let (objects, bytes) = self.unsynced.limits;
        if batch.waiting.len() >= objects || batch.bytes >= bytes {
            self.unsynced.flush(&mut batch)?;
        }
        Ok(())
    }

    /// Where the object with `digest` lives: waiting in this handle's batch, else here,
    /// else in the lower store when it is there, else here (where a writer puts it).
    /// Writers check for the object first, so nothing is ever written into the lower
    /// store.
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        if let Some(waiting) = self.unsynced.batch().waiting.get(digest) {
            return waiting.clone();
        }
        let own = self.own_path(digest);
        if let Some(lower) = &self.lower
            && !own.is_file()
        {
            let hex = digest.to_hex();
            let below = lower.join(&hex[..2]).join(hex);
            if below.is_file() {
                return below;
            }
        }
        own
    }

    fn own_path(&self, digest: &Sha256Digest) -> PathBuf {
        object_path(&self.dir, digest)
    }

    /// True when the object is present.
    pub fn contains(&self, digest: &Sha256Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Size of a present object.
    pub fn size(&self, digest: &Sha256Digest) -> Result<u64, StoreError> {
        Ok(fs_err::metadata(self.path(digest))?.len())
    }

    /// A temp file on the store's filesystem, for a writer that streams an object in.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        fs_err::create_dir_all(&self.tmp)?;
        tempfile::Builder::new()
            .prefix("object-")
            .tempfile_in(&self.tmp)
            .map_err(|e| StoreError::io(&self.tmp, e))
    }

    /// Store generated bytes; returns their digest. Idempotent.
    pub fn insert_bytes(&self, bytes: &[u8]) -> Result<Sha256Digest, StoreError> {
        let digest = Sha256Digest::of(bytes);
        if self.contains(&digest) {
            return Ok(digest);
        }
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes)
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        self.commit(tmp, digest)?;
        Ok(digest)
    }

    /// Store bytes that must match `expected` (`what` names their origin in errors).
    pub fn insert_verified_bytes(
        &self,
        bytes: &[u8],
        expected: &Expected,
        what: &str,
    ) -> Result<(), StoreError> {
        expected.check(what, Sha256Digest::of(bytes), bytes.len() as u64)?;
        self.insert_bytes(bytes).map(|_| ())
    }

    /// Stream `reader` into the store, verifying against `expected` when given.
    /// Returns the digest and size. Nothing is stored when verification fails.
    pub fn insert_reader(
        &self,
        mut reader: impl Read,
        expected: Option<&Expected>,
        what: &str,
    ) -> Result<(Sha256Digest, u64), StoreError> {
        let mut tmp = self.temp_file()?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| std::io::Error::new(e.kind(), format!("reading {what}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| StoreError::io(tmp.path(), e))?;
        }
        let (digest, len) = hasher.finish();
        if let Some(expected) = expected {
            expected.check(what, digest, len)?;
        }
        self.commit(tmp, digest)?;
        Ok((digest, len))
    }

    /// Move a fully written temp file whose content hashes to `digest` into the batch.
    ///
    /// The caller has already hashed the bytes it wrote (streaming); this does not re-read
    /// them. When the object already exists the temp file is dropped.
    pub fn commit(
        &self,
        tmp: tempfile::NamedTempFile,
        digest: Sha256Digest,
    ) -> Result<(), StoreError> {
        if self.contains(&digest) {
            return Ok(());
        }
        let len = tmp
            .as_file()
            .metadata()
            .map_err(|e| StoreError::io(tmp.path(), e))?
            .len();
        set_read_only(tmp.path())?;
        self.wait(digest, WaitFrom::Temp(tmp), len)
    }

    /// Move a file that is already on the store's filesystem (e.g. a staged bundle object)
    /// into the batch after checking its hash. The source is consumed by rename.
    pub fn adopt_file(&self, path: &Path, expected: &Expected) -> Result<(), StoreError> {
        if self.contains(&expected.sha256) {
            fs_err::remove_file(path)?;
            return Ok(());
        }
        let (digest, len) =
            hash_reader(fs_err::File::open(path)?).map_err(|e| StoreError::io(path, e))?;
        expected.check(&path.display().to_string(), digest, len)?;
        set_read_only(path)?;
        self.wait(digest, WaitFrom::Path(path), len)
    }

    /// Move in a file the caller has just hashed (while writing it), without reading it
    /// again: the import path, where every staged object was checked against the signed
    /// manifest on its way in.
    pub fn adopt_verified(&self, path: &Path, digest: &Sha256Digest) -> Result<(), StoreError> {
        if self.contains(digest) {
            fs_err::remove_file(path)?;
            return Ok(());
        }
        let len = fs_err::metadata(path)?.len();
        set_read_only(path)?;
        self.wait(*digest, WaitFrom::Path(path), len)
    }

    /// Open an object for reading.
    pub fn open(&self, digest: &Sha256Digest) -> Result<fs_err::File, StoreError> {
        Ok(fs_err::File::open(self.path(digest))?)
    }

    /// Read a whole object into memory (indices, manifests).
    pub fn read(&self, digest: &Sha256Digest) -> Result<Vec<u8>, StoreError> {
        Ok(fs_err::read(self.path(digest))?)
    }

    /// Re-hash an object; `Ok(false)` when its content no longer matches its name.
    pub fn verify(&self, digest: &Sha256Digest) -> Result<bool, StoreError> {
        let path = self.path(digest);
        let (actual, _) =
            hash_reader(fs_err::File::open(&path)?).map_err(|e| StoreError::io(&path, e))?;
        Ok(actual == *digest)
    }

    /// Remove an object (prune). Missing objects are not an error.
    pub fn remove(&self, digest: &Sha256Digest) -> Result<(), StoreError> {
        if let Some(waiting) = self.unsynced.batch().waiting.remove(digest) {
            // Never durable, so not a durable step: a rolled-back change takes it back.
            let _ = std::fs::remove_file(waiting);
            return Ok(());
        }
        crate::failpoint::step("remove");
        match std::fs::remove_file(self.own_path(digest)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&self.own_path(digest), e)),
        }
    }

    /// Every object's digest (order unspecified), those still waiting for their batch
    /// included. Stray files are skipped.
    pub fn list(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let mut out: Vec<Sha256Digest> = self.unsynced.batch().waiting.keys().copied().collect();
        for fan in fs_err::read_dir(&self.dir)? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in fs_err::read_dir(fan.path())? {
                let entry = entry?;
                if let Some(d) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<Sha256Digest>().ok())
                {
                    out.push(d);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Where a file enters the batch from.
enum WaitFrom<'a> {
    /// A temp file a writer streamed in.
    Temp(tempfile::NamedTempFile),
    /// A file already on the store's filesystem, consumed by rename.
    Path(&'a Path),
}

/// How a waiting object's file in `tmp/` is named; the next writer removes such files a
/// killed process left (`Store::lock`).
pub(super) const UNSYNCED_PREFIX: &str = "unsynced-";

fn set_read_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o444))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// The files directly in `dir`, by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn objects_wait_in_tmp_until_made_durable_and_no_other_handle_sees_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let objects = store.objects();
        let digest = objects.insert_bytes(b"batched").expect("insert");
        assert!(objects.contains(&digest), "this handle finds it");
        assert_eq!(objects.read(&digest).expect("read"), b"batched");
        assert!(objects.path(&digest).starts_with(store.tmp_dir()));
        assert_eq!(
            objects.list().expect("list"),
            vec![digest],
            "listed like any object this handle holds"
        );
        assert!(
            !object_path(&dir.path().join("objects"), &digest).exists(),
            "not in objects/ yet"
        );
        let other = Store::open_existing(dir.path()).expect("second handle");
        assert!(
            !other.objects().contains(&digest),
            "another process never sees it"
        );

        assert_eq!(objects.make_durable().expect("durable"), 1);
        assert_eq!(objects.list().expect("list"), vec![digest]);
        assert!(
            objects
                .path(&digest)
                .starts_with(dir.path().join("objects"))
        );
        assert!(other.objects().contains(&digest));
        assert!(
            names(&store.tmp_dir()).is_empty(),
            "{:?}",
            names(&store.tmp_dir())
        );
        assert_eq!(objects.make_durable().expect("nothing waiting"), 0);
    }

    #[test]
    fn a_killed_writers_waiting_objects_never_enter_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let digest = store.objects().insert_bytes(b"torn?").expect("insert");
        // A kill: no destructor runs.
        std::mem::forget(store);
        let next = Store::open(dir.path()).expect("reopen");
        drop(next.lock().expect("lock"));
        assert!(!next.objects().contains(&digest));
        assert!(next.objects().list().expect("list").is_empty());
        assert!(
            names(&next.tmp_dir()).is_empty(),
            "{:?}",
            names(&next.tmp_dir())
        );
    }

    #[test]
    fn the_lock_and_the_last_handle_make_the_batch_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let lock = store.lock().expect("lock");
        let first = store.objects().insert_bytes(b"one").expect("insert");
        drop(lock);
        assert_eq!(store.objects().unsynced(), 0, "released with the lock");
        let second = store.objects().insert_bytes(b"two").expect("insert");
        drop(store);
        let reopened = Store::open_existing(dir.path()).expect("reopen");
        let mut listed = reopened.objects().list().expect("list");
        listed.sort();
        let mut both = vec![first, second];
        both.sort();
        assert_eq!(listed, both);
    }

    #[test]
    fn a_full_batch_is_made_durable_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut objects = ObjectStore::new(dir.path().join("objects"), dir.path().join("tmp"));
        objects.unsynced = Arc::new(Unsynced {
            dir: objects.dir.clone(),
            tmp: objects.tmp.clone(),
            batch: Mutex::default(),
            limits: (3, 10),
        });
        objects.insert_bytes(b"a").expect("insert");
        objects.insert_bytes(b"b").expect("insert");
        assert_eq!(objects.unsynced(), 2);
        objects.insert_bytes(b"c").expect("insert");
        assert_eq!(objects.unsynced(), 0, "three objects fill the batch");
        objects.insert_bytes(b"0123456789").expect("insert");
        assert_eq!(objects.unsynced(), 0, "ten bytes fill it too");
        assert_eq!(objects.list().expect("list").len(), 4);
    }

    #[test]
    fn removing_a_waiting_object_takes_it_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let digest = store
            .objects()
            .insert_bytes(b"rolled back")
            .expect("insert");
        store.objects().remove(&digest).expect("remove");
        assert!(!store.objects().contains(&digest));
        assert_eq!(store.objects().make_durable().expect("durable"), 0);
        assert!(names(&store.tmp_dir()).is_empty());
        assert!(store.objects().list().expect("list").is_empty());
    }

    #[test]
    fn verified_insert_rejects_wrong_content_and_stores_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let objects = store.objects();
        let expected = Expected {
            sha256: Sha256Digest::of(b"good"),
            size: Some(4),
        };
        let err = objects
            .insert_reader(&b"evil"[..], Some(&expected), "http://x/pkg.deb")
            .expect_err("mismatch must fail");
        assert!(err.to_string().contains("http://x/pkg.deb"), "{err}");
        assert!(err.to_string().contains(&expected.sha256.to_hex()), "{err}");
        assert!(!objects.contains(&expected.sha256));
        assert!(objects.list().expect("list").is_empty());
        // temp files are cleaned up with the failed insert
        assert_eq!(fs_err::read_dir(store.tmp_dir()).expect("tmp").count(), 0);

        let (d, n) = objects
            .insert_reader(&b"good"[..], Some(&expected), "ok")
            .expect("good content");
        assert_eq!((d, n), (expected.sha256, 4));
        assert_eq!(objects.read(&d).expect("read"), b"good");
        assert!(objects.verify(&d).expect("verify"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs_err::metadata(objects.path(&d))
                .expect("meta")
                .permissions(),
        );
        assert_eq!(mode & 0o222, 0, "objects are read-only");
    }

    #[test]
    fn size_mismatch_is_reported_before_digest() {
        let expected = Expected {
            sha256: Sha256Digest::of(b"good"),
            size: Some(5),
        };
        let err = expected
            .check("f", Sha256Digest::of(b"good"), 4)
            .expect_err("size");
        assert!(matches!(
            err,
            StoreError::SizeMismatch {
                expected: 5,
                actual: 4,
                ..
            }
        ));
    }
}
