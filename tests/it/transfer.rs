//! Across the gap, end to end with the real binary: an outside store mirrors the bookworm
//! fixture, exports signed bundles in small volumes; an inside store with its own config
//! imports them, serves them, and a real apt-get installs from it. The second bundle
//! carries exactly the new objects. Every tampering is refused with its own exit code and
//! leaves the inside's published tree and import record as they were.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::apt::{self, AptRoot};
use crate::common::bundle::{self, Entry, copy_dir, flip, manifest};
use crate::common::{Served, cli, cli_json, ok};
use mirror_core::Sha256Digest;
use mirror_test_support::TestServer;

/// A side of the gap: a temp dir with a mirror.toml.
struct Side {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
}

fn side() -> Side {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    Side {
        config: path.join("mirror.toml"),
        dir: path,
        _dir: dir,
    }
}

impl Side {
    fn run(&self, args: &[&str]) -> std::process::Output {
        cli(&self.config, args)
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (out, json) = cli_json(&self.config, args);
        ok(&out);
        json
    }
    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_str().expect("utf8").to_owned()
    }
}

/// The outside: a signing key and an APT mirror of `packages` from `upstream`.
fn write_outside(
    side: &Side,
    upstream: &str,
    keyring: &Path,
    packages: &[&str],
    conda: Option<&str>,
) {
    let list = packages
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &side.config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[fetch]\nretries = 1\n\
             [[apt]]\nname = \"debian\"\nurl = \"{upstream}\"\nsuites = [\"bookworm\"]\n\
             keyring = \"{}\"\npackages = [{list}]\n{}",
            keyring.display(),
            conda.map_or(String::new(), |url| format!(
                "[[conda]]\nname = \"conda\"\nurl = \"{url}\"\nsubdirs = [\"linux-64\"]\nspecs = [\"zlib\"]\n"
            )),
        ),
    )
    .expect("config");
}

/// An inside trusting `key` (the outside's public key, copied in).
fn inside(key: &Path) -> Side {
    let s = side();
    std::fs::create_dir_all(s.dir.join("keys")).expect("mkdir");
    std::fs::copy(key, s.dir.join("keys/outside.pub")).expect("copy key");
    std::fs::write(
        &s.config,
        "store = \"store\"\n[transfer]\ntrusted_keys = [\"keys/outside.pub\"]\n",
    )
    .expect("config");
    s
}

/// Object digests of a snapshot file in a store.
fn snapshot_objects(store: &Path, mirror: &str, id: &str) -> BTreeSet<(Sha256Digest, u64)> {
    let path = store.join(format!("snapshots/{mirror}/{id}.json"));
    let s = mirror_core::snapshot::Snapshot::from_json(&std::fs::read(&path).expect("read"), &path)
        .expect("snapshot");
    s.files.iter().map(|f| (f.sha256, f.size)).collect()
}

/// What a refused import must not change: every file of the store but its lock.
fn inside_state(s: &Side) -> Vec<(String, Vec<u8>)> {
    mirror_test_support::dir_state(&s.dir.join("store"), &["lock"])
}

fn apt_install(served: &Served, key: &Path, packages: &[&str]) -> Vec<String> {
    let root = AptRoot::new(&format!("{}/debian", served.url), "bookworm", "main", key);
    let update = root.apt_get(&["-q", "update"]);
    assert!(
        update.status.success(),
        "apt-get update: {}",
        apt::show(&update)
    );
    let mut args = vec!["-q", "install", "-y", "--download-only"];
    args.extend_from_slice(packages);
    let install = root.apt_get(&args);
    assert!(
        install.status.success(),
        "apt-get install: {}",
        apt::show(&install)
    );
    root.downloaded()
}

