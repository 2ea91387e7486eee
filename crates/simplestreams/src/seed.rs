//! `init --maas-images noble,jammy --arch amd64 --images-url URL`: a MAAS image mirror's
//! section (the architectures as a filter; the releases' images and the bootloaders as
//! a union of selections; the newest version of each product). The URL is the
//! operator's: no image host is written here.

use std::path::PathBuf;

use crate::config::SimplestreamsConfig;

/// Where Ubuntu installs the key that signs the MAAS and cloud image streams.
pub const UBUNTU_IMAGES_KEYRING: &str = "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg";

/// The section, and lines for the operator.
pub fn maas(
    releases: &[String],
    arches: &[String],
    url: &str,
    keyring: Option<PathBuf>,
) -> Result<(SimplestreamsConfig, Vec<String>), String> {
    let word = |s: &String| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if releases.is_empty() || !releases.iter().all(word) {
        return Err(format!(
            "--maas-images {releases:?}: expected release names such as noble,jammy"
        ));
    }
    if arches.is_empty() || !arches.iter().all(word) {
        return Err(format!(
            "--arch {arches:?}: expected architectures such as amd64,arm64"
        ));
    }
    let mut config = SimplestreamsConfig::new(
        "maas",
        url,
        vec![keyring.unwrap_or_else(|| PathBuf::from(UBUNTU_IMAGES_KEYRING))],
    );
    config.filters = vec![format!("arch~^({})$", arches.join("|"))];
    // The images of these releases, and the bootloaders (which name no release).
    config.selections = vec![
        vec![format!("release~^({})$", releases.join("|"))],
        vec!["content_id~bootloader".to_owned()],
    ];
    config.keep_versions = Some(1);
    config.check().map_err(|e| e.to_string())?;
    let mut notes = vec![format!(
        "simplestreams mirror maas: {} on {}, the newest version of each product",
        releases.join(", "),
        arches.join(", ")
    )];
    if !config.keyring[0].is_file() {
        notes.push(format!(
            "{} is not on this machine: set `keyring` to the key that signs the stream",
            config.keyring[0].display()
        ));
    }
    Ok((config, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_of_releases_and_architectures() {
        let keyring = tempfile::NamedTempFile::new().expect("a keyring file");
        let (config, notes) = maas(
            &["noble".into(), "jammy".into()],
            &["amd64".into()],
            "http://127.0.0.1:1/ephemeral-v3/stable",
            Some(keyring.path().to_path_buf()),
        )
        .expect("seeds");
        assert_eq!(config.filters, ["arch~^(amd64)$"]);
        assert_eq!(
            config.selections,
            [
                vec!["release~^(noble|jammy)$"],
                vec!["content_id~bootloader"]
            ]
        );
        assert_eq!(config.keep_versions, Some(1));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (_, notes) = maas(
            &["noble".into()],
            &["amd64".into()],
            "http://h/x",
            Some("/nonexistent/keyring.gpg".into()),
        )
        .expect("seeds");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].contains("/nonexistent/keyring.gpg"), "{notes:?}");
        assert!(maas(&["no ble".into()], &["amd64".into()], "http://h/x", None).is_err());
        assert!(maas(&["noble".into()], &[], "http://h/x", None).is_err());
    }
}
