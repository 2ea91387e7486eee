//! APT end to end: a loopback upstream serving the real bookworm fixture, `mirror-cli
//! sync` of jq, sl and tree with their closure, `mirror-cli serve`, and a real
//! `apt-get update && apt-get install --download-only` trusting only our key.

use std::path::{Path, PathBuf};

use crate::common::apt::{self, AptRoot};
use crate::common::{Served, cli, cli_json, keygen, ok};
use mirror_test_support::TestServer;

/// The 13 packages of the jq/sl/tree closure with Recommends (fixture README).
const CLOSURE: [&str; 13] = [
    "gcc-12-base",
    "jq",
    "libc6",
    "libgcc-s1",
    "libgpm2",
    "libidn2-0",
    "libjq1",
    "libncurses6",
    "libonig5",
    "libtinfo6",
    "libunistring2",
    "sl",
    "tree",
];

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
}

/// A temp dir with a fresh signing key and a mirror.toml for `upstream`.
fn setup(upstream: &str, keyring: &Path) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let config = path.join("mirror.toml");
    keygen(&path);
    std::fs::write(
        &config,
        format!(
            r#"store = "store"
[signing]
key = "keys/signing.asc"
[fetch]
retries = 1
[[apt]]
name = "debian"
url = "{upstream}"
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
keyring = "{}"
packages = ["jq", "sl", "tree"]
"#,
            keyring.display()
        ),
    )
    .expect("config");
    Setup {
        _dir: dir,
        dir: path,
        config,
    }
}

impl Setup {
    /// A clean apt root with this mirror's `debian bookworm main` as its source, trusting
    /// our signing key.
    fn client(&self, served: &Served) -> AptRoot {
        AptRoot::new(
            &format!("{}/debian", served.url),
            "bookworm",
            "main",
            &self.dir.join("keys/signing.asc.pub"),
        )
    }
}

fn fixture() -> Option<PathBuf> {
    mirror_test_support::fixtures().map(|f| f.join("debian-bookworm"))
}

#[test]
fn filtered_mirror_installs_with_real_apt_get() {
    let Some(fixture) = fixture() else { return };
    if !apt::available() {
        return;
    }
    let upstream = TestServer::serve_dir(&fixture);
    let s = setup(
        &upstream.url(),
        &fixture.join("keyrings/debian-archive-keyring.gpg"),
    );

    let (out, json) = cli_json(&s.config, &["sync"]);
    ok(&out);
    let report = &json["mirrors"][0];
    assert_eq!(report["outcome"], "synced");
    assert_eq!(report["missing_files"], 13, "{json}");
    assert!(report["published"].is_string());

    let (out, status) = cli_json(&s.config, &["status"]);
    ok(&out);
    let mirror = &status["mirrors"][0];
    assert_eq!(mirror["name"], "debian");
    assert_eq!(mirror["published"], report["snapshot"], "{status}");
    assert!(mirror["last_sync"].is_string());

    let served = Served::start(&s.config);
    let root = s.client(&served);
    let update = root.apt_get(&["-q", "update"]);
    assert!(
        update.status.success(),
        "apt-get update: {}",
        apt::show(&update)
    );
    let stderr = String::from_utf8_lossy(&update.stderr);
    assert!(
        !stderr.contains("W:") && !stderr.contains("E:"),
        "{}",
        apt::show(&update)
    );
    let install = root.apt_get(&["-q", "install", "-y", "--download-only", "jq", "sl", "tree"]);
    assert!(
        install.status.success(),
        "apt-get install: {}",
        apt::show(&install)
    );
    let got: Vec<String> = root
        .downloaded()
        .iter()
        .map(|f| f.split('_').next().expect("name").to_owned())
        .collect();
    assert_eq!(got, CLOSURE, "apt downloaded exactly the closure");

    // A second sync with nothing changed upstream fetches only the Release files.
    let before = upstream.requests().len();
    let (out, json) = cli_json(&s.config, &["sync"]);
    ok(&out);
    let report = &json["mirrors"][0];
    assert_eq!(report["outcome"], "unchanged", "{json}");
    assert_eq!(report["fetched"]["objects"], 0);
    let again: Vec<String> = upstream.requests()[before..].to_vec();
    assert!(
        again
            .iter()
            .all(|p| p.contains("/dists/bookworm/") && !p.ends_with(".deb")),
        "no-op re-sync fetched only release files: {again:?}"
    );
    println!("no-op re-sync requested: {again:?}");
}

