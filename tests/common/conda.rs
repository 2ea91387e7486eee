//! A conda upstream channel for tests, and the real py-rattler client.

use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;

/// A minimal valid `.tar.bz2` conda package: `info/index.json` and one file.
pub fn write_package(path: &Path, index: &serde_json::Value) {
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
