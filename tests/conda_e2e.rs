//! conda end to end: a loopback upstream channel (the real zlib packages of the
//! conda_format_repo fixture, plus the libgcc-ng package that fixture lists but does not
//! ship, written here), `mirror-cli sync` with a match spec, `mirror-cli serve`, and the
//! real py-rattler client solving and installing from the mirror over HTTP.

mod common;

use std::path::{Path, PathBuf};

use common::{Served, cli, cli_json, ok};
use mirror_core::Sha256Digest;
use mirror_test_support::{TestServer, workspace_root};

/// A minimal valid `.tar.bz2` conda package: `info/index.json` and one file.
fn write_package(path: &Path, index: &serde_json::Value) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .expect("tar entry");
    };
    add("info/index.json", &serde_json::to_vec(index).expect("json"));
    add("info/paths.json", br#"{"paths": [{"_path": "lib/libgcc-ng-marker.txt", "path_type": "hardlink", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size_in_bytes": 3}], "paths_version": 1}"#);
    add("lib/libgcc-ng-marker.txt", b"ok\n");
    let tar = tar.into_inner().expect("tar");
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    std::io::Write::write_all(&mut bz, &tar).expect("bzip2");
    std::fs::write(path, bz.finish().expect("bzip2")).expect("write package");
}

/// The fixture's zlib packages. Its `.conda` has a tar hard-link entry py-rattler 0.28
/// cannot unpack (a fixture quirk, not a mirror fault), so the installable channel lists
/// only the `.tar.bz2`; the tampering test uses the `.conda`.
const ZLIB: [&str; 2] = [
    "zlib-1.2.11-h7b6447c_3.tar.bz2",
    "zlib-1.2.11-h7b6447c_3.conda",
];

/// The fixture channel (linux-64 zlib) made installable.
fn channel(dir: &Path, with_conda_format: bool) -> Option<PathBuf> {
    let fixtures = mirror_test_support::fixtures()?;
    let source = fixtures.join("conda/conda+conda/tests/data/conda_format_repo");
    let root = dir.join("channel");
    std::fs::create_dir_all(root.join("linux-64")).expect("mkdir");
    std::fs::create_dir_all(root.join("noarch")).expect("mkdir");
    for name in ZLIB {
        std::fs::copy(
            source.join("linux-64").join(name),
            root.join("linux-64").join(name),
        )
        .expect("copy");
    }
    let mut repodata: serde_json::Value = serde_json::from_slice(
        &std::fs::read(source.join("linux-64/repodata.json")).expect("read"),
    )
    .expect("json");
    if !with_conda_format {
        repodata["packages.conda"] = serde_json::json!({});
    }
    let libgcc = "libgcc-ng-8.2.0-hdf63c60_1.tar.bz2";
    let record = repodata["packages"][libgcc].clone();
    write_package(&root.join("linux-64").join(libgcc), &record);
    let bytes = std::fs::read(root.join("linux-64").join(libgcc)).expect("read");
    repodata["packages"][libgcc]["sha256"] = Sha256Digest::of(&bytes).to_hex().into();
    repodata["packages"][libgcc]["size"] = bytes.len().into();
    repodata["packages"][libgcc]
        .as_object_mut()
        .expect("record")
        .remove("md5");
    std::fs::write(
        root.join("linux-64/repodata.json"),
        serde_json::to_vec(&repodata).expect("json"),
    )
    .expect("write");
    std::fs::write(
        root.join("noarch/repodata.json"),
        br#"{"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}, "repodata_version": 1}"#,
    )
    .expect("write");
    Some(root)
}

fn config(dir: &Path, upstream: &str) -> PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 1\n[[conda]]\nname = \"conda\"\nurl = \"{upstream}\"\nsubdirs = [\"linux-64\"]\nspecs = [\"zlib\"]\n"
        ),
    )
    .expect("config");
    config
}

#[test]
fn py_rattler_installs_from_the_served_mirror() {
    let work = tempfile::tempdir().expect("tempdir");
    let Some(upstream_dir) = channel(work.path(), false) else {
        return;
    };
    let upstream = TestServer::serve_dir(&upstream_dir);
    let config = config(work.path(), &upstream.url());

    let (out, json) = cli_json(&config, &["sync", "--dry-run"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "dry-run");
    assert_eq!(
        json["mirrors"][0]["missing_files"], 2,
        "zlib + libgcc-ng: {json}"
    );
    assert!(
        upstream
            .requests()
            .iter()
            .all(|p| p.ends_with(".json") || p.contains("repodata")),
        "dry run fetched no package"
    );

    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "synced", "{json}");
    let channel = work.path().join("store/public/conda");
    for name in &ZLIB[..1] {
        assert_eq!(
            std::fs::read(channel.join("linux-64").join(name)).expect("published"),
            std::fs::read(upstream_dir.join("linux-64").join(name)).expect("upstream")
        );
    }
    assert!(channel.join("noarch/repodata.json").is_file());

    // Nothing changed upstream: no package is fetched again.
    let before = upstream.requests().len();
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "unchanged", "{json}");
    assert!(
        upstream.requests()[before..]
            .iter()
            .all(|p| !p.ends_with(".conda") && !p.ends_with(".bz2") || p.contains("repodata"))
    );

    let (out, json) = cli_json(
        &config,
        &[
            "inspect",
            channel
                .join("linux-64/repodata.json")
                .to_str()
                .expect("utf8"),
        ],
    );
    ok(&out);
    assert_eq!(json["packages"], 2, "zlib + libgcc-ng: {json}");

    let python = workspace_root().join(".venv-conda-client/bin/python");
    if !python.is_file() {
        println!(
            "skipping the client half: {} missing (scripts/setup-conda-client.sh)",
            python.display()
        );
        return;
    }
    let served = Served::start(&config);
    let prefix = work.path().join("env");
    let output = std::process::Command::new(&python)
        .arg(workspace_root().join("tests/support/conda_client.py"))
        .arg(format!("{}/conda", served.url))
        // The fixture's own zlib archives carry link entries py-rattler 0.28 refuses to
        // unpack (fixture quirk, same from upstream directly); the client installs the
        // dependency this test built, solved and fetched through the mirror over HTTP.
        .arg("libgcc-ng >=7.3.0")
        .arg(&prefix)
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let installed: Vec<String> = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no package list: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(installed.contains(&"libgcc-ng".to_owned()), "{installed:?}");
    assert_eq!(
        std::fs::read(prefix.join("lib/libgcc-ng-marker.txt")).expect("installed file"),
        b"ok\n"
    );
}

#[test]
fn tampered_package_is_refused_and_nothing_is_published() {
    let work = tempfile::tempdir().expect("tempdir");
    let Some(upstream_dir) = channel(work.path(), true) else {
        return;
    };
    let package = upstream_dir.join("linux-64/zlib-1.2.11-h7b6447c_3.conda");
    let mut bytes = std::fs::read(&package).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&package, bytes).expect("write");
    let upstream = TestServer::serve_dir(&upstream_dir);
    let config = config(work.path(), &upstream.url());
    let out = cli(&config, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("zlib-1.2.11-h7b6447c_3.conda") && stderr.contains("mismatch"),
        "{stderr}"
    );
    assert!(!work.path().join("store/public/conda").exists());
}
