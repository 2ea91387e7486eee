//! # mirror-paths
//!
//! The one rule, for the whole workspace, of which names may touch the filesystem.
//! Every path an upstream index, a snapshot or a bundle names is relative to a tree and
//! must stay inside it; every mirror name becomes a directory and a URL prefix. Both are
//! checked here and nowhere else, so that mirror-apt's index parser, mirror-core's
//! snapshots and publisher, and mirror-transfer's import refuse exactly the same things.
//!
//! [`percent_decode`] turns the escaped names of URLs back into those paths.
//!
//! The crate has no dependencies, so the pure parsers of mirror-apt can use it without
//! the store and network stack of mirror-core.
//!
//! ```
//! use mirror_paths::{check_mirror_name, check_relative};
//! assert!(check_relative("pool/main/j/jq/jq_1.6-2.1_amd64.deb").is_ok());
//! let err = check_relative("pool/../../etc/passwd").unwrap_err();
//! assert_eq!(err.to_string(), r#"unsafe path "pool/../../etc/passwd": `.` or `..` path component"#);
//! assert!(check_mirror_name("debian-security").is_ok());
//! assert!(check_mirror_name(".trees").is_err());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

use std::fmt;

/// A path or name that could point outside its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafePathError {
    /// The rejected path or name.
    pub path: String,
    /// Why it is rejected.
    pub reason: &'static str,
}

impl fmt::Display for UnsafePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsafe path {:?}: {}", self.path, self.reason)
    }
}

impl std::error::Error for UnsafePathError {}

/// Check that `path` is a plain relative path inside a tree: not empty, not absolute, no
/// `.`, `..` or empty components (so no trailing `/`), no backslash, no control
/// character (NUL included). Returns it unchanged.
///
/// Upstream indices are signed and bundles are signed, but a compromised or buggy signer
/// must still not make us write outside the tree.
pub fn check_relative(path: &str) -> Result<&str, UnsafePathError> {
    let reject = |reason| {
        Err(UnsafePathError {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return reject("empty path");
    }
    if path.starts_with('/') {
        return reject("absolute path");
    }
    // This runs for every package of every index (63k per Debian main/amd64): branch-free
    // byte checks first, then one pass tracking the current component only when needed.
    let bytes = path.as_bytes();
    if bytes
        .iter()
        .fold(false, |found, &byte| found | (byte == b'\\'))
    {
        return reject("backslash in path");
    }
    if bytes
        .iter()
        .fold(false, |found, &byte| found | byte.is_ascii_control())
    {
        return reject("control character in path");
    }
    // An empty, `.` or `..` component needs a `/` followed by `.` or `/`, a leading `.`
    // or a trailing `/`; without any, the path is fine (the common case).
    let suspicious = bytes[0] == b'.'
        || bytes[bytes.len() - 1] == b'/'
        || bytes.windows(2).fold(false, |found, pair| {
            found | ((pair[0] == b'/') & ((pair[1] == b'.') | (pair[1] == b'/')))
        });
    if !suspicious {
        return Ok(path);
    }
    let (mut length, mut dots) = (0, 0);
    for &byte in bytes.iter().chain(std::iter::once(&b'/')) {
        if byte == b'/' {
            if length == 0 {
                return reject("empty path component");
            }
            if length == dots && dots <= 2 {
                return reject("`.` or `..` path component");
            }
            (length, dots) = (0, 0);
        } else {
            length += 1;
            dots += usize::from(byte == b'.');
        }
    }
    Ok(path)
}

/// Check a mirror name: it becomes a directory under `public/` and a URL prefix, so it
/// uses letters, digits, `-`, `_` and `.`, does not start with `.` (the store's own
/// directories do) and has at most 100 bytes.
pub fn check_mirror_name(name: &str) -> Result<&str, UnsafePathError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(UnsafePathError {
            path: name.to_owned(),
            reason: "mirror names use letters, digits, '-', '_' and '.', and do not start with '.'",
        })
    }
}

/// Decode the `%XX` escapes of a URL path or file name (`%2B` is `+`: apt escapes it in
/// pool paths, conda lockfiles escape `!` and `+` in versions). `None` when an escape is
/// not two hex digits or the result is not UTF-8: a name that cannot be decoded names
/// nothing.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            ".",
            "a//b",
            "./a",
            "a/.",
            "a\\b",
            "a/",
            "a\0b",
            "a\nb",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "pool/main/j/jq/jq_1.6_amd64.deb",
            "dists/bookworm/InRelease",
            "a..b",
            "a/..b/c..",
            "...",
            ".well-known/x",
        ] {
            assert!(check_relative(good).is_ok(), "{good:?} must pass");
        }
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("a%2Bb/c").as_deref(), Some("a+b/c"));
        assert_eq!(percent_decode("foo-1%212.0").as_deref(), Some("foo-1!2.0"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("a%FF"), None, "not UTF-8");
    }

    #[test]
    fn mirror_names() {
        assert!(check_mirror_name("debian").is_ok());
        assert!(check_mirror_name("conda-forge_2.x").is_ok());
        for bad in ["", ".trees", "a/b", "a b", &"x".repeat(101)] {
            assert!(check_mirror_name(bad).is_err(), "{bad:?} must be refused");
        }
    }

    /// The fast path must agree with the obvious definition.
    fn reference(path: &str) -> bool {
        !path.is_empty()
            && !path.starts_with('/')
            && !path.bytes().any(|b| b == b'\\' || b.is_ascii_control())
            && path.split('/').all(|part| !matches!(part, "" | "." | ".."))
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(path in "[a./\\\\\0]{0,8}") {
            prop_assert_eq!(check_relative(&path).is_ok(), reference(&path));
        }
    }
}
