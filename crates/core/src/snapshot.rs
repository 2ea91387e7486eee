//! Snapshots: the complete, immutable file list of one published tree.
//!
//! A snapshot is what a sync produces and what publish materialises: every path with its
//! SHA-256 and size, upstream files kept byte for byte and files we generated alike. It
//! also records the upstream `fingerprint` (a digest of the signed upstream metadata and
//! the mirror's settings) so that a re-sync with nothing new can stop after one request.
//! Bundles carry snapshots across the gap unchanged.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::paths::{check_mirror_name, check_relative};
use crate::store::{Store, StoreError, write_atomic};

/// Current snapshot format.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// One file of a published tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Path inside the tree, `/`-separated, relative.
    pub path: String,
    /// Content digest: the object's name in the store.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// The file list of one tree, plus where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// The mirror's name (its directory under `public/`).
    pub mirror: String,
    /// Unique id: `<sequence, 6 digits>-<UTC time YYYYMMDDTHHMMSSZ>-<12 hex of the content
    /// digest>`. The store sets the sequence ([`Store::sequence`]); "newest" is the highest
    /// sequence ([`snapshot_order`]), never the clock, which has one-second resolution
    /// and may step back.
    pub id: String,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// `apt` or `conda`.
    pub kind: String,
    /// Upstream URL it was synced from.
    pub upstream: String,
    /// Digest of upstream metadata + settings; equal fingerprints mean nothing changed.
    pub fingerprint: String,
    /// Every file, sorted by path, no duplicates.
    pub files: Vec<SnapshotFile>,
}

impl Snapshot {
    /// Build a snapshot (sorting files and deriving its id from time and content).
    pub fn new(
        mirror: &str,
        kind: &str,
        upstream: &str,
        fingerprint: &str,
        mut files: Vec<SnapshotFile>,
    ) -> Result<Self, StoreError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup();
        let now = time::OffsetDateTime::now_utc();
        let mut content = crate::digest::Hasher::new();
        for f in &files {
            content.update(f.path.as_bytes());
            content.update(&f.sha256.0);
        }
        let (digest, _) = content.finish();
        let stamp = now
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .expect("UTC timestamps always format");
        let snapshot = Self {
            format: SNAPSHOT_FORMAT,
            mirror: mirror.to_owned(),
            id: format!("{:06}-{stamp}-{}", 0, &digest.to_hex()[..12]),
            created: crate::time_util::rfc3339(now),
            kind: kind.to_owned(),
            upstream: crate::redact::redact_url(upstream).into_owned(),
            fingerprint: fingerprint.to_owned(),
            files,
        };
        snapshot.validate()?;
        Ok(snapshot)
    }

    /// The same snapshot as number `sequence` of its mirror (see [`Store::sequence`]).
    pub fn sequenced(mut self, sequence: u64) -> Self {
        let rest = match self.id.split_once('-') {
            Some((head, rest)) if is_sequence(head) => rest.to_owned(),
            _ => self.id.clone(),
        };
        self.id = format!("{sequence:06}-{rest}");
        self
    }

    /// Check the invariants a snapshot from elsewhere (a bundle) must hold before use.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |reason: String| StoreError::InvalidSnapshot {
            id: format!("{}/{}", self.mirror, self.id),
            reason,
        };
        if self.format != SNAPSHOT_FORMAT {
            return Err(invalid(format!("unsupported format {}", self.format)));
        }
        check_mirror_name(&self.mirror)?;
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid("id must be letters, digits and '-'".into()));
        }
        for pair in self.files.windows(2) {
            if pair[0].path >= pair[1].path {
                return Err(invalid(format!(
                    "files not sorted or duplicated at {:?}",
                    pair[1].path
                )));
            }
        }
        for f in &self.files {
            check_relative(&f.path)?;
        }
        // A path that is both a file and a directory cannot be materialised.
        for pair in self.files.windows(2) {
            if pair[1].path.starts_with(&pair[0].path)
                && pair[1].path.as_bytes().get(pair[0].path.len()) == Some(&b'/')
            {
                return Err(invalid(format!(
                    "{:?} is both a file and a directory",
                    pair[0].path
                )));
            }
        }
        Ok(())
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Look up a file by path.
    pub fn file(&self, path: &str) -> Option<&SnapshotFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Canonical JSON bytes (what is stored and what bundles carry).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("snapshots always serialise");
        out.push(b'\n');
        out
    }

    /// Parse and validate snapshot JSON; `origin` names the file in errors.
    pub fn from_json(bytes: &[u8], origin: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|source| StoreError::BadSnapshot {
                path: origin.into(),
                source,
            })?;
        snapshot.validate()?;
        Ok(snapshot)
    }
}

