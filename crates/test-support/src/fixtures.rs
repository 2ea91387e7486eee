//! Locating the real fixture tree (`MIRROR_FIXTURES`) and copying trees for tests that
//! must modify them (the fixtures themselves are read-only).

use std::io;
use std::path::{Path, PathBuf};

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

/// The fixture directory named by the `MIRROR_FIXTURES` environment variable; a relative
/// value is resolved against the workspace root.
///
/// Returns `None` (after printing `skipping: MIRROR_FIXTURES not set`) when the variable is
/// unset or empty, so a test can `let Some(fixtures) = fixtures() else { return };`.
/// Every test that reads fixtures finds them here and nowhere else.
///
/// # Panics
/// When the variable is set but names no directory, and when it is unset while `CI` is
/// set: a misconfigured run must fail loudly rather than pass by skipping.
pub fn fixtures() -> Option<PathBuf> {
    let value = std::env::var_os("MIRROR_FIXTURES").filter(|v| !v.is_empty());
    let Some(value) = value else {
        skip("MIRROR_FIXTURES not set");
        return None;
    };
    let path = PathBuf::from(value);
    let path = if path.is_relative() {
        workspace_root().join(path)
    } else {
        path
    };
    assert!(
        path.is_dir(),
        "MIRROR_FIXTURES names {}, which is not a directory",
        path.display()
    );
    Some(path)
}

/// A test cannot run here (its fixtures or a real client are missing): print why, so the
/// test can return, or, when `CI` is set, fail. CI installs every client and has the
/// fixtures, so there a skip can only hide a broken set-up.
///
/// # Panics
/// When `CI` is set (to anything but the empty string).
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none_or(|v| v.is_empty()),
        "{reason}, and CI is set: this test must run in CI, not skip"
    );
    eprintln!("skipping: {reason}");
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
    fn copy_tree_names_a_missing_source() {
        let dst = tempfile::tempdir().expect("tempdir");
        let err = copy_tree(Path::new("/nonexistent/fixture"), dst.path()).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/fixture"), "{err}");
    }
}
