//! The conformance suite every format passes (`mirror_core::conformance`, issue 29 item
//! 3): APT, conda and simplestreams each provide a loopback upstream they control, and the same checks
//! run against both through the `Repository` trait and the real sync driver.

use std::path::PathBuf;

use mirror_core::conformance::{Upstream, check};
use mirror_core::repository::Repository;
use mirror_core::settings::MirrorSettings;
use mirror_core::signing::SigningKey;
use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};
use mirror_test_support::{Fault, TestServer};

use crate::common::apt;

struct CondaUpstream {
    channel: Channel,
    server: TestServer,
}

impl Upstream for CondaUpstream {
    fn repository(&self) -> Box<dyn Repository> {
        let settings = mirror_conda::CondaConfig {
            name: "chan".into(),
            url: self.server.url(),
            subdirs: vec!["linux-64".into()],
            ..Default::default()
        };
        settings.build().expect("builds")
    }
    fn requests(&self) -> usize {
        self.server.requests().len()
    }
    fn top_level_requests(&self) -> usize {
        // repodata.json.zst of linux-64 and noarch (served, so no fallback request).
        2
    }
    fn change(&mut self) {
        self.channel
            .add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
        self.channel.write_repodata(true);
    }
    fn lie_about_a_file(&mut self) {
        let second = Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda).filename();
        self.server
            .inject_always(&format!("/linux-64/{second}"), Fault::WrongBytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conda_conforms() {
    let work = tempfile::tempdir().expect("tempdir");
    let mut channel = Channel::new(&work.path().join("channel"));
    channel.add(&Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda));
    channel.add(&Pkg::new("noarch", "pure", "1.0", PackageFormat::TarBz2));
    // Both subdirs, each with the compressed index a client asks for first.
    channel.write_repodata(true);
    let server = TestServer::serve_dir(work.path().join("channel"));
    check(&mut CondaUpstream { channel, server }).await;
}

struct AptUpstream {
    root: PathBuf,
    key: SigningKey,
    key_file: PathBuf,
    stanzas: Vec<u8>,
    server: TestServer,
}

impl AptUpstream {
    fn write(&self, stanzas: &[u8], date: &str) {
        apt::write_dated_suite(
            &self.root,
            "bookworm",
            apt::packages_files("main", stanzas),
            &self.key,
            date,
        );
    }
}

impl Upstream for AptUpstream {
    fn repository(&self) -> Box<dyn Repository> {
        let mut settings = mirror_apt::AptConfig::new(
            "debian",
            self.server.url(),
            vec!["bookworm".into()],
            mirror_apt::Keyrings::One(self.key_file.clone()),
        );
        settings.packages = Some(vec!["jq".into()]);
        settings.build().expect("builds")
    }
    fn requests(&self) -> usize {
        self.server.requests().len()
    }
    fn top_level_requests(&self) -> usize {
        // The suite's InRelease (a filtered mirror needs no detached pair).
        1
    }
    fn change(&mut self) {
        // A package outside jq's closure leaves; the index, and so the Release, change.
        let without_sl: Vec<u8> = String::from_utf8_lossy(&self.stanzas)
            .split("\n\n")
            .filter(|s| !s.trim().is_empty() && !s.starts_with("Package: sl\n"))
            .map(|s| format!("{}\n\n", s.trim_end()))
            .collect::<String>()
            .into_bytes();
        assert_ne!(without_sl.len(), self.stanzas.len(), "sl was in the index");
        self.write(&without_sl, "Sun, 12 Jul 2026 10:16:37 UTC");
    }
    fn lie_about_a_file(&mut self) {
        // Every form a client may fetch the index by: its names, and by hash.
        let dir = "dists/bookworm/main/binary-amd64";
        let mut paths: Vec<String> = ["Packages", "Packages.gz", "Packages.xz"]
            .iter()
            .map(|name| format!("/{dir}/{name}"))
            .collect();
        if let Ok(entries) = std::fs::read_dir(self.root.join(dir).join("by-hash/SHA256")) {
            paths.extend(entries.map(|e| {
                format!(
                    "/{dir}/by-hash/SHA256/{}",
                    e.expect("entry").file_name().to_string_lossy()
                )
            }));
        }
        for path in paths {
            self.server.inject_always(&path, Fault::WrongBytes);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_conforms() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("upstream");
    let key = SigningKey::generate("conformance upstream").expect("key");
    let key_file = work.path().join("upstream.asc");
    std::fs::write(&key_file, key.armored_public().expect("armor")).expect("key");
    mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
    let stanzas = apt::fixture_stanzas(&fixture);
    let server = TestServer::serve_dir(&root);
    let mut upstream = AptUpstream {
        root,
        key,
        key_file,
        stanzas,
        server,
    };
    let stanzas = upstream.stanzas.clone();
    upstream.write(&stanzas, "Sat, 11 Jul 2026 10:16:37 UTC");
    check(&mut upstream).await;
}

/// A stream generated and signed here (`simplestreams::write_stream`).
struct StreamUpstream {
    root: PathBuf,
    key: SigningKey,
    key_file: PathBuf,
    server: TestServer,
}

/// The version `change` adds, whose item `lie_about_a_file` serves wrong.
const NEW_ITEM: &str = "noble/amd64/20240303/root";

impl Upstream for StreamUpstream {
    fn repository(&self) -> Box<dyn Repository> {
        mirror_simplestreams::SimplestreamsConfig::new(
            "maas",
            &self.server.url(),
            vec![self.key_file.clone()],
        )
        .build()
        .expect("builds")
    }
    fn requests(&self) -> usize {
        self.server.requests().len()
    }
    fn top_level_requests(&self) -> usize {
        // The index and the one product file.
        2
    }
    fn change(&mut self) {
        let bytes = b"a new version\n";
        let file = self.root.join(NEW_ITEM);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, bytes).expect("write");
        crate::simplestreams::write_stream(&self.root, &self.key, |doc| {
            doc["products"]["com.example.maas:v3:noble:amd64:ga"]["versions"]["20240303"] = serde_json::json!({ "items": { "root": {
                "ftype": "squashfs",
                "path": NEW_ITEM,
                "sha256": mirror_core::Sha256Digest::of(bytes).to_hex(),
                "size": bytes.len(),
            }}});
        });
    }
    fn lie_about_a_file(&mut self) {
        self.server
            .inject_always(&format!("/{NEW_ITEM}"), Fault::WrongBytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simplestreams_conforms() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("upstream");
    let key = SigningKey::generate("conformance stream").expect("key");
    let key_file = work.path().join("upstream.asc");
    std::fs::write(&key_file, key.armored_public().expect("armor")).expect("key");
    crate::simplestreams::write_stream(&root, &key, |_| {});
    let server = TestServer::serve_dir(&root);
    check(&mut StreamUpstream {
        root,
        key,
        key_file,
        server,
    })
    .await;
}
