//! A real `apt-get` in an isolated apt root (recipe: ../shared/TESTING.md). Nothing
//! outside the temp root is read or written: APT_CONFIG points at our own file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct AptRoot {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl AptRoot {
    /// A clean machine trusting only `key` (armored) for `deb <url> <suite> <component>`.
    pub fn new(url: &str, suite: &str, component: &str, key: &Path) -> AptRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in [
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "etc/apt/trusted.gpg.d",
            "etc/apt/keyrings",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
        // apt reads an armored key only from a file whose name ends in .asc.
        let key_copy = root.join("etc/apt/keyrings/mirror.asc");
        std::fs::copy(key, &key_copy).expect("copy key");
        let r = root.display();
        std::fs::write(
            root.join("apt.conf"),
            format!(
                "Dir \"{r}/\";\nDir::State::status \"{r}/var/lib/dpkg/status\";\n\
                 Dir::Etc::Parts \"{r}/etc/apt/apt.conf.d\";\nDir::Etc::Main \"{r}/etc/apt/apt.conf.d/none\";\n\
                 APT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\n\
                 Debug::NoLocking \"true\";\nAPT::Sandbox::User \"root\";\n"
            ),
        )
        .expect("apt.conf");
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] {url} {suite} {component}\n",
                key_copy.display()
            ),
        )
        .expect("sources.list");
        AptRoot { _dir: dir, root }
    }

    pub fn apt_get(&self, args: &[&str]) -> Output {
        Command::new("apt-get")
            .args(args)
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .output()
            .expect("apt-get runs")
    }

    pub fn apt_cache(&self, args: &[&str]) -> Output {
        Command::new("apt-cache")
            .args(args)
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .output()
            .expect("apt-cache runs")
    }

    /// Add `deb <url> <suite> <component>` trusting the same key as the first source.
    pub fn add_source(&self, url: &str, suite: &str, component: &str) {
        self.add_line("deb", url, suite, component);
    }

    /// Add `deb-src <url> <suite> <component>` trusting the same key as the first source.
    pub fn add_deb_src(&self, url: &str, suite: &str, component: &str) {
        self.add_line("deb-src", url, suite, component);
    }

    /// `apt-get source --download-only <package>` run in `dir`, where the files land.
    pub fn source_download(&self, package: &str, dir: &Path) -> Output {
        Command::new("apt-get")
            .args(["-q", "source", "--download-only", package])
            .current_dir(dir)
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .output()
            .expect("apt-get runs")
    }

    fn add_line(&self, kind: &str, url: &str, suite: &str, component: &str) {
        use std::io::Write as _;
        let key = self.root.join("etc/apt/keyrings/mirror.asc");
        let mut list = std::fs::OpenOptions::new()
            .append(true)
            .open(self.root.join("etc/apt/sources.list"))
            .expect("sources.list");
        writeln!(
            list,
            "{kind} [signed-by={}] {url} {suite} {component}",
            key.display()
        )
        .expect("append source");
    }

    /// Add an apt.conf.d snippet (index targets of apt-file, appstream, ...).
    pub fn conf(&self, name: &str, text: &str) {
        std::fs::write(self.root.join("etc/apt/apt.conf.d").join(name), text).expect("conf");
    }

    /// The index files `apt-get update` left in the lists directory, keyed by their name
    /// from `dists_` on (the host and path prefix differ between upstream and mirror).
    pub fn lists(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.root.join("var/lib/apt/lists");
        let mut lists: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("lists dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = name.split_once("_dists_")?.1.to_owned();
                Some((key, std::fs::read(e.path()).expect("read list")))
            })
            .collect();
        lists.sort();
        lists
    }

    /// .deb file names apt downloaded.
    pub fn downloaded(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("var/cache/apt/archives"))
            .expect("archives dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".deb"))
            .collect();
        names.sort();
        names
    }
}

/// True when apt-get exists (the tests say so and skip otherwise).
pub fn available() -> bool {
    let ok = Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        mirror_test_support::skip("apt-get not installed");
    }
    ok
}

