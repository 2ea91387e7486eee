//! Helpers for the end-to-end tests: run the real `mirror-cli` binary, start
//! `mirror-cli serve`, and drive real `apt-get` in an isolated apt root.

pub mod apt;
pub mod bundle;
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
    cli_env(config, args, &[])
}

/// [`cli`] with extra environment variables (`MIRROR_FAILPOINT`, ...).
pub fn cli_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
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
/// A fresh signing key at `<dir>/keys/signing.asc` (the path configs name as
/// `keys/signing.asc`); returns the public key clients trust.
pub fn keygen(dir: &Path) -> PathBuf {
    let key = dir.join("keys/signing.asc");
    ok(&cli(
        &dir.join("keygen.toml"),
        &["keygen", "--out", key.to_str().expect("utf8")],
    ));
    dir.join("keys/signing.asc.pub")
}

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
        Self::start_under(config, ":", &[])
    }

    /// [`start`](Self::start) through `sh -c '<shell>; exec mirror-cli ...'` (a
    /// `ulimit` the server runs under), with more `serve` flags.
    pub fn start_under(config: &Path, shell: &str, flags: &[&str]) -> Served {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{shell}; exec \"$0\" \"$@\""))
            .arg(bin())
            .arg("--config")
            .arg(config)
            .arg("serve")
            // A `--listen` among `flags` (a port the config already names) replaces ours.
            .args(if flags.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(flags)
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

/// One response of [`Served::get`]: status, headers (names lower-cased), body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Served {
    /// `GET path` with extra request headers, over a plain HTTP/1.1 connection (what a
    /// client's cache sends, without a client library's own caching in between).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        // A `Host` among `headers` replaces ours (a client resolving an upstream's name to
        // the mirror sends the upstream's).
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request.push_str(&format!("Host: {address}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        HttpResponse {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