#[test]
fn bundles_carry_a_mirror_across_the_gap() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    if !apt::available() {
        return;
    }
    let fixture = fixtures.join("debian-bookworm");
    let upstream = TestServer::serve_dir(&fixture);
    let keyring = fixture.join("keyrings/debian-archive-keyring.gpg");
    let outside = side();
    ok(&outside.run(&["keygen", "--out", &outside.path("keys/signing.asc")]));
    let outside_key = outside.dir.join("keys/signing.asc.pub");

    // First: only sl (and its closure).
    // And a conda channel, mirrored alongside.
    let conda_dir = tempfile::tempdir().expect("tempdir");
    let channel = crate::common::conda::channel(conda_dir.path(), false).expect("fixtures are set");
    let conda_upstream = TestServer::serve_dir(&channel);
    let conda_url = conda_upstream.url();
    write_outside(
        &outside,
        &upstream.url(),
        &keyring,
        &["sl"],
        Some(&conda_url),
    );
    let sync1 = outside.json(&["sync"]);
    let snap1 = sync1["mirrors"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_owned();
    let dry = outside.json(&["export", "--out", &outside.path("b1"), "--dry-run"]);
    assert_eq!(dry["sequence"], 1);
    assert!(!outside.dir.join("b1").exists(), "dry run writes nothing");
    let b1 = outside.dir.join("b1");
    let e1 = outside.json(&[
        "export",
        "--out",
        &outside.path("b1"),
        "--volume-size",
        "1M",
    ]);
    assert_eq!(e1["object_count"], dry["object_count"]);
    let m1 = manifest(&b1);
    assert!(m1.volumes.len() > 1, "small volumes: {}", m1.volumes.len());
    for v in &m1.volumes {
        let len = std::fs::metadata(b1.join(&v.name)).expect("volume").len();
        assert!(len <= 1_000_000, "{} is {len} bytes", v.name);
    }
    assert!(
        m1.objects.iter().any(|o| !o.parts.is_empty()),
        "libc6 (> 1 MB) is split across volumes"
    );
    // The bundle checks with coreutils, as README.txt says.
    let sums = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&b1)
        .output()
        .expect("sha256sum");
    assert!(sums.status.success(), "{}", apt::show(&sums));
    // A transfer workstation checks it without a store.
    let v = outside.json(&[
        "verify",
        "--bundle",
        b1.to_str().expect("utf8"),
        "--key",
        outside_key.to_str().expect("utf8"),
    ]);
    assert_eq!(v["signature_checked"], true);

    let inner = inside(&outside_key);
    let i1 = inner.json(&["import", b1.to_str().expect("utf8")]);
    assert_eq!(i1["outcome"], "imported");
    assert_eq!(i1["new_objects"], m1.objects.len());
    let served = Served::start(&inner.config);
    let got = apt_install(&served, &outside_key, &["sl"]);
    assert!(got.iter().any(|f| f.starts_with("sl_")), "{got:?}");
    // The conda channel crossed in the same bundle: a real client installs from the inside.
    let prefix = inner.dir.join("conda-env");
    if let Some(installed) = crate::common::conda::install(
        &format!("{}/conda", served.url),
        "libgcc-ng >=7.3.0",
        &prefix,
    ) {
        assert!(installed.contains(&"libgcc-ng".to_owned()), "{installed:?}");
        assert!(prefix.join("lib/libgcc-ng-marker.txt").is_file());
    }

    // Upstream "gains" jq and tree: the outside syncs and exports again.
    write_outside(
        &outside,
        &upstream.url(),
        &keyring,
        &["jq", "sl", "tree"],
        Some(&conda_url),
    );
    let sync2 = outside.json(&["sync"]);
    let snap2 = sync2["mirrors"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_owned();
    let b2 = outside.dir.join("b2");
    outside.json(&[
        "export",
        "--out",
        &outside.path("b2"),
        "--volume-size",
        "1M",
    ]);
    let m2 = manifest(&b2);
    let store = outside.dir.join("store");
    let old = snapshot_objects(&store, "debian", &snap1);
    let expected: BTreeSet<_> = snapshot_objects(&store, "debian", &snap2)
        .difference(&old)
        .copied()
        .collect();
    let carried: BTreeSet<_> = m2.objects.iter().map(|o| (o.sha256, o.size)).collect();
    assert_eq!(
        carried, expected,
        "the second bundle holds exactly the new objects"
    );
    assert_eq!(
        m2.payload_bytes(),
        expected.iter().map(|o| o.1).sum::<u64>()
    );
    assert_eq!(
        (m2.sequence, m2.follows.as_deref()),
        (2, Some(m1.bundle_id.as_str()))
    );
    let i2 = inner.json(&["import", b2.to_str().expect("utf8")]);
    assert_eq!(i2["new_objects"], m2.objects.len());
    let got = apt_install(&served, &outside_key, &["jq", "sl", "tree"]);
    assert!(got.iter().any(|f| f.starts_with("jq_")), "{got:?}");
    drop(served);

    // Re-import: no-op. Status names the imports; --since from it carries nothing.
    let before = inside_state(&inner);
    let again = inner.json(&["import", b2.to_str().expect("utf8")]);
    assert_eq!(again["outcome"], "already-imported");
    assert_eq!(inside_state(&inner), before);
    let (out, status) = cli_json(&inner.config, &["status"]);
    ok(&out);
    assert_eq!(status["imported"]["last_sequence"], 2);
    let state = outside.dir.join("inside-status.json");
    std::fs::write(&state, &out.stdout).expect("write");
    let since = outside.json(&[
        "export",
        "--out",
        &outside.path("b3"),
        "--since",
        state.to_str().expect("utf8"),
        "--dry-run",
    ]);
    assert_eq!(
        (
            since["object_count"].as_u64(),
            since["base_sequence"].as_u64()
        ),
        (Some(0), Some(2))
    );
    inner.json(&["verify"]);

    // The inside rolls back (issue 28, item 6): its mirrors come from bundles, not from
    // its config, and are still valid targets for publish, status and prune.
    let mut ids: Vec<String> = std::fs::read_dir(inner.dir.join("store/snapshots/debian"))
        .expect("inside snapshots")
        .map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.trim_end_matches(".json").to_owned()
        })
        .filter(|name| !name.starts_with('.'))
        .collect();
    ids.sort();
    assert!(ids.len() >= 2, "{ids:?}");
    let published = |side: &Side| -> String {
        let target = std::fs::read_link(side.dir.join("store/public/debian")).expect("link");
        target.to_string_lossy().into_owned()
    };
    let newest = published(&inner);
    let back = inner.json(&["publish", "debian", "--snapshot", &ids[0]]);
    assert_eq!(back["published"][0]["snapshot"], ids[0].as_str(), "{back}");
    assert_ne!(published(&inner), newest);
    let forward = inner.json(&["publish", "debian"]);
    assert_eq!(
        forward["published"][0]["snapshot"],
        ids[ids.len() - 1].as_str()
    );
    inner.json(&["verify"]);

    // Tampering, each on a copy of bundle 1 against a fresh inside.
    let fresh_key = outside_key.clone();
    let refuse = |name: &str, code: i32, tamper: &dyn Fn(&Path), needle: &str| {
        let dir = outside.dir.join(format!("tampered-{name}"));
        copy_dir(&b1, &dir);
        tamper(&dir);
        let target = inside(&fresh_key);
        // An existing, empty inside store: the refused import must not change a byte of it.
        mirror_core::store::Store::open(target.dir.join("store")).expect("inside store");
        let before = inside_state(&target);
        let out = target.run(&["import", dir.to_str().expect("utf8")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {}", apt::show(&out));
        assert!(
            stderr.contains(needle),
            "{name}: message names {needle:?}: {stderr}"
        );
        assert_eq!(inside_state(&target), before, "{name}: inside unchanged");
        assert!(!target.dir.join("store/public/debian").exists());
    };
    let last_volume = m1.volumes.last().expect("volumes").name.clone();
    refuse(
        "volume",
        11,
        &|d| flip(&d.join(&m1.volumes[0].name), 700_000),
        &m1.volumes[0].name,
    );
    refuse(
        "manifest",
        10,
        &|d| flip(&d.join("manifest.json"), 40),
        "signature",
    );
    refuse(
        "signature",
        10,
        &|d| {
            let len = std::fs::metadata(d.join("manifest.json.asc"))
                .expect("sig")
                .len() as usize;
            flip(&d.join("manifest.json.asc"), len / 2);
        },
        "signature",
    );
    refuse(
        "missing",
        12,
        &|d| std::fs::remove_file(d.join(&last_volume)).expect("rm"),
        &last_volume,
    );
    refuse(
        "other-key",
        10,
        &|d| {
            let other = tempfile::tempdir().expect("tempdir");
            let key_path = other.path().join("k.asc");
            ok(&cli(
                &other.path().join("none.toml"),
                &["keygen", "--out", key_path.to_str().expect("utf8")],
            ));
            let key = mirror_core::signing::SigningKey::load(&key_path).expect("key");
            let bytes = std::fs::read(d.join("manifest.json")).expect("read");
            std::fs::write(
                d.join("manifest.json.asc"),
                key.sign_detached_armored(&bytes).expect("sign"),
            )
            .expect("write");
            // A key shipped inside the bundle is never trusted.
            std::fs::copy(other.path().join("k.asc.pub"), d.join("outside.pub")).expect("copy");
        },
        "signature",
    );
    let signing =
        mirror_core::signing::SigningKey::load(&outside.dir.join("keys/signing.asc")).expect("key");
    for (name, entry, kind) in [
        (
            "dotdot",
            b"objects/sha256/../../../../evil".as_slice(),
            tar::EntryType::Regular,
        ),
        (
            "absolute",
            b"/tmp/evil-absolute".as_slice(),
            tar::EntryType::Regular,
        ),
        (
            "symlink",
            m1.objects[0].sha256.to_hex().as_bytes(),
            tar::EntryType::Symlink,
        ),
    ] {
        let hex = m1.objects[0].sha256.to_hex();
        let symlink_name = format!("objects/sha256/{}/{hex}", &hex[..2]);
        let entry = if kind == tar::EntryType::Symlink {
            symlink_name.as_bytes()
        } else {
            entry
        };
        refuse(
            name,
            15,
            &|d| {
                let symlink = kind == tar::EntryType::Symlink;
                let crafted = Entry {
                    name: entry,
                    kind,
                    link: symlink.then_some("/etc/shadow"),
                    data: if symlink { b"" } else { b"evil" },
                };
                bundle::inject(d, &signing, &crafted, false)
            },
            "unsafe tar entry",
        );
    }

    // Sequence: bundle 2 alone is a gap; after a full bundle 3, bundle 2 is a replay.
    let gap = inside(&outside_key);
    let out = gap.run(&["import", b2.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(13), "{}", apt::show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing sequence 1"),
        "{}",
        apt::show(&out)
    );
    let b3 = outside.dir.join("b3");
    outside.json(&[
        "export",
        "--out",
        b3.to_str().expect("utf8"),
        "--full",
        "--volume-size",
        "4.7G",
    ]);
    gap.json(&["import", b3.to_str().expect("utf8")]);
    let before = inside_state(&gap);
    let out = gap.run(&["import", b2.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(14), "{}", apt::show(&out));
    assert_eq!(inside_state(&gap), before);
}

/// `kill -9` at several points of a real import: whatever moment it lands, clients never
/// see a broken tree (`verify` re-hashes every published file against its snapshot), and
/// running the import again completes it.
#[test]
fn import_killed_at_any_point_recovers_on_rerun() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let upstream = TestServer::serve_dir(&fixture);
    let outside = side();
    ok(&outside.run(&["keygen", "--out", &outside.path("keys/signing.asc")]));
    let keyring = fixture.join("keyrings/debian-archive-keyring.gpg");
    write_outside(
        &outside,
        &upstream.url(),
        &keyring,
        &["jq", "sl", "tree"],
        None,
    );
    outside.json(&["sync"]);
    let bundle = outside.dir.join("b1");
    outside.json(&[
        "export",
        "--out",
        &outside.path("b1"),
        "--volume-size",
        "1M",
    ]);
    let key = outside.dir.join("keys/signing.asc.pub");

    let mut outcomes = Vec::new();
    for delay_ms in [0u64, 5, 15, 30, 60, 100, 200, 400] {
        let inner = inside(&key);
        let mut child = std::process::Command::new(crate::common::bin())
            .arg("--config")
            .arg(&inner.config)
            .arg("import")
            .arg(&bundle)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("import starts");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("reaped");
        outcomes.push((delay_ms, status.success()));
        // Whatever moment the kill hit, readers see all of the import or none of it: the
        // inside was empty, so either the bundle is recorded and its mirrors are live,
        // or nothing is (no import, no tree, no object counted).
        // (A kill while the store's directories are being created can leave `objects`
        // without `objects/sha256`, which is not yet a store: nothing to check.)
        if inner.dir.join("store/objects/sha256").is_dir() {
            let seen = inner.json(&["status"]);
            let committed = seen["imported"]["bundles"]
                .as_array()
                .is_some_and(|b| !b.is_empty());
            let live: Vec<_> = seen["mirrors"]
                .as_array()
                .expect("mirrors")
                .iter()
                .filter(|m| !m["published"].is_null())
                .collect();
            if committed {
                let carried = manifest(&bundle).snapshots.len();
                assert_eq!(live.len(), carried, "after kill at {delay_ms} ms: {seen}");
            } else {
                assert!(live.is_empty(), "after kill at {delay_ms} ms: {seen}");
                assert_eq!(seen["objects"], 0, "after kill at {delay_ms} ms: {seen}");
            }
            let out = inner.run(&["verify"]);
            assert!(
                out.status.success(),
                "after kill at {delay_ms} ms: {}",
                apt::show(&out)
            );
        }
        // And the rerun completes the import.
        let again = inner.json(&["import", bundle.to_str().expect("utf8")]);
        assert!(
            again["outcome"] == "imported"
                || again["outcome"] == "already-imported"
                || again["outcome"] == "no-op",
            "{again}"
        );
        let status = inner.json(&["status"]);
        assert!(
            status.to_string().contains(&manifest(&bundle).bundle_id),
            "{status}"
        );
        assert!(
            inner
                .dir
                .join("store/public/debian/dists/bookworm/InRelease")
                .is_file()
        );
        ok(&inner.run(&["verify"]));
    }
    println!("kill points (ms, finished before the kill): {outcomes:?}");
}
