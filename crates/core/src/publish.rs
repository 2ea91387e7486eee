//! Atomic publishing: materialise a snapshot as a tree of hard links under
//! `trees/<mirror>/<id>` and make it live by switching the store's live generation
//! (`store/live.rs`) with one `rename()`.
//!
//! A client that is half way through `apt-get update` keeps reading the old tree (its
//! files are never modified, only unlinked later by prune), and the next request after the
//! switch sees the complete new one: never a mix. Trees are built under a temp name and
//! renamed into place only when complete, so a crash leaves either no tree or a whole one.
//! [`Store::publish_all`] switches several mirrors (and state files) in the same rename.

use std::path::{Path, PathBuf};

use crate::paths::check_relative;
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError, sync_dir, sync_filesystem};

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The mirror.
    pub mirror: String,
    /// The snapshot now live.
    pub snapshot: String,
    /// The snapshot that was live before, if any.
    pub previous: Option<String>,
    /// The tree directory.
    pub tree: PathBuf,
}

impl Published {
    /// The publish as people read it.
    pub fn line(&self) -> String {
        format!(
            "{}: published snapshot {} (was {})",
            self.mirror,
            self.snapshot,
            self.previous.as_deref().unwrap_or("none")
        )
    }
}

impl Store {
    /// Directory holding the materialised trees of `mirror`.
    pub fn trees_dir(&self, mirror: &str) -> PathBuf {
        self.trees_root().join(mirror)
    }

