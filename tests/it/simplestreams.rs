//! simplestreams (issue 34, first part): a loopback stream generated and signed here
//! (two releases x two architectures x two versions, two items each), `mirror-cli sync`
//! of all of it (upstream's signed files kept byte for byte) and of a filtered
//! selection (cut, re-signed with our key, `.json` twins); hostile streams refused.

use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::signing::{Keyring, SigningKey, verify_cleartext};
use mirror_test_support::TestServer;
use serde_json::{Value, json};

use crate::common::{cli, cli_json, keygen, ok};

pub const CONTENT_ID: &str = "com.example.maas:stable:v3:download";

/// The stream under `root`, signed by `key`; `edit` may change the product file first.
pub fn write_stream(root: &Path, key: &SigningKey, edit: impl Fn(&mut Value)) {
    let mut products = serde_json::Map::new();
    for release in ["jammy", "noble"] {
        for arch in ["amd64", "arm64"] {
            let mut versions = serde_json::Map::new();
            for version in ["20240101", "20240202"] {
                let mut items = serde_json::Map::new();
                for (item, ftype) in [("root", "squashfs"), ("kernel", "boot-kernel")] {
                    let path = format!("{release}/{arch}/{version}/{item}");
                    let bytes = format!("{path} bytes\n").into_bytes();
                    std::fs::create_dir_all(root.join(&path).parent().expect("parent"))
                        .expect("mkdir");
                    std::fs::write(root.join(&path), &bytes).expect("item");
                    items.insert(
                        item.into(),
                        json!({
                            "ftype": ftype,
                            "path": path,
                            "sha256": Sha256Digest::of(&bytes).to_hex(),
                            "size": bytes.len(),
                        }),
                    );
                }
                versions.insert(version.into(), json!({ "items": items }));
            }
            products.insert(
                format!("com.example.maas:v3:{release}:{arch}:ga"),
                json!({ "release": release, "arch": arch, "subarch": "ga", "os": "ubuntu", "versions": versions }),
            );
        }
    }
    let mut product_file = json!({
        "content_id": CONTENT_ID,
        "datatype": "image-downloads",
        "format": "products:1.0",
        "updated": "Mon, 01 Jan 2024 00:00:00 +0000",
        "products": products,
    });
    edit(&mut product_file);
    let names: Vec<String> = product_file["products"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let index = json!({
        "format": "index:1.0",
        "updated": "Mon, 01 Jan 2024 00:00:00 +0000",
        "index": {
            CONTENT_ID: {
                "datatype": "image-downloads",
                "format": "products:1.0",
                "path": format!("streams/v1/{CONTENT_ID}.sjson"),
                "products": names,
                "updated": "Mon, 01 Jan 2024 00:00:00 +0000",
            }
        }
    });
    let streams = root.join("streams/v1");
    std::fs::create_dir_all(&streams).expect("mkdir");
    for (name, doc) in [("index", &index), (CONTENT_ID, &product_file)] {
        let text = serde_json::to_string_pretty(doc).expect("json") + "\n";
        std::fs::write(
            streams.join(format!("{name}.sjson")),
            key.clearsign(&text).expect("sign"),
        )
        .expect("write");
    }
}

struct Stream {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    key: SigningKey,
    upstream: TestServer,
}

fn stream() -> Stream {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let key = SigningKey::generate("stream test key").expect("key");
    std::fs::write(
        path.join("upstream.asc"),
        key.armored_public().expect("armor"),
    )
    .expect("key");
    write_stream(&path.join("upstream"), &key, |_| {});
    let upstream = TestServer::serve_dir(path.join("upstream"));
    keygen(&path);
    Stream {
        _dir: dir,
        dir: path,
        key,
        upstream,
    }
}

impl Stream {
    fn config(&self, extra: &str) -> PathBuf {
        let config = self.dir.join("mirror.toml");
        std::fs::write(
            &config,
            format!(
                "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[fetch]\nretries = 1\n\
                 [[simplestreams]]\nname = \"maas\"\nurl = \"{}\"\nkeyring = [\"upstream.asc\"]\n{extra}",
                self.upstream.url()
            ),
        )
        .expect("config");
        config
    }

    fn published(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("store/public/maas").join(path)).expect("published")
    }
}

