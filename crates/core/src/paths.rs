//! Tree paths that cannot escape: every path a snapshot, an index or a bundle names is
//! checked before it touches the filesystem, by the one rule in `mirror-paths`. These
//! wrappers give the store's callers a [`StoreError`].

use crate::store::StoreError;

/// Check that `path` is a plain relative path inside a tree ([`mirror_paths::check_relative`]:
/// not empty, not absolute, no `.`/`..`/empty components, no backslash or control
/// character). Returns it unchanged.
pub fn check_relative(path: &str) -> Result<&str, StoreError> {
    mirror_paths::check_relative(path).map_err(StoreError::from)
}

/// Check a mirror name: it becomes a directory and a URL prefix
/// ([`mirror_paths::check_mirror_name`]).
pub fn check_mirror_name(name: &str) -> Result<&str, StoreError> {
    mirror_paths::check_mirror_name(name).map_err(StoreError::from)
}

impl From<mirror_paths::UnsafePathError> for StoreError {
    fn from(error: mirror_paths::UnsafePathError) -> Self {
        StoreError::UnsafePath {
            path: error.path,
            reason: error.reason,
        }
    }
}
