//! The audit trail: one JSON line per sync, publish, export, import or prune, appended
//! to `<store>/audit.jsonl` and fsynced, so an operator can show what entered the network,
//! when, and from where.

use serde::{Deserialize, Serialize};

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
        let mut line = serde_json::to_vec(record).expect("audit records always serialise");
        line.push(b'\n');
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
