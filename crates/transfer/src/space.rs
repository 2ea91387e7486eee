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
    /// The figure agrees with `df`'s (coreutils, its own statvfs reading of the same
    /// filesystem), within what other processes may write in between.
    #[test]
    fn reports_the_space_df_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = super::available_space(dir.path()).expect("statvfs");
        let df = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(dir.path())
            .output()
            .expect("df runs");
        assert!(df.status.success());
        let theirs: u64 = String::from_utf8_lossy(&df.stdout)
            .lines()
            .nth(1)
            .expect("a figure under the header")
            .trim()
            .parse()
            .expect("bytes");
        let slack = (theirs / 100).max(64 << 20);
        assert!(
            ours.abs_diff(theirs) <= slack,
            "statvfs says {ours}, df says {theirs}"
        );
        assert!(super::available_space(&dir.path().join("absent")).is_err());
    }
}
