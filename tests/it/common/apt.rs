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

pub fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
