//! The real PyPI clients of the tests: pip and uv in `.venv-pypi-client` (made by
//! `scripts/setup-pypi-clients.sh`), run with nothing from the user's configuration.

use std::path::Path;

use crate::workspace_root;

/// `pip install --only-binary :all: REQUIREMENT...` into a fresh venv made at `target`
/// (an empty directory), from the simple index at `index_url` (no other index); the
/// installed distributions (`name==version`, sorted), or `Err` with pip's output, or
/// `None` (after saying why) when the client's venv is absent ([`crate::skip`]: a failure
/// when `CI` is set).
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
    // The user's machine: a venv of its own, pip driving its interpreter.
    let made = std::process::Command::new(&python)
        .args(["-m", "venv", "--without-pip"])
        .arg(target)
        .output()
        .expect("python -m venv runs");
    assert!(
        made.status.success(),
        "venv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let output = std::process::Command::new(&python)
        .args(["-m", "pip", "--python"])
        .arg(target.join("bin/python"))
        .args(["install", "--isolated", "--disable-pip-version-check"])
        .args([
            "--no-cache-dir",
            "--only-binary",
            ":all:",
            "--index-url",
            index_url,
        ])
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
    Some(Ok(installed(target)))
}

/// `uv venv TARGET`, then `uv pip install --only-binary :all: REQUIREMENT...` into it from
/// the simple index at `index_url` alone, with no cache and no configuration; as
/// [`pip_install`].
pub fn uv_install(
    index_url: &str,
    requirements: &[&str],
    target: &Path,
) -> Option<Result<Vec<String>, String>> {
    let venv = workspace_root().join(".venv-pypi-client");
    let uv = venv.join("bin/uv");
    if !uv.is_file() {
        crate::skip(&format!(
            "the uv client {} is missing (scripts/setup-pypi-clients.sh)",
            uv.display()
        ));
        return None;
    }
    let made = std::process::Command::new(&uv)
        .args([
            "venv",
            "--no-config",
            "--quiet",
            "--allow-existing",
            "--python",
        ])
        .arg(venv.join("bin/python"))
        .arg(target)
        .env("UV_NO_PROGRESS", "1")
        .output()
        .expect("uv venv runs");
    assert!(
        made.status.success(),
        "uv venv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let output = std::process::Command::new(&uv)
        .args(["pip", "install", "--no-config", "--no-cache", "--quiet"])
        .args(["--only-binary", ":all:", "--index-url", index_url])
        .arg("--python")
        .arg(target.join("bin/python"))
        .args(requirements)
        .env("UV_NO_PROGRESS", "1")
        .env_remove("UV_INDEX_URL")
        .env_remove("UV_DEFAULT_INDEX")
        .output()
        .expect("uv runs");
    if !output.status.success() {
        return Some(Err(format!(
            "uv failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Some(Ok(installed(target)))
}

/// pip, then uv, each installing `requirements` into a fresh venv from `index_url`:
/// (client, what it installed) for each client present (an absent one is skipped as
/// [`pip_install`] says); a client that fails panics with its output.
pub fn install_with_each_client(
    index_url: &str,
    requirements: &[&str],
) -> Vec<(&'static str, Vec<String>)> {
    type Install = fn(&str, &[&str], &Path) -> Option<Result<Vec<String>, String>>;
    let clients: [(&'static str, Install); 2] = [("pip", pip_install), ("uv", uv_install)];
    let mut outcomes = Vec::new();
    for (client, install) in clients {
        let target = tempfile::tempdir().expect("tempdir");
        if let Some(result) = install(index_url, requirements, target.path()) {
            let installed = result.unwrap_or_else(|e| panic!("{client}: {e}"));
            outcomes.push((client, installed));
        }
    }
    outcomes
}

/// The distributions installed into the venv at `target`: `name==version`, sorted.
fn installed(target: &Path) -> Vec<String> {
    let lib = target.join("lib");
    let site = std::fs::read_dir(&lib)
        .expect("the venv's lib")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages"))
        .find(|path| path.is_dir())
        .unwrap_or_else(|| {
            let listing: Vec<_> = std::fs::read_dir(&lib)
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            panic!(
                "no site-packages in the venv {}: {listing:?}",
                target.display()
            )
        });
    let mut installed: Vec<String> = std::fs::read_dir(site)
        .expect("site-packages")
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
    installed
}
