//! Closure across pockets and hosts (issue 9, item 3): a release suite on one host and a
//! security pocket on another, each a filtered mirror of the same packages, resolved
//! together (`resolve_with`). The pocket's newer jq depends on a library only the release
//! suite carries: alone, the pocket's closure cannot be satisfied; grouped, it publishes
//! just its newer jq, the release mirror stays installable on its own, and a client
//! with both gets jq from the pocket and its library from the release suite.

use std::path::Path;

use mirror_core::signing::SigningKey;
use mirror_test_support::TestServer;

use crate::common::apt::{self, AptRoot};
use crate::common::{Served, cli, cli_json, keygen, ok};

const NEW_JQ: &str = "pool/updates/main/j/jq/jq_1.6-2.1+deb12u3_amd64.deb";

/// The release suite (the fixture's 13 packages) and the pocket (a newer jq only),
/// each signed by its own test key; returns their roots and key files.
fn upstreams(fixture: &Path, dir: &Path) -> [(std::path::PathBuf, std::path::PathBuf); 2] {
    let stanzas = apt::fixture_stanzas(fixture);
    let release_root = dir.join("debian");
    let pocket_root = dir.join("debian-security");
    let mut keys = Vec::new();
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, root) in [("release", &release_root), ("pocket", &pocket_root)] {
        let key = SigningKey::generate(name).expect("key");
        let path = dir.join(format!("{name}.asc"));
        std::fs::write(&path, key.armored_public().expect("armor")).expect("key");
        keys.push((key, path));
        std::fs::create_dir_all(root).expect("mkdir");
    }
    apt::write_signed_suite(
        &release_root,
        "bookworm",
        apt::packages_files("main", &stanzas),
        &keys[0].0,
    );
    mirror_test_support::copy_tree(&fixture.join("pool"), &release_root.join("pool"))
        .expect("pool");

    let jq = mirror_apt::Paragraphs::new(&stanzas)
        .find(|p| p.get_str("Package").ok().flatten() == Some("jq"))
        .expect("jq in the fixture");
    let old_path = jq
        .get_str("Filename")
        .expect("utf8")
        .expect("Filename")
        .to_owned();
    let newer = String::from_utf8(jq.raw().to_vec())
        .expect("utf8")
        .replace("Version: 1.6-2.1+deb12u2", "Version: 1.6-2.1+deb12u3")
        .replace("libjq1 (= 1.6-2.1+deb12u2)", "libjq1 (>= 1.6)")
        .replace(&old_path, NEW_JQ);
    apt::write_signed_suite(
        &pocket_root,
        "bookworm-security",
        apt::packages_files("main", format!("{}\n", newer.trim_end()).as_bytes()),
        &keys[1].0,
    );
    let dest = pocket_root.join(NEW_JQ);
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::copy(fixture.join(&old_path), dest).expect("copy jq");
    [
        (release_root, keys[0].1.clone()),
        (pocket_root, keys[1].1.clone()),
    ]
}

fn config(
    dir: &Path,
    release: &TestServer,
    pocket: &TestServer,
    keys: [&Path; 2],
    grouped: bool,
) -> std::path::PathBuf {
    let config = dir.join("mirror.toml");
    let with = |other: &str| {
        if grouped {
            format!("resolve_with = [\"{other}\"]\n")
        } else {
            String::new()
        }
    };
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n\
             [[apt]]\nname = \"debian\"\nurl = \"{}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\n\
             packages = [\"jq\", \"tree\"]\n{}\
             [[apt]]\nname = \"security\"\nurl = \"{}\"\nsuites = [\"bookworm-security\"]\n\
             keyring = \"{}\"\npackages = [\"jq\", \"tree\"]\nmissing_packages = \"warn\"\n{}",
            release.url(),
            keys[0].display(),
            with("security"),
            pocket.url(),
            keys[1].display(),
            with("debian"),
        ),
    )
    .expect("config");
    config
}

fn published_names(dir: &Path, mirror: &str, suite: &str) -> Vec<String> {
    let packages = std::fs::read(
        dir.join("store/public")
            .join(mirror)
            .join("dists")
            .join(suite)
            .join("main/binary-amd64/Packages"),
    )
    .expect("published Packages");
    let mut names: Vec<String> = mirror_apt::Paragraphs::new(&packages)
        .map(|p| {
            format!(
                "{}={}",
                p.get_str("Package").expect("utf8").expect("Package"),
                p.get_str("Version").expect("utf8").expect("Version")
            )
        })
        .collect();
    names.sort();
    names
}

