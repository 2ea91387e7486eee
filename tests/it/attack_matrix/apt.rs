//! Hostile APT upstreams: signatures, structure, paths, sizes, dates, compression bombs,
//! endless and trickling bodies, redirects, wrong content types, header floods.

use std::time::Duration;

use mirror_core::Sha256Digest;
use mirror_core::compression::{Compression, compress};
use mirror_test_support::Fault;

use super::world::{BASE_DATE, World};
use super::{Row, row};

const IN_RELEASE: &str = "/apt/dists/bookworm/InRelease";
const PACKAGES: [&str; 3] = [
    "main/binary-amd64/Packages",
    "main/binary-amd64/Packages.gz",
    "main/binary-amd64/Packages.xz",
];

/// A fresh package published (so the sync has something new to fetch); its stanza
/// changed by `change` first.
fn publish_changed(w: &World, change: impl Fn(&str) -> String) {
    let fresh = w.fresh();
    w.apt_publish(&[change(&fresh.stanza())]);
}

/// A fresh package published with its stanza's `field` set to `value` (`None`: removed).
fn publish_field(w: &World, field: &str, value: Option<&str>) {
    publish_changed(w, |stanza| {
        stanza
            .lines()
            .filter_map(
                |line| match line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
                    Some(_) => value.map(|v| format!("{field}: {v}\n")),
                    None => Some(format!("{line}\n")),
                },
            )
            .collect()
    });
}

/// Stanzas with one hostile field: (case, field, value or removed, message fragment).
const STANZAS: [(&str, &str, Option<&str>, &str); 8] = [
    (
        "Packages stanza without Filename",
        "Filename",
        None,
        "no Filename",
    ),
    (
        "Packages stanza with a Size that is not a number",
        "Size",
        Some("twelve"),
        "invalid Size",
    ),
    (
        "Packages stanza with a malformed SHA256",
        "SHA256",
        Some("not-a-digest"),
        "invalid SHA256",
    ),
    (
        "Filename with ..",
        "Filename",
        Some("pool/../../../tmp/attack-matrix-evil"),
        "\"pool/../../../tmp/attack-matrix-evil\"",
    ),
    (
        "absolute Filename",
        "Filename",
        Some("/tmp/attack-matrix-evil"),
        "\"/tmp/attack-matrix-evil\"",
    ),
    (
        "Filename with a backslash",
        "Filename",
        Some("pool\\..\\evil.deb"),
        r#""pool\\..\\evil.deb""#,
    ),
    (
        "Filename with an empty component",
        "Filename",
        Some("pool//evil.deb"),
        "\"pool//evil.deb\"",
    ),
    (
        "Filename with a control character",
        "Filename",
        Some("pool/evil\u{1b}[2J.deb"),
        "control character",
    ),
];

/// A Release `Date` `hours` from now.
fn date_from_now(hours: i64) -> String {
    mirror_apt::release::format_release_date(
        time::OffsetDateTime::now_utc() + time::Duration::hours(hours),
    )
}

/// Zeros that decode to `size` bytes, compressed.
fn bomb(size: usize, format: Compression) -> Vec<u8> {
    compress(&vec![0u8; size], format).expect("compress")
}

/// Every variant of the Packages index served as `fault`, by-hash copies too.
fn fault_packages(w: &World, fault: &Fault) {
    for path in PACKAGES {
        let served = std::fs::read(w.dists().join(path)).expect("served");
        let by_hash = mirror_apt::upstream::by_hash_path(path, &Sha256Digest::of(&served));
        for path in [path.to_owned(), by_hash] {
            w.server
                .inject_always(&format!("/apt/dists/bookworm/{path}"), fault.clone());
        }
    }
}