#[test]
fn an_unfiltered_mirror_keeps_upstreams_signed_files_byte_for_byte() {
    let s = stream();
    let config = s.config("");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let report = &json["mirrors"][0];
    assert_eq!(report["outcome"], "synced", "{json}");
    assert_eq!(report["summary"]["selected"], 16, "{json}");
    assert_eq!(report["summary"]["signed_by"], "upstream");
    for file in [
        "streams/v1/index.sjson",
        &format!("streams/v1/{CONTENT_ID}.sjson"),
    ] {
        assert_eq!(
            s.published(file),
            std::fs::read(s.dir.join("upstream").join(file)).expect("upstream"),
            "{file}"
        );
    }
    let twin: Value =
        serde_json::from_slice(&s.published("streams/v1/index.json")).expect("index.json");
    assert_eq!(
        twin["index"][CONTENT_ID]["path"],
        format!("streams/v1/{CONTENT_ID}.json")
    );
    assert_eq!(
        s.published("noble/arm64/20240101/kernel"),
        b"noble/arm64/20240101/kernel bytes\n"
    );
    // `inspect` reads both kinds of stream file.
    let public = s.dir.join("store/public/maas/streams/v1");
    let (out, index) = cli_json(
        &config,
        &[
            "inspect",
            public.join("index.sjson").to_str().expect("utf8"),
        ],
    );
    ok(&out);
    assert_eq!(index["kind"], "index", "{index}");
    assert_eq!(index["products"], 4, "{index}");
    assert_eq!(index["signed"], true);
    let product = public.join(format!("{CONTENT_ID}.sjson"));
    let (out, products) = cli_json(&config, &["inspect", product.to_str().expect("utf8")]);
    ok(&out);
    assert_eq!(products["items"], 16, "{products}");
    assert_eq!(products["versions"], 8, "{products}");

    // Nothing changed upstream: nothing fetched again but the signed files.
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "unchanged", "{json}");
}

#[test]
fn a_filtered_mirror_is_cut_to_the_selection_and_signed_with_our_key() {
    let s = stream();
    let config = s.config("filters = [\"release~(noble)\", \"arch=amd64\"]\nkeep_versions = 1\n");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let report = &json["mirrors"][0];
    assert_eq!(
        report["summary"]["selected"], 2,
        "newest noble amd64: root + kernel: {json}"
    );
    assert_eq!(report["summary"]["signed_by"], "ours");
    let ours = Keyring::load(&s.dir.join("keys/signing.asc.pub")).expect("our key");
    let upstreams = s.key.public_keyring();
    let product_path = format!("streams/v1/{CONTENT_ID}.sjson");
    let signed = s.published(&product_path);
    let verified = verify_cleartext(&ours, &signed, "published").expect("signed by our key");
    assert!(verify_cleartext(&upstreams, &signed, "published").is_err());
    let doc: Value = serde_json::from_str(&verified.text).expect("json");
    let products = doc["products"].as_object().expect("products");
    assert_eq!(products.len(), 1, "{doc}");
    let versions = products["com.example.maas:v3:noble:amd64:ga"]["versions"]
        .as_object()
        .expect("versions");
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["20240202"]);
    let index = verify_cleartext(&ours, &s.published("streams/v1/index.sjson"), "index")
        .expect("index signed by our key");
    let index: Value = serde_json::from_str(&index.text).expect("json");
    assert_eq!(index["index"][CONTENT_ID]["path"], product_path);
    assert_eq!(
        index["index"][CONTENT_ID]["products"],
        json!(["com.example.maas:v3:noble:amd64:ga"])
    );
    let twin: Value =
        serde_json::from_slice(&s.published(&format!("streams/v1/{CONTENT_ID}.json")))
            .expect("twin");
    assert_eq!(twin, doc);
    assert_eq!(
        s.published("noble/amd64/20240202/root"),
        b"noble/amd64/20240202/root bytes\n"
    );
    assert!(!s.dir.join("store/public/maas/jammy").exists());
    assert!(
        !s.dir
            .join("store/public/maas/noble/amd64/20240101")
            .exists()
    );
}

/// A change to the upstream stream.
type Attack = Box<dyn Fn(&Stream)>;

