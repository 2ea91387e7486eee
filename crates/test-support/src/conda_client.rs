//! The real conda client of the tests: py-rattler in `.venv-conda-client` (made by
//! `scripts/setup-conda-client.sh`), driven through `tests/support/conda_client.py`.

use std::path::Path;

use crate::workspace_root;

/// Solve and install `spec` from `channel_url` into `prefix`; the installed package names,
/// or `None` (after printing why) when the client's venv is absent ([`crate::skip`]: a
/// failure when `CI` is set).
///
/// py-rattler 0.28 may abort at interpreter exit after printing its result, so the
/// outcome is judged by the JSON line it prints, not by its exit code.
pub fn conda_client_install(channel_url: &str, spec: &str, prefix: &Path) -> Option<Vec<String>> {
    let root = workspace_root();
    let python = root.join(".venv-conda-client/bin/python");
    if !python.is_file() {
        crate::skip(&format!(
            "the conda client {} is missing (scripts/setup-conda-client.sh)",
            python.display()
        ));
        return None;
    }
    let output = std::process::Command::new(&python)
        .arg(root.join("tests/support/conda_client.py"))
        .arg(channel_url)
        .arg(spec)
        .arg(prefix)
        .output()
        .expect("the conda client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let installed = stdout
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "the conda client printed no package list; stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    Some(installed)
}
