//! A directory's whole state as a comparable value, for "nothing changed" assertions.

use std::path::Path;

/// Files larger than this are recorded by size, not read.
const LARGE: u64 = 64 << 20;

/// Every entry under `root` (sorted relative paths), each with what identifies its state:
/// a file's bytes, a symlink's target, nothing for a directory. Entries whose relative
/// path is one of `skip` are left out, with their contents. A missing `root` is empty.
/// Special files (FIFOs, devices) are recorded by kind and files over 64 MiB by size,
/// neither read: hostile tests plant both.
pub fn dir_state(root: &Path, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if !root.exists() {
        return out;
    }
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if skip.iter().any(|s| rel == *s) {
                continue;
            }
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).expect("read_link");
                out.push((rel, target.to_string_lossy().into_owned().into_bytes()));
            } else if kind.is_dir() {
                stack.push(path);
                out.push((rel, Vec::new()));
            } else if !kind.is_file() {
                // A FIFO or device a hostile test planted: never opened (a FIFO blocks).
                out.push((rel, format!("<special file {kind:?}>").into_bytes()));
            } else {
                let len = entry.metadata().expect("metadata").len();
                if len > LARGE {
                    // A sparse giant a test planted: its size stands for its content.
                    out.push((rel, format!("<{len} bytes>").into_bytes()));
                } else {
                    out.push((rel, std::fs::read(&path).expect("read")));
                }
            }
        }
    }
    out.sort();
    out
}
