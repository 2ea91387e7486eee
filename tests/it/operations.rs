//! Operations that never lie (issue 10), as an operator runs them with the real binary:
//! a crash between saving a snapshot and publishing it, and syncs in one second.
//! The upstream is a small generated conda channel on a loopback server.

use std::path::{Path, PathBuf};

use mirror_test_support::TestServer;
use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};

use crate::common::{cli, cli_env, cli_json, ok};

fn config(dir: &Path, upstream: &TestServer) -> PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\n[[conda]]\nname = \"chan\"\nurl = \"{}\"\n\
             subdirs = [\"linux-64\"]\n",
            upstream.url()
        ),
    )
    .expect("config");
    config
}

/// A channel with one package, served.
fn upstream(dir: &Path) -> (Channel, TestServer) {
    let mut channel = Channel::new(&dir.join("channel"));
    channel.add(&Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let server = TestServer::serve_dir(dir.join("channel"));
    (channel, server)
}

fn status(config: &Path) -> serde_json::Value {
    let (out, json) = cli_json(config, &["status"]);
    ok(&out);
    json["mirrors"][0].clone()
}

#[test]
fn a_crash_before_publishing_is_finished_by_the_next_sync() {
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    let (out, first) = cli_json(&config, &["sync"]);
    ok(&out);
    let first = first["mirrors"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_owned();

    // Upstream changes; the writer is killed after saving the new snapshot.
    channel.add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let killed = cli_env(
        &config,
        &["sync"],
        &[("MIRROR_FAILPOINT", "sync:before-publish")],
    );
    assert!(!killed.status.success(), "the fail point aborted the run");
    let state = status(&config);
    let saved = state["latest"].as_str().expect("latest").to_owned();
    assert_ne!(saved, first, "the new snapshot was saved");
    assert_eq!(state["published"], first.as_str());
    assert_eq!(state["unpublished"], saved.as_str(), "status names it");
    let text = cli(&config, &["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains(&format!("{saved} was saved but never published")),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    // Upstream unchanged since: the next sync publishes what the killed one saved.
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let report = &json["mirrors"][0];
    assert_eq!(report["outcome"], "unchanged", "{json}");
    assert_eq!(report["published"], saved.as_str(), "{json}");
    let state = status(&config);
    assert_eq!(state["published"], saved.as_str());
    assert_eq!(state["unpublished"], serde_json::Value::Null);
    let new_package = Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda).filename();
    assert!(
        work.path()
            .join("store/public/chan/linux-64")
            .join(new_package)
            .is_file()
    );

    // A deliberate rollback is not undone by the next sync.
    ok(&cli(&config, &["publish", "chan", "--snapshot", &first]));
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["published"], serde_json::Value::Null);
    assert_eq!(status(&config)["published"], first.as_str());
}

#[test]
fn snapshots_made_in_one_second_keep_their_order() {
    const NAMES: [&str; 4] = ["p1", "p2", "p3", "p4"];
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    let mut made = Vec::new();
    // Back to back: several land in the same second, their content hashes in any order.
    for name in NAMES {
        channel.add(&Pkg::new("linux-64", name, "1.0", PackageFormat::Conda));
        channel.write_repodata(false);
        let (out, json) = cli_json(&config, &["sync"]);
        ok(&out);
        made.push(
            json["mirrors"][0]["snapshot"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let state = status(&config);
    let listed: Vec<String> = state["snapshots"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, made, "oldest first, in the order they were made");
    assert_eq!(state["latest"], made[3].as_str());
    assert_eq!(state["published"], made[3].as_str());
    // `publish` without --snapshot picks the newest too.
    ok(&cli(&config, &["publish", "chan", "--snapshot", &made[0]]));
    ok(&cli(&config, &["publish", "chan"]));
    assert_eq!(status(&config)["published"], made[3].as_str());
}

#[test]
fn a_size_lie_is_refused_even_when_the_object_is_stored() {
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    ok(&cli(&config, &["sync"]));
    let published = work.path().join("store/public/chan");
    let before = mirror_test_support::dir_state(&published, &[]);

    // The same package, its digest right and its size wrong: the object is stored
    // already, so nothing is downloaded that would catch it.
    let filename = Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda).filename();
    let record = channel.record_mut("linux-64", &filename);
    let size = record["size"].as_u64().expect("size");
    record["size"] = (size + 1).into();
    channel.write_repodata(false);
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&filename) && stderr.contains("size mismatch"),
        "{stderr}"
    );
    assert!(mirror_test_support::dir_state(&published, &[]) == before);

    // `verify` checks a snapshot's sizes against its objects.
    ok(&cli(&config, &["verify"]));
    let snapshots = work.path().join("store/snapshots/chan");
    let entry = std::fs::read_dir(&snapshots)
        .expect("snapshots")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a snapshot");
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entry).expect("read")).expect("json");
    let file = snapshot["files"]
        .as_array_mut()
        .expect("files")
        .iter_mut()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(&filename)))
        .expect("the package");
    file["size"] = (size + 1).into();
    std::fs::write(&entry, serde_json::to_vec(&snapshot).expect("json")).expect("write");
    let out = cli(&config, &["verify"]);
    let text = crate::common::apt::show(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("lists {} bytes", size + 1)),
        "{text}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_failed_write_is_an_error() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    ok(&cli(&config, &["sync"]));

    // `status | head -0`: the reader is gone before mirror-cli writes (its end of the
    // pipe is closed before the process starts, so the write always meets EPIPE).
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let piped = std::process::Command::new(crate::common::bin())
        .arg("--config")
        .arg(&config)
        .arg("status")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // `verify > /dev/full`: the work is done, the report cannot be written.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(crate::common::bin())
        .arg("--config")
        .arg(&config)
        .arg("verify")
        .stdout(full)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: writing the output"), "{stderr}");
}

