//! Every index family a stock client asks for (issue 9): an upstream signed by a test key
//! with Packages, per-architecture Release, Translation-en/-de, Contents (deb, udeb,
//! all), dep11, cnf and debian-installer indices, some compressions listed but not
//! served (as Debian lists uncompressed files it does not serve), and by-hash copies.
//! Real apt-get with its stock settings plus apt-file's Contents target and appstream's
//! dep11 target runs against the upstream and against the mirror; both must be clean and
//! leave the same index files. Hostile variants of the upstream must fail the sync with
//! the documented exit code and leave the published tree as it was.

use std::path::{Path, PathBuf};

use mirror_apt::Paragraphs;
use mirror_apt::generate::GeneratedFile;
use mirror_core::compression::{Compression, compress};
use mirror_core::signing::SigningKey;
use mirror_test_support::{TestServer, dir_state};

use crate::common::apt::{self, AptRoot};
use crate::common::{Served, cli, cli_json, keygen, ok};

/// apt-file's Contents target as Debian's apt-file ships it, plus the udeb Contents an
/// operator enables; appstream's DEP-11 target and its 64x64 icons.
const EXTRA_TARGETS: &str = r#"
Acquire::IndexTargets {
    deb::Contents-deb {
        MetaKey "$(COMPONENT)/Contents-$(ARCHITECTURE)";
        ShortDescription "Contents-$(ARCHITECTURE)";
        Description "$(RELEASE)/$(COMPONENT) $(ARCHITECTURE) Contents (deb)";
        flatMetaKey "Contents-$(ARCHITECTURE)";
        flatDescription "$(RELEASE) Contents (deb)";
        PDiffs "true";
        KeepCompressed "true";
    };
    deb::Contents-udeb {
        MetaKey "$(COMPONENT)/Contents-udeb-$(ARCHITECTURE)";
        ShortDescription "Contents-udeb-$(ARCHITECTURE)";
        Description "$(RELEASE)/$(COMPONENT) $(ARCHITECTURE) Contents (udeb)";
        KeepCompressed "true";
    };
    deb::DEP-11 {
        MetaKey "$(COMPONENT)/dep11/Components-$(NATIVE_ARCHITECTURE).yml";
        ShortDescription "Components-$(NATIVE_ARCHITECTURE)";
        Description "$(RELEASE)/$(COMPONENT) $(NATIVE_ARCHITECTURE) DEP-11 Metadata";
        KeepCompressed "true";
        KeepCompressedAs "gz";
    };
    deb::DEP-11-icons {
        MetaKey "$(COMPONENT)/dep11/icons-64x64.tar";
        ShortDescription "icons-64x64";
        Description "$(RELEASE)/$(COMPONENT) DEP-11 64x64 Icons";
        KeepCompressed "true";
        KeepCompressedAs "gz";
    };
};
"#;

/// Paths (below dists/bookworm/) listed in the Release but not served, with their
/// by-hash copies: the compressed siblings are served.
const LISTED_NOT_SERVED: [&str; 3] = [
    "main/binary-amd64/Packages",
    "main/i18n/Translation-en",
    "main/Contents-amd64",
];

