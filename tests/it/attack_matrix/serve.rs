//! Hostile clients of `serve`: traversal in every encoding, hidden paths, floods. The
//! "exit code" of these rows is the HTTP status.

use super::world::{Attempt, World};
use super::{Row, row};

fn get(target: &str) -> Attempt {
    Attempt::Get {
        target: target.to_owned(),
        planted: Vec::new(),
    }
}

/// A hidden file planted in the published debian tree (removed after the request): what
/// a temp file left there would look like.
fn planted(w: &World, target: &str) -> Attempt {
    let tree = w.outside_store().join("public/debian");
    let file = tree.join(".attack-matrix-secret");
    std::fs::write(&file, b"secret").expect("plant");
    Attempt::Get {
        target: target.to_owned(),
        planted: vec![file],
    }
}

pub fn rows() -> Vec<Row> {
    let traversals: [(&'static str, &'static str); 10] = [
        ("plain ..", "/debian/../../mirror.toml"),
        ("percent-encoded ..", "/debian/%2e%2e/%2e%2e/mirror.toml"),
        (
            "upper-case percent-encoded ..",
            "/debian/%2E%2E/%2E%2E/mirror.toml",
        ),
        (
            "double-encoded ..",
            "/debian/%252e%252e/%252e%252e/mirror.toml",
        ),
        ("encoded slashes", "/debian/..%2f..%2fmirror.toml"),
        ("encoded backslashes", "/debian/..%5c..%5cmirror.toml"),
        (
            "overlong UTF-8 dots",
            "/debian/%c0%ae%c0%ae/%c0%ae%c0%ae/mirror.toml",
        ),
        ("a NUL byte", "/debian/dists%00/../../mirror.toml"),
        ("into the store's objects", "/../objects"),
        ("absolute path", "//etc/passwd"),
    ];
    let mut rows: Vec<Row> = traversals
        .into_iter()
        .map(|(case, target)| row("serve", case, 404, "", move |_| get(target)))
        .collect();
    rows.extend([
        row("serve", "a hidden file", 404, "", |w| {
            planted(w, "/debian/.attack-matrix-secret")
        }),
        row("serve", "a hidden file, percent-encoded", 404, "", |w| {
            planted(w, "/debian/%2eattack-matrix-secret")
        }),
        row(
            "serve",
            "an absolute-form request to another host",
            404,
            "",
            |_| get("http://127.0.0.1:1/../../etc/passwd"),
        ),
        row(
            "serve",
            "a flood of 300 concurrent requests",
            200,
            "300 of 300",
            |_| Attempt::Flood {
                target: "/debian/dists/bookworm/InRelease".into(),
                count: 300,
            },
        ),
    ]);
    rows
}
