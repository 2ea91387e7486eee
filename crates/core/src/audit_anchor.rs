//! Anchoring the audit log's end.
//!
//! The hash chain ([`crate::audit`]) shows a record edited, removed or reordered *before*
//! another record, but not a trimmed tail: delete the last records, empty the log, remove
//! it, or strip every `prev` (legacy records had none) and the chain still holds. So the
//! end is written down elsewhere, as an [`AuditAnchor`] (how many records, how many bytes,
//! the digest of the last line):
//!
//! - `<store>/audit.anchor`, rewritten atomically after every append: the log must end
//!   exactly there (or one record later: a writer killed between its append and the
//!   anchor, which the next append re-anchors);
//! - every committed state generation (`state/<n>/audit-anchor.json`, written by
//!   `switch_live`): the log as of that commit must still be a prefix of the log;
//! - every export manifest (`mirror_transfer`), which crosses the gap signed, so a copy
//!   of the outside's anchor is kept where its operator cannot rewrite it.
//!
//! [`Store::audit_anchor_break`] (run by `verify`) checks the first two. Someone with
//! write access can still rewrite the log and both anchors consistently; the exported
//! copies are what shows that.

use serde::{Deserialize, Serialize};

use crate::Sha256Digest;
use crate::store::{Store, StoreError, write_atomic};

/// Name of the anchor file in the store root.
pub const ANCHOR_FILE: &str = "audit.anchor";
/// Name of the anchor in each state generation.
pub const STATE_ANCHOR_FILE: &str = "audit-anchor.json";

/// Where the audit log ended at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditAnchor {
    /// Records (non-empty lines) up to there.
    pub records: u64,
    /// Bytes up to there (the last record's newline included).
    pub bytes: u64,
    /// SHA-256 (hex) of the last record's line, without its newline; `None` for an
    /// empty log.
    pub last: Option<String>,
}

/// A log's records as (line without newline, offset just after its newline).
fn records(log: &[u8]) -> Vec<(&[u8], u64)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < log.len() {
        let end = log[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(log.len(), |at| start + at);
        let after = (end + 1).min(log.len());
        if end > start {
            out.push((&log[start..end], after as u64));
        }
        start = end + 1;
    }
    out
}

impl AuditAnchor {
    /// The anchor of a whole log.
    pub fn of(log: &[u8]) -> Self {
        let records = records(log);
        Self {
            records: records.len() as u64,
            bytes: log.len() as u64,
            last: records
                .last()
                .map(|(line, _)| Sha256Digest::of(line).to_hex()),
        }
    }

    /// Why `log` does not extend this anchor (its first `records` records end at `bytes`
    /// with the same last line), or `None` when it does.
    pub fn prefix_break(&self, log: &[u8]) -> Option<String> {
        let lines = records(log);
        if self.records == 0 {
            return None;
        }
        let Some((line, after)) = usize::try_from(self.records - 1)
            .ok()
            .and_then(|at| lines.get(at))
        else {
            return Some(format!(
                "it has {} records, {} were recorded (records were removed from its end, or it was emptied)",
                lines.len(),
                self.records
            ));
        };
        if self.last.as_deref() != Some(Sha256Digest::of(line).to_hex().as_str())
            || *after != self.bytes
        {
            return Some(format!(
                "record {} is not the one recorded there (edited, or records before it removed)",
                self.records
            ));
        }
        None
    }
}

impl Store {
    /// `<store>/audit.anchor`.
    pub fn audit_anchor_path(&self) -> std::path::PathBuf {
        self.root().join(ANCHOR_FILE)
    }

    /// The anchor of the log as it is now (an empty anchor when there is no log). When
    /// `audit.anchor` ends where the log ends (the case after every append), it is that
    /// file, read without reading the log; otherwise the log is read and counted.
    pub fn audit_anchor_now(&self) -> Result<AuditAnchor, StoreError> {
        let path = self.audit_path();
        let length = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        match self.stored_audit_anchor() {
            Some(anchor) if anchor.bytes == length => Ok(anchor),
            _ => Ok(AuditAnchor::of(&self.audit_log_bytes()?)),
        }
    }