fn is_sequence(head: &str) -> bool {
    !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit())
}

/// The order of snapshot ids: by sequence (the leading digits), then by id. Ids written
/// before sequences existed (`YYYYMMDDTHHMMSSZ-<hex>`) count as sequence 0, so they sort
/// first, by time, and every newer snapshot after them.
pub fn snapshot_order(id: &str) -> (u64, &str) {
    let head = id.split_once('-').map_or(id, |(head, _)| head);
    let sequence = if is_sequence(head) {
        head.parse().unwrap_or(u64::MAX)
    } else {
        0
    };
    (sequence, id)
}

/// Saving, listing and loading snapshots under `<store>/snapshots/<mirror>/`.
impl Store {
    /// The sequence number the next snapshot of `mirror` takes: one above the highest
    /// of its snapshots (under the writer lock, so no other writer takes it too).
    pub fn sequence(&self, mirror: &str) -> Result<u64, StoreError> {
        let highest = self
            .snapshot_ids(mirror)?
            .iter()
            .map(|id| snapshot_order(id).0)
            .max()
            .unwrap_or(0);
        Ok(highest + 1)
    }

    pub(crate) fn snapshot_path(&self, mirror: &str, id: &str) -> PathBuf {
        self.snapshots_dir().join(mirror).join(format!("{id}.json"))
    }

