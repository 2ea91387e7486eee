//! `cargo xtask`: the one task runner, used by developers and by `.ci/run` alike.
//!
//! - `cargo xtask test`: lint (fmt --check, clippy -D warnings), install what the tests
//!   need (`setup`), then `cargo test --workspace` with `MIRROR_FIXTURES` pointing at
//!   `../shared/fixtures` when it exists. This is the whole test suite and what CI runs.
//! - `cargo xtask lint`: fmt, clippy, and the checks a compiler does not make: the
//!   layering of the crates and the licenses of every dependency (`checks.rs`, from
//!   `cargo metadata`), `mirror-apt` compiling without default features (`cargo check`), and `cargo doc`
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

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_else(|| "help".into());
    let root = workspace_root();
    let result = match task.as_str() {
        "test" => lint(&root)
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

fn fixtures_env(root: &Path) -> Vec<(&'static str, String)> {
    if std::env::var_os("MIRROR_FIXTURES").is_some() {
        return Vec::new();
    }
    let shared = root.join("../shared/fixtures");
    if shared.is_dir() {
        let abs = shared.canonicalize().unwrap_or(shared);
        vec![("MIRROR_FIXTURES", abs.display().to_string())]
    } else {
        eprintln!("note: ../shared/fixtures not found; fixture tests will skip");
        Vec::new()
    }
}

fn test(root: &Path) -> Result<(), String> {
    run(root, "cargo", &["test", "--workspace"], &fixtures_env(root))
}

fn bench(root: &Path) -> Result<(), String> {
    let env = fixtures_env(root);
    run(root, "cargo", &["bench", "-p", "mirror-benches"], &env)?;
    run(
        root,
        "cargo",
        &["bench", "--manifest-path", "benches/apt-peer/Cargo.toml"],
        &env,
    )
}
