//! The live state and its one commit point.
//!
//! Everything a client or `status` sees as "current" lives in one generation directory,
//! `state/<n>/`: the `public/<mirror>` links into `trees/`, and small state files that
//! must switch together with them (the import record). `live` is a symlink to the current
//! generation, and `public` a symlink to `live/public`. A change (one `publish`, or an
//! import that publishes several mirrors and records the bundle) builds generation `n+1`
//! beside the live one and switches `live` with a single `rename()`: readers see the old
//! generation or the new one, never a mix of mirrors nor trees without their record.
//!
//! The previous generation is kept (a request already resolving through it finishes);
//! older ones are removed after each switch.

use std::path::{Path, PathBuf};

use super::{Store, StoreError, sync_dir, sync_filesystem};
use crate::audit_anchor::STATE_ANCHOR_FILE;
use crate::paths::check_mirror_name;

/// Name of the links directory inside a generation.
const PUBLIC: &str = "public";

impl Store {
    /// Create `public -> live/public` when absent (it dangles until the first publish).
    pub(super) fn ensure_public_link(&self) -> Result<(), StoreError> {
        let public = self.public_dir();
        if std::fs::symlink_metadata(&public).is_ok() {
            return Ok(());
        }
        match std::os::unix::fs::symlink(Path::new("live").join(PUBLIC), &public) {
            Ok(()) => Ok(()),
            // Another process (a serve starting beside a sync) made it first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(StoreError::io(&public, e)),
        }
    }

