//! A conda upstream channel for tests, and the real py-rattler client.

use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_test_support::conda_channel::{PackageFormat, package_bytes};

/// A minimal valid `.tar.bz2` conda package: `info/index.json` and one file.
pub fn write_package(path: &Path, index: &serde_json::Value) {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.bz2"))
        .expect("a .tar.bz2 path");
    let files = [("lib/libgcc-ng-marker.txt".to_owned(), b"ok\n".to_vec())];
    let bytes = package_bytes(PackageFormat::TarBz2, stem, index, &files);
    std::fs::write(path, bytes).expect("write package");
}

/// The fixture's zlib packages. Its `.conda` has a tar hard-link entry py-rattler 0.28
/// cannot unpack (a fixture quirk, not a mirror fault), so the installable channel lists
/// only the `.tar.bz2`; the tampering test uses the `.conda`.
pub const ZLIB: [&str; 2] = [
    "zlib-1.2.11-h7b6447c_3.tar.bz2",
    "zlib-1.2.11-h7b6447c_3.conda",
];

/// The fixture channel (linux-64 zlib) made installable.
pub fn channel(dir: &Path, with_conda_format: bool) -> Option<PathBuf> {
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

/// Install `spec` from `channel_url` into `prefix` with py-rattler (see
/// `mirror_test_support::conda_client_install`).
pub fn install(channel_url: &str, spec: &str, prefix: &Path) -> Option<Vec<String>> {
    mirror_test_support::conda_client_install(channel_url, spec, prefix)
}
