//! `cargo xtask fuzz [SECONDS [TARGET...]]`: every cargo-fuzz target in `fuzz/` (or the
//! named ones) for at most SECONDS each (default 60) or until it reaches the goal of
//! [`GOAL`] executions, seeded from the fixtures, then one line per target with the
//! executions reached and the time taken. Needs the nightly toolchain and
//! `cargo install cargo-fuzz`; never part of `xtask test`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Executions after which a target has met the goal docs/security.md sets (10^7 without a
/// failure); running on would spend machine time the slower targets need.
const GOAL: u64 = 10_000_000;

/// The targets, in the order they run.
const TARGETS: [&str; 11] = [
    "deb822",
    "packages",
    "release",
    "inrelease",
    "relations",
    "versions",
    "sources",
    "repodata",
    "conda_records",
    "manifest",
    "volume",
];

pub fn fuzz(root: &Path, seconds: u64, only: &[String]) -> Result<(), String> {
    if let Some(unknown) = only.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(format!(
            "no fuzz target {unknown:?} (have: {})",
            TARGETS.join(", ")
        ));
    }
    let fixtures = crate::fixtures_dir(root);
    let corpus_root = root.join("target/fuzz-corpus");
    seed(&fixtures, &corpus_root)?;
    // Build every target first, so the time each run reports is fuzzing, not compiling.
    let built = Command::new("cargo")
        .current_dir(root)
        .args(["+nightly", "fuzz", "build", "--fuzz-dir", "fuzz"])
        .status()
        .map_err(|e| format!("cargo +nightly fuzz: {e} (install it: cargo install cargo-fuzz)"))?;
    if !built.success() {
        return Err("cargo +nightly fuzz build failed".into());
    }
    let mut report = Vec::new();
    let selected = TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| o == *t));
    for &target in selected {
        let corpus = corpus_root.join(target);
        eprintln!("xtask fuzz: {target} for at most {seconds} s or {GOAL} executions");
        let started = Instant::now();
        let out = Command::new("cargo")
            .current_dir(root)
            .args(["+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-runs={GOAL}"))
            .args(extra_flags(target))
            .arg("-print_final_stats=1")
            .output()
            .map_err(|e| {
                format!("cargo +nightly fuzz: {e} (install it: cargo install cargo-fuzz)")
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "{target}: the fuzzer found a failure:\n{}",
                tail.join("\n")
            ));
        }
        let executions = stat(&stderr, "stat::number_of_executed_units:").unwrap_or(0);
        let secs = started.elapsed().as_secs();
        let goal = if executions >= GOAL {
            ", goal reached"
        } else {
            ""
        };
        let line = format!("{target}: {executions} executions in {secs} s, no failure{goal}");
        eprintln!("xtask fuzz: {line}");
        report.push(line);
    }
    println!("{}", report.join("\n"));
    Ok(())
}

/// A volume as `export` writes one: a ustar archive holding the object `x` at its object
/// path, then the two zero blocks that end an archive. Written by hand (xtask links no
/// tar crate); the checksum is the sum of the header bytes with its own field as spaces.
fn one_object_volume() -> Vec<u8> {
    let name = "objects/sha256/2d/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
    let mut header = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, b"00000000001\0");
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut volume = header.to_vec();
    let mut data = [0u8; 512];
    data[0] = b'x';
    volume.extend_from_slice(&data);
    volume.extend_from_slice(&[0u8; 1024]);
    volume
}

/// libFuzzer flags for one target. The Release seed (also in the deb822 corpus) is the
/// whole bookworm Release (hundreds of KiB): mutating shorter prefixes of it reaches the
/// same parser states many times faster.
fn extra_flags(target: &str) -> Vec<String> {
    match target {
        "release" | "deb822" => vec!["-max_len=16384".into()],
        _ => Vec::new(),
    }
}

fn stat(stderr: &str, key: &str) -> Option<u64> {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

/// Seed corpora from the fixtures: the real bookworm Packages (a stanza per file), its
/// Release and InRelease, Depends values and version pairs from it, a Sources stanza, the
/// conda fixture's repodata, a bundle manifest and a one-object volume.
fn seed(fixtures: &Path, corpus_root: &Path) -> Result<(), String> {
    let suite = fixtures.join("debian-bookworm/dists/bookworm");
    let write = |target: &str, name: &str, bytes: &[u8]| -> Result<(), String> {
        let dir = corpus_root.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
    };
    let release = std::fs::read(suite.join("Release")).unwrap_or_default();
    write("release", "bookworm-Release", &release)?;
    write(
        "inrelease",
        "bookworm-InRelease",
        &std::fs::read(suite.join("InRelease")).unwrap_or_default(),
    )?;
    write("deb822", "bookworm-Release", &release)?;
    let packages = Command::new("xz")
        .arg("-dc")
        .arg(suite.join("main/binary-amd64/Packages.xz"))
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&packages);
    for (n, stanza) in text.split("\n\n").take(300).enumerate() {
        let name = format!("stanza-{n}");
        write("packages", &name, stanza.as_bytes())?;
        write("deb822", &name, stanza.as_bytes())?;
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .map(str::to_owned)
        };
        if let Some(depends) = field("Depends:") {
            write("relations", &name, depends.as_bytes())?;
        }
        if let Some(version) = field("Version:") {
            write(
                "versions",
                &name,
                format!("{version}\n{version}~1").as_bytes(),
            )?;
        }
    }
    // The conda fixture's real repodata, and a manifest of the shape `export` writes
    // (one snapshot, one object split over two volumes).
    let repodata = fixtures.join("conda/conda+conda/tests/data/conda_format_repo/linux-64");
    for name in ["repodata.json", "current_repodata.json"] {
        let bytes = std::fs::read(repodata.join(name)).unwrap_or_default();
        write("repodata", name, &bytes)?;
        write("conda_records", name, &bytes)?;
    }
    write("volume", "one-object.tar", &one_object_volume())?;
    let x = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
    let manifest = format!(
        r#"{{"format_version":1,"bundle_id":"000002-20260101T000000Z-abcdef012345","sequence":2,
"base_sequence":1,"follows":"000001-20250101T000000Z-abcdef012345","full":false,
"created":"2026-01-01T00:00:00Z","created_by":"ABCD","snapshots":[{{"format":1,
"mirror":"debian","id":"000001-20260101T000000Z-abcdef012345","created":"2026-01-01T00:00:00Z",
"kind":"apt","upstream":"http://u","fingerprint":"fp","files":[{{"path":"a","sha256":"{x}",
"size":1}}]}}],"objects":[{{"sha256":"{x}","size":1,"volume":"data-0001.tar","parts":[]}}],
"volumes":[{{"name":"data-0001.tar","size":3072,"sha256":"{x}"}}]}}"#
    );
    write("manifest", "one-object", manifest.as_bytes())?;
    write(
        "sources",
        "jq",
        b"Package: jq\nVersion: 1.6-2.1\nDirectory: pool/main/j/jq\nChecksums-Sha256:\n \
          1111111111111111111111111111111111111111111111111111111111111111 2105 jq_1.6-2.1.dsc\n",
    )?;
    Ok(())
}