/// The rich upstream's files for `revision` (a new revision changes Translation-de).
fn rich_files(fixture: &Path, revision: u32) -> Vec<GeneratedFile> {
    let packages = apt::fixture_stanzas(fixture);
    let mut translation_en = Vec::new();
    let mut translation_de = Vec::new();
    let mut contents = Vec::new();
    let mut commands = String::from("suite: bookworm\ncomponent: main\narch: amd64\n");
    for paragraph in Paragraphs::new(&packages) {
        let field = |name| {
            paragraph
                .get_str(name)
                .expect("utf8")
                .unwrap_or_default()
                .to_owned()
        };
        let (name, md5, short) = (
            field("Package"),
            field("Description-md5"),
            field("Description"),
        );
        translation_en.extend_from_slice(
            format!(
                "Package: {name}\nDescription-md5: {md5}\nDescription-en: {short}\n \
                 The long description of {name}, which only Translation-en carries.\n\n"
            )
            .as_bytes(),
        );
        translation_de.extend_from_slice(
            format!(
                "Package: {name}\nDescription-md5: {md5}\nDescription-de: {short} (r{revision})\n\n"
            )
            .as_bytes(),
        );
        contents
            .extend_from_slice(format!("usr/share/doc/{name}/copyright misc/{name}\n").as_bytes());
        commands.push_str(&format!("\nname: {name}\nversion: 1\ncommands: {name}\n"));
    }
    let mut files: Vec<GeneratedFile> = Vec::new();
    let mut add = |stem: &str, content: &[u8], formats: &[Compression]| {
        for format in formats {
            files.push((
                format!("{stem}{}", format.extension()),
                compress(content, *format).expect("compress"),
            ));
        }
    };
    use Compression::{Gzip, None as Plain, Xz};
    add("main/binary-amd64/Packages", &packages, &[Plain, Gzip, Xz]);
    add(
        "main/binary-amd64/Release",
        b"Archive: oldstable\nComponent: main\nArchitecture: amd64\n",
        &[Plain],
    );
    add(
        "main/binary-all/Packages",
        &stanza("test-doc", "all", ARCH_ALL_DEB),
        &[Plain, Gzip, Xz],
    );
    add("main/i18n/Translation-en", &translation_en, &[Plain, Xz]);
    add("main/i18n/Translation-de", &translation_de, &[Plain, Xz]);
    add("main/Contents-amd64", &contents, &[Plain, Gzip]);
    add("main/Contents-all", b"", &[Plain, Gzip]);
    add(
        "main/Contents-udeb-amd64",
        b"usr/lib/finish-install.d/10test debian-installer/test-udeb\n",
        &[Plain, Gzip],
    );
    add(
        "main/dep11/Components-amd64.yml",
        b"---\nFile: DEP-11\nVersion: '0.14'\nOrigin: test-main\n",
        &[Plain, Gzip, Xz],
    );
    add("main/dep11/icons-64x64.tar", &[0u8; 1024], &[Plain, Gzip]);
    add("main/cnf/Commands-amd64", commands.as_bytes(), &[Plain, Xz]);
    add(
        "main/debian-installer/binary-amd64/Packages",
        &stanza("test-udeb", "amd64", UDEB),
        &[Plain, Gzip, Xz],
    );
    files
}

/// An architecture-independent package only the binary-all index lists (this upstream,
/// unlike Debian, does not say `No-Support-for-Architecture-all: Packages`).
const ARCH_ALL_DEB: (&str, &[u8]) = (
    "pool/main/t/test-doc/test-doc_1.0_all.deb",
    b"an arch-all package only binary-all lists",
);

/// A udeb only the debian-installer index lists.
const UDEB: (&str, &[u8]) = (
    "pool/main/t/test-udeb/test-udeb_1.0_amd64.udeb",
    b"a udeb the installer fetches",
);

/// A stanza for `file` (not a real .deb: apt-get update never opens the pool).
fn stanza(name: &str, architecture: &str, (path, bytes): (&str, &[u8])) -> Vec<u8> {
    format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: {architecture}\n\
         Maintainer: Test <t@example.org>\nFilename: {path}\nSize: {}\nSHA256: {}\n\
         Description: {name}, only one index lists it\n",
        bytes.len(),
        mirror_core::Sha256Digest::of(bytes).to_hex()
    )
    .into_bytes()
}

struct Upstream {
    root: PathBuf,
    key: SigningKey,
    key_path: PathBuf,
}