    /// `audit.anchor` as written, when it is there and readable.
    fn stored_audit_anchor(&self) -> Option<AuditAnchor> {
        std::fs::read(self.audit_anchor_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    }

    fn audit_log_bytes(&self) -> Result<Vec<u8>, StoreError> {
        let path = self.audit_path();
        match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Write `audit.anchor`.
    pub(crate) fn write_audit_anchor(&self, anchor: &AuditAnchor) -> Result<(), StoreError> {
        let json = serde_json::to_vec(anchor).expect("anchors always serialise");
        write_atomic(&self.audit_anchor_path(), &json)
    }

    /// A writer killed in the middle of an append leaves a last line without its newline
    /// (a torn record, past the end `audit.anchor` records). The next writer removes it,
    /// before its own append would be glued to it: only the bytes after the last newline
    /// are cut, and never below the anchored end. Runs under the writer lock
    /// ([`Store::lock`]).
    pub(crate) fn repair_torn_audit_tail(&self) -> Result<(), StoreError> {
        // Every writer command runs this: look at the last byte only, unless it is torn.
        if !self.audit_log_torn()? {
            return Ok(());
        }
        let log = self.audit_log_bytes()?;
        let anchored = self.stored_audit_anchor().map(|anchor| anchor.bytes);
        let last_newline = log.iter().rposition(|b| *b == b'\n').map_or(0, |at| at + 1) as u64;
        // What follows the last newline is a fragment, never a record; but nothing the
        // anchor counts as written is cut (an anchor past the last newline is not a torn
        // append: `verify` reports it).
        if anchored.is_some_and(|end| end > last_newline) {
            return Ok(());
        }
        let keep = last_newline;
        let path = self.audit_path();
        tracing::warn!(
            path = %path.display(),
            bytes = log.len() as u64 - keep,
            "removing a torn last audit record (a writer was killed mid-append)"
        );
        crate::failpoint::step("truncate");
        let file = fs_err::OpenOptions::new().write(true).open(&path)?;
        file.set_len(keep)?;
        file.sync_all()?;
        Ok(())
    }

    /// Whether the log's last byte is not a newline (a record torn mid-append).
    fn audit_log_torn(&self) -> Result<bool, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.audit_path();
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let length = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if length == 0 {
            return Ok(false);
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(length - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(last[0] != b'\n')
    }

    /// Why the log's end does not match its anchors (`audit.anchor`, the live state's),
    /// or `None` when it does. A store whose log has chained records but no anchor file
    /// lost it; a store from before anchors (no chained record, no anchor) passes.
    pub fn audit_anchor_break(&self) -> Result<Option<String>, StoreError> {
        let log = self.audit_log_bytes()?;
        let path = self.audit_anchor_path();
        let file = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice::<AuditAnchor>(&bytes).map_err(|e| {
                StoreError::io(
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let chained = records(&log).iter().any(|(line, _)| {
            serde_json::from_slice::<crate::audit::AuditRecord>(line)
                .is_ok_and(|r| r.prev.is_some())
        });
        match &file {
            None if chained => {
                return Ok(Some(format!(
                    "{ANCHOR_FILE} is missing, and the log has chained records (it was removed)"
                )));
            }
            None => {}
            Some(anchor) => {
                if let Some(why) = anchor.prefix_break(&log) {
                    return Ok(Some(format!(
                        "does not end where {ANCHOR_FILE} says: {why}"
                    )));
                }
                // One record past the anchor: a writer killed between its append and
                // the anchor. More is not.
                let extra = AuditAnchor::of(&log).records - anchor.records;
                if extra > 1 {
                    return Ok(Some(format!(
                        "{extra} records after the end {ANCHOR_FILE} records (appended by hand?)"
                    )));
                }
            }
        }
        if let Some(bytes) = self.read_live_file(STATE_ANCHOR_FILE)? {
            let anchor: AuditAnchor = serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::io(
                    &self.live_link().join(STATE_ANCHOR_FILE),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            if let Some(why) = anchor.prefix_break(&log) {
                return Ok(Some(format!(
                    "does not extend the log the live state recorded: {why}"
                )));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditRecord;

    fn store_with_records(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        for i in 0..n {
            store
                .audit(&AuditRecord::new(
                    "sync",
                    Some("m"),
                    serde_json::json!({"n": i}),
                ))
                .expect("append");
        }
        (dir, store)
    }

    #[test]
    fn a_trimmed_emptied_removed_or_stripped_tail_is_found() {
        let (_dir, store) = store_with_records(4);
        assert_eq!(store.audit_anchor_break().expect("check"), None);
        let log = store.audit_path();
        let text = std::fs::read_to_string(&log).expect("log");
        let lines: Vec<&str> = text.lines().collect();

        let cases: Vec<(&str, Option<String>)> = vec![
            (
                "last record edited",
                Some(text.replacen("\"n\":3", "\"n\":9", 1)),
            ),
            (
                "last two removed",
                Some(format!("{}\n{}\n", lines[0], lines[1])),
            ),
            ("emptied", Some(String::new())),
            ("removed", None),
            (
                "every prev stripped",
                Some(
                    lines
                        .iter()
                        .map(|l| {
                            let mut r: AuditRecord = serde_json::from_str(l).expect("record");
                            r.prev = None;
                            serde_json::to_string(&r).expect("json") + "\n"
                        })
                        .collect(),
                ),
            ),
        ];
        for (case, content) in cases {
            match &content {
                Some(c) => std::fs::write(&log, c).expect("write"),
                None => std::fs::remove_file(&log).expect("rm"),
            }
            let broken = store.audit_anchor_break().expect("check");
            assert!(broken.is_some(), "{case}: not found");
            std::fs::write(&log, &text).expect("restore");
            assert_eq!(store.audit_anchor_break().expect("check"), None, "{case}");
        }

        // Anchor and log removed together: the chain is gone, the live state still knows.
        store
            .switch_live(&[], &[])
            .expect("a state generation records the anchor");
        std::fs::remove_file(store.audit_anchor_path()).expect("rm anchor");
        std::fs::write(&log, format!("{}\n", lines[0])).expect("trim");
        assert!(store.audit_anchor_break().expect("check").is_some());
    }

    #[test]
    fn a_writer_killed_between_append_and_anchor_passes_and_is_reanchored() {
        let (_dir, store) = store_with_records(2);
        let anchored = std::fs::read(store.audit_anchor_path()).expect("anchor");
        store
            .audit(&AuditRecord::new(
                "sync",
                Some("m"),
                serde_json::Value::Null,
            ))
            .expect("append");
        // As if killed before the anchor was rewritten.
        std::fs::write(store.audit_anchor_path(), &anchored).expect("old anchor");
        assert_eq!(store.audit_anchor_break().expect("check"), None);
        store
            .audit(&AuditRecord::new(
                "sync",
                Some("m"),
                serde_json::Value::Null,
            ))
            .expect("append");
        assert_eq!(
            store.audit_anchor_now().expect("now"),
            serde_json::from_slice::<AuditAnchor>(
                &std::fs::read(store.audit_anchor_path()).expect("anchor")
            )
            .expect("json")
        );
    }

    #[test]
    fn a_torn_last_record_is_named_as_such_and_removed_by_the_next_writer() {
        let (_dir, store) = store_with_records(2);
        let log = store.audit_path();
        let whole = std::fs::read(&log).expect("log");
        // Killed mid-append: half a record, no newline.
        let mut torn = whole.clone();
        torn.extend_from_slice(br#"{"time":"2026-12-07T00:00:00Z","act"#);
        std::fs::write(&log, &torn).expect("torn");
        let said = store.audit_chain_break().expect("check").expect("reported");
        assert!(said.contains("torn"), "{said}");
        drop(store.lock().expect("the next writer"));
        assert_eq!(std::fs::read(&log).expect("log"), whole);
        assert_eq!(store.audit_chain_break().expect("check"), None);
        assert_eq!(store.audit_anchor_break().expect("check"), None);
        store
            .audit(&AuditRecord::new(
                "sync",
                Some("m"),
                serde_json::Value::Null,
            ))
            .expect("append after the repair");
        assert_eq!(store.audit_chain_break().expect("check"), None);
    }

    #[test]
    fn a_store_from_before_anchors_passes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let legacy = AuditRecord::new("sync", Some("m"), serde_json::Value::Null);
        std::fs::write(
            store.audit_path(),
            serde_json::to_string(&legacy).expect("json") + "\n",
        )
        .expect("write");
        assert_eq!(store.audit_anchor_break().expect("check"), None);
    }
}
