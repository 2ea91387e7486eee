//! The audit trail: one JSON line per sync, publish, export, import or prune, appended
//! to `<store>/audit.jsonl` and fsynced, so an operator can show what entered the network,
//! when, and from where.
//!
//! The log is a hash chain: each record carries `prev`, the SHA-256 of the line before
//! it, so an edited, removed or reordered record breaks the chain at that line
//! ([`Store::audit_chain_break`], which `verify` reports). Records written before the
//! chain existed have no `prev` and are accepted only before the first one that has.

use serde::{Deserialize, Serialize};

use crate::audit_anchor::AuditAnchor;
use crate::store::{Store, StoreError};

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 UTC.
    pub time: String,
    /// `sync`, `publish`, `export`, `import`, `prune`, ...
    pub action: String,
    /// The mirror concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Free-form details (snapshot ids, counts, digests, upstream URL, signer).
    #[serde(default)]
    pub details: serde_json::Value,
    /// The user running the command, from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// SHA-256 (hex) of the previous line of the log, set when the record is appended;
    /// `None` for the first record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

impl AuditRecord {
    /// A record stamped now.
    pub fn new(action: &str, mirror: Option<&str>, details: serde_json::Value) -> Self {
        Self {
            time: crate::time_util::now_rfc3339(),
            action: action.to_owned(),
            mirror: mirror.map(str::to_owned),
            details,
            user: std::env::var("SUDO_USER")
                .or_else(|_| std::env::var("USER"))
                .ok(),
            prev: None,
        }
    }

    /// The record as the caller made it, without the chain link the log adds.
    pub fn unchained(&self) -> AuditRecord {
        AuditRecord {
            prev: None,
            ..self.clone()
        }
    }
}

/// Whether the audit log records `mirror`'s snapshot `id` as published: by `publish`
/// (sync and `publish` write one) or by an `import`, which publishes what it carries.
pub fn was_published(records: &[AuditRecord], mirror: &str, id: &str) -> bool {
    let imported = format!("{mirror}/{id}");
    records.iter().any(|r| match r.action.as_str() {
        "publish" => r.mirror.as_deref() == Some(mirror) && r.details["snapshot"] == id,
        "import" => r.details["snapshots"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|s| *s == *imported)),
        _ => false,
    })
}

impl Store {
    /// The newest snapshot of `mirror` when it is not live and was never published: a
    /// writer stopped (killed, crashed, `--no-publish`) between saving it and publishing
    /// it. A snapshot published once and then replaced by `publish --snapshot OLD` is a
    /// deliberate rollback, not this.
    pub fn unpublished_snapshot(&self, mirror: &str) -> Result<Option<String>, StoreError> {
        let Some(latest) = self.snapshot_ids(mirror)?.pop() else {
            return Ok(None);
        };
        if self.published_snapshot(mirror)?.as_deref() == Some(latest.as_str())
            || was_published(&self.audit_records()?, mirror, &latest)
        {
            return Ok(None);
        }
        Ok(Some(latest))
    }

    /// Append one record to the audit log (O_APPEND, then fsync).
    pub fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        use std::io::Write;
        let path = self.audit_path();
        // Under the writer lock: no other writer appends between this read and the write.
        // The anchor of the log as it is names its last line's digest: the new `prev`.
        let before = self.audit_anchor_now()?;
        let record = AuditRecord {
            prev: before.last.clone(),
            ..record.clone()
        };
        let mut line = serde_json::to_vec(&record).expect("audit records always serialise");
        let after = AuditAnchor {
            records: before.records + 1,
            bytes: before.bytes + line.len() as u64 + 1,
            last: Some(crate::Sha256Digest::of(&line).to_hex()),
        };
        line.push(b'\n');
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(&line)?;
        file.sync_data()?;
        // Where the log now ends, so a trimmed tail is found (`audit_anchor`).
        self.write_audit_anchor(&after)
    }

    /// Read the whole audit log (skipping lines that do not parse, with a warning).
    pub fn audit_records(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let path = self.audit_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        Ok(text
            .lines()
            .enumerate()
            .filter_map(|(n, l)| match serde_json::from_str(l) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("{}:{}: unreadable audit record: {e}", path.display(), n + 1);
                    None
                }
            })
            .collect())
    }
}

impl Store {
    /// Where the audit log's hash chain breaks: `Some("line N: ...")` for the first record
    /// whose `prev` is not the digest of the line before it (an edited, removed or
    /// reordered record), `None` when the chain holds.
    pub fn audit_chain_break(&self) -> Result<Option<String>, StoreError> {
        let path = self.audit_path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let mut previous: Option<&[u8]> = None;
        let mut chained = false;
        // Without a final newline, the last segment is a record torn mid-append.
        let segments = text.split(|b| *b == b'\n').count();
        let torn_tail = !text.is_empty() && !text.ends_with(b"\n");
        for (n, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let number = n + 1;
            let Ok(record) = serde_json::from_slice::<AuditRecord>(line) else {
                if torn_tail && n + 1 == segments {
                    return Ok(Some(format!(
                        "line {number}: a torn last record (a writer killed mid-append; the \
                         next writer command removes it)"
                    )));
                }
                return Ok(Some(format!("line {number}: not an audit record")));
            };
            let expected = previous.map(|p| crate::Sha256Digest::of(p).to_hex());
            match (&record.prev, &expected) {
                // Before the chain began (or the very first record).
                (None, _) if !chained => {}
                (Some(prev), Some(expected)) if prev == expected => chained = true,
                (None, _) => {
                    return Ok(Some(format!(
                        "line {number}: no link to the line before (a record was replaced)"
                    )));
                }
                (Some(_), _) => {
                    return Ok(Some(format!(
                        "line {number}: its prev is not the digest of line {} (a record \
                         before it was edited, removed or reordered)",
                        number - 1
                    )));
                }
            }
            previous = Some(line);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_a_chain_and_an_edit_breaks_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        for n in 0..3 {
            store
                .audit(&AuditRecord::new(
                    "sync",
                    Some("m"),
                    serde_json::json!({"n": n}),
                ))
                .expect("append");
        }
        let records = store.audit_records().expect("read");
        assert_eq!(records[0].prev, None);
        assert!(records[1].prev.is_some() && records[2].prev.is_some());
        assert_eq!(store.audit_chain_break().expect("check"), None);

        let log = store.audit_path();
        let text = std::fs::read_to_string(&log).expect("read");
        std::fs::write(&log, text.replacen("\"n\":1", "\"n\":7", 1)).expect("edit");
        let broken = store.audit_chain_break().expect("check").expect("broken");
        assert!(broken.starts_with("line 3:"), "{broken}");

        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&log, format!("{}\n{}\n", lines[0], lines[2])).expect("remove");
        let broken = store.audit_chain_break().expect("check").expect("broken");
        assert!(broken.starts_with("line 2:"), "{broken}");
    }

    #[test]
    fn records_append_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        store
            .audit(&AuditRecord::new(
                "sync",
                Some("debian"),
                serde_json::json!({"n": 1}),
            ))
            .expect("append");
        store
            .audit(&AuditRecord::new(
                "publish",
                Some("debian"),
                serde_json::Value::Null,
            ))
            .expect("append");
        let records = store.audit_records().expect("read");
        assert_eq!(
            records
                .iter()
                .map(|r| r.action.as_str())
                .collect::<Vec<_>>(),
            ["sync", "publish"]
        );
        assert_eq!(records[0].details["n"], 1);
    }
}