impl Upstream {
    fn new(fixture: &Path, dir: &Path) -> Upstream {
        let (key, key_path) = apt::upstream_key(dir);
        let upstream = Upstream {
            root: dir.join("upstream"),
            key,
            key_path,
        };
        mirror_test_support::copy_tree(&fixture.join("pool"), &upstream.root.join("pool"))
            .expect("pool");
        for (path, bytes) in [ARCH_ALL_DEB, UDEB] {
            let file = upstream.root.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, bytes).expect("pool file");
        }
        upstream
    }

    /// Sign `files` as dists/bookworm, replacing what was there, and withdraw the
    /// listed-not-served files.
    fn publish(&self, files: Vec<GeneratedFile>) {
        let signed = apt::write_signed_suite(&self.root, "bookworm", files, &self.key);
        for path in LISTED_NOT_SERVED {
            self.withdraw(&signed, path);
        }
    }

    /// Remove `path` and its by-hash copy from what is served.
    fn withdraw(&self, signed: &[GeneratedFile], path: &str) {
        let dists = self.root.join("dists/bookworm");
        let (_, bytes) = signed.iter().find(|(p, _)| p == path).expect("generated");
        let digest = mirror_core::Sha256Digest::of(bytes);
        std::fs::remove_file(dists.join(path)).expect("withdraw");
        std::fs::remove_file(dists.join(mirror_apt::upstream::by_hash_path(path, &digest)))
            .expect("withdraw by-hash");
    }

    /// Rewrite the served Release text with `change` and sign it again (InRelease,
    /// Release.gpg), as a compromised upstream key holder could.
    fn resign(&self, change: impl Fn(&str) -> String) {
        let dists = self.root.join("dists/bookworm");
        let release = std::fs::read_to_string(dists.join("Release")).expect("Release");
        let hostile = change(&release);
        assert_ne!(hostile, release, "the change changes the Release");
        std::fs::write(dists.join("Release"), &hostile).expect("write");
        std::fs::write(
            dists.join("InRelease"),
            self.key.clearsign(&hostile).expect("sign"),
        )
        .expect("write");
        std::fs::write(
            dists.join("Release.gpg"),
            self.key
                .sign_detached_armored(hostile.as_bytes())
                .expect("sign"),
        )
        .expect("write");
    }

    /// Overwrite a served file and its by-hash copy with `bytes` (the Release unchanged).
    fn tamper(&self, path: &str, change: impl Fn(&mut Vec<u8>)) {
        let dists = self.root.join("dists/bookworm");
        let original = std::fs::read(dists.join(path)).expect("served");
        let digest = mirror_core::Sha256Digest::of(&original);
        let mut bytes = original;
        change(&mut bytes);
        std::fs::write(dists.join(path), &bytes).expect("tamper");
        std::fs::write(
            dists.join(mirror_apt::upstream::by_hash_path(path, &digest)),
            &bytes,
        )
        .expect("tamper by-hash");
    }
}

fn fixture() -> Option<PathBuf> {
    mirror_test_support::fixtures().map(|f| f.join("debian-bookworm"))
}

/// The fixture, a work dir, revision 1 of the rich upstream in it and its server; `None`
/// (the test skips) without fixtures, or without apt-get when `needs_apt`.
fn started(needs_apt: bool) -> Option<(PathBuf, tempfile::TempDir, Upstream, TestServer)> {
    let fixture = fixture()?;
    if needs_apt && !apt::available() {
        return None;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::new(&fixture, work.path());
    upstream.publish(rich_files(&fixture, 1));
    let server = TestServer::serve_dir(&upstream.root);
    Some((fixture, work, upstream, server))
}

fn full_mirror_config(dir: &Path, upstream: &TestServer, key: &Path) -> PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\n[[apt]]\nname = \"debian\"\nurl = \"{}\"\n\
             suites = [\"bookworm\"]\nkeyring = \"{}\"\n",
            upstream.url(),
            key.display()
        ),
    )
    .expect("config");
    config
}

