//! `cargo xtask`: the one task runner, used by developers and by `.ci/run` alike.
//!
//! - `cargo xtask test`: check the fixtures (`tests/fixtures`, or `MIRROR_FIXTURES`)
//!   against their `PROVENANCE.tsv` digests, lint (fmt --check, clippy -D warnings),
//!   install what the tests need (`setup`), then `cargo test --workspace`, and say how
//!   many tests skipped and why (failing when `CI` is set and any did). This is the whole
//!   test suite and what CI runs.
//! - `cargo xtask lint`: fmt, clippy, and the checks a compiler does not make: the
//!   layering of the crates (every workspace member in the table) and the licenses of
//!   every dependency (`checks.rs`, from `cargo metadata`), each library root's attributes
//!   (missing docs, unsafe, printing and exiting denied), `mirror-apt` compiling without
//!   default features and the fuzz targets compiling (`cargo check`), and `cargo doc`
//!   with warnings denied (broken intra-doc links, missing docs).
//! - `cargo xtask setup`: the real clients the end-to-end tests drive (py-rattler in a
//!   venv; apt-get, gpgv and dpkg come with Debian).
//! - `cargo xtask bench`: the parser benchmarks (`cargo bench -p mirror-benches`) and the
//!   peer benchmark outside the workspace (benches/apt-peer).
//! - `cargo xtask fuzz [SECONDS [TARGET...]]`: every cargo-fuzz target of `fuzz/` (or the
//!   named ones) for a bounded time, seeded from the fixtures (nightly and cargo-fuzz
//!   needed; see `fuzz.rs`).

mod checks;
mod fuzz;
// The one implementation of the fixture integrity rule, shared with the tests'
// `mirror_test_support::fixtures()` (std and sha2 only, so xtask can build it quickly).
#[path = "../../crates/test-support/src/provenance.rs"]
mod provenance;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_else(|| "help".into());
    let root = workspace_root();
    let result = match task.as_str() {
        "test" => check_fixtures(&root)
            .and_then(|()| lint(&root))
            .and_then(|()| setup(&root))
            .and_then(|()| test(&root)),
        "lint" => lint(&root),
        "setup" => setup(&root),
        "bench" => bench(&root),
        "fuzz" => fuzz::fuzz(
            &root,
            std::env::args()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(60),
            &std::env::args().skip(3).collect::<Vec<_>>(),
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask test | lint | setup | bench | fuzz [SECONDS [TARGET...]]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn run(root: &Path, program: &str, args: &[&str], envs: &[(&str, String)]) -> Result<(), String> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn lint(root: &Path) -> Result<(), String> {
    run(root, "cargo", &["fmt", "--all", "--", "--check"], &[])?;
    let graph = checks::Graph::load(root)?;
    checks::layering(&graph)?;
    checks::licenses_and_bans(&graph)?;
    checks::crate_attributes(root)?;
    checks::formats_named_once(root)?;
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // The pure parsers, without the network stack (what other tools and the peer
    // benchmark link). `check`, not `build`: it proves the same (the feature gates
    // compile) without code generation. Cold it costs ~21 s (syn and thiserror-impl are
    // rebuilt for this feature set); warm, under a second.
    run(
        root,
        "cargo",
        &[
            "check",
            "-p",
            "mirror-apt",
            "--no-default-features",
            "--lib",
        ],
        &[],
    )?;
    // The fuzz targets are their own workspace (built with nightly by `xtask fuzz`): a
    // check on stable proves they still compile against the parsers and that their
    // lockfile is current, so they cannot rot between fuzzing runs (~1 min cold).
    run(
        root,
        "cargo",
        &[
            "check",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--locked",
            "--all-targets",
        ],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings".to_owned())],
    )
}

fn setup(root: &Path) -> Result<(), String> {
    run(root, "bash", &["scripts/setup-test-deps.sh"], &[])
}

/// The fixture tree the tests read: `MIRROR_FIXTURES` when set (relative to the workspace
/// root), else the repository's `tests/fixtures` (as `mirror_test_support::fixtures()`).
pub(crate) fn fixtures_dir(root: &Path) -> PathBuf {
    match std::env::var_os("MIRROR_FIXTURES").filter(|v| !v.is_empty()) {
        Some(value) => root.join(value),
        None => root.join("tests/fixtures"),
    }
}

/// Every fixture against its PROVENANCE.tsv digest, before minutes of building: a damaged
/// checkout fails here, naming the file, instead of as failing tests.
fn check_fixtures(root: &Path) -> Result<(), String> {
    let dir = fixtures_dir(root);
    let checked = provenance::verify_fixtures(&dir).map_err(|problems| {
        format!(
            "the fixtures in {} are damaged (a broken checkout, not a product bug; \
             `git checkout -- tests/fixtures` restores them):\n{problems}",
            dir.display()
        )
    })?;
    eprintln!(
        "fixtures: {checked} files in {} match their PROVENANCE.tsv",
        dir.display()
    );
    Ok(())
}

/// `cargo test --workspace`, then the tests that skipped, as `mirror_test_support::skip`
/// recorded them in `target/skipped-tests.txt` (`MIRROR_SKIP_LOG`). Under `CI` a skip is
/// a failure: CI has every client and the fixtures, so a skip there hides a broken set-up.
fn test(root: &Path) -> Result<(), String> {
    let log = root.join("target/skipped-tests.txt");
    match std::fs::remove_file(&log) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", log.display())),
    }
    let tested = run(
        root,
        "cargo",
        &["test", "--workspace"],
        &[("MIRROR_SKIP_LOG", log.display().to_string())],
    );
    let skipped: Vec<String> = match std::fs::read_to_string(&log) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", log.display())),
    };
    if skipped.is_empty() {
        eprintln!("no test skipped");
    } else {
        eprintln!("{} tests skipped:", skipped.len());
        for line in &skipped {
            let (name, reason) = line.split_once('\t').unwrap_or((line.as_str(), ""));
            eprintln!("  {name}: {reason}");
        }
    }
    tested?;
    if !skipped.is_empty() && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        return Err(format!(
            "{} tests skipped and CI is set: in CI every test must run (see above why each \
             skipped)",
            skipped.len()
        ));
    }
    Ok(())
}

fn bench(root: &Path) -> Result<(), String> {
    check_fixtures(root)?;
    // The peer benchmark (outside the workspace, without mirror-test-support) finds the
    // fixtures through this variable only.
    let env = [("MIRROR_FIXTURES", fixtures_dir(root).display().to_string())];
    run(root, "cargo", &["bench", "-p", "mirror-benches"], &env)?;
    run(
        root,
        "cargo",
        &["bench", "--manifest-path", "benches/apt-peer/Cargo.toml"],
        &env,
    )
}
