//! Helpers for the end-to-end tests: run the real `mirror-cli` binary, start
//! `mirror-cli serve`, and drive real `apt-get` in an isolated apt root.

pub mod apt;
pub mod conda;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mirror-cli"))
}

/// Run `mirror-cli --config <config> <args>`.
pub fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("mirror-cli runs")
}

/// Run with `--json` and parse the one JSON object printed.
pub fn cli_json(config: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cli(config, &all);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// Assert success, printing stderr otherwise.
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "mirror-cli failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `mirror-cli serve` on an OS-chosen port; killed on drop.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    pub fn start(config: &Path) -> Served {
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("serve printed its address before exiting")
                .expect("stderr readable");
            if let Some(rest) = line.split(" on ").nth(1)
                && rest.starts_with("http://")
            {
                break rest.trim_end_matches('/').to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