#[test]
fn mirrors_resolved_together_publish_what_apt_would_pick() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    if !apt::available() {
        return;
    }
    let fixture = fixtures.join("debian-bookworm");
    let work = tempfile::tempdir().expect("tempdir");
    let [(release_root, release_key), (pocket_root, pocket_key)] = upstreams(&fixture, work.path());
    let release = TestServer::serve_dir(&release_root);
    let pocket = TestServer::serve_dir(&pocket_root);
    let dir = work.path();
    keygen(dir);

    // Alone, the pocket cannot satisfy its jq: the control that this test can fail.
    let alone = config(dir, &release, &pocket, [&release_key, &pocket_key], false);
    let (out, json) = cli_json(&alone, &["sync"]);
    ok(&out);
    let warnings = json["mirrors"][1]["summary"]["warnings"].to_string();
    assert!(warnings.contains("libjq1"), "{json}");

    let grouped = config(dir, &release, &pocket, [&release_key, &pocket_key], true);
    let (out, json) = cli_json(&grouped, &["sync"]);
    ok(&out);
    for mirror in json["mirrors"].as_array().expect("mirrors") {
        assert_eq!(
            mirror["summary"]["warnings"],
            serde_json::json!([]),
            "{json}"
        );
    }
    // The pocket carries only its newer jq; the release suite's library comes from there.
    assert_eq!(
        published_names(dir, "security", "bookworm-security"),
        ["jq=1.6-2.1+deb12u3"]
    );
    // The release mirror stays self-contained: its own jq and the whole closure.
    let names = published_names(dir, "debian", "bookworm");
    assert!(
        names.contains(&"jq=1.6-2.1+deb12u2".to_owned()),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("libjq1=")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("tree=")), "{names:?}");

    let served = Served::start(&grouped);
    let key = dir.join("keys/signing.asc.pub");
    // A client with both sources: jq from the pocket, its library from the release.
    let both = AptRoot::new(&format!("{}/debian", served.url), "bookworm", "main", &key);
    both.add_source(
        &format!("{}/security", served.url),
        "bookworm-security",
        "main",
    );
    let update = both.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());
    let install = both.apt_get(&["-q", "install", "-y", "--download-only", "jq", "tree"]);
    assert!(install.status.success(), "{}", apt::show(&install));
    let downloaded = both.downloaded();
    assert!(
        downloaded.iter().any(|d| d.contains("jq_1.6-2.1+deb12u3")),
        "{downloaded:?}"
    );
    assert!(
        downloaded.iter().any(|d| d.starts_with("libjq1_")),
        "{downloaded:?}"
    );

    // A client (or installer) with the release mirror alone still resolves.
    let only = AptRoot::new(&format!("{}/debian", served.url), "bookworm", "main", &key);
    let update = only.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    let install = only.apt_get(&["-q", "install", "-y", "--download-only", "jq", "tree"]);
    assert!(install.status.success(), "{}", apt::show(&install));
    assert!(
        only.downloaded()
            .iter()
            .any(|d| d.contains("jq_1.6-2.1+deb12u2"))
    );
}

#[test]
fn init_from_system_groups_its_sources_and_the_first_sync_is_quiet() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let work = tempfile::tempdir().expect("tempdir");
    let srv = work.path().join("srv");
    let [(_, release_key), (_, pocket_key)] = upstreams(&fixture, &srv);
    // One host, two archives (as a Debian mirror serves /debian and /debian-security).
    let server = TestServer::serve_dir(&srv);
    let system = work.path().join("system");
    std::fs::create_dir_all(system.join("etc/apt/sources.list.d")).expect("mkdir");
    std::fs::create_dir_all(system.join("var/lib/dpkg")).expect("mkdir");
    std::fs::write(
        system.join("etc/apt/sources.list"),
        format!(
            "deb [signed-by={}] {url}/debian bookworm main\n\
             deb [signed-by={}] {url}/debian-security bookworm-security main\n",
            release_key.display(),
            pocket_key.display(),
            url = server.url()
        ),
    )
    .expect("sources");
    let mut status = String::new();
    for name in ["jq", "tree", "locally-built-tool", "another-local-one"] {
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n\n"
        ));
    }
    std::fs::write(system.join("var/lib/dpkg/status"), status).expect("status");

    let config = work.path().join("mirror.toml");
    ok(&cli(
        &config,
        &[
            "init",
            "--from-system",
            "--root",
            system.to_str().expect("utf8"),
        ],
    ));
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(
        written.contains(r#"resolve_with = ["debian-security"]"#),
        "{written}"
    );
    assert!(
        written.contains(r#"resolve_with = ["debian"]"#),
        "{written}"
    );

    let out = cli(&config, &["sync"]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes into a pipe: {stderr}"
    );
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    // No dependency warning; one line, from one mirror, for the names no source carries.
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("2 requested packages no mirror of the group carries")
            && warnings[0].contains("another-local-one"),
        "{stderr}"
    );
    let (_, json) = cli_json(&config, &["status"]);
    assert!(json.to_string().contains("debian-security"), "{json}");
}
