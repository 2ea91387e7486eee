//! Hostile conda channels: paths in file names, digests, sizes, nesting depth, subdir
//! mismatches, emptied channels, bodies that never end.

use std::time::Duration;

use mirror_test_support::Fault;
use serde_json::json;

use super::world::World;
use super::{Row, row};

const REPODATA: &str = "/conda/linux-64/repodata.json";

/// A fresh package listed under a file name that is an attack.
fn listed_as(w: &World, key: &str) -> super::world::Attempt {
    w.conda_listed(key, |_| {});
    w.sync("conda")
}

pub fn rows() -> Vec<Row> {
    vec![
        row(
            "conda",
            "file name with ..",
            1,
            "../../../tmp/attack-matrix-evil.conda",
            |w| listed_as(w, "../../../tmp/attack-matrix-evil.conda"),
        ),
        row(
            "conda",
            "absolute file name",
            1,
            "/tmp/attack-matrix-evil.conda",
            |w| listed_as(w, "/tmp/attack-matrix-evil.conda"),
        ),
        row(
            "conda",
            "file name in another directory",
            1,
            "noarch/fresh",
            |w| listed_as(w, "noarch/{file}"),
        ),
        row(
            "conda",
            "file name with a backslash",
            1,
            r#"..\\evil.conda"#,
            |w| listed_as(w, "..\\evil.conda"),
        ),
        row(
            "conda",
            "sha256 that the file does not have",
            4,
            "SHA-256",
            |w| {
                w.conda_listed("{file}", |record| {
                    record["sha256"] = json!("0".repeat(64));
                });
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "size that the file does not have",
            4,
            "size",
            |w| {
                w.conda_listed("{file}", |record| {
                    record["size"] = json!(record["size"].as_u64().expect("size") + 1);
                });
                w.sync("conda")
            },
        ),
        row("conda", "sha256 that is not hex", 1, "bad_sha256", |w| {
            w.conda_listed("{file}", |record| {
                record["sha256"] = json!("not-a-digest");
            });
            w.sync("conda")
        }),
        row("conda", "negative size", 1, "unparsable", |w| {
            w.conda_listed("{file}", |record| {
                record["size"] = json!(-1);
            });
            w.sync("conda")
        }),
        row(
            "conda",
            "record name that is not the file's",
            1,
            "filename_mismatch",
            |w| {
                w.conda_listed("{file}", |record| {
                    record["name"] = json!("alpha");
                });
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "a record nested 100000 deep, without a version",
            1,
            "deep-1.0-0.tar.bz2",
            |w| {
                // Inside a record, which the parser keeps as raw JSON: no stack overflow there
                // either, and the record is refused.
                let path = w.conda_root().join("linux-64/repodata.json");
                let doc: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
                let deep = format!(
                    "\"packages\":{{\"deep-1.0-0.tar.bz2\":{{\"name\":\"deep\",\"depends\":{}{}}},",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                );
                let text = doc.to_string().replacen("\"packages\":{", &deep, 1);
                std::fs::write(&path, text).expect("write");
                w.sync("conda")
            },
        ),
        row("conda", "repodata of another subdir", 1, "osx-64", |w| {
            w.repodata(|doc| doc["info"]["subdir"] = json!("osx-64"));
            w.sync("conda")
        }),
        row("conda", "channel emptied upstream", 7, "linux-64", |w| {
            w.repodata(|doc| {
                doc["packages"] = json!({});
                doc["packages.conda"] = json!({});
            });
            w.sync("conda")
        }),
        row(
            "conda",
            "repodata answered by an HTML page (200)",
            1,
            "repodata.json",
            |w| {
                w.server.inject_always(
                    REPODATA,
                    Fault::Replace {
                        content_type: "text/html".into(),
                        body: b"<html><body>Please log in</body></html>\n".to_vec(),
                    },
                );
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "repodata whose body never ends",
            5,
            "repodata.json",
            |w| {
                w.server.inject_always(REPODATA, Fault::Endless);
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "repodata larger than max_index_size",
            5,
            "max_index_size",
            |w| {
                w.repodata(|doc| doc["padding"] = json!("x".repeat(5 << 20)));
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "repodata trickling below min_rate",
            5,
            "repodata.json",
            |w| {
                w.server.inject_always(
                    REPODATA,
                    Fault::Trickle {
                        bytes: 16,
                        every: Duration::from_millis(50),
                    },
                );
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "package truncated by the server",
            5,
            "conda",
            |w| {
                let file = w.conda_listed("{file}", |_| {});
                w.server.inject(
                    &format!("/conda/linux-64/{file}"),
                    Fault::Truncate {
                        after_bytes: 10,
                        times: 5,
                    },
                );
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "package served with other bytes",
            4,
            "SHA-256",
            |w| {
                let file = w.conda_listed("{file}", |_| {});
                w.server
                    .inject_always(&format!("/conda/linux-64/{file}"), Fault::WrongBytes);
                w.sync("conda")
            },
        ),
        row(
            "conda",
            "repodata redirected to another subdir's",
            1,
            "noarch",
            |w| {
                w.server.inject_always(
                    REPODATA,
                    Fault::Redirect {
                        status: 302,
                        location: "/conda/noarch/repodata.json".into(),
                    },
                );
                w.sync("conda")
            },
        ),
    ]
}