/// [`started`], then a full mirror of it (config returned) synced once.
fn synced(needs_apt: bool) -> Option<(PathBuf, tempfile::TempDir, Upstream, TestServer, PathBuf)> {
    let (fixture, work, upstream, server) = started(needs_apt)?;
    let config = full_mirror_config(work.path(), &server, &upstream.key_path);
    ok(&cli(&config, &["sync"]));
    Some((fixture, work, upstream, server, config))
}

/// `apt-get update` of a stock client with apt-file's and appstream's targets.
fn stock_update(url: &str, key: &Path) -> (AptRoot, std::process::Output) {
    let root = AptRoot::new(url, "bookworm", "main", key);
    root.conf("50index-targets.conf", EXTRA_TARGETS);
    let update = root.apt_get(&["-q", "update"]);
    (root, update)
}

#[test]
fn verbatim_mirror_serves_every_index_a_stock_client_fetches() {
    let Some((_, work, upstream, server)) = started(true) else {
        return;
    };

    // The control: the same client against the upstream itself.
    let (direct, update) = stock_update(&server.url(), &upstream.key_path);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());

    let config = full_mirror_config(work.path(), &server, &upstream.key_path);
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "synced", "{json}");

    // Every served file of dists/ is published byte for byte (by-hash copies included),
    // and nothing the upstream does not serve.
    let published = work.path().join("store/public/debian/dists");
    let upstream_dists = dir_state(&upstream.root.join("dists"), &[]);
    assert_eq!(dir_state(&published, &[]), upstream_dists);
    let names: Vec<&str> = upstream_dists.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "bookworm/main/i18n/Translation-de.xz",
        "bookworm/main/binary-amd64/Release",
        "bookworm/main/cnf/Commands-amd64.xz",
        "bookworm/main/debian-installer/binary-amd64/Packages.gz",
        "bookworm/main/dep11/icons-64x64.tar.gz",
        "bookworm/Release.gpg",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }

    for (path, bytes) in [ARCH_ALL_DEB, UDEB] {
        assert_eq!(
            std::fs::read(work.path().join("store/public/debian").join(path)).expect(path),
            bytes,
            "{path}: the pool file only binary-all or debian-installer lists is mirrored"
        );
    }

    let served = Served::start(&config);
    let (mirror, update) = stock_update(&format!("{}/debian", served.url), &upstream.key_path);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());
    let lists = mirror.lists();
    let keys: Vec<&str> = lists.iter().map(|(k, _)| k.as_str()).collect();
    for family in [
        "Translation-en",
        "Contents-amd64",
        "Contents-udeb-amd64",
        "Components-amd64.yml",
        "icons-64x64",
        "binary-all_Packages",
    ] {
        assert!(
            keys.iter().any(|k| k.contains(family)),
            "{family} fetched: {keys:?}"
        );
    }
    assert_eq!(
        lists,
        direct.lists(),
        "the same index files as from upstream"
    );
    let show = mirror.apt_cache(&["show", "jq"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("which only Translation-en carries"),
        "{}",
        apt::show(&show)
    );
}

