//! What a proxy filled, one JSON line per verified file in `<store>/proxy/<mirror>.log`.
//!
//! Appended without the writer lock (`O_APPEND`, one `write` per line, flushed before
//! the object it names is moved into `objects/`), so `prune`, which keeps every object
//! a log names, never sees a proxy's object without its line. A torn last line (a crash
//! mid-write) is skipped when read.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::store::{Store, StoreError};

/// What kind of file a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// An index as upstream served it (kept for conditional requests).
    Upstream,
    /// An index as the proxy serves it.
    Index,
    /// A package.
    Package,
}

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyRecord {
    /// Unix time of the fill.
    pub t: i64,
    /// Its path below `/<mirror>/`.
    pub path: String,
    /// Its digest.
    pub sha256: Sha256Digest,
    /// Its length.
    pub size: u64,
    /// What it is.
    pub kind: RecordKind,
}

/// One mirror's log, open for appending.
#[derive(Debug)]
pub struct ProxyLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl ProxyLog {
    /// Open (creating) `mirror`'s log in `store`.
    pub fn open(store: &Store, mirror: &str) -> Result<Self, StoreError> {
        let path = store.proxy_log_path(mirror);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// Record a verified file now, as a proxy's fill does (a failure is the client's 500).
    pub fn record(
        &self,
        path: &str,
        sha256: Sha256Digest,
        size: u64,
        kind: RecordKind,
    ) -> Result<(), super::ProxyError> {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.append(&ProxyRecord {
            t,
            path: path.to_owned(),
            sha256,
            size,
            kind,
        })
        .map_err(|e| super::ProxyError::new(super::ProxyFailure::Internal, e.to_string()))
    }

    /// Append `record` and flush it to disk.
    pub fn append(&self, record: &ProxyRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).expect("a record always serialises");
        line.push(b'\n');
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (&*file)
            .write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| StoreError::io(&self.path, e))
    }
}

impl Store {
    /// `proxy/`: each proxy mirror's log.
    pub fn proxy_dir(&self) -> PathBuf {
        self.root().join("proxy")
    }

    /// `proxy/<mirror>.log`.
    pub fn proxy_log_path(&self, mirror: &str) -> PathBuf {
        self.proxy_dir().join(format!("{mirror}.log"))
    }

    /// Every record of `mirror`'s log, oldest first (none when it has no log). Lines
    /// that do not parse (a torn last line) are skipped.
    pub fn proxy_records(&self, mirror: &str) -> Result<Vec<ProxyRecord>, StoreError> {
        let path = self.proxy_log_path(mirror);
        let text = match fs_err::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(text
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }

    /// The packages `mirror`'s log records (path -> digest and size, the newest record of
    /// each path) whose objects the store still holds: what clients pulled.
    pub fn proxy_held<'r>(
        &self,
        records: &'r [ProxyRecord],
    ) -> std::collections::HashMap<&'r str, (Sha256Digest, u64)> {
        let mut held = std::collections::HashMap::new();
        for record in records.iter().filter(|r| r.kind == RecordKind::Package) {
            held.insert(record.path.as_str(), (record.sha256, record.size));
        }
        held.retain(|_, (sha256, _)| self.objects().contains(sha256));
        held
    }

    /// Every object any proxy log names (what `prune` keeps besides snapshots).
    pub fn proxy_digests(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let entries = match fs_err::read_dir(self.proxy_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut digests = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(mirror) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                continue;
            };
            digests.extend(self.proxy_records(mirror)?.into_iter().map(|r| r.sha256));
        }
        Ok(digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let log = ProxyLog::open(&store, "conda").expect("open");
        let record = ProxyRecord {
            t: 1,
            path: "linux-64/a-1-0.conda".into(),
            sha256: Sha256Digest::of(b"a"),
            size: 1,
            kind: RecordKind::Package,
        };
        log.append(&record).expect("append");
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.proxy_log_path("conda"))
            .and_then(|mut f| f.write_all(b"{\"t\":2,\"pa"))
            .expect("torn");
        assert_eq!(store.proxy_records("conda").expect("read"), vec![record]);
        assert_eq!(
            store.proxy_digests().expect("digests"),
            vec![Sha256Digest::of(b"a")]
        );
    }
}
