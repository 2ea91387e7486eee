//! Generated dists/ for a filtered mirror: per component/architecture a Packages index
//! holding exactly the selected stanzas (upstream bytes, unchanged), per component and
//! language a Translation index holding the selected packages' descriptions, each with
//! its .gz and .xz and by-hash copies, and a Release listing them, clear-signed
//! (InRelease) and detached-signed (Release.gpg) with our key.
//!
//! The Release keeps upstream's descriptive fields and Date (so the same selection of
//! the same upstream yields the same Release) but drops Valid-Until: inside an air gap
//! the mirror may legitimately be older than upstream's validity window, and the trust
//! root is now our key.

use md5::Digest as _;
use mirror_core::Sha256Digest;
use mirror_core::compression::{Compression, compress};
use mirror_core::signing::SigningKey;

use crate::error::AptError;
use crate::release::{Release, ReleaseFields, ReleaseFile, write_release};
use crate::upstream::by_hash_path;

/// One regenerated index.
#[derive(Debug)]
pub struct FilteredIndex {
    /// Path below `dists/<suite>/` without compression (`main/binary-amd64/Packages`).
    pub stem: String,
    /// The selected stanzas, separated by blank lines.
    pub content: Vec<u8>,
}

impl FilteredIndex {
    /// `<component>/binary-<architecture>/Packages`
    pub fn packages(component: &str, architecture: &str, content: Vec<u8>) -> Self {
        Self {
            stem: format!("{component}/binary-{architecture}/Packages"),
            content,
        }
    }

    /// `<component>/source/Sources`
    pub fn sources(component: &str, content: Vec<u8>) -> Self {
        Self {
            stem: format!("{component}/source/Sources"),
            content,
        }
    }

    /// `<component>/i18n/Translation-<language>`
    pub fn translation(component: &str, language: &str, content: Vec<u8>) -> Self {
        Self {
            stem: format!("{component}/i18n/Translation-{language}"),
            content,
        }
    }
}

/// A generated file: its path below `dists/<suite>/` and its bytes.
pub type GeneratedFile = (String, Vec<u8>);

/// Build every file of `dists/<suite>/` for a filtered mirror.
pub fn filtered_suite(
    upstream: &Release<'_>,
    indices: &[FilteredIndex],
    components: &[String],
    architectures: &[String],
    key: &SigningKey,
) -> Result<Vec<GeneratedFile>, AptError> {
    let mut files: Vec<GeneratedFile> = Vec::new();
    for index in indices {
        for format in [Compression::None, Compression::Gzip, Compression::Xz] {
            files.push((
                format!("{}{}", index.stem, format.extension()),
                compress(&index.content, format)?,
            ));
        }
    }
    let mut fields = upstream.fields.clone();
    fields.valid_until = None;
    fields.acquire_by_hash = true;
    fields.no_support_for_architecture_all = None;
    fields.architectures = architectures.iter().map(String::as_str).collect();
    fields.components = components.iter().map(String::as_str).collect();
    // Upstream's Signed-By names upstream's keys; clients of this mirror trust ours.
    fields
        .extra
        .retain(|(name, _)| !name.eq_ignore_ascii_case("Signed-By"));
    signed_suite(&fields, files, key)
}

/// A signed suite holding exactly `files` (paths below `dists/<suite>/`): a Release with
/// `fields` listing each (SHA256 and MD5), by-hash copies when `fields` asks for them,
/// InRelease and Release.gpg signed with `key`. Returns the files with those added.
pub fn signed_suite(
    fields: &ReleaseFields<'_>,
    files: Vec<GeneratedFile>,
    key: &SigningKey,
) -> Result<Vec<GeneratedFile>, AptError> {
    let digests: Vec<(String, String, u64)> = files
        .iter()
        .map(|(_, bytes)| {
            (
                Sha256Digest::of(bytes).to_hex(),
                hex::encode(md5::Md5::digest(bytes)),
                bytes.len() as u64,
            )
        })
        .collect();
    let entries: Vec<ReleaseFile<'_>> = files
        .iter()
        .zip(&digests)
        .map(|((path, _), (sha256, md5, size))| ReleaseFile {
            path,
            size: *size,
            sha256,
            md5: Some(md5),
        })
        .collect();
    let mut release = write_release(fields, &entries).map_err(|e| AptError::Malformed {
        origin: "generated Release".into(),
        message: e.to_string(),
    })?;
    if !release.ends_with('\n') {
        release.push('\n');
    }

    let mut out = Vec::with_capacity(files.len() * 2 + 3);
    if fields.acquire_by_hash {
        for ((path, bytes), (sha256, _, _)) in files.iter().zip(&digests) {
            let digest: Sha256Digest = sha256.parse().expect("we just formatted this digest");
            out.push((by_hash_path(path, &digest), bytes.clone()));
        }
    }
    out.extend(files);
    out.push(("InRelease".into(), key.clearsign(&release)?.into_bytes()));
    out.push((
        "Release.gpg".into(),
        key.sign_detached_armored(release.as_bytes())?.into_bytes(),
    ));
    out.push(("Release".into(), release.into_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::signing::{verify_cleartext, verify_detached};

    #[test]
    fn generated_release_lists_and_signs_every_index() {
        let upstream_text = "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nValid-Until: Sat, 18 Jul 2026 10:16:37 UTC\nAcquire-By-Hash: yes\nArchitectures: all amd64 arm64\nComponents: main contrib\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 1 main/x\n";
        let upstream = Release::parse(upstream_text).expect("parses");
        let key = SigningKey::generate("test").expect("key");
        let packages = b"Package: jq\nVersion: 1.6\n".to_vec();
        let files = filtered_suite(
            &upstream,
            &[FilteredIndex::packages("main", "amd64", packages.clone())],
            &["main".into()],
            &["amd64".into()],
            &key,
        )
        .expect("generates");
        let get = |p: &str| {
            &files
                .iter()
                .find(|(path, _)| path == p)
                .unwrap_or_else(|| panic!("{p} generated"))
                .1
        };
        assert_eq!(get("main/binary-amd64/Packages"), &packages);
        let release_text = String::from_utf8(get("Release").clone()).expect("utf8");
        let release = Release::parse(&release_text).expect("our Release parses");
        assert_eq!(release.fields.valid_until, None);
        assert_eq!(release.fields.architectures, ["amd64"]);
        for ext in ["", ".gz", ".xz"] {
            let path = format!("main/binary-amd64/Packages{ext}");
            let entry = release.file(&path).expect("listed");
            let bytes = get(&path);
            assert_eq!(entry.sha256, Sha256Digest::of(bytes).to_hex());
            assert!(entry.md5.is_some());
            assert_eq!(
                get(&by_hash_path(&path, &entry.sha256.parse().expect("hex"))),
                bytes
            );
        }
        let keyring = key.public_keyring();
        let verified = verify_cleartext(&keyring, get("InRelease"), "InRelease").expect("signed");
        assert_eq!(verified.text.trim_end(), release_text.trim_end());
        verify_detached(
            &keyring,
            release_text.as_bytes(),
            get("Release.gpg"),
            "Release.gpg",
        )
        .expect("detached signature");
    }
}
