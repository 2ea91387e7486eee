//! `manifest.json`: what a bundle holds, signed by the outside.
//!
//! The manifest is the one authority an import trusts (after its signature checks out):
//! every volume with its size and SHA-256, every object with its size, SHA-256 and the
//! volume(s) holding it, the snapshots to record and publish, and where the bundle sits in
//! the export sequence. Tar entry names are derived from it (`objects/sha256/ab/<hex>`,
//! or `<hex>.part-0001`... for an object split across volumes), so an import knows exactly
//! which entries each volume must hold.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::snapshot::Snapshot;
use serde::{Deserialize, Serialize};

use crate::error::TransferError;

/// The bundle format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// File names inside a bundle directory.
pub const MANIFEST: &str = "manifest.json";
/// Detached armored signature of [`MANIFEST`].
pub const SIGNATURE: &str = "manifest.json.asc";
/// `sha256sum -c` listing of every other file.
pub const SUMS: &str = "SHA256SUMS";
/// Instructions for a person.
pub const README: &str = "README.txt";

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Unique id: `<sequence, 6 digits>-<UTC time>-<12 hex of the content>`.
    pub bundle_id: String,
    /// Position in the outside's export sequence, from 1.
    pub sequence: u64,
    /// The inside must have imported every bundle up to this sequence (0: nothing).
    pub base_sequence: u64,
    /// Id of the bundle at `base_sequence` (the bundle this one follows), if any.
    pub follows: Option<String>,
    /// True when the bundle carries every object its snapshots need.
    pub full: bool,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Fingerprint of the key that signed the manifest.
    pub created_by: String,
    /// The snapshots to record and publish, complete.
    pub snapshots: Vec<Snapshot>,
    /// Every object the bundle carries, sorted by digest.
    pub objects: Vec<BundleObject>,
    /// Every volume, in order.
    pub volumes: Vec<Volume>,
    /// Where the outside's audit log ended when the bundle was written: a signed copy
    /// that leaves the outside with the bundle, so a later trim of the outside's log
    /// shows against it (`mirror_core::audit_anchor`). Absent in bundles from before it
    /// existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<mirror_core::audit_anchor::AuditAnchor>,
}

/// One object carried by the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleObject {
    /// Content digest (the object's name in the store).
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
    /// The volume holding the object (its first part when split).
    pub volume: String,
    /// When split across volumes: every part in order (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// One piece of a split object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The volume holding this part.
    pub volume: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One volume file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// File name, `data-0001.tar`...
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file.
    pub sha256: Sha256Digest,
}

/// One tar entry a volume must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// The object.
    pub sha256: Sha256Digest,
    /// Part number (1-based) when the object is split.
    pub part: Option<u32>,
    /// Bytes in this entry.
    pub size: u64,
}

/// The tar entry name of an object or of one part of it.
pub fn entry_name(digest: &Sha256Digest, part: Option<u32>) -> String {
    let hex = digest.to_hex();
    match part {
        None => format!("objects/sha256/{}/{hex}", &hex[..2]),
        Some(n) => format!("objects/sha256/{}/{hex}.part-{n:04}", &hex[..2]),
    }
}

/// Parse a tar entry name: exactly `objects/sha256/xx/<64 lower hex>` with an optional
/// `.part-NNNN`, where `xx` is the digest's first two digits. Anything else is refused
/// with the reason (absolute paths, `..`, other directories, odd characters).
pub fn parse_entry_name(name: &[u8]) -> Result<(Sha256Digest, Option<u32>), &'static str> {
    if name.first() == Some(&b'/') {
        return Err("absolute path");
    }
    if name.split(|b| *b == b'/').any(|c| c == b".." || c == b".") {
        return Err("'..' or '.' path component");
    }
    let text = std::str::from_utf8(name).map_err(|_| "path is not UTF-8")?;
    let rest = text
        .strip_prefix("objects/sha256/")
        .ok_or("path outside objects/sha256/")?;
    let (fan, file) = rest.split_once('/').ok_or("no fan-out directory")?;
    let (hex, part) = match file.split_once(".part-") {
        Some((hex, n)) if n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = n.parse().map_err(|_| "bad part number")?;
            if n == 0 {
                return Err("part numbers start at 1");
            }
            (hex, Some(n))
        }
        Some(_) => return Err("bad part suffix"),
        None => (file, None),
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("file name is not a lower-case SHA-256");
    }
    if fan != &hex[..2] {
        return Err("fan-out directory does not match the digest");
    }
    let digest = hex.parse().map_err(|_| "file name is not a SHA-256")?;
    Ok((digest, part))
}

