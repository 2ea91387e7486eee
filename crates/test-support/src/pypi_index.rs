//! A PEP 503 simple index of real wheels, written by hand into a directory the way PyPI
//! lays one out: `simple/index.html`, `simple/<name>/index.html` (each link with its
//! `#sha256=`, `data-requires-python`, `data-yanked` and the PEP 658/714
//! `data-core-metadata` attributes) and `files/<wheel>` with `files/<wheel>.metadata`
//! beside it. The wheels are complete (a module, `METADATA`, `WHEEL`, a `RECORD` with
//! every file's digest): pip installs them.
//!
//! ```
//! use mirror_test_support::pypi_index::{Index, Wheel};
//! let dir = tempfile::tempdir().expect("tempdir");
//! let mut index = Index::new(dir.path());
//! index.add(&Wheel::new("app", "1.0").requires(&["lib>=1"]));
//! index.add(&Wheel::new("lib", "1.0"));
//! index.write_pages();
//! assert!(dir.path().join("simple/app/index.html").is_file());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One wheel to build.
#[derive(Debug, Clone)]
pub struct Wheel {
    name: String,
    version: String,
    tag: String,
    requires_dist: Vec<String>,
    requires_python: Option<String>,
    yanked: bool,
    announce_metadata: bool,
    claimed_version: Option<String>,
}

impl Wheel {
    /// A pure-Python wheel (`py3-none-any`) of `name` at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Wheel {
            name: name.to_owned(),
            version: version.to_owned(),
            tag: "py3-none-any".into(),
            requires_dist: Vec::new(),
            requires_python: None,
            yanked: false,
            announce_metadata: true,
            claimed_version: None,
        }
    }

    /// Its `Requires-Dist` entries.
    pub fn requires(mut self, requirements: &[&str]) -> Self {
        self.requires_dist = requirements.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// Its compatibility tag (`cp311-cp311-manylinux_2_17_x86_64`).
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }

    /// Its `Requires-Python`, in METADATA and on the page.
    pub fn requires_python(mut self, specifier: &str) -> Self {
        self.requires_python = Some(specifier.to_owned());
        self
    }

    /// Yanked on the page (PEP 592).
    pub fn yanked(mut self) -> Self {
        self.yanked = true;
        self
    }

    /// Served without a metadata file (no `data-core-metadata`).
    pub fn without_metadata(mut self) -> Self {
        self.announce_metadata = false;
        self
    }

    /// Its METADATA (in the wheel and beside it) claims another version than its name:
    /// a broken or hostile upload.
    pub fn claiming_version(mut self, version: &str) -> Self {
        self.claimed_version = Some(version.to_owned());
        self
    }

    /// The normalised project name (PEP 503).
    pub fn project(&self) -> String {
        self.name.to_lowercase().replace(['_', '.'], "-")
    }

    /// The wheel's file name.
    pub fn filename(&self) -> String {
        let escaped = self.name.replace(['-', '.'], "_");
        format!("{escaped}-{}-{}.whl", self.version, self.tag)
    }

    /// Its `METADATA`.
    pub fn metadata(&self) -> String {
        let mut text = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
            self.name,
            self.claimed_version.as_deref().unwrap_or(&self.version)
        );
        if let Some(requires) = &self.requires_python {
            let _ = writeln!(text, "Requires-Python: {requires}");
        }
        for requirement in &self.requires_dist {
            let _ = writeln!(text, "Requires-Dist: {requirement}");
        }
        text.push_str("\nA test package.\n");
        text
    }

    /// The module it installs: `import <module>` gives `VERSION`.
    pub fn module(&self) -> String {
        self.name.replace(['-', '.'], "_").to_lowercase()
    }

    /// The wheel's bytes.
    pub fn build(&self) -> Vec<u8> {
        let dist_info = format!(
            "{}-{}.dist-info",
            self.name.replace(['-', '.'], "_"),
            self.version
        );
        let files = [
            (
                format!("{}/__init__.py", self.module()),
                format!("VERSION = {:?}\n", self.version),
            ),
            (format!("{dist_info}/METADATA"), self.metadata()),
            (
                format!("{dist_info}/WHEEL"),
                format!(
                    "Wheel-Version: 1.0\nGenerator: mirror-test-support\nRoot-Is-Purelib: true\nTag: {}\n",
                    self.tag
                ),
            ),
        ];
        let mut record = String::new();
        for (path, content) in &files {
            let digest = urlsafe_base64(&Sha256::digest(content.as_bytes()));
            let _ = writeln!(record, "{path},sha256={digest},{}", content.len());
        }
        let _ = writeln!(record, "{dist_info}/RECORD,,");
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (path, content) in files
            .iter()
            .map(|(p, c)| (p.clone(), c.clone()))
            .chain([(format!("{dist_info}/RECORD"), record)])
        {
            zip.start_file(path, options).expect("zip entry");
            zip.write_all(content.as_bytes()).expect("zip write");
        }
        zip.finish().expect("zip finish").into_inner()
    }
}

