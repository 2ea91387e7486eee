//! The PyPI mirror end to end: `mirror-cli sync` of a `[[pypi]]` section from a loopback
//! simple index of real wheels, the tree served by `mirror-cli serve` (pages chosen by
//! `Accept`), and the real pip and uv installing from it; then a bundle carried to an
//! inside store, imported, served and installed from again.

use mirror_test_support::pypi_index::{Index, Wheel};
use mirror_test_support::{TestServer, install_with_each_client};

use crate::common::{Served, cli, cli_json, keygen, ok};

fn upstream(dir: &std::path::Path) {
    let mut index = Index::new(dir);
    index
        .add(&Wheel::new("app", "1.0").requires(&["lib>=1", "extra-only; extra == 'more'"]))
        .add(&Wheel::new("lib", "1.0"))
        .add(&Wheel::new("lib", "2.0").requires_python(">=3.99"))
        .add(&Wheel::new("extra-only", "1.0"));
    index.write_pages();
}

/// pip and uv install `app` from `index_url` into fresh directories.
fn clients_install(index_url: &str) {
    for (client, installed) in install_with_each_client(index_url, &["app"]) {
        assert_eq!(installed, ["app==1.0", "lib==1.0"], "{client}");
    }
}

#[test]
fn pip_and_uv_install_from_the_served_mirror_and_after_a_bundle_round_trip() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    upstream(&dir.join("upstream"));
    let server = TestServer::serve_dir(dir.join("upstream"));
    keygen(dir);
    let python = "3.11";
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n\
             [[pypi]]\nname = \"pypi\"\nurl = \"{}\"\nrequirements = [\"app\"]\n\
             python = [\"{python}\"]\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
            server.url_for("simple")
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "synced", "{json}");
    let summary = &json["mirrors"][0]["summary"];
    assert_eq!(summary["releases"]["lib"][0], "1.0", "{json}");
    assert!(summary["releases"].get("extra-only").is_none(), "{json}");

    let served = Served::start(&config);
    // The page by Accept: JSON for uv's and pip's header, HTML for none, 406 for JSON
    // that is not the simple API's, and the slash added.
    let uv_accept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
    let page = served.get("/pypi/simple/lib/", &[("Accept", uv_accept)]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    assert_eq!(page.header("vary"), Some("accept"));
    let json: serde_json::Value = serde_json::from_slice(&page.body).expect("JSON page");
    assert_eq!(json["name"], "lib");
    assert_eq!(json["files"][0]["filename"], "lib-1.0-py3-none-any.whl");
    let html = served.get("/pypi/simple/lib/", &[]);
    assert_eq!(html.header("content-type"), Some("text/html"));
    assert!(String::from_utf8_lossy(&html.body).contains("lib-1.0-py3-none-any.whl"));
    assert!(html.header("etag").is_some());
    let refused = served.get("/pypi/simple/lib/", &[("Accept", "application/json")]);
    assert_eq!(refused.status, 406);
    let redirect = served.get("/pypi/simple/lib", &[]);
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("lib/"));
    clients_install(&format!("{}/pypi/simple/", served.url));
    drop(served);
    // The store's own commands know the mirror as any other.
    let (out, status) = cli_json(&config, &["status"]);
    ok(&out);
    assert!(status.to_string().contains("\"pypi\""), "{status}");
    ok(&cli(&config, &["verify"]));
    ok(&cli(&config, &["prune", "--keep", "1"]));
    assert!(
        dir.join("store/public/pypi/simple/lib/index.json")
            .is_file()
    );

    // Across the gap: a bundle, imported inside, served and installed from.
    let bundle = dir.join("bundle");
    ok(&cli(
        &config,
        &["export", "--out", bundle.to_str().expect("utf8")],
    ));
    let inside = dir.join("inside");
    std::fs::create_dir_all(&inside).expect("inside");
    let inside_config = inside.join("mirror.toml");
    std::fs::write(
        &inside_config,
        format!(
            "store = \"store\"\n[transfer]\ntrusted_keys = [\"{}\"]\n",
            dir.join("keys/signing.asc.pub").display()
        ),
    )
    .expect("inside config");
    ok(&cli(
        &inside_config,
        &["import", bundle.to_str().expect("utf8")],
    ));
    drop(server); // the inside has no upstream
    let served = Served::start(&inside_config);
    clients_install(&format!("{}/pypi/simple/", served.url));
}