#[test]
fn hostile_streams_are_refused_and_nothing_is_published() {
    let s = stream();
    let config = s.config("");
    ok(&cli(&config, &["sync"]));
    let published = std::fs::read_link(s.dir.join("store/live")).expect("live");

    let cases: Vec<(&str, i32, Attack)> = vec![
        (
            "an item whose bytes lie",
            4,
            Box::new(|s: &Stream| {
                // A new version whose file is not what its record says.
                write_stream(&s.dir.join("upstream"), &s.key, |doc| {
                    let versions =
                        &mut doc["products"]["com.example.maas:v3:noble:amd64:ga"]["versions"];
                    versions["20240303"] = json!({ "items": { "root": {
                        "ftype": "squashfs",
                        "path": "noble/amd64/20240303/root",
                        "sha256": Sha256Digest::of(b"what the record says\n").to_hex(),
                        "size": 21,
                    }}});
                });
                let file = s.dir.join("upstream/noble/amd64/20240303/root");
                std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
                std::fs::write(file, b"what upstream serves\n").expect("write");
            }),
        ),
        (
            "a path with ..",
            1,
            Box::new(|s: &Stream| {
                write_stream(&s.dir.join("upstream"), &s.key, |doc| {
                    doc["products"]["com.example.maas:v3:noble:amd64:ga"]["versions"]["20240202"]
                        ["items"]["root"]["path"] = "../../etc/passwd".into();
                });
            }),
        ),
        (
            "an md5-only item",
            4,
            Box::new(|s: &Stream| {
                write_stream(&s.dir.join("upstream"), &s.key, |doc| {
                    let item = &mut doc["products"]["com.example.maas:v3:noble:amd64:ga"]["versions"]
                        ["20240202"]["items"]["root"];
                    item.as_object_mut().expect("item").remove("sha256");
                    item["md5"] = "0123456789abcdef0123456789abcdef".into();
                });
            }),
        ),
        (
            "a product file signed by another key",
            4,
            Box::new(|s: &Stream| {
                let other = SigningKey::generate("someone else").expect("key");
                let product = s
                    .dir
                    .join(format!("upstream/streams/v1/{CONTENT_ID}.sjson"));
                let body = mirror_core::signing::cleartext_body(
                    &std::fs::read(&product).expect("read"),
                    "x",
                )
                .expect("body");
                std::fs::write(&product, other.clearsign(&body).expect("sign")).expect("write");
            }),
        ),
    ];
    for (case, code, attack) in cases {
        write_stream(&s.dir.join("upstream"), &s.key, |_| {});
        attack(&s);
        let out = cli(&config, &["sync"]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_link(s.dir.join("store/live")).expect("live"),
            published,
            "{case}: nothing published"
        );
    }
    // An index naming a product file upstream does not have; a stream file beyond
    // `max_index_size` (a 1 GB one is refused the same way, before it is held).
    write_stream(&s.dir.join("upstream"), &s.key, |_| {});
    let product = s
        .dir
        .join(format!("upstream/streams/v1/{CONTENT_ID}.sjson"));
    std::fs::rename(&product, s.dir.join("moved")).expect("move");
    let out = cli(&config, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(s.dir.join("moved"), &product).expect("move back");
    let small = s.config("");
    let text = std::fs::read_to_string(&small).expect("config");
    std::fs::write(
        &small,
        text.replace("[fetch]\n", "[fetch]\nmax_index_size = \"2KiB\"\n"),
    )
    .expect("config");
    let out = cli(&small, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "too large: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_link(s.dir.join("store/live")).expect("live"),
        published,
        "nothing published"
    );

    // Filters that match nothing: the never-lie rule.
    write_stream(&s.dir.join("upstream"), &s.key, |_| {});
    let none = s.config("filters = [\"release=focal\"]\n");
    let out = cli(&none, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tool` (`sstream-query`, `sstream-mirror`) of the real python-simplestreams client
/// (scripts/setup-simplestreams-client.sh) with `args`; `None` (skipped) without it.
fn sstream(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    let bin = mirror_test_support::workspace_root()
        .join(".venv-simplestreams/bin")
        .join(tool);
    if !bin.is_file() {
        mirror_test_support::skip(&format!(
            "{} is missing (scripts/setup-simplestreams-client.sh)",
            bin.display()
        ));
        return None;
    }
    Some(
        std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("the simplestreams client runs"),
    )
}

/// Item 4: the real `sstream-query` and `sstream-mirror` read the served filtered
/// mirror with our public key (gpgv checks every signature), list exactly the selected
/// items, and mirror them with every checksum checked, also inside after a bundle round
/// trip; with upstream's key instead, the signatures are refused.
#[test]
fn sstream_query_and_sstream_mirror_read_the_served_mirror_with_our_key() {
    let s = stream();
    let config = s.config("filters = [\"release~(noble)\", \"arch=amd64\"]\nkeep_versions = 1\n");
    ok(&cli(&config, &["sync"]));
    let served = crate::common::Served::start(&config);
    // gpgv reads binary keyrings.
    let ours = SigningKey::load(&s.dir.join("keys/signing.asc")).expect("our key");
    let keyring = s.dir.join("ours.gpg");
    std::fs::write(&keyring, ours.public_binary().expect("binary")).expect("keyring");
    let index = format!("{}/maas/streams/v1/index.sjson", served.url);
    let keyring_arg = format!("--keyring={}", keyring.display());
    let Some(query) = sstream("sstream-query", &[&keyring_arg, "--json", &index]) else {
        return;
    };
    assert!(
        query.status.success(),
        "sstream-query: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    let listed: Vec<Value> = serde_json::from_slice(&query.stdout).expect("a JSON list");
    let mut paths: Vec<&str> = listed.iter().filter_map(|i| i["path"].as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["noble/amd64/20240202/kernel", "noble/amd64/20240202/root"],
        "{listed:?}"
    );
    let target = s.dir.join("client-mirror");
    let mirrored = sstream(
        "sstream-mirror",
        &[&keyring_arg, &index, target.to_str().expect("utf8")],
    )
    .expect("client present");
    assert!(
        mirrored.status.success(),
        "sstream-mirror: {}",
        String::from_utf8_lossy(&mirrored.stderr)
    );
    assert_eq!(
        std::fs::read(target.join("noble/amd64/20240202/root")).expect("mirrored item"),
        b"noble/amd64/20240202/root bytes\n"
    );
    assert!(!target.join("jammy").exists());

    // Across the gap: a bundle, imported inside, served, read by the same client.
    drop(served);
    let bundle = s.dir.join("bundle");
    ok(&cli(
        &config,
        &["export", "--out", bundle.to_str().expect("utf8")],
    ));
    let inside = s.dir.join("inside");
    std::fs::create_dir_all(&inside).expect("inside");
    let inside_config = inside.join("mirror.toml");
    std::fs::write(
        &inside_config,
        format!(
            "store = \"store\"\n[transfer]\ntrusted_keys = [\"{}\"]\n",
            s.dir.join("keys/signing.asc.pub").display()
        ),
    )
    .expect("inside config");
    ok(&cli(
        &inside_config,
        &["import", bundle.to_str().expect("utf8")],
    ));
    ok(&cli(&inside_config, &["verify"]));
    let inside_served = crate::common::Served::start(&inside_config);
    let inside_index = format!("{}/maas/streams/v1/index.sjson", inside_served.url);
    let query =
        sstream("sstream-query", &[&keyring_arg, "--json", &inside_index]).expect("client present");
    assert!(
        query.status.success(),
        "inside: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    let inside_listed: Vec<Value> = serde_json::from_slice(&query.stdout).expect("a JSON list");
    assert_eq!(inside_listed.len(), 2, "{inside_listed:?}");

    // Upstream's key does not vouch for what we re-signed.
    let theirs = s.dir.join("theirs.gpg");
    std::fs::write(&theirs, s.key.public_binary().expect("binary")).expect("keyring");
    let refused = sstream(
        "sstream-query",
        &[
            &format!("--keyring={}", theirs.display()),
            "--json",
            &inside_index,
        ],
    )
    .expect("client present");
    assert!(!refused.status.success(), "a wrong key must fail");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("gpg")
            || String::from_utf8_lossy(&refused.stderr).contains("signature"),
        "refused for its signature: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Item 5: `init --maas-images` writes a section that selects those releases and
/// architectures, newest version each, and its first `sync` publishes exactly that.
#[test]
fn init_seeds_a_maas_selection_that_syncs() {
    let s = stream();
    let dir = s.dir.join("seeded");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = dir.join("mirror.toml");
    let url = s.upstream.url();
    let keyring = s.dir.join("upstream.asc");
    let out = cli(
        &config,
        &[
            "init",
            "--maas-images",
            "noble,jammy",
            "--arch",
            "arm64",
            "--images-url",
            &url,
            "--images-keyring",
            keyring.to_str().expect("utf8"),
        ],
    );
    ok(&out);
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("[[simplestreams]]"), "{text}");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let summary = &json["mirrors"][0]["summary"];
    assert_eq!(
        summary["selected"], 4,
        "noble and jammy on arm64, newest: {json}"
    );
    assert_eq!(summary["products"], 2, "{json}");
}

/// Item 1: an item stating only an md5 is refused unless `allow_weak_checksums`; allowed,
/// it is checked against its md5 and size and published under its SHA-256, and bytes
/// that do not match the md5 are refused.
#[test]
fn weak_checksums_only_when_allowed_and_then_checked() {
    let s = stream();
    let bytes = b"an old image\n";
    let file = s.dir.join("upstream/noble/amd64/20240303/root");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, bytes).expect("write");
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(bytes));
    let weak_version = |doc: &mut Value| {
        doc["products"]["com.example.maas:v3:noble:amd64:ga"]["versions"]["20240303"] = json!({
            "items": { "root": { "path": "noble/amd64/20240303/root", "md5": md5, "size": bytes.len() } }
        });
    };
    write_stream(&s.dir.join("upstream"), &s.key, weak_version);
    let out = cli(&s.config(""), &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Allowed: same size, other bytes, and the md5 says no.
    let config = s.config("allow_weak_checksums = true\n");
    std::fs::write(&file, b"an old imagE\n").expect("tamper");
    let out = cli(&config, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("md5 mismatch"));

    // The bytes the md5 names: taken, published under their SHA-256.
    std::fs::write(&file, bytes).expect("write");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["summary"]["weak"], 1, "{json}");
    assert_eq!(s.published("noble/amd64/20240303/root"), bytes);
}
