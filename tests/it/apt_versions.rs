//! `keep_versions = N` (issue 9, item 5): a filtered mirror of an upstream that lists
//! two versions of jq publishes both with each one's own dependencies, so a client can
//! stay on the older one with `apt-get install jq=<version>`, while plain `jq` still
//! gets the newer. With the default (1) the older version is not there: the control.

use std::path::Path;

use mirror_core::signing::SigningKey;

use crate::common::apt::{self, AptRoot};
use crate::common::{Served, cli, keygen, ok};

const OLD: &str = "1.6-2.1+deb12u2";
const NEW: &str = "1.6-2.1+deb12u3";
const NEW_JQ: &str = "pool/main/j/jq/jq_1.6-2.1+deb12u3_amd64.deb";

/// The fixture's packages plus a newer jq (same bytes at a new path) whose library
/// dependency is looser than the older jq's exact one.
fn upstream(fixture: &Path, root: &Path, key: &SigningKey) {
    let stanzas = apt::fixture_stanzas(fixture);
    let jq = mirror_apt::Paragraphs::new(&stanzas)
        .find(|p| p.get_str("Package").ok().flatten() == Some("jq"))
        .expect("jq in the fixture");
    let old_path = jq.get_str("Filename").expect("utf8").expect("Filename");
    assert!(old_path.contains(OLD), "the fixture's jq is {old_path}");
    let newer = String::from_utf8(jq.raw().to_vec())
        .expect("utf8")
        .replace(&format!("Version: {OLD}"), &format!("Version: {NEW}"))
        .replace(&format!("libjq1 (= {OLD})"), "libjq1 (>= 1.6)")
        .replace(old_path, NEW_JQ);
    let mut index = stanzas.clone();
    index.extend_from_slice(format!("{}\n\n", newer.trim_end()).as_bytes());
    mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
    std::fs::copy(root.join(old_path), root.join(NEW_JQ)).expect("newer jq");
    apt::write_signed_suite(root, "bookworm", apt::packages_files("main", &index), key);
}

fn jq_versions(packages: &[u8]) -> Vec<String> {
    let mut versions: Vec<String> = mirror_apt::Paragraphs::new(packages)
        .filter(|p| p.get_str("Package").ok().flatten() == Some("jq"))
        .map(|p| {
            p.get_str("Version")
                .expect("utf8")
                .expect("Version")
                .to_owned()
        })
        .collect();
    versions.sort();
    versions
}

#[test]
fn keep_versions_lets_a_client_install_the_older_version() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    if !apt::available() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let (key, key_path) = apt::upstream_key(dir);
    let root = dir.join("upstream");
    upstream(&fixtures.join("debian-bookworm"), &root, &key);
    let server = mirror_test_support::TestServer::serve_dir(&root);

    let config = dir.join("mirror.toml");
    keygen(dir);
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[[apt]]\n\
                 name = \"debian\"\nurl = \"{}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\n\
                 packages = [\"jq\"]\n{extra}",
                server.url(),
                key_path.display()
            ),
        )
        .expect("config");
    };
    let packages = dir.join("store/public/debian/dists/bookworm/main/binary-amd64/Packages");
    let client = || {
        let served = Served::start(&config);
        let client = AptRoot::new(
            &format!("{}/debian", served.url),
            "bookworm",
            "main",
            &dir.join("keys/signing.asc.pub"),
        );
        let update = client.apt_get(&["-q", "update"]);
        assert!(update.status.success(), "{}", apt::show(&update));
        assert_eq!(apt::complaints(&update), Vec::<String>::new());
        (served, client)
    };
    let pinned = format!("jq={OLD}");

    // The default keeps the candidate only: the older jq cannot be installed.
    write("");
    ok(&cli(&config, &["sync"]));
    assert_eq!(
        jq_versions(&std::fs::read(&packages).expect("Packages")),
        [NEW]
    );
    let (_served, only_new) = client();
    let install = only_new.apt_get(&["-q", "install", "-y", "--download-only", &pinned]);
    assert!(!install.status.success(), "{}", apt::show(&install));

    write("keep_versions = 2\n");
    ok(&cli(&config, &["sync"]));
    assert_eq!(
        jq_versions(&std::fs::read(&packages).expect("Packages")),
        [OLD, NEW]
    );
    let (_served, both) = client();
    let install = both.apt_get(&["-q", "install", "-y", "--download-only", &pinned]);
    assert!(install.status.success(), "{}", apt::show(&install));
    let downloaded = both.downloaded();
    // The older jq's exact library version came with it.
    assert!(
        downloaded.contains(&format!("jq_{OLD}_amd64.deb"))
            && downloaded.contains(&format!("libjq1_{OLD}_amd64.deb")),
        "{downloaded:?}"
    );
    let (_served, fresh) = client();
    let install = fresh.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", apt::show(&install));
    assert!(
        fresh.downloaded().contains(&format!("jq_{NEW}_amd64.deb")),
        "the candidate is still the newest: {:?}",
        fresh.downloaded()
    );
}
