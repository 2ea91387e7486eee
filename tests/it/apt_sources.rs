//! Source packages (issue 9, item 6): `sources = true` makes `apt-get source` work from
//! the mirror. The upstream is the fixture's binaries plus a Sources index with one
//! (synthetic) source package per source they were built from, and one no selected
//! binary comes from, signed by a test key. Real apt-get with a `deb-src` line fetches
//! the source packages from the mirror.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mirror_apt::generate::GeneratedFile;
use mirror_core::Sha256Digest;
use mirror_core::compression::{Compression, compress};
use mirror_core::signing::SigningKey;
use mirror_test_support::{TestServer, dir_state};

use crate::common::apt::{self, AptRoot};
use crate::common::{Served, cli, cli_json, keygen, ok};

/// A source package no binary of the fixture comes from.
const UNRELATED: (&str, &str) = ("unrelated", "2.0-1");

/// The files of one synthetic source package: a .dsc and an orig tarball.
fn source_files(name: &str, version: &str) -> Vec<(String, Vec<u8>)> {
    let bare = version.split_once(':').map_or(version, |(_, v)| v);
    let upstream = bare.rsplit_once('-').map_or(bare, |(u, _)| u);
    let initial = if name.starts_with("lib") {
        &name[..4]
    } else {
        &name[..1]
    };
    let dir = format!("pool/main/{initial}/{name}");
    vec![
        (
            format!("{dir}/{name}_{bare}.dsc"),
            format!("Format: 3.0 (quilt)\nSource: {name}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{dir}/{name}_{upstream}.orig.tar.gz"),
            format!("the upstream source of {name} {upstream}").into_bytes(),
        ),
    ]
}

/// A Sources stanza for `files` (paths with the stanza's Directory).
fn source_stanza(name: &str, version: &str, files: &[(String, Vec<u8>)]) -> String {
    let directory = files[0].0.rsplit_once('/').expect("dir").0;
    let mut stanza = format!(
        "Package: {name}\nVersion: {version}\nMaintainer: Test <t@example.org>\n\
         Architecture: any\nFormat: 3.0 (quilt)\nDirectory: {directory}\nChecksums-Sha256:\n"
    );
    for (path, bytes) in files {
        let file = path.rsplit_once('/').expect("file").1;
        stanza.push_str(&format!(
            " {} {} {file}\n",
            Sha256Digest::of(bytes).to_hex(),
            bytes.len()
        ));
    }
    stanza
}

/// The sources the fixture's binaries were built from (`name`, `version`).
fn built_from(stanzas: &[u8]) -> BTreeSet<(String, String)> {
    mirror_apt::parse_packages(stanzas)
        .map(|p| {
            let package = p.expect("fixture stanza");
            let (name, version) = mirror_apt::built_from(&package);
            (name.to_owned(), version.to_owned())
        })
        .collect()
}

struct Upstream {
    root: PathBuf,
    key: SigningKey,
    key_path: PathBuf,
    stanzas: Vec<u8>,
}

impl Upstream {
    fn new(fixture: &Path, dir: &Path) -> Upstream {
        let (key, key_path) = apt::upstream_key(dir);
        let root = dir.join("upstream");
        mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
        Upstream {
            root,
            key,
            key_path,
            stanzas: apt::fixture_stanzas(fixture),
        }
    }

    /// Publish the suite with a Sources index of `sources` (every file served as
    /// `served` returns it: the stated bytes, or others).
    fn publish(
        &self,
        sources: &[(String, String)],
        served: impl Fn(&str, Vec<u8>) -> Vec<u8>,
    ) -> Vec<(String, Vec<u8>)> {
        let mut index = String::new();
        let mut all_files = Vec::new();
        for (name, version) in sources {
            let files = source_files(name, version);
            index.push_str(&source_stanza(name, version, &files));
            index.push('\n');
            for (path, bytes) in files {
                let dest = self.root.join(&path);
                std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
                std::fs::write(dest, served(&path, bytes.clone())).expect("write");
                all_files.push((path, bytes));
            }
        }
        let mut files: Vec<GeneratedFile> = apt::packages_files("main", &self.stanzas);
        for format in [Compression::None, Compression::Gzip, Compression::Xz] {
            files.push((
                format!("main/source/Sources{}", format.extension()),
                compress(index.as_bytes(), format).expect("compress"),
            ));
        }
        let signed = apt::write_signed_suite(&self.root, "bookworm", files, &self.key);
        // As Debian does: the uncompressed Sources is listed (apt skips a deb-src
        // target whose plain name the Release lacks) but not served.
        let plain = "main/source/Sources";
        let (_, bytes) = signed.iter().find(|(p, _)| p == plain).expect("signed");
        let dists = self.root.join("dists/bookworm");
        let by_hash = mirror_apt::upstream::by_hash_path(plain, &Sha256Digest::of(bytes));
        for path in [plain.to_owned(), by_hash] {
            std::fs::remove_file(dists.join(path)).expect("withdraw");
        }
        all_files
    }

    /// Every source the binaries come from, plus [`UNRELATED`].
    fn all_sources(&self) -> Vec<(String, String)> {
        let mut sources: Vec<_> = built_from(&self.stanzas).into_iter().collect();
        sources.push((UNRELATED.0.into(), UNRELATED.1.into()));
        sources
    }
}

fn started() -> Option<(tempfile::TempDir, Upstream, TestServer)> {
    let fixture = mirror_test_support::fixtures()?.join("debian-bookworm");
    if !apt::available() {
        return None;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::new(&fixture, work.path());
    let server = TestServer::serve_dir(&upstream.root);
    Some((work, upstream, server))
}

/// A config with `sources = true` (and `extra` settings) and a signing key.
fn write_config(dir: &Path, server: &TestServer, upstream: &Upstream, extra: &str) -> PathBuf {
    let config = dir.join("mirror.toml");
    keygen(dir);
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[fetch]\nretries = 0\n\
             [[apt]]\nname = \"debian\"\nurl = \"{}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\n\
             sources = true\n{extra}",
            server.url(),
            upstream.key_path.display()
        ),
    )
    .expect("config");
    config
}

