//! Locating the real fixture tree (`tests/fixtures`, or `MIRROR_FIXTURES`), checking it
//! against its provenance, reporting skipped tests, and copying trees for tests that must
//! modify them (the fixtures themselves are read-only).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::provenance::verify_fixtures;

/// Overrides where the fixtures are (a relative value is resolved against the workspace
/// root); unset, they are the repository's `tests/fixtures`.
const FIXTURES_VARIABLE: &str = "MIRROR_FIXTURES";
/// Where [`skip`] appends one `test<TAB>reason` line per skip (`cargo xtask test` sets it
/// and prints the list at the end).
const SKIP_LOG_VARIABLE: &str = "MIRROR_SKIP_LOG";

/// The workspace root (where the top-level `Cargo.toml` lives).
pub fn workspace_root() -> PathBuf {
    // This crate lives at <root>/crates/test-support.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("crates/test-support has two ancestors")
        .to_path_buf()
}

/// The real fixture tree: the repository's `tests/fixtures`, or the directory named by the
/// `MIRROR_FIXTURES` environment variable (a relative value is resolved against the
/// workspace root). Every test that reads fixtures finds them here and nowhere else.
///
/// The first call in a process checks the whole tree against its `PROVENANCE.tsv` files
/// ([`verify_fixtures`]: every file there with its size and SHA-256, nothing unlisted).
///
/// Always `Some` (the fixtures are part of the repository): the `Option` keeps the
/// callers' `let Some(fixtures) = fixtures() else { return };` compiling.
///
/// # Panics
/// When the directory is missing, or a fixture is missing, unlisted or differs from its
/// recorded digest (the message names the file): a damaged checkout must fail loudly,
/// never pass by skipping or look like a bug in the product.
pub fn fixtures() -> Option<PathBuf> {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let (dir, source) = fixtures_location();
        verify_fixtures(&dir)
            .map(|_| dir)
            .map_err(|problems| format!("the fixtures ({source}) are damaged:\n{problems}"))
    });
    match checked {
        Ok(dir) => Some(dir.clone()),
        Err(message) => panic!(
            "{message}\nThis is a broken checkout or fixture tree, not a product bug: \
             restore it (`git checkout -- tests/fixtures`) or fix its PROVENANCE.tsv."
        ),
    }
}

/// Where the fixtures are, and a few words saying why there.
fn fixtures_location() -> (PathBuf, String) {
    match std::env::var_os(FIXTURES_VARIABLE).filter(|v| !v.is_empty()) {
        Some(value) => {
            let path = PathBuf::from(value);
            let path = if path.is_relative() {
                workspace_root().join(path)
            } else {
                path
            };
            let source = format!("{FIXTURES_VARIABLE}={}", path.display());
            (path, source)
        }
        None => {
            let path = workspace_root().join("tests/fixtures");
            let source = path.display().to_string();
            (path, source)
        }
    }
}

/// A test cannot run here (a real client it drives is missing): print why, so the test
/// can return, or, when `CI` is set, fail. CI installs every client and has the fixtures,
/// so there a skip can only hide a broken set-up.
///
/// The skip is also appended, as one `test<TAB>reason` line, to the file named by
/// `MIRROR_SKIP_LOG` when that is set (`cargo xtask test` sets it, then prints how many
/// tests skipped and why). The test is named after the test binary and the thread libtest
/// runs it on, which carries the test's path.
///
/// # Panics
/// When `CI` is set (to anything but the empty string), after recording the skip; and when
/// the skip log cannot be written.
pub fn skip(reason: &str) {
    let test = current_test();
    eprintln!("skipping {test}: {reason}");
    if let Some(log) = std::env::var_os(SKIP_LOG_VARIABLE).filter(|v| !v.is_empty()) {
        let log = PathBuf::from(log);
        let log = if log.is_relative() {
            workspace_root().join(log)
        } else {
            log
        };
        if let Err(error) = record_skip(&log, &test, reason) {
            panic!("recording the skip of {test} in {}: {error}", log.display());
        }
    }
    assert!(
        std::env::var_os("CI").is_none_or(|v| v.is_empty()),
        "{reason}, and CI is set: this test must run in CI, not skip"
    );
}

/// `<package>/<test binary>::<test path>` as far as the environment tells: cargo sets
/// `CARGO_PKG_NAME` for the test binaries it runs, and libtest names each test's thread
/// after the test.
fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let stem = exe.file_stem()?.to_string_lossy().into_owned();
            // cargo names test binaries `<target>-<16 hex digits>`.
            let target = match stem.rsplit_once('-') {
                Some((target, hash)) if hash.len() == 16 => target,
                _ => stem.as_str(),
            };
            Some(target.to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed thread")
        .to_owned();
    match std::env::var("CARGO_PKG_NAME") {
        Ok(package) if !package.is_empty() => format!("{package}/{binary}::{thread}"),
        _ => format!("{binary}::{thread}"),
    }
}

/// Append `test<TAB>reason` to `log` in one write (tests of one binary run in parallel, and
/// several test binaries may share the log): tabs and line breaks in either become spaces.
fn record_skip(log: &Path, test: &str, reason: &str) -> io::Result<()> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
    let line = format!("{}\t{}\n", clean(test), clean(reason));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(line.as_bytes())
}