#[test]
fn one_failing_mirror_does_not_stop_the_others() {
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = work.path().join("mirror.toml");
    // "dead" sorts first and its upstream refuses connections.
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\n\
             [[conda]]\nname = \"dead\"\nurl = \"http://127.0.0.1:9/chan\"\n\
             [[conda]]\nname = \"good\"\nurl = \"{}\"\n",
            server.url()
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&config, &["sync"]);
    assert_eq!(out.status.code(), Some(5), "{json}");
    assert_eq!(json["ok"], false);
    assert_eq!(json["exit_code"], 5);
    assert_eq!(json["mirrors"][0]["outcome"], "failed", "{json}");
    assert_eq!(json["mirrors"][0]["exit_code"], 5);
    assert_eq!(json["mirrors"][1]["outcome"], "synced", "{json}");
    assert!(
        work.path()
            .join("store/public/good/linux-64/repodata.json")
            .is_file()
    );

    // A tampered package in the other mirror outranks the outage: exit 4, each said once.
    channel.add(&Pkg::new("linux-64", "later", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let later = work
        .path()
        .join("channel/linux-64")
        .join(Pkg::new("linux-64", "later", "1.0", PackageFormat::Conda).filename());
    let mut bytes = std::fs::read(&later).expect("package");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&later, bytes).expect("tamper");
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stdout.contains("dead: failed (exit code 5)"), "{stdout}");
    assert!(stdout.contains("good: failed (exit code 4)"), "{stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        2,
        "one error line per failed mirror: {stderr}"
    );
    assert!(errors[1].contains("later-1.0"), "{stderr}");
}

#[test]
fn a_trickling_upstream_cannot_hold_the_store() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_channel, server) = upstream(work.path());
    let config = work.path().join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\nmin_rate = 100000\nrate_window = \"300ms\"\n\
             [[conda]]\nname = \"chan\"\nurl = \"{}\"\n",
            server.url()
        ),
    )
    .expect("config");
    let package = Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda).filename();
    server.inject_always(
        &format!("/linux-64/{package}"),
        mirror_test_support::Fault::Trickle {
            bytes: 1,
            every: std::time::Duration::from_millis(20),
        },
    );
    let started = std::time::Instant::now();
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("too slow") && stderr.contains(&package),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The lock went with the failed run: the next scheduled one proceeds.
    server.clear_faults();
    ok(&cli(&config, &["sync"]));

    // A bad duration is a configuration error, named.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("\"300ms\"", "\"soon\"")).expect("config");
    let out = cli(&config, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[fetch] rate_window"));
}