#[test]
fn hostile_index_files_fail_the_sync_and_keep_the_published_tree() {
    let Some((fixture, work, upstream, _server, config)) = synced(false) else {
        return;
    };
    let published = work.path().join("store/public/debian");
    let before = dir_state(&published, &[]);

    let refused = |case: &str, code: i32, needle: &str| {
        let out = cli(&config, &["sync"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{case}: {stderr}");
        assert!(stderr.contains(needle), "{case}: {stderr}");
        assert!(
            dir_state(&published, &[]) == before,
            "{case}: the published tree changed"
        );
    };

    // Served with the wrong content (same size), by-hash copy too.
    upstream.publish(rich_files(&fixture, 2));
    upstream.tamper("main/i18n/Translation-de.xz", |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
    });
    refused("wrong hash", 4, "Translation-de");

    // Larger than the Release says.
    upstream.publish(rich_files(&fixture, 3));
    // (Translation-de changes with each revision: an unchanged file would come from the
    // store, already verified, and never be fetched.)
    upstream.tamper("main/i18n/Translation-de.xz", |bytes| {
        bytes.extend_from_slice(&[0; 4096])
    });
    refused("too large", 4, "size mismatch");

    // Listed, and no compression of it served.
    let files = rich_files(&fixture, 4);
    upstream.publish(files.clone());
    for path in ["main/i18n/Translation-de", "main/i18n/Translation-de.xz"] {
        upstream.withdraw(&files, path);
    }
    refused("not served", 5, "Translation-de");

    // A signed Release listing a path that leaves the tree.
    // (Our Release writer refuses such a path, so the line is added to the text.)
    upstream.publish(rich_files(&fixture, 5));
    upstream.resign(|release| {
        release.replacen(
            "SHA256:\n",
            &format!("SHA256:\n {} 1 main/../../../etc/passwd\n", "0".repeat(64)),
            1,
        )
    });
    refused("unsafe path", 1, "main/../../../etc/passwd");

    // A signed Release stating a 5 GB decoded Packages (a bomb's promise): refused before
    // decoding, naming the cap.
    upstream.publish(rich_files(&fixture, 6));
    upstream.resign(|release| {
        // Every hash section's line for it (the parser refuses sections that disagree).
        release
            .lines()
            .map(
                |line| match line.strip_suffix(" main/binary-amd64/Packages") {
                    Some(entry) => {
                        let (digest, _) = entry.trim().split_once(' ').expect("digest size");
                        format!(" {digest} 5000000000 main/binary-amd64/Packages\n")
                    }
                    None => format!("{line}\n"),
                },
            )
            .collect()
    });
    refused("stated bomb", 5, "max_index_size");

    // A served index larger than its Release entry: not read past the stated size.
    // (Its object leaves the store, so it is fetched again as by a new mirror.)
    upstream.publish(rich_files(&fixture, 7));
    let packages_gz = std::fs::read(
        upstream
            .root
            .join("dists/bookworm/main/binary-amd64/Packages.gz"),
    )
    .expect("served");
    let store = mirror_core::store::Store::open_existing(work.path().join("store")).expect("store");
    std::fs::remove_file(
        store
            .objects()
            .path(&mirror_core::Sha256Digest::of(&packages_gz)),
    )
    .expect("stored");
    upstream.tamper("main/binary-amd64/Packages.gz", |bytes| {
        bytes.extend_from_slice(&[0; 1 << 20])
    });
    refused("oversized body", 4, "refused without reading the rest");

    // A Packages entry with jq's right digest and a wrong Size: jq's .deb is stored
    // already, so no download would catch it; the snapshot must not carry the lie.
    let mut files = rich_files(&fixture, 8);
    let stanzas = apt::fixture_stanzas(&fixture);
    let mut lied = String::new();
    for paragraph in Paragraphs::new(&stanzas) {
        let text = String::from_utf8(paragraph.raw().to_vec()).expect("utf8");
        let text = if paragraph.get_str("Package").ok().flatten() == Some("jq") {
            let size = paragraph.get_str("Size").ok().flatten().expect("Size");
            let wrong = size.parse::<u64>().expect("number") + 1;
            text.replace(&format!("Size: {size}\n"), &format!("Size: {wrong}\n"))
        } else {
            text
        };
        lied.push_str(text.trim_end());
        lied.push_str("\n\n");
    }
    files.retain(|(path, _)| !path.starts_with("main/binary-amd64/Packages"));
    files.extend(apt::packages_files("main", lied.as_bytes()));
    upstream.publish(files);
    refused("size lie, object stored", 4, "size mismatch");
}

#[test]
fn filtered_mirror_publishes_the_translations_of_its_selection() {
    let Some((_, work, upstream, server)) = started(true) else {
        return;
    };
    let config = work.path().join("mirror.toml");
    let key = keygen(work.path());
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[[apt]]\nname = \"debian\"\n\
             url = \"{}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\npackages = [\"jq\"]\n",
            server.url(),
            upstream.key_path.display()
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let selected = json["mirrors"][0]["summary"]["selected"]
        .as_array()
        .expect("names")
        .len();

    let dists = work.path().join("store/public/debian/dists/bookworm");
    let release_text = std::fs::read_to_string(dists.join("Release")).expect("Release");
    let release = mirror_apt::Release::parse(&release_text).expect("parses");
    // Every file our Release lists is published, with the listed digest.
    for entry in release.files() {
        let bytes = std::fs::read(dists.join(entry.path))
            .unwrap_or_else(|e| panic!("{} listed but not published: {e}", entry.path));
        assert_eq!(mirror_core::Sha256Digest::of(&bytes).to_hex(), entry.sha256);
    }
    assert!(release.file("main/i18n/Translation-en.xz").is_some());
    assert!(
        release.file("main/i18n/Translation-de.xz").is_none(),
        "only en by default"
    );
    let translation = std::fs::read(dists.join("main/i18n/Translation-en")).expect("published");
    let names: Vec<String> = Paragraphs::new(&translation)
        .map(|p| {
            p.get_str("Package")
                .expect("utf8")
                .expect("Package")
                .to_owned()
        })
        .collect();
    assert_eq!(
        names.len(),
        selected,
        "one description per selected package: {names:?}"
    );
    assert!(names.contains(&"jq".to_owned()) && !names.contains(&"sl".to_owned()));

    let served = Served::start(&config);
    let client = AptRoot::new(&format!("{}/debian", served.url), "bookworm", "main", &key);
    let update = client.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());
    let show = client.apt_cache(&["show", "jq"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("which only Translation-en carries"),
        "{}",
        apt::show(&show)
    );

    // A configured language is carried too.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}languages = [\"en\", \"de\"]\n")).expect("config");
    ok(&cli(&config, &["sync"]));
    let release_text = std::fs::read_to_string(dists.join("Release")).expect("Release");
    assert!(
        release_text.contains("main/i18n/Translation-de.xz"),
        "{release_text}"
    );
}

#[test]
fn serve_answers_for_the_upstream_host_name() {
    let Some((_, _work, upstream, server, config)) = synced(true) else {
        return;
    };
    let upstream_url = server.url();
    let served = Served::start(&config);

    // DNS pointing the upstream's name at the mirror: the Host header names the upstream.
    let host = upstream_url.trim_start_matches("http://");
    let by_host = served.get("/dists/bookworm/InRelease", &[("Host", host)]);
    assert_eq!(by_host.status, 200);
    assert_eq!(
        by_host.body,
        std::fs::read(upstream.root.join("dists/bookworm/InRelease")).expect("upstream")
    );
    assert!(
        by_host.header("etag").is_some(),
        "the digest ETag as for /debian/..."
    );
    // The mirror's own paths still work, and another host is not routed.
    assert_eq!(
        served.get("/debian/dists/bookworm/InRelease", &[]).status,
        200
    );
    let other = served.get(
        "/dists/bookworm/InRelease",
        &[("Host", "elsewhere.invalid")],
    );
    assert_eq!(other.status, 404);

    // The upstream goes away; a stock client keeps its sources (the upstream URL) and
    // reaches the mirror as its HTTP proxy.
    drop(server);
    let client = AptRoot::new(&upstream_url, "bookworm", "main", &upstream.key_path);
    client.conf(
        "10proxy.conf",
        &format!("Acquire::http::Proxy \"{}/\";\n", served.url),
    );
    let update = client.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", apt::show(&update));
    assert_eq!(apt::complaints(&update), Vec::<String>::new());
    let install = client.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", apt::show(&install));
    assert!(client.downloaded().iter().any(|d| d.starts_with("jq_")));
}