/// The `E:` and `W:` lines apt printed.
pub fn complaints(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|line| line.starts_with("E:") || line.starts_with("W:"))
        .map(str::to_owned)
        .collect()
}

/// Write a suite signed by `key` under `<root>/dists/<suite>/`, replacing what was there:
/// `files` (paths below the suite) with a Release listing them, by-hash copies,
/// InRelease and Release.gpg.
pub fn write_signed_suite(
    root: &Path,
    suite: &str,
    files: Vec<mirror_apt::generate::GeneratedFile>,
    key: &mirror_core::signing::SigningKey,
) -> Vec<mirror_apt::generate::GeneratedFile> {
    write_dated_suite(root, suite, files, key, "Sat, 11 Jul 2026 10:16:37 UTC")
}

/// [`write_signed_suite`] with the Release's `Date`.
pub fn write_dated_suite(
    root: &Path,
    suite: &str,
    files: Vec<mirror_apt::generate::GeneratedFile>,
    key: &mirror_core::signing::SigningKey,
    date: &str,
) -> Vec<mirror_apt::generate::GeneratedFile> {
    write_suite_valid_until(root, suite, files, key, date, None)
}

/// [`write_dated_suite`] with a `Valid-Until`.
pub fn write_suite_valid_until(
    root: &Path,
    suite: &str,
    files: Vec<mirror_apt::generate::GeneratedFile>,
    key: &mirror_core::signing::SigningKey,
    date: &str,
    valid_until: Option<&str>,
) -> Vec<mirror_apt::generate::GeneratedFile> {
    let fields = mirror_apt::ReleaseFields {
        valid_until,
        origin: Some("Test"),
        label: Some("Test"),
        suite: Some(suite),
        codename: Some(suite.split('-').next().unwrap_or(suite)),
        date: Some(date),
        acquire_by_hash: true,
        architectures: vec!["all", "amd64"],
        components: vec!["main"],
        ..mirror_apt::ReleaseFields::default()
    };
    let dists = root.join("dists").join(suite);
    let _ = std::fs::remove_dir_all(&dists);
    let signed = mirror_apt::generate::signed_suite(&fields, files, key).expect("sign");
    for (path, bytes) in &signed {
        let dest = dists.join(path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("write");
    }
    signed
}

/// A Packages index and its .gz and .xz, as files of a suite.
pub fn packages_files(component: &str, content: &[u8]) -> Vec<mirror_apt::generate::GeneratedFile> {
    use mirror_core::compression::{Compression, compress};
    [Compression::None, Compression::Gzip, Compression::Xz]
        .iter()
        .map(|format| {
            (
                format!("{component}/binary-amd64/Packages{}", format.extension()),
                compress(content, *format).expect("compress"),
            )
        })
        .collect()
}

/// The real stanzas of the fixture's 13 pool files (the jq/sl/tree closure), from the
/// real Packages.xz, as one Packages index.
pub fn fixture_stanzas(fixture: &Path) -> Vec<u8> {
    let packages_xz =
        std::fs::read(fixture.join("dists/bookworm/main/binary-amd64/Packages.xz")).expect("read");
    let packages = mirror_core::compression::decompress(
        &packages_xz,
        mirror_core::compression::Compression::Xz,
        1 << 30,
        "fixture",
    )
    .expect("xz");
    let mut subset = Vec::new();
    for paragraph in mirror_apt::Paragraphs::new(&packages) {
        let filename = paragraph
            .get_str("Filename")
            .expect("field")
            .expect("Filename");
        if fixture.join(filename).is_file() {
            subset.extend_from_slice(paragraph.raw());
            subset.extend_from_slice(b"\n");
        }
    }
    subset
}

pub fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A test upstream's signing key, its public half written to `<dir>/upstream.asc`.
pub fn upstream_key(dir: &Path) -> (mirror_core::signing::SigningKey, PathBuf) {
    let key = mirror_core::signing::SigningKey::generate("upstream test key").expect("key");
    let path = dir.join("upstream.asc");
    std::fs::write(&path, key.armored_public().expect("armor")).expect("key");
    (key, path)
}
