//! Atomic publishing: materialise a snapshot as a tree of hard links and switch the
//! mirror's `public/<mirror>` symlink to it with one `rename()`.
//!
//! A client that is half way through `apt-get update` keeps reading the old tree (its
//! files are never modified, only unlinked later by prune), and the next request after the
//! switch sees the complete new one: never a mix. Trees are built under a temp name and
//! renamed into `.trees/<mirror>/<id>` only when complete, so a crash leaves either no tree
//! or a whole one.

use std::path::{Path, PathBuf};

use crate::paths::check_relative;
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError, sync_dir};

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Store {
    /// Directory holding the materialised trees of `mirror`.
    pub fn trees_dir(&self, mirror: &str) -> PathBuf {
        self.public_dir().join(".trees").join(mirror)
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

    /// Materialise `snapshot` (if not already) and make it the live tree of its mirror.
    pub fn publish(&self, snapshot: &Snapshot) -> Result<Published, StoreError> {
        snapshot.validate()?;
        let trees = self.trees_dir(&snapshot.mirror);
        fs_err::create_dir_all(&trees)?;
        let tree = trees.join(&snapshot.id);
        if !tree.is_dir() {
            self.materialise(snapshot, &trees, &tree)?;
        }
        let previous = self.published_snapshot(&snapshot.mirror)?;
        self.switch_link(&snapshot.mirror, &snapshot.id)?;
        tracing::info!(mirror = %snapshot.mirror, snapshot = %snapshot.id, "published");
        Ok(Published {
            mirror: snapshot.mirror.clone(),
            snapshot: snapshot.id.clone(),
            previous,
            tree,
        })
    }

    fn materialise(
        &self,
        snapshot: &Snapshot,
        trees: &Path,
        tree: &Path,
    ) -> Result<(), StoreError> {
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
            if std::fs::hard_link(&source, &dest).is_err() {
                fs_err::copy(&source, &dest)?;
            }
        }
        let built = staging.keep();
        sync_dir(&built)?;
        fs_err::rename(&built, tree)?;
        sync_dir(trees)?;
        Ok(())
    }

    fn switch_link(&self, mirror: &str, id: &str) -> Result<(), StoreError> {
        let public = self.public_dir();
        let link = public.join(mirror);
        let tmp_link = public.join(format!(".{mirror}.link-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp_link);
        // Relative target: the store can be moved or mounted elsewhere.
        let target = Path::new(".trees").join(mirror).join(id);
        std::os::unix::fs::symlink(&target, &tmp_link).map_err(|e| StoreError::io(&tmp_link, e))?;
        fs_err::rename(&tmp_link, &link)?;
        sync_dir(&public)?;
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
}
