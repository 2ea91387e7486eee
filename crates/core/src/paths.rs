//! Tree paths that cannot escape: every path a snapshot, an index or a bundle names is
//! checked here before it touches the filesystem.

use crate::store::StoreError;

/// Check that `path` is a plain relative path inside a tree: not empty, not absolute,
/// no `.`/`..`/empty components, no backslash or NUL. Returns it unchanged.
pub fn check_relative(path: &str) -> Result<&str, StoreError> {
    let refuse = |reason| {
        Err(StoreError::UnsafePath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return refuse("empty path");
    }
    if path.starts_with('/') {
        return refuse("absolute path");
    }
    if path.contains('\\') || path.contains('\0') {
        return refuse("backslash or NUL in path");
    }
    for part in path.split('/') {
        match part {
            "" => return refuse("empty path component"),
            "." | ".." => return refuse("'.' or '..' component"),
            _ => {}
        }
    }
    Ok(path)
}

/// Check a mirror name: it becomes a directory and a URL prefix.
pub fn check_mirror_name(name: &str) -> Result<&str, StoreError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(StoreError::UnsafePath {
            path: name.to_owned(),
            reason: "mirror names use letters, digits, '-', '_' and '.', and do not start with '.'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a\\b",
            "a/",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "pool/main/j/jq/jq_1.6_amd64.deb",
            "dists/bookworm/InRelease",
            "a..b",
        ] {
            assert!(check_relative(good).is_ok(), "{good:?} must pass");
        }
        assert!(check_mirror_name("debian").is_ok());
        assert!(check_mirror_name(".trees").is_err());
        assert!(check_mirror_name("a/b").is_err());
    }
}