#[test]
fn tampered_deb_fails_sync_and_keeps_published_tree() {
    let Some(fixture) = fixture() else { return };
    let copy = tempfile::tempdir().expect("tempdir");
    mirror_test_support::copy_tree(&fixture, copy.path()).expect("copy fixture");
    let upstream = TestServer::serve_dir(copy.path());
    let s = setup(
        &upstream.url(),
        &fixture.join("keyrings/debian-archive-keyring.gpg"),
    );
    ok(&cli(&s.config, &["sync"]));
    let live = s.dir.join("store/public/debian");
    let before = std::fs::read_link(&live).expect("published link");

    // Upstream's .deb bytes change while its signed index still names the old digest:
    // the mirror must refuse the new bytes.
    let deb = copy.path().join("pool/main/s/sl/sl_5.02-1+b1_amd64.deb");
    let mut bytes = std::fs::read(&deb).expect("read deb");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&deb, bytes).expect("write");
    // Drop the stored copy of sl so the next sync must download it again (the published
    // tree keeps its own hard link, so what clients see is unaffected).
    let original =
        std::fs::read(fixture.join("pool/main/s/sl/sl_5.02-1+b1_amd64.deb")).expect("read");
    let hex = mirror_core::Sha256Digest::of(&original).to_hex();
    std::fs::remove_file(
        s.dir
            .join("store/objects/sha256")
            .join(&hex[..2])
            .join(&hex),
    )
    .expect("rm object");
    // Force a fresh plan by removing snapshots (fingerprint shortcut off).
    std::fs::remove_dir_all(s.dir.join("store/snapshots/debian")).expect("rm snapshots");
    let out = cli(&s.config, &["sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", apt::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sl_5.02-1+b1_amd64.deb"),
        "error names the file: {stderr}"
    );
    assert!(
        stderr.contains("SHA-256 mismatch") || stderr.contains("mismatch"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_link(&live).expect("link"),
        before,
        "published tree untouched"
    );
}

#[test]
fn wrong_keyring_is_refused() {
    let Some(fixture) = fixture() else { return };
    let upstream = TestServer::serve_dir(&fixture);
    let other = tempfile::tempdir().expect("tempdir");
    let other_key = other.path().join("other.asc");
    ok(&cli(
        &other.path().join("none.toml"),
        &["keygen", "--out", other_key.to_str().expect("utf8")],
    ));
    let s = setup(&upstream.url(), &other.path().join("other.asc.pub"));
    let out = cli(&s.config, &["sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", apt::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("InRelease"),
        "error names the file: {stderr}"
    );
    assert!(
        !s.dir.join("store/public/debian").exists(),
        "nothing published"
    );
    assert!(
        upstream.requests().iter().all(|p| !p.ends_with(".deb")),
        "no package fetched"
    );
}

#[test]
fn init_from_system_mirrors_what_the_machine_runs() {
    let Some(fixture) = fixture() else { return };
    let upstream = TestServer::serve_dir(&fixture);
    let system = tempfile::tempdir().expect("tempdir");
    let etc = system.path().join("etc/apt");
    std::fs::create_dir_all(etc.join("sources.list.d")).expect("mkdir");
    std::fs::write(
        etc.join("sources.list"),
        format!(
            "deb [signed-by={}] {} bookworm main\ndeb-src {} bookworm main\n",
            fixture
                .join("keyrings/debian-archive-keyring.gpg")
                .display(),
            upstream.url(),
            upstream.url()
        ),
    )
    .expect("sources.list");
    std::fs::create_dir_all(system.path().join("var/lib/dpkg")).expect("mkdir");
    std::fs::write(
        system.path().join("var/lib/dpkg/status"),
        "Package: jq\nStatus: install ok installed\nVersion: 1.6\nArchitecture: amd64\n\n\
         Package: tree\nStatus: install ok installed\n\n\
         Package: sl\nStatus: deinstall ok config-files\n\n\
         Package: not-in-this-upstream\nStatus: install ok installed\n",
    )
    .expect("status");
    // And what pip installed, from the index pip is configured with (issue 15, item 6).
    let pypi_dir = tempfile::tempdir().expect("tempdir");
    let mut index = mirror_test_support::pypi_index::Index::new(pypi_dir.path());
    index
        .add(&mirror_test_support::pypi_index::Wheel::new("app", "1.0").requires(&["lib"]))
        .add(&mirror_test_support::pypi_index::Wheel::new("lib", "1.0"));
    index.write_pages();
    let pypi = TestServer::serve_dir(pypi_dir.path());
    std::fs::write(
        system.path().join("etc/pip.conf"),
        format!("[global]\nindex-url = {}\n", pypi.url_for("simple")),
    )
    .expect("pip.conf");
    let site = system.path().join("usr/local/lib/python3.11/dist-packages");
    for (name, version) in [("app", "1.0"), ("lib", "1.0")] {
        let dist = site.join(format!("{name}-{version}.dist-info"));
        std::fs::create_dir_all(&dist).expect("mkdir");
        std::fs::write(
            dist.join("METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        )
        .expect("METADATA");
    }

    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("mirror.toml");
    let out = std::process::Command::new(crate::common::bin())
        .args([
            "--config",
            config.to_str().expect("utf8"),
            "init",
            "--from-system",
            "--root",
            system.path().to_str().expect("utf8"),
        ])
        .output()
        .expect("runs");
    ok(&out);
    let written = std::fs::read_to_string(&config).expect("config written");
    assert!(
        written.contains(r#"architectures = ["amd64"]"#),
        "{written}"
    );
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let selected: Vec<String> = json["mirrors"][0]["summary"]["selected"]
        .as_array()
        .expect("selected names")
        .iter()
        .map(|v| v.as_str().expect("str").to_owned())
        .collect();
    assert!(selected.contains(&"jq".to_owned()) && selected.contains(&"libc6".to_owned()));
    assert!(selected.contains(&"tree".to_owned()));
    assert!(
        !selected.contains(&"sl".to_owned()),
        "removed packages are not mirrored"
    );
    let warnings = json["mirrors"][0]["summary"]["warnings"].to_string();
    assert!(warnings.contains("not-in-this-upstream"), "{warnings}");
    let pypi = &json["mirrors"][1];
    assert_eq!(pypi["mirror"], "pypi", "{json}");
    assert_eq!(pypi["summary"]["releases"]["app"][0], "1.0", "{json}");
}

/// A small upstream signed by a key of the test's own: the fixture's 13 pool files and
/// their real stanzas, with generated indices and a signed Release.
fn small_signed_upstream(fixture: &Path, dir: &Path) -> PathBuf {
    use mirror_apt::generate::{FilteredIndex, filtered_suite};
    let subset = apt::fixture_stanzas(fixture);
    let release_text =
        std::fs::read_to_string(fixture.join("dists/bookworm/Release")).expect("Release");
    let release = mirror_apt::Release::parse(&release_text).expect("parses");
    let key = mirror_core::signing::SigningKey::generate("upstream test key").expect("key");
    let files = filtered_suite(
        &release,
        &[FilteredIndex::packages("main", "amd64", subset)],
        &["main".into()],
        &["amd64".into()],
        &key,
    )
    .expect("generate");
    let root = dir.join("upstream");
    for (path, bytes) in files {
        let dest = root.join("dists/bookworm").join(path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("write");
    }
    mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
    let key_path = dir.join("upstream.asc");
    std::fs::write(&key_path, key.armored_public().expect("armor")).expect("key");
    root
}

#[test]
fn full_mirror_keeps_upstream_signature_and_apt_trusts_upstream_key() {
    let Some(fixture) = fixture() else { return };
    if !apt::available() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let upstream_dir = small_signed_upstream(&fixture, work.path());
    let upstream = TestServer::serve_dir(&upstream_dir);
    let upstream_key = work.path().join("upstream.asc");
    let config = work.path().join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[[apt]]\nname = \"debian\"\nurl = \"{}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\n",
            upstream.url(),
            upstream_key.display()
        ),
    )
    .expect("config");
    // No [signing] key at all: a full mirror needs none.
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["missing_files"], 13, "{json}");
    let live = work.path().join("store/public/debian/dists/bookworm");
    for name in [
        "InRelease",
        "Release",
        "Release.gpg",
        "main/binary-amd64/Packages.xz",
    ] {
        assert_eq!(
            std::fs::read(live.join(name)).expect("published"),
            std::fs::read(upstream_dir.join("dists/bookworm").join(name)).expect("upstream"),
            "{name} kept byte for byte"
        );
    }

    let served = Served::start(&config);
    let root = AptRoot::new(
        &format!("{}/debian", served.url),
        "bookworm",
        "main",
        &upstream_key,
    );
    let update = root.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    let install = root.apt_get(&["-q", "install", "-y", "--download-only", "jq", "sl", "tree"]);
    assert!(install.status.success(), "{}", apt::show(&install));
    assert_eq!(root.downloaded().len(), 13);
}

#[test]
fn inspect_summarises_real_indices() {
    let Some(fixture) = fixture() else { return };
    let none = Path::new("/nonexistent/mirror.toml");
    let packages = fixture.join("dists/bookworm/main/binary-amd64/Packages.xz");
    let (out, json) = cli_json(none, &["inspect", packages.to_str().expect("utf8")]);
    ok(&out);
    assert_eq!(json["stanzas"], 63440, "fixture README: 63,440 packages");
    assert_eq!(json["decoded_bytes"], 50_060_337);
    // The same index plain: read as a stream in chunks (issue 30), the same counts.
    let work = tempfile::tempdir().expect("tempdir");
    let plain = work.path().join("Packages");
    let decoded = mirror_core::compression::decompress(
        &std::fs::read(&packages).expect("read"),
        mirror_core::compression::Compression::Xz,
        1 << 30,
        "fixture",
    )
    .expect("decodes");
    std::fs::write(&plain, &decoded).expect("write");
    let (out, streamed) = cli_json(none, &["inspect", plain.to_str().expect("utf8")]);
    ok(&out);
    for key in [
        "stanzas",
        "names",
        "deb_bytes",
        "decoded_bytes",
        "architectures",
    ] {
        assert_eq!(streamed[key], json[key], "{key}");
    }
    // Cut in the middle of a line: what is there is counted or refused with the file's
    // name, never a crash.
    let cut = work.path().join("cut/Packages");
    std::fs::create_dir_all(cut.parent().expect("parent")).expect("mkdir");
    std::fs::write(&cut, &decoded[..decoded.len() / 2 + 17]).expect("write");
    let out = cli(none, &["inspect", cut.to_str().expect("utf8")]);
    assert!(
        out.status.code().is_some(),
        "ended by a signal: {:?}",
        out.status
    );
    let release = fixture.join("dists/bookworm/InRelease");
    let (out, json) = cli_json(none, &["inspect", release.to_str().expect("utf8")]);
    ok(&out);
    assert_eq!(json["codename"], "bookworm");
    assert_eq!(json["clearsigned"], true);
    let out = cli(none, &["inspect", "/nonexistent/Packages.gz"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/Packages.gz"));
}

#[test]
fn publish_rolls_back_to_an_older_snapshot() {
    let Some(fixture) = fixture() else { return };
    let upstream = TestServer::serve_dir(&fixture);
    let s = setup(
        &upstream.url(),
        &fixture.join("keyrings/debian-archive-keyring.gpg"),
    );
    ok(&cli(&s.config, &["sync"]));
    let first = std::fs::read_link(s.dir.join("store/public/debian")).expect("link");
    // A different selection makes a second snapshot.
    let text = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(
        &s.config,
        text.replace(r#"["jq", "sl", "tree"]"#, r#"["sl"]"#),
    )
    .expect("write");
    let (out, json) = cli_json(&s.config, &["sync"]);
    ok(&out);
    let second = json["mirrors"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_owned();
    let live = s.dir.join("store/public/debian");
    assert!(
        !live.join("pool/main/j/jq").exists(),
        "jq no longer selected"
    );
    let first_id = first
        .file_name()
        .expect("id")
        .to_str()
        .expect("utf8")
        .to_owned();
    assert_ne!(first_id, second);
    // A client that fetched the newer InRelease keeps validating it after the rollback.
    let served = Served::start(&s.config);
    let in_release = "/debian/dists/bookworm/InRelease";
    let newer = served.get(in_release, &[]);
    assert_eq!(newer.status, 200);
    assert!(
        newer.header("last-modified").is_none(),
        "no file-time validator"
    );
    let newer_etag = newer.header("etag").expect("a digest ETag").to_owned();
    let revalidated = served.get(in_release, &[("If-None-Match", &newer_etag)]);
    assert_eq!(revalidated.status, 304);
    // And a stock apt-get that updated against the newer tree sees the rollback.
    let client = apt::available().then(|| {
        let root = s.client(&served);
        let update = root.apt_get(&["-q", "update"]);
        assert!(update.status.success(), "{}", apt::show(&update));
        let show = root.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
        assert!(!show.status.success(), "jq is not in the newer tree");
        root
    });
    let (out, json) = cli_json(&s.config, &["publish", "debian", "--snapshot", &first_id]);
    ok(&out);
    assert_eq!(json["published"][0]["previous"], second.as_str());
    let after = served.get(
        in_release,
        &[
            ("If-None-Match", &newer_etag),
            ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"),
        ],
    );
    assert_eq!(after.status, 200, "the rolled-back InRelease, not 304");
    assert_ne!(after.header("etag"), Some(newer_etag.as_str()));
    assert_eq!(
        after.body,
        std::fs::read(live.join("dists/bookworm/InRelease")).expect("published")
    );
    if let Some(root) = client {
        let update = root.apt_get(&["-q", "update"]);
        assert!(update.status.success(), "{}", apt::show(&update));
        let install = root.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
        assert!(
            install.status.success(),
            "after the rollback apt-get sees jq again: {}",
            apt::show(&install)
        );
    }
    assert!(
        live.join("pool/main/j/jq").is_dir(),
        "rolled back to the tree with jq"
    );
    // prune keeps the published snapshot even when it is not among the newest.
    let (out, json) = cli_json(&s.config, &["prune", "--keep", "1"]);
    ok(&out);
    assert_eq!(
        json["removed_snapshots"].as_array().map(Vec::len),
        Some(0),
        "{json}"
    );
    assert!(live.join("dists/bookworm/InRelease").is_file());
}

#[test]
fn tampered_release_is_refused_and_detached_release_is_used_without_inrelease() {
    let Some(fixture) = fixture() else { return };
    let keyring = fixture.join("keyrings/debian-archive-keyring.gpg");
    let copy = tempfile::tempdir().expect("tempdir");
    mirror_test_support::copy_tree(&fixture, copy.path()).expect("copy fixture");
    let in_release = copy.path().join("dists/bookworm/InRelease");
    let original = std::fs::read_to_string(&in_release).expect("read");

    // One changed byte in the signed body.
    std::fs::write(
        &in_release,
        original.replacen("Codename: bookworm", "Codename: bookwork", 1),
    )
    .expect("write");
    let upstream = TestServer::serve_dir(copy.path());
    let s = setup(&upstream.url(), &keyring);
    let out = cli(&s.config, &["sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", apt::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InRelease"));

    // Text after the signature block.
    std::fs::write(&in_release, format!("{original}\nOrigin: evil\n")).expect("write");
    let out = cli(&s.config, &["sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", apt::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the signed block"));
    assert!(
        !s.dir.join("store/public/debian").exists(),
        "nothing published"
    );

    // No InRelease at all: Release + Release.gpg are fetched and verified instead.
    std::fs::remove_file(&in_release).expect("rm");
    let (out, json) = cli_json(&s.config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "synced");
    assert!(
        upstream
            .requests()
            .iter()
            .any(|p| p.ends_with("/dists/bookworm/Release.gpg"))
    );
}

/// Configuration errors exit with 3 and name the file, the entry and the key, whether the
/// CLI finds them when loading (`status`) or a format finds them during `sync`.
#[test]
fn configuration_errors_exit_3_and_say_where() {
    let Some(fixture) = fixture() else { return };
    let upstream = TestServer::serve_dir(&fixture);
    let s = setup(
        &upstream.url(),
        &fixture.join("keyrings/debian-archive-keyring.gpg"),
    );
    let good = std::fs::read_to_string(&s.config).expect("config");

    let typo = good.replace("packages = [", "package = [");
    std::fs::write(&s.config, &typo).expect("write");
    let out = cli(&s.config, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", apt::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["mirror.toml", "[[apt]] #1 (debian)", "package"] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }

    let no_suites = good.replace(r#"suites = ["bookworm"]"#, "suites = []");
    std::fs::write(&s.config, &no_suites).expect("write");
    let out = cli(&s.config, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", apt::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("suites"));

    // A filtered mirror re-signs its Release: without [signing] the sync cannot finish.
    let unsigned = good.replace("[signing]\nkey = \"keys/signing.asc\"\n", "");
    assert_ne!(unsigned, good);
    std::fs::write(&s.config, &unsigned).expect("write");
    let out = cli(&s.config, &["sync"]);
    assert_eq!(out.status.code(), Some(3), "{}", apt::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signing"));

    // Keys that cannot be read are the configuration's fault (3), not a failed upstream
    // check (4); the message names the setting and the file, once.
    let garbage = s.dir.join("garbage.gpg");
    std::fs::write(&garbage, "not a key\n").expect("write");
    let keyring = fixture.join("keyrings/debian-archive-keyring.gpg");
    let keyring = keyring.display().to_string();
    for (case, config, needles) in [
        (
            "missing keyring",
            good.replace(&keyring, "/nonexistent/keyring.gpg"),
            vec!["keyring", "/nonexistent/keyring.gpg"],
        ),
        (
            "garbage keyring",
            good.replace(&keyring, &garbage.display().to_string()),
            vec!["keyring", "garbage.gpg"],
        ),
        (
            "missing signing key",
            good.replace("keys/signing.asc", "keys/absent.asc"),
            vec!["[signing] key", "absent.asc"],
        ),
    ] {
        assert_ne!(config, good, "{case}");
        std::fs::write(&s.config, &config).expect("write");
        let out = cli(&s.config, &["sync"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{case}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{case}: {needle:?} in {stderr}");
        }
        assert!(
            !stderr.contains("signature check failed"),
            "{case}: {stderr}"
        );
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .expect("error line");
        let (_, last) = error.rsplit_once(": ").expect("a cause");
        assert_eq!(error.matches(last).count(), 1, "{case}: said once: {error}");
    }
}