    /// The live generation number, or `None` before the first publish.
    pub fn live_generation(&self) -> Result<Option<u64>, StoreError> {
        let link = self.live_link();
        match std::fs::read_link(&link) {
            Ok(target) => target
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    StoreError::io(
                        &link,
                        std::io::Error::other(format!(
                            "points at {}, not at a state generation",
                            target.display()
                        )),
                    )
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&link, e)),
        }
    }

    pub(crate) fn generation_dir(&self, n: u64) -> PathBuf {
        self.state_dir().join(format!("{n:010}"))
    }

    /// A state file of the live generation (`None` when absent or nothing is live).
    pub fn read_live_file(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_state_file_name(name)?;
        let Some(n) = self.live_generation()? else {
            return Ok(None);
        };
        let path = self.generation_dir(n).join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Make a new generation live in one `rename()`: the live one with `links`
    /// (`(mirror, snapshot id)`, trees already materialised) and `files` (state files)
    /// replaced. Returns the new generation number. The caller holds the writer lock.
    pub fn switch_live(
        &self,
        links: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Result<u64, StoreError> {
        for (mirror, _) in links {
            check_mirror_name(mirror)?;
        }
        for (name, _) in files {
            check_state_file_name(name)?;
        }
        // Every generation records where the audit log ended when it was committed
        // (`audit_anchor`): a log trimmed below that is found by `verify`.
        let anchor =
            serde_json::to_vec(&self.audit_anchor_now()?).expect("anchors always serialise");
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .copied()
            .filter(|(name, _)| *name != STATE_ANCHOR_FILE)
            .chain([(STATE_ANCHOR_FILE, anchor.as_slice())])
            .collect();
        let files = files.as_slice();
        let current = self.live_generation()?;
        let next = current.map_or(1, |n| n + 1);
        let dir = self.generation_dir(next);
        if std::fs::symlink_metadata(&dir).is_ok() {
            // Built by a run that crashed before its switch: never live, start again.
            crate::failpoint::step("remove");
            fs_err::remove_dir_all(&dir)?;
        }
        let public = dir.join(PUBLIC);
        fs_err::create_dir_all(&public)?;
        if let Some(n) = current {
            self.carry_forward(&self.generation_dir(n), &dir, links, files)?;
        }
        for (mirror, id) in links {
            let target = Path::new("../../../trees").join(mirror).join(id);
            let link = public.join(mirror);
            std::os::unix::fs::symlink(&target, &link).map_err(|e| StoreError::io(&link, e))?;
        }
        // The generation is not live yet, so its files need no atomic write of their own:
        // one flush makes them, its links, and any object still waiting durable before
        // the switch can name them.
        let mut written = vec![public.clone(), dir.clone(), self.state_dir()];
        for (name, bytes) in files {
            let path = dir.join(name);
            fs_err::write(&path, bytes)?;
            written.push(path);
        }
        self.objects().make_durable()?;
        sync_filesystem(&dir, written.iter().map(PathBuf::as_path))?;

        // The commit point.
        let root = self.root();
        let tmp_link = root.join(format!(".live-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp_link);
        let target = Path::new("state").join(format!("{next:010}"));
        std::os::unix::fs::symlink(&target, &tmp_link).map_err(|e| StoreError::io(&tmp_link, e))?;
        crate::failpoint::step("switch");
        fs_err::rename(&tmp_link, self.live_link())?;
        sync_dir(root)?;

        self.remove_generations_except(&[Some(next), current])?;
        Ok(next)
    }

    /// Copy into `to` every link and state file of generation `from` not being replaced.
    fn carry_forward(
        &self,
        from: &Path,
        to: &Path,
        links: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let from_public = from.join(PUBLIC);
        if from_public.is_dir() {
            for entry in fs_err::read_dir(&from_public)? {
                let entry = entry?;
                let name = entry.file_name();
                if links.iter().any(|(m, _)| name == *m) {
                    continue;
                }
                let target = fs_err::read_link(entry.path())?;
                let link = to.join(PUBLIC).join(&name);
                std::os::unix::fs::symlink(&target, &link).map_err(|e| StoreError::io(&link, e))?;
            }
        }
        for entry in fs_err::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == PUBLIC || files.iter().any(|(f, _)| name == *f) {
                continue;
            }
            // State files are written once and never modified, so a hard link is a copy.
            crate::failpoint::step("link");
            fs_err::hard_link(entry.path(), to.join(&name))?;
        }
        Ok(())
    }

    fn remove_generations_except(&self, keep: &[Option<u64>]) -> Result<(), StoreError> {
        for entry in fs_err::read_dir(self.state_dir())? {
            let entry = entry?;
            let n = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            if n.is_some() && !keep.contains(&n) {
                crate::failpoint::step("remove");
                fs_err::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// Convert a store from the earlier layout (`public/` a directory of links into
    /// `public/.trees/`): trees move to `trees/`, the links become generation 1, and
    /// `public` becomes the symlink. The old links dangle for the moment between the
    /// move and the switch; this runs once, under the writer lock.
    pub(super) fn migrate_legacy_public(&self) -> Result<(), StoreError> {
        let public = self.public_dir();
        match std::fs::symlink_metadata(&public) {
            Ok(m) if m.is_dir() => {}
            _ => return Ok(()),
        }
        tracing::info!(store = %self.root().display(), "converting public/ to the generation layout");
        let mut links = Vec::new();
        for entry in fs_err::read_dir(&public)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_symlink() && check_mirror_name(&name).is_ok() {
                let target = fs_err::read_link(entry.path())?;
                if let Some(id) = target.file_name().and_then(|n| n.to_str()) {
                    links.push((name, id.to_owned()));
                }
            }
        }
        let old_trees = public.join(".trees");
        if old_trees.is_dir() {
            for mirror in fs_err::read_dir(&old_trees)? {
                let mirror = mirror?;
                let dest = self.trees_root().join(mirror.file_name());
                fs_err::create_dir_all(&dest)?;
                for tree in fs_err::read_dir(mirror.path())? {
                    let tree = tree?;
                    let to = dest.join(tree.file_name());
                    if !to.exists() {
                        crate::failpoint::step("rename");
                        fs_err::rename(tree.path(), to)?;
                    }
                }
            }
        }
        let refs: Vec<(&str, &str)> = links
            .iter()
            .map(|(m, id)| (m.as_str(), id.as_str()))
            .collect();
        self.switch_live(&refs, &[])?;
        let aside = self
            .tmp_dir()
            .join(format!("legacy-public-{}", std::process::id()));
        fs_err::rename(&public, &aside)?;
        self.ensure_public_link()?;
        sync_dir(self.root())?;
        fs_err::remove_dir_all(&aside)?;
        Ok(())
    }
}

fn check_state_file_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name != PUBLIC
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::UnsafePath {
            path: name.to_owned(),
            reason: "not a state file name",
        })
    }
}
