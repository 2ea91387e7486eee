//! Free space on the store's filesystem, for the import preflight.

use std::path::Path;

/// Bytes available to this (unprivileged) user on the filesystem holding `path`.
pub fn available_space(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)
        .map_err(|e| std::io::Error::other(format!("statvfs {}: {e}", path.display())))?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_some_space_for_a_temp_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(super::available_space(dir.path()).expect("statvfs") > 0);
        assert!(super::available_space(&dir.path().join("absent")).is_err());
    }
}
