//! Bundles as a compromised exporter or a bad medium leaves them: copies, flipped bytes,
//! crafted tar entries, manifests edited and signed again with the outside's own key.

use std::path::Path;

use mirror_core::Sha256Digest;
use mirror_core::signing::SigningKey;
use mirror_transfer::Manifest;

/// The bundle's manifest, parsed.
pub fn manifest(bundle: &Path) -> Manifest {
    let path = bundle.join("manifest.json");
    Manifest::from_json(&std::fs::read(&path).expect("manifest"), &path).expect("valid")
}

/// Copy a bundle directory (flat: volumes, manifest, signature, sums).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Flip one bit of `path` at `at` (clamped to the file).
pub fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

/// Apply `change` to the manifest and sign it again with `key`, keeping SHA256SUMS
/// consistent too (import checks it): what a compromised exporter produces.
pub fn resign(bundle: &Path, key: &SigningKey, change: impl FnOnce(&mut Manifest)) {
    let mut m = manifest(bundle);
    change(&mut m);
    let json = m.to_json();
    std::fs::write(bundle.join("manifest.json"), &json).expect("write");
    std::fs::write(
        bundle.join("manifest.json.asc"),
        key.sign_detached_armored(&json).expect("sign"),
    )
    .expect("write");
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).expect("sums");
    let sums: String = sums
        .lines()
        .map(|line| {
            let (_, file) = line.split_once("  ").expect("sums line");
            let bytes = std::fs::read(bundle.join(file)).expect("listed file");
            format!("{}  {file}\n", Sha256Digest::of(&bytes))
        })
        .collect();
    std::fs::write(bundle.join("SHA256SUMS"), sums).expect("write");
}

/// One crafted tar entry.
pub struct Entry<'a> {
    /// The entry's path as written in the header.
    pub name: &'a [u8],
    /// Regular, symlink, hard link, device, FIFO, directory...
    pub kind: tar::EntryType,
    /// Link target for links.
    pub link: Option<&'a str>,
    /// Content (regular files).
    pub data: &'a [u8],
}

/// Put `entry` at the start of the first volume (or at its end, `at_end`) and sign
/// everything again with `key`.
pub fn inject(bundle: &Path, key: &SigningKey, entry: &Entry<'_>, at_end: bool) {
    let m = manifest(bundle);
    let volume = bundle.join(&m.volumes[0].name);
    let original = std::fs::read(&volume).expect("read");
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
    header.set_mode(0o644);
    header.set_entry_type(entry.kind);
    if let Some(link) = entry.link {
        header.set_link_name(link).expect("link");
    }
    header.set_size(entry.data.len() as u64);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, entry.data).expect("append");
    let mut crafted = builder.into_inner().expect("tar");
    // Without the builder's end-of-archive blocks.
    crafted.truncate(crafted.len() - 1024);
    let bytes = if at_end {
        // The original's own end-of-archive marker is two zero blocks at its end (GNU tar
        // may pad further; ours writes exactly two).
        let mut bytes = original[..original.len() - 1024].to_vec();
        bytes.extend_from_slice(&crafted);
        bytes.extend_from_slice(&[0; 1024]);
        bytes
    } else {
        let mut bytes = crafted;
        bytes.extend_from_slice(&original);
        bytes
    };
    std::fs::write(&volume, &bytes).expect("write");
    resign(bundle, key, |m| {
        m.volumes[0].size = bytes.len() as u64;
        m.volumes[0].sha256 = Sha256Digest::of(&bytes);
    });
}