pub fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = STANZAS
        .into_iter()
        .map(|(case, field, value, needle)| {
            row("apt", case, 1, needle, move |w| {
                publish_field(w, field, value);
                w.sync("debian")
            })
        })
        .collect();
    rows.extend([
        // --- signatures ---
        row(
            "apt",
            "InRelease signed by a key not in the keyring",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.other_key, |r| r.to_owned());
                w.sync("debian")
            },
        ),
        row(
            "apt",
            // rPGP's own cleartext reader is quadratic in the body: minutes for this one.
            "InRelease swollen to 6 MB, signed by a key not in the keyring",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.other_key, |r| {
                    format!("{r}X-Padding:\n{}", " padding line\n".repeat(6 << 20 >> 4))
                });
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease edited after signing",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                let path = w.dists().join("InRelease");
                let text = std::fs::read_to_string(&path).expect("read");
                std::fs::write(&path, text.replacen("Origin: Test", "Origin: Evil", 1))
                    .expect("write");
                w.sync("debian")
            },
        ),
        row("apt", "no signature at all", 4, "unsigned", |w| {
            w.apt_publish(&[w.fresh().stanza()]);
            std::fs::remove_file(w.dists().join("InRelease")).expect("rm");
            std::fs::remove_file(w.dists().join("Release.gpg")).expect("rm");
            w.sync("debian")
        }),
        row(
            "apt",
            "only a detached signature by another key",
            4,
            "Release.gpg",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.other_key, |r| r.to_owned());
                std::fs::remove_file(w.dists().join("InRelease")).expect("rm");
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "detached signature over another Release",
            4,
            "Release.gpg",
            |w| {
                let old_signature = std::fs::read(w.dists().join("Release.gpg")).expect("read");
                w.apt_publish(&[w.fresh().stanza()]);
                std::fs::remove_file(w.dists().join("InRelease")).expect("rm");
                std::fs::write(w.dists().join("Release.gpg"), old_signature).expect("write");
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "unsigned text after the signed block",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                let path = w.dists().join("InRelease");
                let mut text = std::fs::read_to_string(&path).expect("read");
                text.push_str("SHA256:\n 0000 1 main/binary-amd64/Packages\n");
                std::fs::write(&path, text).expect("write");
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease that is not OpenPGP at all",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                std::fs::copy(w.dists().join("Release"), w.dists().join("InRelease"))
                    .expect("copy");
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "a second signed message appended",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                let path = w.dists().join("InRelease");
                let mut text = std::fs::read_to_string(&path).expect("read");
                let evil = w
                    .upstream_key
                    .clearsign("Origin: Evil\nSHA256:\n")
                    .expect("sign");
                text.push_str(&evil);
                std::fs::write(&path, text).expect("write");
                w.sync("debian")
            },
        ),
        // --- structure ---
        row(
            "apt",
            "signed Release without a SHA256 section",
            1,
            "no SHA256",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.upstream_key, |r| {
                    r.lines()
                        .take_while(|l| !l.starts_with("SHA256:"))
                        .map(|l| format!("{l}\n"))
                        .collect()
                });
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "signed Release with a malformed digest",
            1,
            "Release",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.upstream_key, |r| {
                    let at = r.find("SHA256:\n ").expect("section") + " SHA256:\n".len();
                    format!("{}zz{}", &r[..at], &r[at + 2..])
                });
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages index that is not deb822",
            1,
            "Packages",
            |w| {
                let garbage = b"<html><body>\nnot a package index\n</body></html>\n".to_vec();
                w.apt_publish_files(
                    vec![(
                        "main/binary-amd64/Packages.gz".into(),
                        compress(&garbage, Compression::Gzip).expect("gz"),
                    )],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages.xz listed with the digest of bytes that do not decode",
            1,
            "cannot decompress",
            |w| {
                w.apt_publish_files(
                    vec![(
                        "main/binary-amd64/Packages.xz".into(),
                        b"\xfd7zXZ\x00 truncated".to_vec(),
                    )],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages served with other bytes than the Release states",
            4,
            "Packages",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                for path in PACKAGES {
                    w.apt_tamper(path, |bytes| {
                        let middle = bytes.len() / 2;
                        bytes[middle] ^= 0xff;
                    });
                }
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages larger than the Release states",
            4,
            "larger than",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                for path in PACKAGES {
                    w.apt_tamper(path, |bytes| bytes.extend_from_slice(&[b'\n'; 4096]));
                }
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages listed and served in no compression",
            5,
            "Packages",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                std::fs::remove_dir_all(w.dists().join("main/binary-amd64")).expect("rm");
                w.sync("debian")
            },
        ),
        // --- paths ---
        row(
            "apt",
            "signed Release entry that leaves the tree",
            1,
            "main/../../../tmp/attack-matrix-evil",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.upstream_key, |r| {
                    r.replacen(
                        "SHA256:\n",
                        &format!(
                            "SHA256:\n {} 1 main/../../../tmp/attack-matrix-evil\n",
                            "0".repeat(64)
                        ),
                        1,
                    )
                });
                w.sync("debian")
            },
        ),
        // --- sizes and bodies of pool files ---
        row(
            "apt",
            ".deb served with other bytes (same size)",
            4,
            "SHA-256",
            |w| {
                let fresh = w.fresh();
                w.apt_publish(&[fresh.stanza()]);
                w.server.inject_always(&fresh.url_path(), Fault::WrongBytes);
                w.sync("debian")
            },
        ),
        row(
            "apt",
            ".deb larger than its stanza states",
            4,
            "size",
            |w| {
                let fresh = w.fresh();
                w.apt_publish(&[fresh.stanza()]);
                let mut bigger = fresh.bytes.clone();
                bigger.extend_from_slice(&[0; 100]);
                std::fs::write(w.apt_root().join(&fresh.path), bigger).expect("write");
                w.sync("debian")
            },
        ),
        row(
            "apt",
            ".deb shorter than its stanza states",
            4,
            "size",
            |w| {
                let fresh = w.fresh();
                w.apt_publish(&[fresh.stanza()]);
                std::fs::write(w.apt_root().join(&fresh.path), &fresh.bytes[..10]).expect("write");
                w.sync("debian")
            },
        ),
        row("apt", ".deb whose body never ends", 4, "size", |w| {
            let fresh = w.fresh();
            w.apt_publish(&[fresh.stanza()]);
            w.server.inject_always(&fresh.url_path(), Fault::Endless);
            w.sync("debian")
        }),
        row("apt", ".deb trickling below min_rate", 5, "slow", |w| {
            let fresh = w.fresh();
            w.apt_publish(&[fresh.stanza()]);
            w.server.inject_always(
                &fresh.url_path(),
                Fault::Trickle {
                    bytes: 8,
                    every: Duration::from_millis(50),
                },
            );
            w.sync("debian")
        }),
        row("apt", ".deb stalling mid-body", 5, "stalled", |w| {
            let fresh = w.fresh();
            w.apt_publish(&[fresh.stanza()]);
            w.server.inject(
                &fresh.url_path(),
                Fault::Stall {
                    after_bytes: 100,
                    times: 5,
                },
            );
            w.sync("debian")
        }),
        row(
            "apt",
            ".deb redirected to another file",
            4,
            "SHA-256",
            |w| {
                let fresh = w.fresh();
                w.apt_publish(&[fresh.stanza()]);
                let decoy = w.fresh();
                let mut bytes = fresh.bytes.clone();
                bytes[0] ^= 1;
                std::fs::write(w.apt_root().join(&decoy.path), bytes).expect("write");
                w.server.inject_always(
                    &fresh.url_path(),
                    Fault::Redirect {
                        status: 302,
                        location: decoy.url_path(),
                    },
                );
                w.sync("debian")
            },
        ),
        // --- the InRelease's own body ---
        row(
            "apt",
            "InRelease whose body never ends",
            5,
            "InRelease",
            |w| {
                w.server.inject_always(IN_RELEASE, Fault::Endless);
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease trickling below min_rate",
            5,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::Trickle {
                        bytes: 16,
                        every: Duration::from_millis(50),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease redirected to a copy signed by another key",
            4,
            "InRelease",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                let release = std::fs::read_to_string(w.dists().join("Release")).expect("read");
                std::fs::create_dir_all(w.root.join("upstream/elsewhere")).expect("mkdir");
                std::fs::write(
                    w.root.join("upstream/elsewhere/InRelease"),
                    w.other_key.clearsign(&release).expect("sign"),
                )
                .expect("write");
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::Redirect {
                        status: 301,
                        location: "/elsewhere/InRelease".into(),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease redirecting to itself for ever",
            5,
            "redirect",
            |w| {
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::Redirect {
                        status: 302,
                        location: IN_RELEASE.into(),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease redirected to a file: URL",
            5,
            "InRelease",
            |w| {
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::Redirect {
                        status: 302,
                        location: "file:///etc/passwd".into(),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease answered by a captive portal (200, text/html)",
            4,
            "InRelease",
            |w| {
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::Replace {
                        content_type: "text/html".into(),
                        body: b"<html><body>Please log in to continue</body></html>\n".to_vec(),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Packages answered by an HTML error page (200)",
            4,
            "Packages",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                fault_packages(
                    w,
                    &Fault::Replace {
                        content_type: "text/html".into(),
                        body: b"<html>502 Bad Gateway</html>\n".to_vec(),
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease with 500 response headers",
            5,
            "InRelease",
            |w| {
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::HeaderFlood {
                        count: 500,
                        value_len: 16,
                    },
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "InRelease with a 1 MiB response header",
            5,
            "InRelease",
            |w| {
                w.server.inject_always(
                    IN_RELEASE,
                    Fault::HeaderFlood {
                        count: 1,
                        value_len: 1 << 20,
                    },
                );
                w.sync("debian")
            },
        ),
        row("apt", "InRelease answering 500 for ever", 5, "500", |w| {
            w.server.inject_always(IN_RELEASE, Fault::Status(500));
            w.sync("debian")
        }),
        row("apt", "InRelease refused with 403", 3, "403", |w| {
            w.server.inject_always(IN_RELEASE, Fault::Status(403));
            w.sync("debian")
        }),
        row(
            "apt",
            "suite gone: no InRelease, no Release",
            5,
            "neither InRelease nor Release",
            |w| {
                std::fs::remove_dir_all(w.dists()).expect("rm");
                w.sync("debian")
            },
        ),
        // --- compression bombs and index sizes (max_index_size = 4MiB) ---
        row(
            "apt",
            "xz bomb with its decoded size stated",
            5,
            "max_index_size",
            |w| {
                let plain = vec![b'\n'; 8 << 20];
                w.apt_publish_files(
                    vec![
                        ("main/binary-amd64/Packages".into(), plain.clone()),
                        (
                            "main/binary-amd64/Packages.xz".into(),
                            compress(&plain, Compression::Xz).expect("xz"),
                        ),
                    ],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "xz bomb without a stated decoded size",
            5,
            "max_index_size",
            |w| {
                w.apt_publish_files(
                    vec![(
                        "main/binary-amd64/Packages.xz".into(),
                        bomb(8 << 20, Compression::Xz),
                    )],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "gzip bomb without a stated decoded size",
            5,
            "max_index_size",
            |w| {
                w.apt_publish_files(
                    vec![(
                        "main/binary-amd64/Packages.gz".into(),
                        bomb(8 << 20, Compression::Gzip),
                    )],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "bzip2 bomb without a stated decoded size",
            5,
            "max_index_size",
            |w| {
                w.apt_publish_files(
                    vec![(
                        "main/binary-amd64/Packages.bz2".into(),
                        bomb(8 << 20, Compression::Bzip2),
                    )],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "compressed index stated above max_index_size, and served",
            5,
            "max_index_size",
            |w| {
                // Honest sizes: the full mirror keeps the file (streamed to disk), and then
                // refuses to hold it in memory to read it.
                let mut state = 0x2545_f491_u32;
                let noise: Vec<u8> = (0..5 << 20)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state as u8
                    })
                    .collect();
                w.apt_publish_files(
                    vec![("main/binary-amd64/Packages.gz".into(), noise)],
                    BASE_DATE,
                    None,
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "compressed index stated far larger than served",
            4,
            "size mismatch",
            |w| {
                w.apt_publish(&[w.fresh().stanza()]);
                w.apt_resign(&w.upstream_key, |r| {
                    r.lines()
                        .map(
                            |line| match line.strip_suffix(" main/binary-amd64/Packages.xz") {
                                Some(entry) => {
                                    let digest = entry.split_whitespace().next().expect("digest");
                                    format!(" {digest} 999999999 main/binary-amd64/Packages.xz\n")
                                }
                                None => format!("{line}\n"),
                            },
                        )
                        .collect()
                });
                w.sync("debian")
            },
        ),
        // --- dates ---
        row(
            "apt",
            "Release older than the one accepted (rollback)",
            4,
            "Fri, 10 Jul 2026",
            |w| {
                w.apt_publish_dated(&[w.fresh().stanza()], "Fri, 10 Jul 2026 10:16:37 UTC", None);
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Release dated two days ahead",
            4,
            "max_date_skew",
            |w| {
                w.apt_publish_dated(&[w.fresh().stanza()], &date_from_now(48), None);
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Release past its Valid-Until (frozen upstream)",
            4,
            "Valid-Until",
            |w| {
                w.apt_publish_dated(
                    &[w.fresh().stanza()],
                    BASE_DATE,
                    Some("Sun, 12 Jul 2026 10:16:37 UTC"),
                );
                w.sync("debian")
            },
        ),
        row(
            "apt",
            "Release with a Date that does not parse",
            1,
            "Date",
            |w| {
                w.apt_publish_dated(&[w.fresh().stanza()], "yesterday", None);
                w.sync("debian")
            },
        ),
    ]);
    rows
}