/// Copy the tree at `src` to `dst` (created when absent): directories recursively, regular
/// files with their content, symlinks as symlinks. Copies are made owner-writable, since
/// the fixtures they come from are read-only and the point of a copy is to change it.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| with_path(e, dst))?;
    for entry in std::fs::read_dir(src).map_err(|e| with_path(e, src))? {
        let entry = entry.map_err(|e| with_path(e, src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| with_path(e, &from))?;
        if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| with_path(e, &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| with_path(e, &to))?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| with_path(e, &from))?;
            let mut permissions = std::fs::metadata(&to)
                .map_err(|e| with_path(e, &to))?
                .permissions();
            use std::os::unix::fs::PermissionsExt;
            permissions.set_mode(permissions.mode() | 0o200);
            std::fs::set_permissions(&to, permissions).map_err(|e| with_path(e, &to))?;
        }
    }
    Ok(())
}

fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest =
            std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("root manifest");
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn copy_tree_copies_files_dirs_and_symlinks_writable() {
        let src = tempfile::tempdir().expect("tempdir");
        let dst = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(src.path().join("a/b")).expect("mkdir");
        let file = src.path().join("a/b/file.txt");
        std::fs::write(&file, b"content").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::os::unix::fs::symlink("b/file.txt", src.path().join("a/link")).expect("symlink");

        let out = dst.path().join("copy");
        copy_tree(src.path(), &out).expect("copy");

        assert_eq!(
            std::fs::read(out.join("a/b/file.txt")).expect("read"),
            b"content"
        );
        assert_eq!(
            std::fs::read_link(out.join("a/link")).expect("link"),
            Path::new("b/file.txt")
        );
        assert_eq!(
            std::fs::read(out.join("a/link")).expect("through link"),
            b"content"
        );
        std::fs::write(out.join("a/b/file.txt"), b"changed").expect("copies are writable");
        assert_eq!(std::fs::read(&file).expect("source"), b"content");
    }

    #[test]
    fn the_repository_fixtures_match_their_provenance() {
        let dir = workspace_root().join("tests/fixtures");
        let checked = verify_fixtures(&dir).unwrap_or_else(|problems| panic!("{problems}"));
        // 20 Debian files and 77 conda files when this was written; more may come.
        assert!(checked >= 97, "only {checked} files checked");
        assert!(fixtures().is_some());
    }

    /// A tree of both PROVENANCE layouts: `repo`-prefixed paths and plain ones.
    fn provenance_tree(root: &Path) {
        let write = |path: &str, bytes: &[u8]| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write");
        };
        let data = b"real bytes";
        let release = b"Suite: bookworm\n";
        write("README.md", b"docs");
        write(
            "conda/PROVENANCE.tsv",
            format!(
                "repo\tpath\tcommit\tsize\tsha256\tlicence\n\
                 owner/name\tx/data.bin\tabc\t{}\t{}\tBSD-3-Clause\n",
                data.len(),
                crate::conda_channel::sha256_hex(data)
            )
            .as_bytes(),
        );
        write("conda/owner+name/x/data.bin", data);
        write("debian/README.md", b"docs");
        write(
            "debian/PROVENANCE.tsv",
            format!(
                "source\tpath\ttaken\tsize\tsha256\tlicence\n\
                 archive\tdists/Release\t2026-11-25\t{}\t{}\tmetadata\n",
                release.len(),
                crate::conda_channel::sha256_hex(release)
            )
            .as_bytes(),
        );
        write("debian/dists/Release", release);
    }

    #[test]
    fn verify_fixtures_names_a_changed_missing_or_unlisted_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        provenance_tree(root);
        assert_eq!(verify_fixtures(root), Ok(2));

        let data = root.join("conda/owner+name/x/data.bin");
        std::fs::write(&data, b"fake bytes").expect("same size, other bytes");
        let err = verify_fixtures(root).expect_err("changed");
        assert!(
            err.contains("owner+name/x/data.bin") && err.contains("SHA-256"),
            "{err}"
        );
        std::fs::write(&data, b"real").expect("shorter");
        let err = verify_fixtures(root).expect_err("truncated");
        assert!(err.contains("x/data.bin: 4 bytes"), "{err}");
        std::fs::write(&data, b"real bytes").expect("restore");

        let release = root.join("debian/dists/Release");
        std::fs::remove_file(&release).expect("remove");
        let err = verify_fixtures(root).expect_err("missing");
        assert!(err.contains("dists/Release: missing"), "{err}");
        std::fs::write(&release, b"Suite: bookworm\n").expect("restore");
        assert_eq!(verify_fixtures(root), Ok(2));

        std::fs::write(root.join("debian/dists/extra"), b"x").expect("write");
        let err = verify_fixtures(root).expect_err("unlisted");
        assert!(err.contains("dists/extra: not listed"), "{err}");
        std::fs::remove_file(root.join("debian/dists/extra")).expect("remove");

        let err = verify_fixtures(&root.join("absent")).expect_err("no tree");
        assert!(err.contains("absent") && err.contains("missing"), "{err}");
    }

    #[test]
    fn record_skip_appends_one_line_per_skip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("target/skipped-tests.txt");
        record_skip(&log, "it::apt::jq", "apt-get not installed").expect("record");
        record_skip(&log, "it::conda::x", "two\nlines\tand a tab").expect("record");
        assert_eq!(
            std::fs::read_to_string(&log).expect("read"),
            "it::apt::jq\tapt-get not installed\nit::conda::x\ttwo lines and a tab\n"
        );
    }

    #[test]
    fn copy_tree_names_a_missing_source() {
        let dst = tempfile::tempdir().expect("tempdir");
        let err = copy_tree(Path::new("/nonexistent/fixture"), dst.path()).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/fixture"), "{err}");
    }
}
