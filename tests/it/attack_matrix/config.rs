//! Malformed configurations: every one refused with exit 3, naming the key, before the
//! store is touched. Each is the outside's own config with one change.

use super::world::World;
use super::{Row, row};

/// The outside's config with `from` replaced by `to`, run as `sync`.
fn changed(w: &World, from: &str, to: &str) -> super::world::Attempt {
    w.with_config(&w.outside_config_with(from, to), &["sync"])
}

pub fn rows() -> Vec<Row> {
    let edits: [(&'static str, &'static str, &'static str, &'static str); 18] = [
        ("unknown top-level key", "store =", "stor =", "stor"),
        (
            "unknown [[apt]] key",
            "suites =",
            "packages = [\"x\"]\npakages = [\"y\"]\nsuites =",
            "pakages",
        ),
        (
            "unknown [[conda]] key",
            "subdirs =",
            "subdir = \"x\"\nsubdirs =",
            "subdir",
        ),
        (
            "unknown [fetch] key",
            "retries = 0",
            "retries = 0\nretry = 1",
            "retry",
        ),
        (
            "suites of the wrong type",
            "suites = [\"bookworm\"]",
            "suites = \"bookworm\"",
            "suites",
        ),
        (
            "empty suites",
            "suites = [\"bookworm\"]",
            "suites = []",
            "suites",
        ),
        (
            "a URL scheme we do not speak",
            "url = \"http://",
            "url = \"ftp://",
            "ftp://",
        ),
        (
            "a duration that does not parse",
            "read_timeout = \"2s\"",
            "read_timeout = \"soon\"",
            "soon",
        ),
        (
            "a size that does not parse",
            "max_index_size = \"4MiB\"",
            "max_index_size = \"lots\"",
            "lots",
        ),
        (
            "zero concurrency",
            "retries = 0",
            "retries = 0\nconcurrency = 0",
            "concurrency",
        ),
        ("negative retries", "retries = 0", "retries = -1", "retries"),
        (
            "a mirror name that leaves the store",
            "name = \"debian\"",
            "name = \"../evil\"",
            "../evil",
        ),
        (
            "a mirror name used twice",
            "name = \"conda\"",
            "name = \"debian\"",
            "debian",
        ),
        (
            "a keyring that does not exist",
            "keyring = \"",
            "keyring = \"/nonexistent/attack-matrix-",
            "nonexistent",
        ),
        (
            "an unknown conda subdir",
            "subdirs = [\"linux-64\"]",
            "subdirs = [\"../linux-64\"]",
            "../linux-64",
        ),
        (
            "a conda spec that does not parse",
            "subdirs = [\"linux-64\"]",
            "subdirs = [\"linux-64\"]\nspecs = [\"zlib >=>= 1\"]",
            "zlib >=>= 1",
        ),
        (
            "a [[apt]] section that is a table",
            "[[apt]]",
            "[apt]",
            "apt",
        ),
        (
            "a max_date_skew that does not parse",
            "suites = [\"bookworm\"]",
            "suites = [\"bookworm\"]\nmax_date_skew = \"tomorrow\"",
            "tomorrow",
        ),
    ];
    let mut rows: Vec<Row> = edits
        .into_iter()
        .map(|(case, from, to, needle)| {
            row("config", case, 3, needle, move |w| changed(w, from, to))
        })
        .collect();
    rows.extend([
        row("config", "not TOML at all", 3, "mirror.toml", |w| {
            w.with_config("store = [unclosed\n", &["sync"])
        }),
        row(
            "config",
            "a keyring that is not a key",
            3,
            "garbage.asc",
            |w| {
                let garbage = w.scratch().join("garbage.asc");
                std::fs::write(
                    &garbage,
                    b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nnonsense\n",
                )
                .expect("write");
                let text = std::fs::read_to_string(&w.outside_config).expect("config");
                let start = text.find("keyring = \"").expect("keyring") + "keyring = \"".len();
                let end = start + text[start..].find('"').expect("quote");
                let text = format!("{}{}{}", &text[..start], garbage.display(), &text[end..]);
                w.with_config(&text, &["sync"])
            },
        ),
        row(
            "config",
            "export without a signing key file",
            3,
            "attack-matrix-missing.asc",
            |w| {
                let text = std::fs::read_to_string(&w.outside_config).expect("config");
                let start = text.find("key = \"").expect("key") + "key = \"".len();
                let end = start + text[start..].find('"').expect("quote");
                let text = format!(
                    "{}/nonexistent/attack-matrix-missing.asc{}",
                    &text[..start],
                    &text[end..]
                );
                let out = w.scratch().join("bundle");
                w.with_config(&text, &["export", "--out", out.to_str().expect("utf8")])
            },
        ),
        row(
            "config",
            "import trusting a key file that does not exist",
            3,
            "attack-matrix-nokey.pub",
            |w| {
                let text = std::fs::read_to_string(&w.inside_config).expect("config");
                let start =
                    text.find("trusted_keys = [\"").expect("keys") + "trusted_keys = [\"".len();
                let end = start + text[start..].find('"').expect("quote");
                let text = format!(
                    "{}/nonexistent/attack-matrix-nokey.pub{}",
                    &text[..start],
                    &text[end..]
                );
                w.with_config(&text, &["import", w.bundles[2].to_str().expect("utf8")])
            },
        ),
    ]);
    rows
}