    /// The id of the snapshot `public/<mirror>` points at, if published.
    pub fn published_snapshot(&self, mirror: &str) -> Result<Option<String>, StoreError> {
        let link = self.public_dir().join(mirror);
        match std::fs::read_link(&link) {
            Ok(target) => Ok(target
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&link, e)),
        }
    }

    /// The live generation and `mirror`'s published snapshot in it, read from that one
    /// generation (so the pair is consistent even while a publish switches `live`):
    /// `None` before the first publish. A reader that caches per generation (`serve`)
    /// pays one `readlink` a request.
    pub fn published_in_live(
        &self,
        mirror: &str,
    ) -> Result<Option<(u64, Option<String>)>, StoreError> {
        let Some(generation) = self.live_generation()? else {
            return Ok(None);
        };
        let link = self.generation_dir(generation).join("public").join(mirror);
        let id = match std::fs::read_link(&link) {
            Ok(tree) => tree.file_name().and_then(|n| n.to_str()).map(str::to_owned),
            // Not published there (or that generation was just replaced and removed: the
            // caller's next request sees the new one).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(&link, e)),
        };
        Ok(Some((generation, id)))
    }

    /// Materialise `snapshot` (if not already) and make it the live tree of its mirror.
    pub fn publish(&self, snapshot: &Snapshot) -> Result<Published, StoreError> {
        let mut published = self.publish_all(std::slice::from_ref(snapshot), &[])?;
        Ok(published.remove(0))
    }

    /// Materialise every snapshot, then make them all live, together with the state
    /// `files` (see [`Store::switch_live`]), in one atomic switch.
    pub fn publish_all(
        &self,
        snapshots: &[Snapshot],
        files: &[(&str, &[u8])],
    ) -> Result<Vec<Published>, StoreError> {
        let mut published = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            let tree = self.materialise(snapshot)?;
            published.push(Published {
                mirror: snapshot.mirror.clone(),
                snapshot: snapshot.id.clone(),
                previous: self.published_snapshot(&snapshot.mirror)?,
                tree,
            });
        }
        let links: Vec<(&str, &str)> = snapshots
            .iter()
            .map(|s| (s.mirror.as_str(), s.id.as_str()))
            .collect();
        self.switch_live(&links, files)?;
        for p in &published {
            tracing::info!(mirror = %p.mirror, snapshot = %p.snapshot, "published");
        }
        Ok(published)
    }

    /// Build the tree of `snapshot` under `trees/<mirror>/<id>` unless it exists; it is
    /// not live until a switch names it. Returns the tree directory.
    pub fn materialise(&self, snapshot: &Snapshot) -> Result<PathBuf, StoreError> {
        snapshot.validate()?;
        let trees = self.trees_dir(&snapshot.mirror);
        fs_err::create_dir_all(&trees)?;
        let tree = trees.join(&snapshot.id);
        if !tree.is_dir() {
            self.build_tree(snapshot, &trees, &tree)?;
        }
        Ok(tree)
    }

    fn build_tree(&self, snapshot: &Snapshot, trees: &Path, tree: &Path) -> Result<(), StoreError> {
        let staging = tempfile::Builder::new()
            .prefix(&format!(".build-{}-", snapshot.id))
            .tempdir_in(trees)
            .map_err(|e| StoreError::io(trees, e))?;
        for file in &snapshot.files {
            let rel = check_relative(&file.path)?;
            let source = self.objects().path(&file.sha256);
            if !source.is_file() {
                return Err(StoreError::MissingObject {
                    digest: file.sha256,
                    path: file.path.clone(),
                });
            }
            let dest = staging.path().join(rel);
            if let Some(parent) = dest.parent() {
                fs_err::create_dir_all(parent)?;
            }
            // Hard links cost no space; fall back to a copy where the filesystem refuses.
            crate::failpoint::step("link");
            if std::fs::hard_link(&source, &dest).is_err() {
                fs_err::copy(&source, &dest)?;
            }
        }
        let built = staging.keep();
        // Every link, in every subdirectory, before the rename that makes the tree exist.
        sync_filesystem(&built, [built.as_path()])?;
        crate::failpoint::step("rename");
        fs_err::rename(&built, tree)?;
        sync_dir(trees)?;
        Ok(())
    }

    /// Remove materialised trees of `mirror` other than the live one and `keep`.
    pub fn remove_trees_except(&self, mirror: &str, keep: &[String]) -> Result<usize, StoreError> {
        let trees = self.trees_dir(mirror);
        if !trees.is_dir() {
            return Ok(0);
        }
        let live = self.published_snapshot(mirror)?;
        let mut removed = 0;
        for entry in fs_err::read_dir(&trees)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if Some(&name) == live.as_ref() || keep.contains(&name) {
                continue;
            }
            crate::failpoint::step("remove");
            fs_err::remove_dir_all(entry.path())?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::snapshot::SnapshotFile;

    fn snapshot_of(store: &Store, files: &[(&str, &[u8])]) -> Snapshot {
        let files = files
            .iter()
            .map(|(p, c)| {
                store.objects().insert_bytes(c).expect("insert");
                SnapshotFile {
                    path: (*p).into(),
                    sha256: Sha256Digest::of(c),
                    size: c.len() as u64,
                }
            })
            .collect();
        Snapshot::new("m", "apt", "u", "fp", files).expect("valid")
    }

    #[test]
    fn publish_switches_whole_trees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let one = snapshot_of(&store, &[("dists/a", b"old"), ("pool/x", b"x")]);
        store.publish(&one).expect("publish 1");
        let live = store.public_dir().join("m");
        assert_eq!(fs_err::read(live.join("dists/a")).expect("read"), b"old");

        let mut two = snapshot_of(&store, &[("dists/a", b"new")]);
        two.id = format!("{}-2", one.id);
        let published = store.publish(&two).expect("publish 2");
        assert_eq!(published.previous.as_deref(), Some(one.id.as_str()));
        assert_eq!(fs_err::read(live.join("dists/a")).expect("read"), b"new");
        assert!(!live.join("pool/x").exists(), "new tree has no stale files");
        assert_eq!(
            store.published_snapshot("m").expect("link"),
            Some(two.id.clone())
        );
        assert_eq!(store.remove_trees_except("m", &[]).expect("rm"), 1);
        assert!(live.join("dists/a").exists());
    }

    #[test]
    fn missing_object_leaves_live_tree_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let one = snapshot_of(&store, &[("a", b"1")]);
        store.publish(&one).expect("publish");
        let mut broken = one.clone();
        broken.id = "broken".into();
        broken.files[0].sha256 = Sha256Digest::of(b"absent");
        assert!(store.publish(&broken).is_err());
        assert_eq!(store.published_snapshot("m").expect("link"), Some(one.id));
        assert!(!store.trees_dir("m").join("broken").exists());
    }

    #[test]
    fn publish_all_switches_mirrors_and_state_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let a = snapshot_of(&store, &[("f", b"a1")]);
        store.publish(&a).expect("publish a");
        let mut b = snapshot_of(&store, &[("f", b"b1")]);
        b.mirror = "n".into();
        let mut a2 = snapshot_of(&store, &[("f", b"a2")]);
        a2.id = format!("{}-2", a.id);
        let generation = store.live_generation().expect("gen");
        store
            .publish_all(&[a2.clone(), b.clone()], &[("record.json", b"r1")])
            .expect("publish both");
        assert_eq!(
            store.live_generation().expect("gen"),
            generation.map(|n| n + 1)
        );
        let public = store.public_dir();
        assert_eq!(fs_err::read(public.join("m/f")).expect("m"), b"a2");
        assert_eq!(fs_err::read(public.join("n/f")).expect("n"), b"b1");
        assert_eq!(
            store.read_live_file("record.json").expect("read"),
            Some(b"r1".to_vec())
        );
        // A later publish of one mirror carries the other mirror and the state forward.
        store.publish(&a).expect("roll m back");
        assert_eq!(fs_err::read(public.join("m/f")).expect("m"), b"a1");
        assert_eq!(fs_err::read(public.join("n/f")).expect("n"), b"b1");
        assert_eq!(
            store.read_live_file("record.json").expect("read"),
            Some(b"r1".to_vec())
        );
        // Only the live generation and the one before it are kept.
        assert_eq!(
            fs_err::read_dir(store.state_dir()).expect("state").count(),
            2
        );
    }

    #[test]
    fn legacy_public_directory_is_converted_under_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let s = snapshot_of(&store, &[("dists/x", b"legacy")]);
        // Lay the store out as the earlier version did.
        let public = store.public_dir();
        fs_err::remove_file(&public).expect("rm link");
        let tree = public.join(".trees/m").join(&s.id);
        fs_err::create_dir_all(tree.join("dists")).expect("mkdir");
        fs_err::hard_link(
            store.objects().path(&s.files[0].sha256),
            tree.join("dists/x"),
        )
        .expect("link");
        std::os::unix::fs::symlink(Path::new(".trees/m").join(&s.id), public.join("m"))
            .expect("symlink");

        drop(store.lock().expect("lock converts"));
        assert!(
            fs_err::symlink_metadata(&public)
                .expect("meta")
                .is_symlink()
        );
        assert_eq!(
            fs_err::read(public.join("m/dists/x")).expect("read"),
            b"legacy"
        );
        assert_eq!(
            store.published_snapshot("m").expect("link"),
            Some(s.id.clone())
        );
        assert!(store.trees_dir("m").join(&s.id).is_dir());
    }
}
