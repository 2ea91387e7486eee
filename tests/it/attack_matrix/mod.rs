//! The attack matrix (issue 11): one table, a row per hostile input, each driven for real
//! against the world of [`world`] (a signed APT upstream and a conda channel on a loopback
//! server, an outside store mirroring both, an inside store fed by its bundles, `serve`).
//!
//! A row names the attack, what it makes the world do (a `sync`, an `import`, a request
//! to `serve`, a command under a broken config), the exit code (or HTTP status) expected
//! and a fragment of the message. After every row the invariant is checked:
//!
//! - both stores' published links and trees, snapshots, state, audit and transfer records
//!   are byte-identical to what they were before the first row (objects may be added: a
//!   refused sync keeps what it verified, and the upstream cache may name them);
//! - `verify` passes on both stores;
//! - nothing outside the stores changed while the command ran (the upstream, the bundles,
//!   the configs, the scratch inputs: a hostile path that escaped would land there or in
//!   `/tmp`, which is checked for the names the rows use).
//!
//! Failures are collected and reported together, one line per row.

mod apt;
mod bundle;
mod conda;
mod config;
mod pypi;
mod serve;
mod simplestreams;
mod world;

use std::process::Output;

use world::{Attempt, World};

use crate::common::cli;

/// One attack.
pub struct Row {
    /// `apt`, `conda`, `pypi`, `simplestreams`, `bundle`, `serve` or `config`.
    pub area: &'static str,
    /// What the hostile side does.
    pub case: &'static str,
    /// Exit code (commands) or HTTP status (`serve`).
    pub code: i32,
    /// A fragment the error message (or the response) must contain.
    pub needle: &'static str,
    /// Prepare the hostile input and say what to run.
    pub attack: Box<dyn Fn(&World) -> Attempt>,
}

pub fn row(
    area: &'static str,
    case: &'static str,
    code: i32,
    needle: &'static str,
    attack: impl Fn(&World) -> Attempt + 'static,
) -> Row {
    Row {
        area,
        case,
        code,
        needle,
        attack: Box::new(attack),
    }
}

/// Names a hostile path would write if it escaped (checked after every row).
const ESCAPES: [&str; 2] = ["/tmp/attack-matrix-evil", "/tmp/attack-matrix-evil.conda"];

fn all_rows() -> Vec<Row> {
    let mut rows = apt::rows();
    rows.extend(conda::rows());
    rows.extend(pypi::rows());
    rows.extend(simplestreams::rows());
    rows.extend(bundle::rows());
    rows.extend(serve::rows());
    rows.extend(config::rows());
    rows
}

/// Rows per area: a row lost (a refactor dropping an attack) fails here, and a row added
/// says so by changing this table in the same change.
const ROWS_PER_AREA: [(&str, usize); 7] = [
    ("apt", 54),
    ("bundle", 33),
    ("conda", 19),
    ("config", 37),
    ("pypi", 11),
    ("serve", 14),
    ("simplestreams", 9),
];

#[test]
fn the_matrix_has_every_row() {
    let mut counts = std::collections::BTreeMap::new();
    for row in all_rows() {
        *counts.entry(row.area).or_insert(0usize) += 1;
    }
    let expected: std::collections::BTreeMap<&str, usize> = ROWS_PER_AREA.into_iter().collect();
    assert_eq!(
        counts, expected,
        "rows per area changed: update ROWS_PER_AREA"
    );
}

#[test]
fn every_attack_is_refused_and_changes_nothing() {
    let rows = all_rows();
    let world = World::build();
    let only = std::env::var("ATTACK_ROW").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for row in &rows {
        if only.as_deref().is_some_and(|o| !row.case.contains(o)) {
            continue;
        }
        ran += 1;
        if let Err(problem) = run_row(&world, row) {
            failures.push(format!("[{}] {}: {problem}", row.area, row.case));
        }
    }
    // Each row is checked against the state just before it; this catches a change no
    // single row made (or the sum of several).
    let drift = world.changes_since_built();
    if !drift.is_empty() {
        failures.push(format!(
            "the stores drifted from the start: {}",
            drift.len()
        ));
    }
    eprintln!("attack matrix: {ran} rows run, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {ran} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn run_row(world: &World, row: &Row) -> Result<(), String> {
    world.reset();
    // Before the attack's set-up: a row may plant a file in a store (and remove it).
    let stores = world.capture();
    let attempt = (row.attack)(world);
    let untouched = world.outside_the_stores();
    let (code, text) = perform(world, &attempt);
    // Shown with --nocapture: what each attack was told.
    let said = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or(text.trim());
    eprintln!(
        "[{}] {} -> {code}: {}",
        row.area,
        row.case,
        said.chars().take(300).collect::<String>()
    );
    let mut problems = Vec::new();
    if code != row.code {
        problems.push(format!("got {code}, expected {}", row.code));
    }
    if !text.contains(row.needle) {
        problems.push(format!("{:?} not in the message", row.needle));
    }
    if world.outside_the_stores() != untouched {
        problems.push("something outside the stores changed".to_owned());
    }
    if let Some(escaped) = ESCAPES.iter().find(|p| std::path::Path::new(p).exists()) {
        problems.push(format!("{escaped} exists"));
    }
    let changed = world.store_changes(&stores);
    if !changed.is_empty() {
        let shown: Vec<&str> = changed.iter().take(4).map(String::as_str).collect();
        problems.push(format!(
            "the stores changed ({} paths): {}",
            changed.len(),
            shown.join(", ")
        ));
    }
    for (side, config) in [
        ("outside", &world.outside_config),
        ("inside", &world.inside_config),
    ] {
        let verify = cli(config, &["verify"]);
        if !verify.status.success() {
            problems.push(format!("{side} verify failed: {}", stderr(&verify)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let excerpt: String = text.chars().take(600).collect();
        Err(format!("{}\n    said: {excerpt}", problems.join("; ")))
    }
}

/// Run the attempt: (exit code or HTTP status, what was said).
fn perform(world: &World, attempt: &Attempt) -> (i32, String) {
    match attempt {
        Attempt::Cli { config, args } => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = cli(config, &args);
            (out.status.code().unwrap_or(-1), stderr(&out))
        }
        Attempt::Get { target, planted } => {
            let response = world.served.get(target, &[]);
            for path in planted {
                let _ = std::fs::remove_file(path);
            }
            (
                i32::from(response.status),
                String::from_utf8_lossy(&response.body).into_owned(),
            )
        }
        Attempt::Flood { target, count } => {
            let served = &world.served;
            let statuses: Vec<u16> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..*count)
                    .map(|_| scope.spawn(|| served.get(target, &[]).status))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("request thread"))
                    .collect()
            });
            let worst = statuses.iter().copied().max().unwrap_or(0);
            let ok = statuses.iter().filter(|s| **s == 200).count();
            (i32::from(worst), format!("{ok} of {count} answered 200"))
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