    /// Write a snapshot (atomically), after making the objects waiting in this handle's
    /// batch durable. Every object it names must already be stored,
    /// with the size the snapshot states: an index entry with the right digest and a
    /// wrong size must not reach a snapshot (and from there the published indices)
    /// because the object happened to be stored already.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        snapshot.validate()?;
        for f in &snapshot.files {
            if !self.objects().contains(&f.sha256) {
                return Err(StoreError::MissingObject {
                    digest: f.sha256,
                    path: f.path.clone(),
                });
            }
            let actual = self.objects().size(&f.sha256)?;
            if actual != f.size {
                return Err(StoreError::SizeMismatch {
                    what: format!("{} (object {})", f.path, f.sha256),
                    expected: f.size,
                    actual,
                });
            }
        }
        // The snapshot names its objects: they must be on disk before it is.
        self.objects().make_durable()?;
        write_atomic(
            &self.snapshot_path(&snapshot.mirror, &snapshot.id),
            &snapshot.to_json(),
        )
    }

    /// Mirrors that have at least one snapshot.
    pub fn mirrors_with_snapshots(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        // A store killed while `Store::open` was creating it has objects/ but no
        // snapshots/ yet: it holds no snapshot, which is no error for a reader.
        if !self.snapshots_dir().is_dir() {
            return Ok(out);
        }
        for entry in fs_err::read_dir(self.snapshots_dir())? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(name) = entry.file_name().to_str()
                && check_mirror_name(name).is_ok()
            {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Snapshot ids of `mirror`, oldest first ([`snapshot_order`]); committed ones only.
    pub fn snapshot_ids(&self, mirror: &str) -> Result<Vec<String>, StoreError> {
        check_mirror_name(mirror)?;
        let dir = self.snapshots_dir().join(mirror);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = fs_err::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .filter(|n| !n.starts_with('.'))
                    .map(str::to_owned)
            })
            .collect();
        // A snapshot an uncommitted change added is not there yet (see store/pending.rs).
        if let Some(pending) = self.pending()? {
            ids.retain(|id| !pending.adds_snapshot(mirror, id));
        }
        ids.sort_by(|a, b| snapshot_order(a).cmp(&snapshot_order(b)));
        Ok(ids)
    }

    /// Load one snapshot.
    pub fn load_snapshot(&self, mirror: &str, id: &str) -> Result<Snapshot, StoreError> {
        check_mirror_name(mirror)?;
        let path = self.snapshot_path(mirror, id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchSnapshot {
                    mirror: mirror.to_owned(),
                    id: id.to_owned(),
                });
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        Snapshot::from_json(&bytes, path)
    }

    /// The newest snapshot of `mirror`, if any.
    pub fn latest_snapshot(&self, mirror: &str) -> Result<Option<Snapshot>, StoreError> {
        match self.snapshot_ids(mirror)?.last() {
            Some(id) => self.load_snapshot(mirror, id).map(Some),
            None => Ok(None),
        }
    }

    /// Delete one snapshot's file (prune). Its objects stay until garbage collection.
    pub fn remove_snapshot(&self, mirror: &str, id: &str) -> Result<(), StoreError> {
        check_mirror_name(mirror)?;
        crate::failpoint::step("remove");
        fs_err::remove_file(self.snapshot_path(mirror, id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> SnapshotFile {
        SnapshotFile {
            path: path.into(),
            sha256: Sha256Digest::of(content),
            size: content.len() as u64,
        }
    }

    /// `Store::open` killed after creating objects/ but before snapshots/: readers see
    /// an empty store (found by the CLI's kill-at-any-point import test).
    #[test]
    fn a_half_created_store_has_no_snapshots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        std::fs::remove_dir(store.snapshots_dir()).expect("remove snapshots/");
        let store = Store::open_existing(dir.path()).expect("still a store");
        assert!(store.mirrors_with_snapshots().expect("readable").is_empty());
        assert!(store.snapshot_ids("m").expect("readable").is_empty());
    }

    #[test]
    fn round_trip_and_validation() {
        let s = Snapshot::new(
            "debian",
            "apt",
            "http://u",
            "fp",
            vec![file("b", b"2"), file("a/x", b"1")],
        )
        .expect("valid");
        assert_eq!(s.files[0].path, "a/x");
        let back = Snapshot::from_json(&s.to_json(), "mem").expect("parses");
        assert_eq!(back, s);
        assert_eq!(back.file("b").map(|f| f.size), Some(1));

        let mut evil = s.clone();
        evil.files[0].path = "../../etc/passwd".into();
        assert!(Snapshot::from_json(&evil.to_json(), "evil.json").is_err());
        let mut clash = s.clone();
        clash.files = vec![file("a", b"1"), file("a/b", b"2")];
        assert!(clash.validate().is_err());
    }

    #[test]
    fn save_requires_objects_and_latest_is_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let s = Snapshot::new("m", "apt", "u", "fp", vec![file("a", b"1")]).expect("valid");
        assert!(matches!(
            store.save_snapshot(&s),
            Err(StoreError::MissingObject { .. })
        ));
        store.objects().insert_bytes(b"1").expect("insert");
        store.save_snapshot(&s).expect("save");
        // Sequence, not time, decides: a later snapshot stamped with an earlier second
        // (two syncs in one second; a clock stepped back) is still the newest.
        let legacy = Snapshot {
            id: "99999999T999999Z-000000000000".into(),
            ..s.clone()
        };
        store.save_snapshot(&legacy).expect("save");
        assert_eq!(store.sequence("m").expect("seq"), 1);
        let first = s.clone().sequenced(store.sequence("m").expect("seq"));
        store.save_snapshot(&first).expect("save");
        let mut second = s.clone().sequenced(store.sequence("m").expect("seq"));
        second.id = second.id.replace(&s.id[7..23], "20000101T000000Z");
        store.save_snapshot(&second).expect("save");
        assert!(
            second.id.starts_with("000002-20000101T000000Z-"),
            "{}",
            second.id
        );
        assert_eq!(
            store.snapshot_ids("m").expect("ids"),
            [
                s.id.clone(),
                legacy.id.clone(),
                first.id.clone(),
                second.id.clone()
            ]
        );
        assert_eq!(
            store.latest_snapshot("m").expect("load").map(|s| s.id),
            Some(second.id)
        );
        assert_eq!(store.mirrors_with_snapshots().expect("list"), vec!["m"]);
    }
}
