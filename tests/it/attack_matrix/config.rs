//! Malformed configurations: every one refused with exit 3, naming the key, before the
//! store is touched. Each is the outside's own config with one change.

use super::world::World;
use super::{Row, row};

/// The outside's config with `from` replaced by `to`, run as `sync`.
fn changed(w: &World, from: &str, to: &str) -> super::world::Attempt {
    w.with_config(&w.outside_config_with(from, to), &["sync"])
}

/// The outside's config with the first line setting `key` replaced by `line`, or with
/// `line` added after the line `after` when `key` is not set; run as `args`.
fn set(w: &World, key: &str, line: &str, after: &str, args: &[&str]) -> super::world::Attempt {
    let text = std::fs::read_to_string(&w.outside_config).expect("config");
    let prefix = format!("{key} = ");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match lines.iter().position(|l| l.starts_with(&prefix)) {
        Some(at) => lines[at] = line.to_owned(),
        None => {
            let at = lines.iter().position(|l| l == after).expect("anchor line");
            lines.insert(at + 1, line.to_owned());
        }
    }
    w.with_config(&(lines.join("\n") + "\n"), args)
}

/// Settings whose value is refused at load: (case, key, the line, where to add it when
/// the config lacks the key, message fragment).
const VALUES: [(&str, &str, &str, &str, &str); 14] = [
    ("an empty store path", "store", "store = \"\"", "", "store"),
    (
        "an empty signing key path",
        "key",
        "key = \"\"",
        "[signing]",
        "[signing] key",
    ),
    (
        "a zero read_timeout",
        "read_timeout",
        "read_timeout = \"0s\"",
        "[fetch]",
        "read_timeout",
    ),
    (
        "a zero request_deadline",
        "request_deadline",
        "request_deadline = \"0s\"",
        "[fetch]",
        "request_deadline",
    ),
    (
        "a zero rate_window",
        "rate_window",
        "rate_window = \"0s\"",
        "[fetch]",
        "rate_window",
    ),
    (
        "a max_index_size of zero",
        "max_index_size",
        "max_index_size = \"0\"",
        "[fetch]",
        "max_index_size",
    ),
    (
        "a negative min_rate",
        "min_rate",
        "min_rate = -1",
        "[fetch]",
        "min_rate",
    ),
    (
        "architectures of the wrong type",
        "architectures",
        "architectures = \"amd64\"",
        "[[apt]]",
        "architectures",
    ),
    (
        "a language that is a path",
        "languages",
        "languages = [\"../en\"]",
        "[[apt]]",
        "../en",
    ),
    (
        "missing_packages of an unknown kind",
        "missing_packages",
        "missing_packages = \"maybe\"",
        "[[apt]]",
        "missing_packages",
    ),
    (
        "recommends that is not a boolean",
        "recommends",
        "recommends = \"yes\"",
        "[[apt]]",
        "recommends",
    ),
    (
        "an auth_file that does not exist",
        "auth_file",
        "auth_file = \"/nonexistent/attack-matrix-auth.conf\"",
        "[[apt]]",
        "attack-matrix-auth.conf",
    ),
    (
        "resolve_with naming no mirror",
        "resolve_with",
        "resolve_with = [\"nosuch\"]\npackages = [\"base-a\"]",
        "[[apt]]",
        "nosuch",
    ),
    (
        "conda keep_versions of zero",
        "keep_versions",
        "keep_versions = 0\nspecs = [\"alpha\"]",
        "[[conda]]",
        "keep_versions",
    ),
];

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
    rows.extend(VALUES.into_iter().map(|(case, key, line, after, needle)| {
        row("config", case, 3, needle, move |w| {
            set(w, key, line, after, &["sync"])
        })
    }));
    rows.extend([
        row(
            "config",
            "import trusting no key at all",
            3,
            "trusted_keys",
            |w| {
                let text = std::fs::read_to_string(&w.inside_config).expect("config");
                let start = text.find("trusted_keys = [").expect("keys") + "trusted_keys = [".len();
                let end = start + text[start..].find(']').expect("bracket");
                let text = format!("{}{}", &text[..start], &text[end..]);
                w.with_config(&text, &["import", w.bundles[2].to_str().expect("utf8")])
            },
        ),
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
