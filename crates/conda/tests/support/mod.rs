//! A conda channel written by hand in a temp dir: real `.tar.bz2` (bzip2'd tar) and `.conda`
//! (zip of `metadata.json`, `info-*.tar.zst`, `pkg-*.tar.zst`) packages with
//! `info/index.json` and `info/paths.json`, installable by real clients, and a
//! `repodata.json` per subdir listing them with their sha256 and size. Plus the sync
//! plumbing every test uses.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use mirror_conda::{CondaConfig, CondaMirror};
use mirror_core::digest::Sha256Digest;
use mirror_core::fetch::{FetchOptions, Fetcher};
use mirror_core::reporter::NoReporter;
use mirror_core::repository::SyncContext;
use mirror_core::store::Store;
use mirror_core::sync::{SyncError, SyncOptions, SyncReport, sync};
use serde_json::{Value, json};

/// Archive format of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TarBz2,
    Conda,
}

/// A package to write.
#[derive(Debug, Clone)]
pub struct Pkg {
    pub name: &'static str,
    pub version: &'static str,
    pub build: &'static str,
    pub subdir: &'static str,
    pub depends: Vec<&'static str>,
    pub license: Option<&'static str>,
    pub format: Format,
}

impl Pkg {
    pub fn new(
        subdir: &'static str,
        name: &'static str,
        version: &'static str,
        format: Format,
    ) -> Self {
        Self {
            name,
            version,
            build: if subdir == "noarch" { "pyh_0" } else { "h0_0" },
            subdir,
            depends: Vec::new(),
            license: Some("MIT"),
            format,
        }
    }
    pub fn depends(mut self, depends: &[&'static str]) -> Self {
        self.depends = depends.to_vec();
        self
    }
    pub fn license(mut self, license: Option<&'static str>) -> Self {
        self.license = license;
        self
    }
    pub fn filename(&self) -> String {
        let ext = match self.format {
            Format::TarBz2 => ".tar.bz2",
            Format::Conda => ".conda",
        };
        format!("{}-{}-{}{ext}", self.name, self.version, self.build)
    }
}

/// A channel directory being built.
pub struct Channel {
    pub dir: PathBuf,
    /// subdir -> map key ("packages" / "packages.conda") -> filename -> record.
    pub records: BTreeMap<String, BTreeMap<&'static str, BTreeMap<String, Value>>>,
}

impl Channel {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            records: BTreeMap::new(),
        }
    }

    /// Write the package file and remember its record.
    pub fn add(&mut self, pkg: &Pkg) -> &mut Self {
        let mut index = json!({
            "name": pkg.name,
            "version": pkg.version,
            "build": pkg.build,
            "build_number": 0,
            "depends": pkg.depends,
            "subdir": pkg.subdir,
            "timestamp": 1_700_000_000_000u64,
        });
        if let Some(license) = pkg.license {
            index["license"] = json!(license);
        }
        if pkg.subdir == "noarch" {
            index["noarch"] = json!("generic");
        } else {
            index["platform"] = json!("linux");
            index["arch"] = json!("x86_64");
        }
        let bytes = package_bytes(pkg, &index);
        let dir = self.dir.join(pkg.subdir);
        std::fs::create_dir_all(&dir).expect("mkdir subdir");
        std::fs::write(dir.join(pkg.filename()), &bytes).expect("write package");
        let mut record = index;
        record["sha256"] = json!(Sha256Digest::of(&bytes).to_hex());
        record["size"] = json!(bytes.len());
        let key = match pkg.format {
            Format::TarBz2 => "packages",
            Format::Conda => "packages.conda",
        };
        self.records
            .entry(pkg.subdir.to_owned())
            .or_default()
            .entry(key)
            .or_default()
            .insert(pkg.filename(), record);
        self
    }

    /// A record by subdir and file name.
    pub fn record_mut(&mut self, subdir: &str, filename: &str) -> &mut Value {
        let maps = self.records.get_mut(subdir).expect("subdir");
        for map in maps.values_mut() {
            if let Some(r) = map.get_mut(filename) {
                return r;
            }
        }
        panic!("no record {subdir}/{filename}")
    }

    /// The repodata.json text of `subdir`, pretty printed like conda-index does.
    pub fn repodata(&self, subdir: &str) -> Vec<u8> {
        let maps = self.records.get(subdir).cloned().unwrap_or_default();
        let doc = json!({
            "info": {"subdir": subdir},
            "packages": maps.get("packages").cloned().unwrap_or_default(),
            "packages.conda": maps.get("packages.conda").cloned().unwrap_or_default(),
            "removed": [],
            "repodata_version": 1,
        });
        let mut out = serde_json::to_vec_pretty(&doc).expect("serialise");
        out.push(b'\n');
        out
    }

    /// Write every subdir's `repodata.json` (and `.zst` when `zst`).
    pub fn write_repodata(&self, zst: bool) {
        for subdir in self.records.keys() {
            let json = self.repodata(subdir);
            let dir = self.dir.join(subdir);
            std::fs::write(dir.join("repodata.json"), &json).expect("write repodata");
            if zst {
                let packed = zstd::encode_all(&json[..], 3).expect("zstd");
                std::fs::write(dir.join("repodata.json.zst"), packed).expect("write zst");
            }
        }
    }
}