#[test]
fn conda_never_publishes_an_empty_or_emptied_channel_silently() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    let text = std::fs::read_to_string(&config).expect("config");

    // A spec that matches nothing (a typo): refused with its own code, nothing published.
    std::fs::write(&config, format!("{text}specs = [\"frist\"]\n")).expect("config");
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("no spec matched a record (frist)"),
        "{stderr}"
    );
    assert!(!work.path().join("store/public/chan").exists());

    // Upstream drops every record of a subdir that had packages.
    std::fs::write(&config, &text).expect("config");
    ok(&cli(&config, &["sync"]));
    let published = work.path().join("store/public/chan");
    let before = mirror_test_support::dir_state(&published, &[]);
    std::fs::write(
        work.path().join("channel/linux-64/repodata.json"),
        r#"{"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": {}, "repodata_version": 1}"#,
    )
    .expect("empty repodata");
    let out = cli(&config, &["sync"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("linux-64 would go from 1 packages to none"),
        "{stderr}"
    );
    assert!(mirror_test_support::dir_state(&published, &[]) == before);

    // Said so in the config: published.
    std::fs::write(&config, format!("{text}allow_empty = true\n")).expect("config");
    ok(&cli(&config, &["sync"]));
    assert_ne!(mirror_test_support::dir_state(&published, &[]), before);
}

