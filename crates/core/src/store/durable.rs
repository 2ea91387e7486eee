//! Making many writes durable with one flush instead of one fsync each.
//!
//! On Linux `syncfs(2)` writes back every dirty page and inode of the filesystem holding
//! a directory and waits for it (and, since Linux 5.8, reports a write-back error any of
//! them had): one call for a batch of thousands of objects, where an fsync per file and
//! per directory made a full mirror spend most of its time in the kernel. It flushes what
//! other programs wrote to that filesystem too, which costs them nothing and us only
//! their share of the disk. Elsewhere each named file and directory is fsynced.

use std::path::Path;

use super::StoreError;

/// Make durable what was written to `paths` (files and directories, all on the filesystem
/// of `dir`): the whole filesystem at once where the kernel can, else each path.
pub(crate) fn sync_filesystem<'a>(
    dir: &Path,
    paths: impl IntoIterator<Item = &'a Path>,
) -> Result<(), StoreError> {
    crate::failpoint::step("fsync");
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        let handle = fs_err::File::open(dir)?;
        rustix::fs::syncfs(&handle).map_err(|e| StoreError::io(dir, std::io::Error::from(e)))?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for path in paths {
            fs_err::File::open(path)?.sync_all()?;
        }
    }
    Ok(())
}
