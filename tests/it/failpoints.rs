//! A kill at every durable step of the writers (issue 11, item 2): `sync`, `publish
//! --snapshot` (a rollback), `prune`, `export` and `import` are run with `MIRROR_FAILPOINT_STEP=n` for
//! n = 1, 2, ... until a run completes. After each kill, on a fresh copy of the same
//! store: what clients see is the old tree or the new one, never a mix; the next run of
//! the same command completes; and then `verify` passes and clients see the new tree.
//! The number of steps covered is printed (`--nocapture`) and asserted to be non-trivial.

use std::path::{Path, PathBuf};
use std::process::Command;

use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};
use mirror_test_support::{TestServer, dir_state};

use crate::common::{cli, cli_env, cli_json, ok};

type Tree = Vec<(String, Vec<u8>)>;

/// What a client of the mirror sees: the published tree, through its links.
fn seen(work: &Path) -> Tree {
    dir_state(&work.join("store/public/chan"), &[])
}

/// `cp -a`: the store's symlinks and hard links as they are.
fn copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(status.success());
}

/// Run `args` on a fresh copy of `base` at `work`, killed at durable step `n`: `false`
/// when the run completed instead (`n` is past its last step; the copy is removed),
/// `true` when the fail point killed it (asserted).
fn killed_at(base: &Path, work: &Path, args: &[&str], n: u64, name: &str) -> bool {
    copy(base, work);
    let step = n.to_string();
    let killed = cli_env(
        &work.join("mirror.toml"),
        args,
        &[("MIRROR_FAILPOINT_STEP", &step)],
    );
    if killed.status.success() {
        let _ = std::fs::remove_dir_all(work);
        return false;
    }
    let stderr = String::from_utf8_lossy(&killed.stderr);
    assert!(
        stderr.contains(&format!("fail point: step {n} ")),
        "{name} step {n}: failed otherwise than by the fail point: {stderr}"
    );
    true
}

struct Case {
    name: &'static str,
    args: Vec<String>,
}

