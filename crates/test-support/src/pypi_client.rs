//! The real pip of the tests: the one in `.venv-pypi-client` (made by
//! `scripts/setup-pypi-clients.sh`), run with nothing from the user's configuration.

use std::path::Path;

use crate::workspace_root;

/// `pip install --only-binary :all: --target TARGET REQUIREMENT...` from the simple index
/// at `index_url` (no other index); the installed distributions (`name==version`,
/// sorted), or `Err` with pip's output, or `None` (after saying why) when the client's
/// venv is absent ([`crate::skip`]: a failure when `CI` is set).
pub fn pip_install(
    index_url: &str,
    requirements: &[&str],
    target: &Path,
) -> Option<Result<Vec<String>, String>> {
    let python = workspace_root().join(".venv-pypi-client/bin/python");
    if !python.is_file() {
        crate::skip(&format!(
            "the pip client {} is missing (scripts/setup-pypi-clients.sh)",
            python.display()
        ));
        return None;
    }
    let output = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--isolated",
            "--disable-pip-version-check",
        ])
        .args([
            "--no-cache-dir",
            "--only-binary",
            ":all:",
            "--index-url",
            index_url,
        ])
        .arg("--target")
        .arg(target)
        .args(requirements)
        .env_remove("PIP_CONFIG_FILE")
        .env("PIP_NO_INPUT", "1")
        .output()
        .expect("pip runs");
    if !output.status.success() {
        return Some(Err(format!(
            "pip failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut installed: Vec<String> = std::fs::read_dir(target)
        .expect("pip's target dir")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".dist-info")?;
            let (project, version) = stem.split_once('-')?;
            Some(format!(
                "{}=={version}",
                project.to_lowercase().replace('_', "-")
            ))
        })
        .collect();
    installed.sort();
    Some(Ok(installed))
}