#[test]
fn verify_names_the_first_altered_audit_record() {
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    ok(&cli(&config, &["sync"]));
    channel.add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    ok(&cli(&config, &["sync"]));
    ok(&cli(&config, &["verify"]));

    // Someone rewrites history: the first sync's record now names another upstream.
    let log = work.path().join("store/audit.jsonl");
    let text = std::fs::read_to_string(&log).expect("audit");
    let edited = text.replacen(&server.url(), "http://elsewhere.invalid", 1);
    assert_ne!(edited, text);
    std::fs::write(&log, edited).expect("edit");
    let out = cli(&config, &["verify"]);
    let all = crate::common::apt::show(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("audit.jsonl line 2:"), "{all}");
    std::fs::write(&log, &text).expect("restore");
    ok(&cli(&config, &["verify"]));

    // The tail (issue 28, item 4): trimmed, emptied, removed, or every `prev` stripped.
    let lines: Vec<&str> = text.lines().collect();
    let stripped: String = lines
        .iter()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).expect("record");
            record.as_object_mut().expect("object").remove("prev");
            format!("{record}\n")
        })
        .collect();
    let trimmed = format!("{}\n", lines[..lines.len() - 1].join("\n"));
    let last_edited = {
        let mut record: serde_json::Value =
            serde_json::from_str(lines[lines.len() - 1]).expect("record");
        record["action"] = "nothing-to-see".into();
        format!("{}\n{record}\n", lines[..lines.len() - 1].join("\n"))
    };
    for (case, content) in [
        ("the last record removed", Some(trimmed)),
        ("the last record edited", Some(last_edited)),
        ("emptied", Some(String::new())),
        ("every prev stripped", Some(stripped)),
        ("removed", None),
    ] {
        match &content {
            Some(content) => std::fs::write(&log, content).expect("write"),
            None => std::fs::remove_file(&log).expect("rm"),
        }
        let out = cli(&config, &["verify"]);
        let all = crate::common::apt::show(&out);
        assert_eq!(out.status.code(), Some(11), "{case}: {all}");
        assert!(all.contains("audit"), "{case}: {all}");
        std::fs::write(&log, &text).expect("restore");
    }
    ok(&cli(&config, &["verify"]));

    // A prune killed right after its first removal still has its record, written first.
    channel.add(&Pkg::new("linux-64", "third", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    ok(&cli(&config, &["sync"]));
    let before = std::fs::read_to_string(&log)
        .expect("audit")
        .lines()
        .count();
    // Steps 1 and 2 rewrite the audit anchor; 3 is the first removal.
    let killed = cli_env(
        &config,
        &["prune", "--keep", "1"],
        &[("MIRROR_FAILPOINT_STEP", "3")],
    );
    assert!(!killed.status.success(), "killed");
    let after = std::fs::read_to_string(&log).expect("audit");
    assert_eq!(after.lines().count(), before + 1);
    let record: serde_json::Value =
        serde_json::from_str(after.lines().last().expect("a line")).expect("record");
    assert_eq!(record["action"], "prune");
    assert_eq!(
        record["details"]["removed_snapshots"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{record}"
    );
    ok(&cli(&config, &["prune", "--keep", "1"]));
    ok(&cli(&config, &["verify"]));
}

#[test]
fn a_dry_run_changes_nothing_and_needs_no_key() {
    let work = tempfile::tempdir().expect("tempdir");
    let (mut channel, server) = upstream(work.path());
    let config = config(work.path(), &server);
    let store = work.path().join("store");

    // No store yet: none is created.
    let (out, json) = cli_json(&config, &["sync", "--dry-run"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "dry-run", "{json}");
    assert!(!store.exists(), "a dry run created the store");

    ok(&cli(&config, &["sync"]));
    channel.add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let before = mirror_test_support::dir_state(&store, &[]);
    let (out, json) = cli_json(&config, &["sync", "--dry-run"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["missing_files"], 1, "{json}");
    assert!(
        mirror_test_support::dir_state(&store, &[]) == before,
        "no object, snapshot, state, audit record or lock file written"
    );

    // A filtered APT mirror without [signing]: a dry run plans with a throwaway key.
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let apt_upstream = TestServer::serve_dir(&fixture);
    let apt_config = work.path().join("apt.toml");
    std::fs::write(
        &apt_config,
        format!(
            "store = \"apt-store\"\n[[apt]]\nname = \"debian\"\nurl = \"{}\"\nsuites = [\"bookworm\"]\n\
             keyring = \"{}\"\npackages = [\"jq\"]\n",
            apt_upstream.url(),
            fixture.join("keyrings/debian-archive-keyring.gpg").display()
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&apt_config, &["sync", "--dry-run"]);
    ok(&out);
    assert!(
        json["mirrors"][0]["missing_files"].as_u64() > Some(0),
        "{json}"
    );
    assert!(!work.path().join("apt-store").exists());
}

/// Modes an operator can rely on (issue 28, item 7), a bundle never written into the
/// store, and a file planted in a published tree (item 8).
#[test]
fn modes_ignore_the_umask_bundles_stay_outside_and_planted_files_are_found() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let (_channel, server) = upstream(dir);
    let config = config(dir, &server);
    crate::common::keygen(dir);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("[fetch]", "[signing]\nkey = \"keys/signing.asc\"\n[fetch]"),
    )
    .expect("config");
    // As a shell or cron with `umask 000` runs it.
    let under_umask_000 = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(crate::common::bin())
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("sh runs");
        ok(&out);
    };
    under_umask_000(&["sync"]);
    let bundle = dir.join("bundle");
    under_umask_000(&["export", "--out", bundle.to_str().expect("utf8")]);

    let mut writable = Vec::new();
    let mut stack = vec![dir.join("store"), bundle.clone()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("read_dir") {
            let entry = entry.expect("entry");
            let meta = entry.path().symlink_metadata().expect("metadata");
            if meta.file_type().is_symlink() {
                continue;
            }
            if meta.is_dir() {
                stack.push(entry.path());
            }
            if meta.permissions().mode() & 0o022 != 0 {
                writable.push(format!(
                    "{} {:o}",
                    entry.path().display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    assert_eq!(writable, Vec::<String>::new(), "group- or world-writable");
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    for name in ["audit.jsonl", "lock"] {
        assert_eq!(mode(&dir.join("store").join(name)), 0o644, "{name}");
    }
    for entry in std::fs::read_dir(&bundle).expect("bundle") {
        let path = entry.expect("entry").path();
        assert_eq!(
            mode(&path),
            0o644,
            "{}: a non-root importer reads it",
            path.display()
        );
    }

    // A bundle written into the store would be served and swept: refused, as usage.
    for inside in ["store/public/chan/bundle", "store/tmp/bundle", "store"] {
        let out = cli(
            &config,
            &["export", "--out", dir.join(inside).to_str().expect("utf8")],
        );
        assert_eq!(out.status.code(), Some(2), "{inside}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("inside the store"),
            "{out:?}"
        );
    }
    assert!(!dir.join("store/public/chan/bundle").exists());

    // A file planted in the published tree: verify names it.
    ok(&cli(&config, &["verify"]));
    let planted = dir.join("store/public/chan/linux-64/evil.conda");
    std::fs::write(&planted, b"not from upstream").expect("plant");
    let out = cli(&config, &["verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        format!("{stderr}{}", String::from_utf8_lossy(&out.stdout)).contains("evil.conda"),
        "{stderr}"
    );
    std::fs::remove_file(&planted).expect("rm");
    ok(&cli(&config, &["verify"]));
}
