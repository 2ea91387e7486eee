//! Hostile bundles: every tar entry type, traversal, duplicate and unlisted entries,
//! manifest fields, signatures by other keys, replay, gaps, truncation, free-space lies.
//! Each attacks a copy of bundle 3 (the next one the inside would import: it holds
//! bundle 2 only) unless it says otherwise.

use mirror_core::Sha256Digest;

use super::world::{Attempt, World};
use super::{Row, row};
use crate::common::bundle::{Entry, flip, inject, manifest, resign};

/// Bundle 3, the next the inside would accept, copied for tampering.
const NEXT: usize = 2;

fn replace_with_symlink(path: &std::path::Path, target: &str) {
    std::fs::remove_file(path).expect("rm");
    std::os::unix::fs::symlink(target, path).expect("symlink");
}

fn replace_with_fifo(path: &std::path::Path) {
    std::fs::remove_file(path).expect("rm");
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

/// `path` as a sparse file of `len` bytes (no disk used).
fn sparse(path: &std::path::Path, len: u64) {
    std::fs::File::create(path)
        .expect("create")
        .set_len(len)
        .expect("sparse");
}

/// The first volume of the bundle in `dir`.
fn first_volume(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(&manifest(dir).volumes[0].name)
}

/// Bundle 3 with one crafted entry (re-signed with the outside's key).
fn crafted(w: &World, entry: &Entry<'_>, at_end: bool) -> Attempt {
    let dir = w.bundle_copy(NEXT);
    inject(&dir, &w.outside_key, entry, at_end);
    w.import(&dir)
}

fn object_path(w: &World, index: usize) -> String {
    let hex = manifest(&w.bundles[NEXT]).objects[index].sha256.to_hex();
    format!("objects/sha256/{}/{hex}", &hex[..2])
}

/// A crafted entry refused as unsafe: case, entry name (`None`: an object's own path),
/// type, link target, why.
type Unsafe = (
    &'static str,
    Option<&'static str>,
    tar::EntryType,
    Option<&'static str>,
    &'static str,
);

const UNSAFE: [Unsafe; 9] = [
    (
        "tar entry with ..",
        Some("objects/sha256/../../../../tmp/attack-matrix-evil"),
        tar::EntryType::Regular,
        None,
        "'..'",
    ),
    (
        "tar entry with an absolute path",
        Some("/tmp/attack-matrix-evil"),
        tar::EntryType::Regular,
        None,
        "absolute path",
    ),
    (
        "symlink entry at an object path",
        None,
        tar::EntryType::Symlink,
        Some("/etc/shadow"),
        "symbolic link",
    ),
    (
        "hard link entry at an object path",
        None,
        tar::EntryType::Link,
        Some("/etc/shadow"),
        "hard link",
    ),
    (
        "character device entry",
        None,
        tar::EntryType::Char,
        None,
        "not a regular file",
    ),
    (
        "block device entry",
        None,
        tar::EntryType::Block,
        None,
        "not a regular file",
    ),
    (
        "FIFO entry",
        None,
        tar::EntryType::Fifo,
        None,
        "not a regular file",
    ),
    (
        "directory entry",
        Some("objects/sha256/ab/"),
        tar::EntryType::Directory,
        None,
        "directory",
    ),
    (
        "entry at a path that is not an object's",
        Some("README.evil"),
        tar::EntryType::Regular,
        None,
        "outside objects/sha256/",
    ),
];

pub fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = UNSAFE
        .into_iter()
        .map(|(case, name, kind, link, why)| {
            row("bundle", case, 15, why, move |w| {
                let name = name.map_or_else(|| object_path(w, 0), str::to_owned);
                let data: &[u8] = if kind == tar::EntryType::Regular {
                    b"evil"
                } else {
                    b""
                };
                crafted(
                    w,
                    &Entry {
                        name: name.as_bytes(),
                        kind,
                        link,
                        data,
                    },
                    false,
                )
            })
        })
        .collect();
    rows.extend([
        row("bundle", "a volume byte flipped", 11, ".tar", |w| {
            let dir = w.bundle_copy(NEXT);
            let volume = first_volume(&dir);
            let len = std::fs::metadata(&volume).expect("volume").len() as usize;
            flip(&volume, len / 2);
            w.import(&dir)
        }),
        row("bundle", "a volume truncated", 11, ".tar", |w| {
            let dir = w.bundle_copy(NEXT);
            let volume = first_volume(&dir);
            let bytes = std::fs::read(&volume).expect("read");
            std::fs::write(&volume, &bytes[..bytes.len() / 2]).expect("write");
            w.import(&dir)
        }),
        row("bundle", "a volume missing", 12, ".tar", |w| {
            let dir = w.bundle_copy(NEXT);
            std::fs::remove_file(first_volume(&dir)).expect("rm");
            w.import(&dir)
        }),
        row(
            "bundle",
            "manifest edited after signing",
            10,
            "signature",
            |w| {
                let dir = w.bundle_copy(NEXT);
                flip(&dir.join("manifest.json"), 40);
                w.import(&dir)
            },
        ),
        row("bundle", "signature corrupted", 10, "signature", |w| {
            let dir = w.bundle_copy(NEXT);
            let len = std::fs::metadata(dir.join("manifest.json.asc"))
                .expect("sig")
                .len() as usize;
            flip(&dir.join("manifest.json.asc"), len / 2);
            w.import(&dir)
        }),
        // Hostile media (issue 28, item 3): nothing is read past a cap, nothing blocks.
        row(
            "bundle",
            "manifest.json a symlink to /dev/zero",
            11,
            "a device",
            |w| {
                let dir = w.bundle_copy(NEXT);
                replace_with_symlink(&dir.join("manifest.json"), "/dev/zero");
                w.import(&dir)
            },
        ),
        row("bundle", "manifest.json.asc a FIFO", 10, "a FIFO", |w| {
            let dir = w.bundle_copy(NEXT);
            replace_with_fifo(&dir.join("manifest.json.asc"));
            w.import(&dir)
        }),
        row(
            "bundle",
            "manifest.json a sparse file past its cap",
            11,
            "larger than",
            |w| {
                let dir = w.bundle_copy(NEXT);
                sparse(
                    &dir.join("manifest.json"),
                    mirror_transfer::MAX_MANIFEST + 1,
                );
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "SHA256SUMS a sparse file past its cap",
            11,
            "larger than",
            |w| {
                let dir = w.bundle_copy(NEXT);
                sparse(&dir.join("SHA256SUMS"), mirror_transfer::MAX_SUMS + 1);
                w.import(&dir)
            },
        ),
        row("bundle", "a volume that is a FIFO", 15, "a FIFO", |w| {
            let dir = w.bundle_copy(NEXT);
            replace_with_fifo(&first_volume(&dir));
            w.import(&dir)
        }),
        row(
            "bundle",
            "a volume a symlink to /dev/zero",
            15,
            "a device",
            |w| {
                let dir = w.bundle_copy(NEXT);
                replace_with_symlink(&first_volume(&dir), "/dev/zero");
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "verify --bundle of a FIFO manifest",
            11,
            "a FIFO",
            |w| {
                let dir = w.bundle_copy(NEXT);
                replace_with_fifo(&dir.join("manifest.json"));
                super::world::Attempt::Cli {
                    config: w.inside_config.clone(),
                    args: vec![
                        "verify".into(),
                        "--bundle".into(),
                        dir.to_str().expect("utf8").into(),
                    ],
                }
            },
        ),
        row("bundle", "no signature", 10, "manifest.json.asc", |w| {
            let dir = w.bundle_copy(NEXT);
            std::fs::remove_file(dir.join("manifest.json.asc")).expect("rm");
            w.import(&dir)
        }),
        row(
            "bundle",
            "signed by another key, shipped alongside",
            10,
            "signature",
            |w| {
                let dir = w.bundle_copy(NEXT);
                resign(&dir, &w.other_key, |_| {});
                std::fs::write(
                    dir.join("outside.pub"),
                    w.other_key.armored_public().expect("armor"),
                )
                .expect("write");
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "SHA256SUMS disagreeing with the manifest",
            11,
            "SHA256SUMS",
            |w| {
                let dir = w.bundle_copy(NEXT);
                let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
                let first = sums.lines().next().expect("a line");
                let (digest, file) = first.split_once("  ").expect("sums line");
                let other = Sha256Digest::of(digest.as_bytes()).to_hex();
                std::fs::write(
                    dir.join("SHA256SUMS"),
                    sums.replacen(first, &format!("{other}  {file}"), 1),
                )
                .expect("write");
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "an object duplicated at the volume's end",
            11,
            "objects/sha256",
            |w| {
                let name = object_path(w, 0);
                crafted(
                    w,
                    &Entry {
                        name: name.as_bytes(),
                        kind: tar::EntryType::Regular,
                        link: None,
                        data: b"other bytes for the same name",
                    },
                    true,
                )
            },
        ),
        row(
            "bundle",
            "an object the manifest does not list",
            11,
            "not listed",
            |w| {
                let hex = Sha256Digest::of(b"unlisted").to_hex();
                let name = format!("objects/sha256/{}/{hex}", &hex[..2]);
                crafted(
                    w,
                    &Entry {
                        name: name.as_bytes(),
                        kind: tar::EntryType::Regular,
                        link: None,
                        data: b"unlisted",
                    },
                    true,
                )
            },
        ),
        row(
            "bundle",
            "manifest states a wrong object size (re-signed)",
            11,
            "size",
            |w| {
                let dir = w.bundle_copy(NEXT);
                resign(&dir, &w.outside_key, |m| m.objects[0].size += 1);
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "manifest of an unknown format version (re-signed)",
            11,
            "format_version 99",
            |w| {
                let dir = w.bundle_copy(NEXT);
                resign(&dir, &w.outside_key, |m| m.format_version = 99);
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "manifest naming a volume outside the bundle (re-signed)",
            11,
            "volume name",
            |w| {
                let dir = w.bundle_copy(NEXT);
                resign(&dir, &w.outside_key, |m| {
                    m.volumes[0].name = "../attack-matrix-evil.tar".into()
                });
                w.import(&dir)
            },
        ),
        row(
            "bundle",
            "free-space lie: a new object of 2^60 bytes (re-signed)",
            16,
            "space",
            |w| {
                let dir = w.bundle_copy(NEXT);
                resign(&dir, &w.outside_key, |m| {
                    // Every object of bundle 3 is already held inside: only a new one counts.
                    let mut huge = m.objects[0].clone();
                    huge.sha256 = Sha256Digest::of(b"an object the inside lacks");
                    huge.size = 1 << 60;
                    m.objects.push(huge);
                    m.objects.sort_by_key(|o| o.sha256);
                });
                w.import(&dir)
            },
        ),
        row("bundle", "replay of an older bundle", 14, "sequence", |w| {
            w.import(&w.bundles[0])
        }),
        row(
            "bundle",
            "gap: bundle 4 before bundle 3",
            13,
            "missing sequence 3",
            |w| w.import(&w.bundles[3]),
        ),
        row(
            "bundle",
            "another lineage (re-signed)",
            13,
            "lineage",
            |w| {
                let dir = w.scratch().join("lineage");
                crate::common::bundle::copy_dir(&w.bundles[3], &dir);
                resign(&dir, &w.outside_key, |m| {
                    m.base_sequence = 2;
                    m.follows = Some("000002-20260101T000000Z-000000000000".into());
                });
                w.import(&dir)
            },
        ),
    ]);
    rows
}