/// `init --pip-freeze FILE --pypi-url URL` writes a `[[pypi]]` section that syncs.
#[test]
fn init_seeds_a_mirror_from_pip_freeze_and_it_syncs() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    upstream(&dir.join("upstream"));
    let server = TestServer::serve_dir(dir.join("upstream"));
    let freeze = dir.join("freeze.txt");
    std::fs::write(
        &freeze,
        "app==1.0\nlib==1.0\n-e git+https://example.invalid/me.git#egg=me\n",
    )
    .expect("freeze");
    let config = dir.join("mirror.toml");
    let (out, json) = cli_json(
        &config,
        &[
            "init",
            "--pip-freeze",
            freeze.to_str().expect("utf8"),
            "--pypi-url",
            &server.url_for("simple"),
        ],
    );
    ok(&out);
    assert_eq!(json["mirrors"], 1, "{json}");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("[[pypi]]"), "{text}");
    // The environment's interpreter is not known from a freeze: pick the suite's.
    let text = text.replace("python = [\"3.12\"]", "python = [\"3.11\"]");
    std::fs::write(&config, text).expect("config");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(
        json["mirrors"][0]["summary"]["releases"]["app"][0], "1.0",
        "{json}"
    );
    // A file that is no freeze is a configuration error.
    std::fs::write(&freeze, "-r other.txt\n").expect("freeze");
    let out = cli(
        &dir.join("other.toml"),
        &["init", "--pip-freeze", freeze.to_str().expect("utf8")],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Real wheels (requests and its dependencies, as `scripts/setup-pypi-clients.sh`
/// downloads them, digests pinned), served by a loopback index writing PEP 691 JSON pages:
/// the mirror resolves for CPython 3.11 and 3.12, and pip and uv install requests from it
/// through `serve`; a wheel changed after its page was written is refused (exit 4) and
/// nothing is published.
#[test]
fn real_wheels_from_a_json_index_install_with_pip_and_uv_and_a_tampered_one_is_refused() {
    let wheels = mirror_test_support::workspace_root().join(".cache/pypi-wheels");
    let found: Vec<std::path::PathBuf> = std::fs::read_dir(&wheels)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "whl"))
                .collect()
        })
        .unwrap_or_default();
    if found.len() < 6 {
        mirror_test_support::skip(&format!(
            "the real wheels are missing from {} (scripts/setup-pypi-clients.sh)",
            wheels.display()
        ));
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let mut index = Index::new(&dir.join("upstream"));
    for wheel in &found {
        index.add_wheel_file(wheel);
    }
    index.write_pages();
    let server = TestServer::serve_dir(dir.join("upstream"));
    let files_url = server.url_for("files");
    for project in index.projects() {
        server.inject_always(
            &format!("/simple/{project}/"),
            mirror_test_support::Fault::Replace {
                content_type: "application/vnd.pypi.simple.v1+json".into(),
                body: index.json_page(&project, &files_url),
            },
        );
    }
    let write_config = |path: &std::path::Path, store: &str| {
        std::fs::write(
            path,
            format!(
                "store = \"{store}\"\n[[pypi]]\nname = \"pypi\"\nurl = \"{}\"\n\
                 requirements = [\"requests\"]\npython = [\"3.11\", \"3.12\"]\n",
                server.url_for("simple")
            ),
        )
        .expect("config");
    };
    let config = dir.join("mirror.toml");
    write_config(&config, "store");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let releases = &json["mirrors"][0]["summary"]["releases"];
    let names: Vec<&String> = releases.as_object().expect("releases").keys().collect();
    assert_eq!(
        names,
        [
            "certifi",
            "charset-normalizer",
            "idna",
            "requests",
            "urllib3"
        ],
        "{json}"
    );
    let packages = dir.join("store/public/pypi/packages/charset-normalizer");
    let published = std::fs::read_dir(&packages).expect("published").count();
    assert_eq!(published, 4, "both CPython wheels and their metadata");
    let served = Served::start(&config);
    let url = format!("{}/pypi/simple/", served.url);
    for (client, installed) in install_with_each_client(&url, &["requests"]) {
        let names: Vec<&str> = installed
            .iter()
            .map(|d| d.split("==").next().unwrap_or(d))
            .collect();
        assert_eq!(
            names,
            [
                "certifi",
                "charset-normalizer",
                "idna",
                "requests",
                "urllib3"
            ],
            "{client}"
        );
    }
    drop(served);

    // The wheel changes after its page stated its digest: a fresh store refuses it.
    let urllib3 = found
        .iter()
        .find_map(|p| p.file_name()?.to_str().filter(|n| n.starts_with("urllib3")))
        .expect("urllib3's wheel")
        .to_owned();
    let upstream_wheel = dir.join("upstream/files").join(&urllib3);
    let mut bytes = std::fs::read(&upstream_wheel).expect("wheel");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&upstream_wheel, bytes).expect("tamper");
    let tampered = dir.join("tampered.toml");
    write_config(&tampered, "tampered-store");
    let out = cli(&tampered, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(&urllib3), "{stderr}");
    assert!(!dir.join("tampered-store/public/pypi").exists());
}

/// Opt-in, against a live index: `MIRROR_LIVE_PYPI_URL=https://HOST/simple cargo test -p
/// mirror-cli --test it pypi::a_live_index` mirrors the closure of `requests` for the
/// client's CPython and installs it with pip and uv through `serve`. Without the variable
/// it does nothing (no index host is written into the repository).
#[test]
fn a_live_index_mirrors_requests_when_asked() {
    let Ok(index) = std::env::var("MIRROR_LIVE_PYPI_URL") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[[pypi]]\nname = \"pypi\"\nurl = \"{index}\"\n\
             requirements = [\"requests\"]\npython = [\"3.11\"]\n"
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert!(
        json["mirrors"][0]["summary"]["releases"]["requests"].is_array(),
        "{json}"
    );
    let served = Served::start(&config);
    let url = format!("{}/pypi/simple/", served.url);
    for (client, installed) in install_with_each_client(&url, &["requests"]) {
        assert!(
            installed.iter().any(|d| d.starts_with("requests==")),
            "{client}: {installed:?}"
        );
    }
}