/// Kill `case` at each step of a run on a copy of `base`; returns the steps covered.
/// `changes`: whether the command changes what clients see (a prune does not).
fn every_step(base: &Path, scratch: &Path, case: &Case, changes: bool) -> u64 {
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let before = seen(base);
    let after = if changes {
        let finished = scratch.join("finished");
        copy(base, &finished);
        ok(&cli(&finished.join("mirror.toml"), &args));
        let after = seen(&finished);
        assert_ne!(
            before, after,
            "{}: the command changes what clients see",
            case.name
        );
        after
    } else {
        before.clone()
    };

    for n in 1..=2000u64 {
        let work = scratch.join(format!("{}-{n}", case.name));
        if !killed_at(base, &work, &args, n, case.name) {
            return n - 1;
        }
        let config = work.join("mirror.toml");
        let now = seen(&work);
        assert!(
            now == before || now == after,
            "{} step {n}: clients see neither the old tree nor the new one",
            case.name
        );
        ok(&cli(&config, &args));
        assert!(
            seen(&work) == after,
            "{} step {n}: the re-run did not finish",
            case.name
        );
        let verify = cli(&config, &["verify"]);
        assert!(
            verify.status.success(),
            "{} step {n}: verify after the re-run: {}{}",
            case.name,
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let _ = std::fs::remove_dir_all(&work);
    }
    panic!("{}: still failing after 2000 steps", case.name);
}

/// Kill `export --out <copy>/bundle` at each of its steps, on a copy of `base`. The
/// bundle is written outside the store, so "old or new" means: after each kill the store
/// verifies and its ledger names no bundle or one complete bundle; the re-run of the same
/// command completes (finishing the records of a whole bundle, or writing a partial one
/// again); then the bundle verifies against the outside's key and the ledger and the
/// audit log name it exactly once.
fn every_export_step(base: &Path, scratch: &Path) -> u64 {
    let ledger = |work: &Path| -> Vec<String> {
        let path = work.join("store/transfer/ledger.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Vec::new();
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("ledger JSON");
        json["bundles"]
            .as_array()
            .expect("bundles")
            .iter()
            .map(|b| b["bundle_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let audited = |work: &Path| -> usize {
        std::fs::read_to_string(work.join("store/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"action\":\"export\""))
            .count()
    };
    for n in 1..=2000u64 {
        let work = scratch.join(format!("export-{n}"));
        let bundle = work.join("bundle");
        let args = ["export", "--out", bundle.to_str().expect("utf8")];
        if !killed_at(base, &work, &args, n, "export") {
            return n - 1;
        }
        let config = work.join("mirror.toml");
        ok(&cli(&config, &["verify"]));
        assert!(ledger(&work).len() <= 1, "export step {n}: ledger");
        // Killed after the export was recorded in full (ledger and audit; only the audit
        // anchor's rewrite was left, which `verify` tolerates for one record): the export
        // is done, and the same command is a new export into a non-empty directory.
        let finished = ledger(&work).len() == 1 && audited(&work) == 1;
        let rerun = cli(&config, &args);
        if finished {
            assert!(
                !rerun.status.success()
                    && String::from_utf8_lossy(&rerun.stderr).contains("not empty"),
                "export step {n}: a finished export's re-run must refuse the directory: {}",
                String::from_utf8_lossy(&rerun.stderr)
            );
        } else {
            assert!(
                rerun.status.success(),
                "export step {n}: the re-run failed: {}",
                String::from_utf8_lossy(&rerun.stderr)
            );
        }
        let key = work.join("keys/signing.asc.pub");
        ok(&cli(
            &config,
            &[
                "verify",
                "--bundle",
                bundle.to_str().expect("utf8"),
                "--key",
                key.to_str().expect("utf8"),
            ],
        ));
        let manifest = crate::common::bundle::manifest(&bundle);
        assert_eq!(
            ledger(&work),
            [manifest.bundle_id],
            "export step {n}: the ledger names the bundle once"
        );
        assert_eq!(audited(&work), 1, "export step {n}: one audit record");
        let _ = std::fs::remove_dir_all(&work);
    }
    panic!("export: still failing after 2000 steps");
}

fn write_config(dir: &Path, upstream: &TestServer) -> PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 0\n[[conda]]\nname = \"chan\"\nurl = \"{}\"\n",
            upstream.url()
        ),
    )
    .expect("config");
    config
}

#[test]
fn a_kill_at_any_step_of_sync_publish_prune_export_or_import_leaves_old_or_new() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut channel = Channel::new(&root.path().join("channel"));
    channel.add(&Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let server = TestServer::serve_dir(root.path().join("channel"));

    // Two snapshots, the second published; upstream then changes again.
    let base = root.path().join("base");
    std::fs::create_dir_all(&base).expect("mkdir");
    let config = write_config(&base, &server);
    let (out, json) = cli_json(&config, &["sync"]);
    ok(&out);
    let first = json["mirrors"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_owned();
    channel.add(&Pkg::new("linux-64", "second", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    ok(&cli(&config, &["sync"]));
    channel.add(&Pkg::new("linux-64", "third", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);

    let scratch = root.path().join("runs");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let cases = [
        Case {
            name: "sync",
            args: vec!["sync".into()],
        },
        Case {
            name: "rollback",
            args: vec![
                "publish".into(),
                "chan".into(),
                "--snapshot".into(),
                first.clone(),
            ],
        },
        Case {
            name: "prune",
            args: vec!["prune".into(), "--keep".into(), "1".into()],
        },
    ];
    let mut covered = Vec::new();
    for case in &cases {
        let case_base = if case.name == "prune" {
            // Three snapshots, the newest published: prune removes the two older ones,
            // their trees and the objects only they held.
            let synced = scratch.join("synced");
            copy(&base, &synced);
            ok(&cli(&synced.join("mirror.toml"), &["sync"]));
            synced
        } else {
            base.clone()
        };
        // What clients see does not change with a prune; its steps still must leave a
        // store that verifies and a re-run that completes.
        let changes = case.name != "prune";
        covered.push((case.name, every_step(&case_base, &scratch, case, changes)));
    }
    // Import: the outside exports the newest snapshot; an empty inside imports it.
    let outside = scratch.join("outside");
    copy(&base, &outside);
    crate::common::keygen(&outside);
    let outside_config = outside.join("mirror.toml");
    let text = std::fs::read_to_string(&outside_config).expect("config");
    std::fs::write(
        &outside_config,
        text.replacen(
            "store = \"store\"\n",
            "store = \"store\"\n[signing]\nkey = \"keys/signing.asc\"\n",
            1,
        ),
    )
    .expect("config");
    covered.push(("export", every_export_step(&outside, &scratch)));
    let bundle = root.path().join("bundle");
    ok(&cli(
        &outside_config,
        &["export", "--out", bundle.to_str().expect("utf8")],
    ));
    let inside = scratch.join("inside");
    std::fs::create_dir_all(&inside).expect("mkdir");
    std::fs::write(
        inside.join("mirror.toml"),
        format!(
            "store = \"store\"\n[transfer]\ntrusted_keys = [\"{}\"]\n",
            outside.join("keys/signing.asc.pub").display()
        ),
    )
    .expect("config");
    let import = Case {
        name: "import",
        args: vec!["import".into(), bundle.display().to_string()],
    };
    covered.push(("import", every_step(&inside, &scratch, &import, true)));

    eprintln!("durable steps covered: {covered:?}");
    for (name, steps) in &covered {
        assert!(*steps >= 3, "{name}: only {steps} steps");
    }
}