/// A client of the served mirror with `deb` and `deb-src` lines, updated cleanly.
fn updated_client(served: &Served, key: &Path) -> AptRoot {
    let url = format!("{}/debian", served.url);
    let client = AptRoot::new(&url, "bookworm", "main", key);
    client.add_deb_src(&url, "bookworm", "main");
    let update = client.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());
    client
}

/// `apt-get source --download-only` of `package`: the files it left, by name.
fn fetch_source(client: &AptRoot, package: &str) -> (std::process::Output, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = client.source_download(package, dir.path());
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    (out, files)
}

fn by_name(files: &[(String, Vec<u8>)], source: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(path, _)| path.contains(&format!("/{source}/")))
        .map(|(path, bytes)| {
            (
                path.rsplit_once('/').expect("name").1.to_owned(),
                bytes.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn verbatim_mirror_carries_every_source_package() {
    let Some((work, upstream, server)) = started() else {
        return;
    };
    let sources = upstream.all_sources();
    let files = upstream.publish(&sources, |_, bytes| bytes);
    // A full mirror: no packages list.
    let config = write_config(work.path(), &server, &upstream, "");
    ok(&cli(&config, &["sync"]));

    let published = work.path().join("store/public/debian");
    assert_eq!(
        dir_state(&published.join("dists"), &[]),
        dir_state(&upstream.root.join("dists"), &[]),
        "dists/ byte for byte, the Sources index included"
    );
    for (path, bytes) in &files {
        assert_eq!(&std::fs::read(published.join(path)).expect(path), bytes);
    }

    let served = Served::start(&config);
    let client = updated_client(&served, &upstream.key_path);
    let lists = client.lists();
    assert!(
        lists
            .iter()
            .any(|(name, _)| name.ends_with("source_Sources")),
        "the client read the Sources index: {:?}",
        lists.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for source in ["jq", UNRELATED.0] {
        let (out, fetched) = fetch_source(&client, source);
        assert!(out.status.success(), "{}", apt::show(&out));
        assert_eq!(fetched, by_name(&files, source), "{source}");
    }

    // A source file served with other bytes than its stanza states fails the sync
    // (verification exit code) and leaves the published tree as it was.
    drop(served);
    let before = dir_state(&published, &[]);
    let mut hostile = sources.clone();
    hostile.push(("tampered".into(), "1.0-1".into()));
    upstream.publish(&hostile, |path, mut bytes| {
        if path.contains("/tampered/") {
            bytes[0] ^= 0xff;
        }
        bytes
    });
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("tampered"), "{stderr}");
    assert!(
        dir_state(&published, &[]) == before,
        "published tree changed"
    );
}

#[test]
fn filtered_mirror_carries_the_sources_of_its_selection() {
    let Some((work, upstream, server)) = started() else {
        return;
    };
    let dir = work.path();
    let config = write_config(dir, &server, &upstream, "packages = [\"jq\", \"tree\"]\n");
    // The upstream lacks tree's source: one warning line names it.
    let tree = built_from(&upstream.stanzas)
        .into_iter()
        .find(|(name, _)| name == "tree")
        .expect("tree in the fixture");
    let sources: Vec<_> = upstream
        .all_sources()
        .into_iter()
        .filter(|s| *s != tree)
        .collect();
    let files = upstream.publish(&sources, |_, bytes| bytes);
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let warnings = json["mirrors"][0]["summary"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "1 source package of selected binaries not in the Sources index: tree ({})",
            tree.1
        )),
        "{json}"
    );

    let published = dir.join("store/public/debian");
    let dists = published.join("dists/bookworm");
    let release = std::fs::read_to_string(dists.join("Release")).expect("Release");
    assert!(release.contains("main/source/Sources.xz"), "{release}");
    let packages = std::fs::read(dists.join("main/binary-amd64/Packages")).expect("Packages");
    let mut wanted = built_from(&packages);
    wanted.remove(&tree);
    let index = std::fs::read(dists.join("main/source/Sources")).expect("Sources");
    let carried: BTreeSet<(String, String)> = mirror_apt::parse_sources(&index)
        .map(|s| {
            let s = s.expect("our stanza");
            (s.name().to_owned(), s.version().to_owned())
        })
        .collect();
    assert_eq!(carried, wanted, "exactly the sources of the selection");
    assert!(!published.join("pool/main/u/unrelated").exists());

    let served = Served::start(&config);
    let client = updated_client(&served, &dir.join("keys/signing.asc.pub"));
    let (out, fetched) = fetch_source(&client, "jq");
    assert!(out.status.success(), "{}", apt::show(&out));
    assert_eq!(fetched, by_name(&files, "jq"));
    // By a binary's name: apt maps libonig5 to its source through the Packages index.
    let onig = mirror_apt::parse_packages(&packages)
        .map(|p| p.expect("stanza"))
        .find(|p| p.name().starts_with("libonig"))
        .map(|p| (p.name().to_owned(), mirror_apt::built_from(&p).0.to_owned()))
        .expect("libonig in jq's closure");
    let (out, fetched) = fetch_source(&client, &onig.0);
    assert!(out.status.success(), "{}", apt::show(&out));
    assert_eq!(fetched, by_name(&files, &onig.1));
    // What the selection does not need is not there.
    let (out, _) = fetch_source(&client, UNRELATED.0);
    assert!(!out.status.success(), "{}", apt::show(&out));
}