/// URL-safe base64 without padding, as RECORD writes digests.
fn urlsafe_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One file of a project page.
#[derive(Debug, Clone)]
struct Entry {
    filename: String,
    version: String,
    sha256: String,
    /// The digest of `files/<filename>.metadata`, when the page announces it.
    metadata_sha256: Option<String>,
    requires_python: Option<String>,
    yanked: bool,
}

/// A simple index being written.
#[derive(Debug)]
pub struct Index {
    root: PathBuf,
    /// Per normalised project, its files.
    projects: BTreeMap<String, Vec<Entry>>,
}

impl Index {
    /// An index rooted at `root` (its pages at `root/simple/`).
    pub fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root.join("files")).expect("files dir");
        Index {
            root: root.to_owned(),
            projects: BTreeMap::new(),
        }
    }

    /// Build `wheel` into `files/`, with its metadata file.
    pub fn add(&mut self, wheel: &Wheel) -> &mut Self {
        let bytes = wheel.build();
        let metadata = wheel.metadata();
        self.insert(
            wheel.project(),
            Entry {
                filename: wheel.filename(),
                version: wheel.version.clone(),
                sha256: hex(&Sha256::digest(&bytes)),
                metadata_sha256: wheel
                    .announce_metadata
                    .then(|| hex(&Sha256::digest(metadata.as_bytes()))),
                requires_python: wheel.requires_python.clone(),
                yanked: wheel.yanked,
            },
            &bytes,
            metadata.as_bytes(),
        );
        self
    }

    /// A real wheel (one `pip download` fetched): copied into `files/`, its METADATA
    /// read from it and served beside it, its project, version and `Requires-Python`
    /// taken from that METADATA, as an index that extracts them (PyPI) writes its page.
    pub fn add_wheel_file(&mut self, path: &Path) -> &mut Self {
        let bytes = std::fs::read(path).expect("read the wheel");
        let mut archive =
            zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("the wheel is a zip");
        let name = archive
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
            .expect("the wheel has a METADATA")
            .into_owned();
        let mut metadata = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name(&name).expect("METADATA"),
            &mut metadata,
        )
        .expect("METADATA is text");
        let header = |key: &str| {
            metadata
                .lines()
                .take_while(|line| !line.is_empty())
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
                .map(str::to_owned)
        };
        let project = header("Name")
            .expect("Name")
            .to_lowercase()
            .replace(['_', '.'], "-");
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name")
            .to_owned();
        self.insert(
            project,
            Entry {
                filename,
                version: header("Version").expect("Version"),
                sha256: hex(&Sha256::digest(&bytes)),
                metadata_sha256: Some(hex(&Sha256::digest(metadata.as_bytes()))),
                requires_python: header("Requires-Python"),
                yanked: false,
            },
            &bytes,
            metadata.as_bytes(),
        );
        self
    }

    fn insert(&mut self, project: String, entry: Entry, bytes: &[u8], metadata: &[u8]) {
        let files = self.root.join("files");
        std::fs::write(files.join(&entry.filename), bytes).expect("write wheel");
        std::fs::write(files.join(format!("{}.metadata", entry.filename)), metadata)
            .expect("write metadata");
        self.projects.entry(project).or_default().push(entry);
    }

    /// The path of a file under the index's root (`files/<wheel>`).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The projects, normalised.
    pub fn projects(&self) -> Vec<String> {
        self.projects.keys().cloned().collect()
    }

    /// `project`'s page as a PEP 691 server writes it (JSON, api-version 1.1: `versions`,
    /// `size`, `upload-time`, `core-metadata` with its digest), absolute file URLs under
    /// `files_url` (`http://HOST/files`).
    pub fn json_page(&self, project: &str, files_url: &str) -> Vec<u8> {
        let entries = &self.projects[project];
        let mut versions: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
        versions.dedup();
        let files: Vec<serde_json::Value> = entries
            .iter()
            .map(|entry| {
                let size = std::fs::metadata(self.root.join("files").join(&entry.filename))
                    .expect("the wheel")
                    .len();
                let mut file = serde_json::json!({
                    "filename": entry.filename,
                    "url": format!("{files_url}/{}", entry.filename),
                    "hashes": {"sha256": entry.sha256},
                    "requires-python": entry.requires_python,
                    "yanked": entry.yanked,
                    "size": size,
                    "upload-time": "2026-01-02T03:04:05.678901Z",
                });
                if let Some(metadata) = &entry.metadata_sha256 {
                    file["core-metadata"] = serde_json::json!({"sha256": metadata});
                }
                file
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": project,
            "versions": versions,
            "files": files,
        }))
        .expect("JSON")
    }

    /// Write `simple/index.html` and every project's page.
    pub fn write_pages(&self) {
        let simple = self.root.join("simple");
        let mut root = String::from("<!DOCTYPE html>\n<html><body>\n");
        for (project, entries) in &self.projects {
            let _ = writeln!(root, "<a href=\"{project}/\">{project}</a>");
            let mut page = format!(
                "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" \
                 content=\"1.0\"></head><body><h1>Links for {project}</h1>\n"
            );
            for entry in entries {
                let (filename, sha256) = (&entry.filename, &entry.sha256);
                let _ = write!(page, "<a href=\"../../files/{filename}#sha256={sha256}\"");
                if let Some(requires) = &entry.requires_python {
                    let escaped = requires
                        .replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;");
                    let _ = write!(page, " data-requires-python=\"{escaped}\"");
                }
                if entry.yanked {
                    page.push_str(" data-yanked=\"\"");
                }
                if let Some(metadata) = &entry.metadata_sha256 {
                    let _ = write!(
                        page,
                        " data-core-metadata=\"sha256={metadata}\" \
                         data-dist-info-metadata=\"sha256={metadata}\""
                    );
                }
                let _ = writeln!(page, ">{filename}</a><br/>");
            }
            page.push_str("</body></html>\n");
            std::fs::create_dir_all(simple.join(project)).expect("project dir");
            std::fs::write(simple.join(project).join("index.html"), page).expect("write page");
        }
        root.push_str("</body></html>\n");
        std::fs::write(simple.join("index.html"), root).expect("write root");
    }
}

#[cfg(test)]
mod tests {
    use super::urlsafe_base64;

    #[test]
    fn base64_is_urlsafe_and_unpadded() {
        assert_eq!(urlsafe_base64(b""), "");
        assert_eq!(urlsafe_base64(b"f"), "Zg");
        assert_eq!(urlsafe_base64(b"fo"), "Zm8");
        assert_eq!(urlsafe_base64(b"foo"), "Zm9v");
        assert_eq!(urlsafe_base64(&[0xfb, 0xff]), "-_8");
    }
}