/// True for `data-0001.tar`-style names: four or more digits, nothing that could be a path.
pub fn is_volume_name(name: &str) -> bool {
    name.strip_prefix("data-")
        .and_then(|r| r.strip_suffix(".tar"))
        .is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Manifest {
    /// Canonical bytes (pretty JSON and a final newline): what is signed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifests always serialise");
        out.push(b'\n');
        out
    }

    /// Parse and [`validate`](Self::validate); `path` names the file in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, TransferError> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| TransferError::json(path, e))?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Check every invariant an import relies on.
    pub fn validate(&self, path: &Path) -> Result<(), TransferError> {
        let bad = |reason: String| TransferError::BadManifest {
            path: path.to_owned(),
            reason,
        };
        if self.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} (this build reads {FORMAT_VERSION})",
                self.format_version
            )));
        }
        if self.bundle_id.is_empty()
            || self.bundle_id.len() > 100
            || !self
                .bundle_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad(format!(
                "bundle_id {:?} is not [A-Za-z0-9-]+",
                self.bundle_id
            )));
        }
        if self.sequence == 0 || self.base_sequence >= self.sequence {
            return Err(bad(format!(
                "sequence {} must be at least 1 and above base_sequence {}",
                self.sequence, self.base_sequence
            )));
        }
        if self.follows.is_some() != (self.base_sequence > 0) {
            return Err(bad(
                "follows must be set exactly when base_sequence > 0".into()
            ));
        }
        let mut volumes = HashSet::new();
        for v in &self.volumes {
            if !is_volume_name(&v.name) || !volumes.insert(v.name.as_str()) {
                return Err(bad(format!(
                    "volume name {:?} is invalid or repeated",
                    v.name
                )));
            }
        }
        let mut seen = HashSet::new();
        for o in &self.objects {
            if !seen.insert(o.sha256) {
                return Err(bad(format!("object {} listed twice", o.sha256)));
            }
            if !volumes.contains(o.volume.as_str()) {
                return Err(bad(format!(
                    "object {} in unlisted volume {}",
                    o.sha256, o.volume
                )));
            }
            if !o.parts.is_empty() {
                let sum: u64 = o.parts.iter().map(|p| p.size).sum();
                if o.parts.len() < 2 || sum != o.size || o.parts[0].volume != o.volume {
                    return Err(bad(format!("object {}: parts do not add up", o.sha256)));
                }
                if let Some(p) = o
                    .parts
                    .iter()
                    .find(|p| !volumes.contains(p.volume.as_str()))
                {
                    return Err(bad(format!(
                        "object {}: unlisted volume {}",
                        o.sha256, p.volume
                    )));
                }
            }
        }
        let mut mirrors = HashSet::new();
        for s in &self.snapshots {
            s.validate().map_err(|e| bad(e.to_string()))?;
            if !mirrors.insert(s.mirror.as_str()) {
                return Err(bad(format!("two snapshots of mirror {}", s.mirror)));
            }
        }
        Ok(())
    }

    /// The entries each volume must hold, by volume name.
    pub fn expected_entries(&self) -> BTreeMap<String, BTreeMap<String, ExpectedEntry>> {
        let mut out: BTreeMap<String, BTreeMap<String, ExpectedEntry>> = self
            .volumes
            .iter()
            .map(|v| (v.name.clone(), BTreeMap::new()))
            .collect();
        for o in &self.objects {
            if o.parts.is_empty() {
                let entry = ExpectedEntry {
                    sha256: o.sha256,
                    part: None,
                    size: o.size,
                };
                out.entry(o.volume.clone())
                    .or_default()
                    .insert(entry_name(&o.sha256, None), entry);
            } else {
                for (i, p) in o.parts.iter().enumerate() {
                    let n = u32::try_from(i + 1).expect("fewer than 4 billion parts");
                    let entry = ExpectedEntry {
                        sha256: o.sha256,
                        part: Some(n),
                        size: p.size,
                    };
                    out.entry(p.volume.clone())
                        .or_default()
                        .insert(entry_name(&o.sha256, Some(n)), entry);
                }
            }
        }
        out
    }

    /// Bytes of all objects carried.
    pub fn payload_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::snapshot::SnapshotFile;

    pub(crate) fn sample() -> Manifest {
        let d = Sha256Digest::of(b"x");
        let big = Sha256Digest::of(b"big");
        let snapshot = Snapshot::new(
            "debian",
            "apt",
            "http://u",
            "fp",
            vec![SnapshotFile {
                path: "a".into(),
                sha256: d,
                size: 1,
            }],
        )
        .expect("valid");
        Manifest {
            format_version: FORMAT_VERSION,
            bundle_id: "000002-20260101T000000Z-abcdef012345".into(),
            sequence: 2,
            base_sequence: 1,
            follows: Some("000001-20250101T000000Z-abcdef012345".into()),
            full: false,
            created: "2026-01-01T00:00:00Z".into(),
            created_by: "ABCD".into(),
            audit: None,
            snapshots: vec![snapshot],
            objects: vec![
                BundleObject {
                    sha256: d,
                    size: 1,
                    volume: "data-0001.tar".into(),
                    parts: vec![],
                },
                BundleObject {
                    sha256: big,
                    size: 10,
                    volume: "data-0001.tar".into(),
                    parts: vec![
                        Part {
                            volume: "data-0001.tar".into(),
                            size: 4,
                        },
                        Part {
                            volume: "data-0002.tar".into(),
                            size: 6,
                        },
                    ],
                },
            ],
            volumes: ["data-0001.tar", "data-0002.tar"]
                .iter()
                .map(|n| Volume {
                    name: (*n).into(),
                    size: 10240,
                    sha256: d,
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip_and_entries() {
        let m = sample();
        let back = Manifest::from_json(&m.to_json(), Path::new("m.json")).expect("parses");
        assert_eq!(back, m);
        let entries = m.expected_entries();
        assert_eq!(entries["data-0001.tar"].len(), 2);
        let second = &entries["data-0002.tar"];
        let (name, e) = second.iter().next().expect("one entry");
        assert_eq!(e.part, Some(2));
        assert_eq!(e.size, 6);
        assert_eq!(parse_entry_name(name.as_bytes()), Ok((e.sha256, Some(2))));
        assert_eq!(m.payload_bytes(), 11);
    }

    #[test]
    fn invalid_manifests_are_refused() {
        let p = Path::new("m.json");
        let mut m = sample();
        m.volumes[1].name = "../data-0002.tar".into();
        assert!(m.validate(p).is_err());
        let mut m = sample();
        m.objects[1].parts[1].size = 7;
        assert!(m.validate(p).is_err());
        let mut m = sample();
        m.format_version = 2;
        assert!(m.validate(p).is_err());
        let mut m = sample();
        m.base_sequence = 2;
        assert!(m.validate(p).is_err());
        let mut m = sample();
        m.bundle_id = "a/b".into();
        assert!(m.validate(p).is_err());
    }

    #[test]
    fn entry_names_are_strict() {
        let d = Sha256Digest::of(b"x");
        let good = entry_name(&d, None);
        assert_eq!(parse_entry_name(good.as_bytes()), Ok((d, None)));
        let hex = d.to_hex();
        for bad in [
            format!("/objects/sha256/{}/{hex}", &hex[..2]),
            format!("objects/sha256/{}/../../{hex}", &hex[..2]),
            format!("../objects/sha256/{}/{hex}", &hex[..2]),
            format!("objects/sha256/00/{hex}"),
            format!("objects/sha256/{}/{hex}.part-0000", &hex[..2]),
            format!("objects/sha256/{}/{hex}.part-1", &hex[..2]),
            format!("objects/sha256/{}/{}", &hex[..2], hex.to_uppercase()),
            format!("objects/md5/{}/{hex}", &hex[..2]),
            "etc/passwd".to_owned(),
        ] {
            assert!(parse_entry_name(bad.as_bytes()).is_err(), "{bad} accepted");
        }
        assert!(is_volume_name("data-0001.tar"));
        assert!(!is_volume_name("data-1.tar"));
        assert!(!is_volume_name("../data-0001.tar"));
    }
}