/// The package's bytes: a payload file plus `info/index.json` and `info/paths.json`.
fn package_bytes(pkg: &Pkg, index: &Value) -> Vec<u8> {
    let payload_path = format!("share/{}/README", pkg.name);
    let payload = format!("{} {} {}\n", pkg.name, pkg.version, pkg.build).into_bytes();
    let paths = json!({
        "paths": [{
            "_path": payload_path,
            "path_type": "hardlink",
            "sha256": Sha256Digest::of(&payload).to_hex(),
            "size_in_bytes": payload.len(),
        }],
        "paths_version": 1,
    });
    let info_files: Vec<(String, Vec<u8>)> = vec![
        (
            "info/index.json".into(),
            serde_json::to_vec_pretty(index).expect("json"),
        ),
        (
            "info/paths.json".into(),
            serde_json::to_vec_pretty(&paths).expect("json"),
        ),
    ];
    let pkg_files = vec![(payload_path, payload)];
    match pkg.format {
        Format::TarBz2 => {
            let all: Vec<_> = info_files.into_iter().chain(pkg_files).collect();
            let tar = tar_bytes(&all);
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            enc.write_all(&tar).expect("bzip2");
            enc.finish().expect("bzip2")
        }
        Format::Conda => {
            let stem = pkg.filename().trim_end_matches(".conda").to_owned();
            let info = zstd::encode_all(&tar_bytes(&info_files)[..], 3).expect("zstd");
            let files = zstd::encode_all(&tar_bytes(&pkg_files)[..], 3).expect("zstd");
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            for (name, bytes) in [
                (
                    "metadata.json".to_owned(),
                    br#"{"conda_pkg_format_version": 2}"#.to_vec(),
                ),
                (format!("info-{stem}.tar.zst"), info),
                (format!("pkg-{stem}.tar.zst"), files),
            ] {
                zip.start_file(name, options).expect("zip entry");
                zip.write_all(&bytes).expect("zip write");
            }
            zip.finish().expect("zip finish").into_inner()
        }
    }
}

fn tar_bytes(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, &bytes[..])
            .expect("tar entry");
    }
    builder.into_inner().expect("tar finish")
}

/// The channel most tests use. linux-64: `libzz` 1.0 (.tar.bz2) and 2.0 (.conda), `tool`
/// 0.9 (needs `libzz <2`) and 1.0 (needs `libzz >=1`, noarch `helper`, `__glibc`),
/// `bigthing`, `gpl-lib` (GPL). noarch: `helper` (needs `libzz >=2` from linux-64).
pub fn standard_channel(dir: &Path) -> Channel {
    let mut channel = Channel::new(dir);
    channel
        .add(&Pkg::new("linux-64", "libzz", "1.0", Format::TarBz2))
        .add(&Pkg::new("linux-64", "libzz", "2.0", Format::Conda))
        .add(&Pkg::new("linux-64", "tool", "0.9", Format::TarBz2).depends(&["libzz <2"]))
        .add(
            &Pkg::new("linux-64", "tool", "1.0", Format::Conda).depends(&[
                "libzz >=1",
                "helper",
                "__glibc >=2.17",
            ]),
        )
        .add(&Pkg::new("linux-64", "bigthing", "1.0", Format::Conda))
        .add(&Pkg::new("linux-64", "gpl-lib", "1.0", Format::TarBz2).license(Some("GPL-3.0")))
        .add(&Pkg::new("noarch", "helper", "1.0", Format::Conda).depends(&["libzz >=2"]));
    channel
}

/// A mirror config for a channel served at `url`.
pub fn config(url: &str) -> CondaConfig {
    CondaConfig {
        name: "chan".into(),
        url: url.into(),
        subdirs: vec!["linux-64".into()],
        ..CondaConfig::default()
    }
}

/// Sync (and publish unless `dry_run`) one mirror into `store`.
/// A store in a fresh temp dir; keep the dir alive as long as the store.
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    (dir, store)
}

pub async fn sync_mirror(
    store: &Store,
    config: CondaConfig,
    dry_run: bool,
) -> Result<SyncReport, SyncError> {
    let mirror = CondaMirror::new(config).expect("valid config");
    let fetcher = Fetcher::new(FetchOptions {
        retries: 1,
        retry_base_delay: std::time::Duration::from_millis(10),
        ..FetchOptions::default()
    })
    .expect("fetcher");
    let previous = store
        .latest_snapshot(&mirror.config().name)
        .expect("load previous snapshot");
    let ctx = SyncContext {
        store,
        fetcher: &fetcher,
        signing_key: None,
        reporter: &NoReporter,
        previous: previous.as_ref(),
    };
    sync(
        &mirror,
        &ctx,
        SyncOptions {
            dry_run,
            publish: !dry_run,
        },
    )
    .await
}

/// A published file's bytes.
pub fn published(store: &Store, mirror: &str, path: &str) -> Vec<u8> {
    let file = store.public_dir().join(mirror).join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The raw text of every record in a repodata.json, by file name.
pub fn raw_records(json: &[u8]) -> BTreeMap<String, String> {
    let view = mirror_conda::repodata::RepoDataView::parse(json).expect("valid repodata");
    view.records
        .iter()
        .map(|r| (r.filename.to_string(), r.raw.get().to_owned()))
        .collect()
}

/// The package paths requested from the server (anything that is not an index).
pub fn package_requests(server: &mirror_test_support::TestServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|p| p.ends_with(".conda") || p.ends_with(".tar.bz2"))
        .collect()
}
