//! Authenticated upstreams (issue 9, item 9): a loopback upstream that answers 401 without
//! the right `Authorization`. Credentials come from a file in apt's auth.conf format or a
//! bearer-token file; a refusal is one request and exit code 3 naming the mirror, and the
//! secret appears nowhere: not in output, logs, the store, the audit log or a bundle.

use std::path::Path;

use mirror_core::signing::SigningKey;
use mirror_test_support::TestServer;

use crate::common::apt;
use crate::common::{cli, keygen, ok};

const PASSWORD: &str = "s3cret-pass";
/// `Basic base64("mirror:s3cret-pass")`.
const BASIC: &str = "Basic bWlycm9yOnMzY3JldC1wYXNz";
const TOKEN: &str = "t0ken-abc123";

/// The fixture's 13 packages as a suite signed by a test key; returns the key file.
fn upstream(fixture: &Path, root: &Path, dir: &Path) -> std::path::PathBuf {
    let key = SigningKey::generate("auth upstream").expect("key");
    apt::write_signed_suite(
        root,
        "bookworm",
        apt::packages_files("main", &apt::fixture_stanzas(fixture)),
        &key,
    );
    mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
    let path = dir.join("upstream.asc");
    std::fs::write(&path, key.armored_public().expect("armor")).expect("key");
    path
}

fn write_config(dir: &Path, url: &str, key: &Path, auth: &str) -> std::path::PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n[[apt]]\nname = \"esm\"\n\
             url = \"{url}\"\nsuites = [\"bookworm\"]\nkeyring = \"{}\"\n{auth}",
            key.display()
        ),
    )
    .expect("config");
    config
}

/// Every file under `dir` (following nothing) that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    mirror_test_support::dir_state(dir, &[])
        .into_iter()
        .filter(|(_, bytes)| {
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn credentials_from_auth_conf_or_a_token_file_and_never_anywhere_else() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let root = dir.join("upstream");
    let key = upstream(&fixture, &root, dir);
    let server = TestServer::serve_dir(&root);
    server.require_authorization(BASIC);
    let url = server.url();
    let host = url.trim_start_matches("http://");
    keygen(dir);

    // None configured: one request, not a retry loop, and exit code 3 naming the mirror.
    let config = write_config(dir, &url, &key, "");
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("esm") && stderr.contains("requires credentials"),
        "{stderr}"
    );
    assert_eq!(
        server.request_count("/dists/bookworm/InRelease"),
        1,
        "{:?}",
        server.requests()
    );

    // Refused credentials: their own message.
    std::fs::write(
        dir.join("auth.conf"),
        format!("machine {host} login mirror password wrong\n"),
    )
    .expect("auth.conf");
    let config = write_config(dir, &url, &key, "auth_file = \"auth.conf\"\n");
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");

    // The right ones, in apt's format with a comment and one field per line.
    std::fs::write(
        dir.join("auth.conf"),
        format!(
            "# the archive's subscription\nmachine {host}\n login mirror\n password {PASSWORD}\n"
        ),
    )
    .expect("auth.conf");
    let out = cli(&config, &["--json", "sync"]);
    ok(&out);
    let status = cli(&config, &["--json", "status"]);
    ok(&status);
    let export = cli(
        &config,
        &[
            "export",
            "--out",
            dir.join("bundle").to_str().expect("utf8"),
        ],
    );
    ok(&export);
    for output in [&out, &status, &export] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains(PASSWORD), "secret in output: {text}");
    }
    for place in ["store", "bundle"] {
        assert_eq!(
            files_containing(&dir.join(place), PASSWORD),
            Vec::<String>::new(),
            "secret written into {place}"
        );
    }
    assert!(
        dir.join("store/public/esm/dists/bookworm/InRelease")
            .is_file()
    );

    // A bearer token from a file.
    let bearer = TestServer::serve_dir(&root);
    bearer.require_authorization(&format!("Bearer {TOKEN}"));
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token");
    let config = write_config(dir, &bearer.url(), &key, "bearer_token_file = \"token\"\n");
    let out = cli(&config, &["sync"]);
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
    assert_eq!(
        files_containing(&dir.join("store"), TOKEN),
        Vec::<String>::new()
    );
}
