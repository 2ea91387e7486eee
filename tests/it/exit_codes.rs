//! Exit codes as docs/cli.md's table says (issue 10, item 11): one table, a row per
//! class a sync or a command meets, each driven for real against a loopback conda
//! upstream, with the code and a fragment of the one error line expected. The bundle
//! codes (10 to 15) are driven the same way by `transfer::bundles_carry_a_mirror_across
//! _the_gap`'s refusal table. Every code here must be in the docs' table.

use std::path::Path;
use std::process::Command;

use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};
use mirror_test_support::{Fault, TestServer};

use crate::common::{bin, cli, ok};

struct Row {
    case: &'static str,
    code: i32,
    needle: &'static str,
}

fn check(row: &Row, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(row.code), "{}: {stderr}", row.case);
    assert!(
        stderr.contains(row.needle),
        "{}: {:?} in {stderr}",
        row.case,
        row.needle
    );
    // Said once: no cause repeated inside the error line.
    if let Some(line) = stderr.lines().find(|l| l.starts_with("error:")) {
        let parts: Vec<&str> = line.split(": ").filter(|p| p.len() > 12).collect();
        for part in &parts {
            assert_eq!(
                line.matches(part).count(),
                1,
                "{}: {part:?} repeated in {line}",
                row.case
            );
        }
    }
}

fn write_config(dir: &Path, url: &str, extra_fetch: &str, extra_mirror: &str) {
    std::fs::write(
        dir.join("mirror.toml"),
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\n{extra_fetch}[[conda]]\nname = \"chan\"\n\
             url = \"{url}\"\n{extra_mirror}"
        ),
    )
    .expect("config");
}

#[test]
fn every_class_exits_with_its_documented_code() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let mut channel = Channel::new(&dir.join("channel"));
    channel.add(&Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let server = TestServer::serve_dir(dir.join("channel"));
    let config = dir.join("mirror.toml");
    let package = Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda).filename();
    let package_path = format!("/linux-64/{package}");
    let mut driven = Vec::new();
    let mut run = |row: Row, out: std::process::Output| {
        check(&row, &out);
        driven.push(row.code);
    };

    let usage = Command::new(bin())
        .arg("frobnicate")
        .output()
        .expect("runs");
    run(
        Row {
            case: "usage",
            code: 2,
            needle: "frobnicate",
        },
        usage,
    );

    // Usage mistakes clap cannot see by itself are usage errors too (issue 28, item 9).
    write_config(dir, &server.url(), "", "");
    let never = dir.join("bundle-never");
    let never = never.to_str().expect("utf8");
    for (case, args, needle) in [
        ("usage: --keep 0", &["prune", "--keep", "0"][..], "--keep"),
        (
            "usage: --volume-size 0",
            &["export", "--out", never, "--volume-size", "0"][..],
            "--volume-size",
        ),
        (
            "usage: an unknown mirror",
            &["sync", "nosuch"][..],
            "nosuch",
        ),
        (
            "usage: publish an unknown mirror",
            &["publish", "nosuch"][..],
            "nosuch",
        ),
    ] {
        run(
            Row {
                case,
                code: 2,
                needle,
            },
            cli(&config, args),
        );
    }
    assert!(!dir.join("bundle-never").exists());

    // A password in the URL is refused at load, and not repeated (issue 28, item 2).
    let with_password = server
        .url()
        .replace("http://", "http://mirror:s3cret-in-url@");
    write_config(dir, &with_password, "", "");
    let out = cli(&config, &["sync"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("s3cret-in-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(
        Row {
            case: "userinfo in a url",
            code: 3,
            needle: "auth_file",
        },
        out,
    );

    write_config(dir, &server.url(), "", "pakages = [\"x\"]\n");
    run(
        Row {
            case: "unknown key",
            code: 3,
            needle: "pakages",
        },
        cli(&config, &["sync"]),
    );

    write_config(dir, "http://127.0.0.1:9/chan", "", "");
    run(
        Row {
            case: "unreachable upstream",
            code: 5,
            needle: "127.0.0.1:9",
        },
        cli(&config, &["sync"]),
    );

    write_config(dir, &server.url(), "read_timeout = \"300ms\"\n", "");
    server.inject(
        &package_path,
        Fault::Stall {
            after_bytes: 10,
            times: 1,
        },
    );
    run(
        Row {
            case: "stall",
            code: 5,
            needle: "stalled",
        },
        cli(&config, &["sync"]),
    );
    server.clear_faults();

    // A repodata larger than this site allows in memory.
    write_config(dir, &server.url(), "max_index_size = \"64KiB\"\n", "");
    let repodata = dir.join("channel/linux-64/repodata.json");
    let original = std::fs::read(&repodata).expect("repodata");
    let mut padded: serde_json::Value = serde_json::from_slice(&original).expect("json");
    padded["info"]["padding"] = "x".repeat(100_000).into();
    std::fs::write(&repodata, serde_json::to_vec(&padded).expect("json")).expect("write");
    run(
        Row {
            case: "too large",
            code: 5,
            needle: "repodata.json",
        },
        cli(&config, &["sync"]),
    );
    std::fs::write(&repodata, &original).expect("restore");

    write_config(dir, &server.url(), "", "specs = [\"frist\"]\n");
    run(
        Row {
            case: "empty selection",
            code: 7,
            needle: "frist",
        },
        cli(&config, &["sync"]),
    );

    write_config(dir, &server.url(), "", "");
    ok(&cli(&config, &["sync"]));

    // Another writer holds the store (an OS file lock, as `flock(1)` takes it).
    // (`-o`: the lock stays with flock itself, so killing it frees the store.)
    let holder = Command::new("flock")
        .arg("-o")
        .arg(dir.join("store/lock"))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock runs");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let locked = cli(&config, &["sync"]);
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
    run(
        Row {
            case: "locked",
            code: 6,
            needle: "locked",
        },
        locked,
    );

    // A package served with other bytes than its record states.
    channel.add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let second = dir
        .join("channel/linux-64")
        .join(Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda).filename());
    let mut bytes = std::fs::read(&second).expect("package");
    bytes[0] ^= 0xff;
    std::fs::write(&second, bytes).expect("tamper");
    run(
        Row {
            case: "digest mismatch",
            code: 4,
            needle: "second-1.0",
        },
        cli(&config, &["sync"]),
    );

    let garbage = dir.join("Packages");
    std::fs::write(&garbage, b"\x00\x01 not an index").expect("write");
    run(
        Row {
            case: "other",
            code: 1,
            needle: "Packages",
        },
        cli(&config, &["inspect", garbage.to_str().expect("utf8")]),
    );

    // Every code driven is in the documented table.
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md"))
            .expect("docs/cli.md");
    let table = &docs[docs.find("## Exit codes").expect("the exit code section")..];
    for code in driven {
        assert!(
            table.contains(&format!("\n| {code} |")),
            "code {code} documented"
        );
    }
}
