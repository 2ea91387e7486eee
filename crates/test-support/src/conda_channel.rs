//! A conda channel written by hand in a temp dir: real `.tar.bz2` (bzip2'd tar) and
//! `.conda` (zip of `metadata.json`, `info-*.tar.zst`, `pkg-*.tar.zst`) packages with
//! `info/index.json` and `info/paths.json`, installable by real clients, and a
//! `repodata.json` per subdir listing them with their sha256 and size.
//!
//! The one conda package builder of the workspace: mirror-conda's tests and the CLI's
//! end-to-end tests both use it.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Archive format of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFormat {
    /// `.tar.bz2`: one bzip2'd tar.
    TarBz2,
    /// `.conda`: a zip of `metadata.json` and two zstd'd tars.
    Conda,
}

impl PackageFormat {
    /// The file name extension, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            PackageFormat::TarBz2 => ".tar.bz2",
            PackageFormat::Conda => ".conda",
        }
    }

    /// The repodata map that lists packages of this format.
    pub fn repodata_key(self) -> &'static str {
        match self {
            PackageFormat::TarBz2 => "packages",
            PackageFormat::Conda => "packages.conda",
        }
    }
}

/// A package to write.
#[derive(Debug, Clone)]
pub struct Pkg {
    /// Package name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
    /// Build string (`h0_0`, or `pyh_0` in noarch).
    pub build: &'static str,
    /// `linux-64`, `noarch`...
    pub subdir: &'static str,
    /// Match specs it depends on.
    pub depends: Vec<&'static str>,
    /// License (default `MIT`).
    pub license: Option<&'static str>,
    /// Archive format.
    pub format: PackageFormat,
}

impl Pkg {
    /// A package with no dependencies, licensed MIT.
    pub fn new(
        subdir: &'static str,
        name: &'static str,
        version: &'static str,
        format: PackageFormat,
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

    /// With these dependencies.
    pub fn depends(mut self, depends: &[&'static str]) -> Self {
        self.depends = depends.to_vec();
        self
    }

    /// With this license (`None`: no license field).
    pub fn license(mut self, license: Option<&'static str>) -> Self {
        self.license = license;
        self
    }

    /// `name-version-build.ext`.
    pub fn filename(&self) -> String {
        format!(
            "{}-{}-{}{}",
            self.name,
            self.version,
            self.build,
            self.format.extension()
        )
    }

    /// Its `info/index.json`.
    pub fn index(&self) -> Value {
        let mut index = json!({
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": 0,
            "depends": self.depends,
            "subdir": self.subdir,
            "timestamp": 1_700_000_000_000u64,
        });
        if let Some(license) = self.license {
            index["license"] = json!(license);
        }
        if self.subdir == "noarch" {
            index["noarch"] = json!("generic");
        } else {
            index["platform"] = json!("linux");
            index["arch"] = json!("x86_64");
        }
        index
    }

    /// The archive: `index` as `info/index.json` and one payload file.
    pub fn bytes(&self, index: &Value) -> Vec<u8> {
        let payload_path = format!("share/{}/README", self.name);
        let payload = format!("{} {} {}\n", self.name, self.version, self.build).into_bytes();
        let stem = self
            .filename()
            .trim_end_matches(self.format.extension())
            .to_owned();
        package_bytes(self.format, &stem, index, &[(payload_path, payload)])
    }
}

/// A package archive of `format`: `index` as `info/index.json`, an `info/paths.json`
/// listing `files` with their real sha256 and size, and the files. `stem` is the file
/// name without extension (a `.conda` names its inner tars after it).
pub fn package_bytes(
    format: PackageFormat,
    stem: &str,
    index: &Value,
    files: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let paths: Vec<Value> = files
        .iter()
        .map(|(path, bytes)| {
            json!({
                "_path": path,
                "path_type": "hardlink",
                "sha256": sha256_hex(bytes),
                "size_in_bytes": bytes.len(),
            })
        })
        .collect();
    let paths = json!({ "paths": paths, "paths_version": 1 });
    let info_files: Vec<(String, Vec<u8>)> = vec![
        (
            "info/index.json".into(),
            serde_json::to_vec_pretty(index).expect("a JSON value serialises"),
        ),
        (
            "info/paths.json".into(),
            serde_json::to_vec_pretty(&paths).expect("a JSON value serialises"),
        ),
    ];
    match format {
        PackageFormat::TarBz2 => {
            let all: Vec<_> = info_files.into_iter().chain(files.to_vec()).collect();
            let mut encoder =
                bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            encoder
                .write_all(&tar_bytes(&all))
                .expect("bzip2 into memory");
            encoder.finish().expect("bzip2 into memory")
        }
        PackageFormat::Conda => {
            let info = zstd::encode_all(&tar_bytes(&info_files)[..], 3).expect("zstd");
            let pkg = zstd::encode_all(&tar_bytes(files)[..], 3).expect("zstd");
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            for (name, bytes) in [
                (
                    "metadata.json".to_owned(),
                    br#"{"conda_pkg_format_version": 2}"#.to_vec(),
                ),
                (format!("info-{stem}.tar.zst"), info),
                (format!("pkg-{stem}.tar.zst"), pkg),
            ] {
                zip.start_file(name, options).expect("zip entry");
                zip.write_all(&bytes).expect("zip write");
            }
            zip.finish().expect("zip finish").into_inner()
        }
    }
}

/// A tar of `files` with fixed modes and times (reproducible).
pub fn tar_bytes(files: &[(String, Vec<u8>)]) -> Vec<u8> {
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

/// Lower-case hex SHA-256, as repodata writes it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A channel directory being built.
pub struct Channel {
    /// The channel's root.
    pub dir: PathBuf,
    /// subdir -> map key (`packages` / `packages.conda`) -> filename -> record.
    pub records: BTreeMap<String, BTreeMap<&'static str, BTreeMap<String, Value>>>,
}

impl Channel {
    /// An empty channel rooted at `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            records: BTreeMap::new(),
        }
    }

    /// Write the package file and remember its record.
    pub fn add(&mut self, pkg: &Pkg) -> &mut Self {
        let index = pkg.index();
        let bytes = pkg.bytes(&index);
        let dir = self.dir.join(pkg.subdir);
        std::fs::create_dir_all(&dir).expect("mkdir subdir");
        std::fs::write(dir.join(pkg.filename()), &bytes).expect("write package");
        let mut record = index;
        record["sha256"] = json!(sha256_hex(&bytes));
        record["size"] = json!(bytes.len());
        self.records
            .entry(pkg.subdir.to_owned())
            .or_default()
            .entry(pkg.format.repodata_key())
            .or_default()
            .insert(pkg.filename(), record);
        self
    }

    /// A record by subdir and file name.
    pub fn record_mut(&mut self, subdir: &str, filename: &str) -> &mut Value {
        let maps = self.records.get_mut(subdir).expect("subdir");
        for map in maps.values_mut() {
            if let Some(record) = map.get_mut(filename) {
                return record;
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
        let mut out = serde_json::to_vec_pretty(&doc).expect("a JSON value serialises");
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
