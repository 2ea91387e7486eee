//! The scheduling files operators install (dist/systemd, dist/cron; issue 10, item 15):
//! the units pass `systemd-analyze verify` with no complaint where systemd is present,
//! and every mirror-cli command line in them is one the binary accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist")
}

/// `text` with each word holding a `$(date ...)` substitution replaced by `bundle`.
fn without_date_substitutions(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(at) = out.find("$(date") {
        let start = out[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let close = at + out[at..].find(')').expect("closed substitution");
        let end = close
            + out[close..]
                .find(char::is_whitespace)
                .unwrap_or(out.len() - close);
        out.replace_range(start..end, "bundle");
    }
    out
}

/// The mirror-cli command lines of a unit or cron file, as argument lists.
fn invocations(text: &str) -> Vec<Vec<String>> {
    without_date_substitutions(text)
        .split("/usr/local/bin/mirror-cli ")
        .skip(1)
        .map(|rest| {
            rest.split(['\n', '>', '\'', '&'])
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn every_command_line_is_one_the_binary_accepts() {
    let mut seen = 0;
    for file in [
        "systemd/mirror-sync.service",
        "systemd/mirror-export.service",
        "cron/mirror-cli",
    ] {
        let text = std::fs::read_to_string(dist().join(file)).expect(file);
        for args in invocations(&text) {
            seen += 1;
            // `--help` after the arguments: clap checks every flag before it answers.
            let out = Command::new(crate::common::bin())
                .args(&args)
                .arg("--help")
                .output()
                .expect("mirror-cli runs");
            assert!(
                out.status.success(),
                "{file}: mirror-cli {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(seen >= 6, "found {seen} command lines");
}

#[test]
fn systemd_units_verify_cleanly() {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        mirror_test_support::skip(
            "systemd-analyze is not installed (scripts/setup-test-deps.sh installs it)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = crate::common::bin();
    let mut units = Vec::new();
    for name in [
        "mirror-sync.service",
        "mirror-sync.timer",
        "mirror-export.service",
        "mirror-export.timer",
    ] {
        // Paths that exist here, and a user that does (verify checks both).
        let text = std::fs::read_to_string(dist().join("systemd").join(name))
            .expect(name)
            .replace("/usr/local/bin/mirror-cli", &bin.display().to_string())
            .replace("User=mirror", "User=root")
            .replace("/srv/mirror", &dir.path().display().to_string());
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write unit");
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze runs");
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{complaints}");
    assert_eq!(complaints.trim(), "", "systemd-analyze complained");
}
