//! The workspace's rules that a compiler does not check, checked from `cargo metadata`
//! (offline, from Cargo.lock): which crate may depend on which, and which licenses the
//! dependency tree may carry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The resolved dependency graph of the workspace for this platform.
pub struct Graph {
    /// package id -> (name, license)
    packages: BTreeMap<String, (String, Option<String>)>,
    /// package id -> ids of its normal and build dependencies (not dev)
    edges: BTreeMap<String, Vec<String>>,
    /// Names of the workspace's members.
    members: BTreeSet<String>,
}

impl Graph {
    /// Read it with `cargo metadata` (no network: what Cargo.lock pins, for the host).
    pub fn load(root: &Path) -> Result<Graph, String> {
        let output = Command::new("cargo")
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--filter-platform",
                host_triple()?.as_str(),
            ])
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let metadata: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
        let mut packages = BTreeMap::new();
        for package in metadata["packages"].as_array().into_iter().flatten() {
            packages.insert(
                string(&package["id"]),
                (
                    string(&package["name"]),
                    package["license"].as_str().map(str::to_owned),
                ),
            );
        }
        let mut edges = BTreeMap::new();
        for node in metadata["resolve"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let deps = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|kind| kind["kind"].as_str() != Some("dev"))
                })
                .map(|dep| string(&dep["pkg"]))
                .collect();
            edges.insert(string(&node["id"]), deps);
        }
        let members = metadata["workspace_members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| packages.get(&string(id)).map(|(name, _)| name.clone()))
            .collect();
        Ok(Graph {
            packages,
            edges,
            members,
        })
    }

    fn id_of(&self, name: &str) -> Option<&String> {
        self.packages
            .iter()
            .find(|(id, (n, _))| n == name && self.edges.contains_key(*id))
            .map(|(id, _)| id)
    }

    /// Names of everything `name` depends on, transitively, without dev-dependencies.
    fn closure(&self, name: &str) -> Result<BTreeSet<String>, String> {
        let start = self
            .id_of(name)
            .ok_or_else(|| format!("{name} is not in the workspace graph"))?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(id) = stack.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        Ok(seen
            .iter()
            .filter_map(|id| self.packages.get(id).map(|(name, _)| name.clone()))
            .collect())
    }

    /// Every package in the resolved graph with its license.
    fn licenses(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.edges.keys().filter_map(|id| {
            self.packages
                .get(id)
                .map(|(name, license)| (name.as_str(), license.as_deref()))
        })
    }
}

fn string(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host".into())
}

/// The workspace's crates by layer: a crate may depend only on mirror crates of lower
/// layers (so apt, conda and transfer, all in layer 2, never on each other).
/// mirror-test-support is in none: core's unit tests use it, and depending on any mirror
/// crate would give them two copies of core's types. `root` is the crate's source root
/// for libraries (which must deny missing docs), `None` for the binary.
const CRATES: &[(&str, Option<u8>, Option<&str>)] = &[
    ("mirror-paths", Some(0), Some("crates/paths/src/lib.rs")),
    ("mirror-core", Some(1), Some("crates/core/src/lib.rs")),
    ("mirror-apt", Some(2), Some("crates/apt/src/lib.rs")),
    ("mirror-conda", Some(2), Some("crates/conda/src/lib.rs")),
    ("mirror-pypi", Some(2), Some("crates/pypi/src/lib.rs")),
    (
        "mirror-simplestreams",
        Some(2),
        Some("crates/simplestreams/src/lib.rs"),
    ),
    (
        "mirror-transfer",
        Some(2),
        Some("crates/transfer/src/lib.rs"),
    ),
    ("mirror-cli", Some(3), None),
    (
        "mirror-test-support",
        None,
        Some("crates/test-support/src/lib.rs"),
    ),
    ("mirror-examples", Some(4), Some("examples/lib.rs")),
    ("mirror-benches", Some(4), Some("benches/src/lib.rs")),
];

/// What every product library's root says, so printing or exiting fails clippy.
const LIBRARY_LINTS: &str =
    "#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr, clippy::exit))]";

/// Front-end crates no library may depend on.
const FRONT_END_ONLY: &[&str] = &["clap", "anyhow", "indicatif", "miette"];

/// The layering of docs/architecture.md and DEVELOPMENT.md.
pub fn layering(graph: &Graph) -> Result<(), String> {
    // A graph read wrongly would find nothing forbidden: make sure it sees what is there.
    let cli = graph.closure("mirror-cli")?;
    if !["clap", "mirror-core", "mirror-apt", "rustls"]
        .iter()
        .all(|name| cli.contains(*name))
    {
        return Err("layering: the dependency graph looks incomplete (mirror-cli reaches no clap/mirror-core/rustls)".into());
    }
    report("layering", layer_problems(graph)?)
}

/// Every dependency that breaks the layers of [`CRATES`].
fn layer_problems(graph: &Graph) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for (name, layer, root) in CRATES {
        let reached = graph.closure(name)?;
        for (other, other_layer, _) in CRATES {
            let allowed = matches!((layer, other_layer), (Some(a), Some(b)) if b < a);
            if other != name && !allowed && reached.contains(*other) {
                problems.push(format!("{name} depends on {other}"));
            }
        }
        // Libraries (a crate root, and below the binary's layer).
        if root.is_some() && layer.is_none_or(|l| l < 3) {
            for bad in FRONT_END_ONLY.iter().filter(|bad| reached.contains(**bad)) {
                problems.push(format!("library {name} depends on {bad} (front ends only)"));
            }
        }
    }
    if !graph.closure("mirror-paths")?.is_empty() {
        problems.push("mirror-paths must have no dependencies".into());
    }
    // A member missing from the table would skip every check silently.
    for member in &graph.members {
        if member != "xtask" && !CRATES.iter().any(|(name, _, _)| name == member) {
            problems.push(format!(
                "workspace member {member} is not in xtask's layer table (checks.rs CRATES)"
            ));
        }
    }
    Ok(problems)
}

/// Licenses a dependency may carry (an SPDX expression is fine when it allows a choice,
/// or a combination, of these). All are permissive but MPL-2.0, whose copyleft is per
/// file and does not reach our code.
const ALLOWED_LICENSES: &[&str] = &[
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "BSL-1.0",
    "CC0-1.0",
    "Unlicense",
    "MPL-2.0",
    "bzip2-1.0.6",
];

/// Crates that must not be in the tree at all: TLS is rustls, never OpenSSL (one TLS
/// stack to audit, and no system library an air-gapped host may lack).
const BANNED: &[&str] = &["openssl", "openssl-sys", "native-tls"];

/// Every dependency's license is allowed, and no banned crate is in the tree.
pub fn licenses_and_bans(graph: &Graph) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, license) in graph.licenses() {
        if BANNED.contains(&name) {
            problems.push(format!("{name} is banned"));
        }
        match license {
            None => problems.push(format!("{name} declares no license")),
            Some(expression) => match allowed(expression) {
                Ok(true) => {}
                Ok(false) => {
                    problems.push(format!("{name}: license {expression:?} is not allowed"))
                }
                Err(e) => problems.push(format!("{name}: license {expression:?}: {e}")),
            },
        }
    }
    report("licenses and bans", problems)
}

/// `#![deny(missing_docs)]` and `#![forbid(unsafe_code)]` in every library root: the
/// compiler enforces them only while they are there.
pub fn crate_attributes(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, layer, file) in CRATES {
        let Some(file) = file else { continue };
        let path = root.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut required = vec!["#![deny(missing_docs)]", "#![forbid(unsafe_code)]"];
        // The product's libraries never print or exit: they return errors and report
        // through `Reporter` and `tracing` (house rule; tests may print).
        if layer.is_some_and(|l| l < 3) {
            required.push(LIBRARY_LINTS);
        }
        // Compared without whitespace: rustfmt may spread an attribute over lines.
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for attribute in required {
            let wanted: String = attribute.chars().filter(|c| !c.is_whitespace()).collect();
            if !squeezed.contains(&wanted) {
                problems.push(format!("{name}: {file} lacks {attribute}"));
            }
        }
    }
    report("crate attributes", problems)
}

/// The CLI names a format in one place, `crates/cli/src/formats.rs`: a format crate
/// (layer 2, but `mirror-transfer`, which every format shares) named in any other CLI
/// source file fails the check, so DEVELOPMENT.md's recipe for a new format stays true.
pub fn formats_named_once(root: &Path) -> Result<(), String> {
    let formats: Vec<String> = CRATES
        .iter()
        .filter(|(name, layer, _)| *layer == Some(2) && *name != "mirror-transfer")
        .map(|(name, _, _)| name.replace('-', "_"))
        .collect();
    let cli = root.join("crates/cli/src");
    let mut problems = Vec::new();
    let mut stack = vec![cli.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("formats.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            for format in &formats {
                if let Some(line) = text.lines().position(|l| l.contains(format.as_str())) {
                    problems.push(format!(
                        "{}:{}: names {format} (only crates/cli/src/formats.rs may)",
                        path.strip_prefix(root).unwrap_or(&path).display(),
                        line + 1
                    ));
                }
            }
        }
    }
    report("formats named in one place", problems)
}

fn report(what: &str, problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        eprintln!("{what}: ok");
        Ok(())
    } else {
        Err(format!("{what}:\n  {}", problems.join("\n  ")))
    }
}

/// Evaluate an SPDX license expression (`A OR B`, `A AND (B OR C)`, `A WITH E`, and the
/// old `A/B` for OR) against [`ALLOWED_LICENSES`].
fn allowed(expression: &str) -> Result<bool, String> {
    let spaced = expression
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut position = 0;
    let value = or_expression(&tokens, &mut position)?;
    if position != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[position]));
    }
    Ok(value)
}

fn or_expression(tokens: &[&str], position: &mut usize) -> Result<bool, String> {
    let mut value = and_expression(tokens, position)?;
    while tokens.get(*position) == Some(&"OR") {
        *position += 1;
        value |= and_expression(tokens, position)?;
    }
    Ok(value)
}

fn and_expression(tokens: &[&str], position: &mut usize) -> Result<bool, String> {
    let mut value = term(tokens, position)?;
    while tokens.get(*position) == Some(&"AND") {
        *position += 1;
        value &= term(tokens, position)?;
    }
    Ok(value)
}

fn term(tokens: &[&str], position: &mut usize) -> Result<bool, String> {
    match tokens.get(*position) {
        Some(&"(") => {
            *position += 1;
            let value = or_expression(tokens, position)?;
            if tokens.get(*position) != Some(&")") {
                return Err("unbalanced parentheses".into());
            }
            *position += 1;
            Ok(value)
        }
        Some(license) => {
            *position += 1;
            let mut id = (*license).to_owned();
            if tokens.get(*position) == Some(&"WITH") {
                let exception = tokens.get(*position + 1).ok_or("WITH without exception")?;
                id = format!("{id} WITH {exception}");
                *position += 2;
            }
            Ok(ALLOWED_LICENSES.contains(&id.as_str()))
        }
        None => Err("expression ends early".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph of `(crate, its direct dependencies)`.
    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        let mut packages = BTreeMap::new();
        let mut deps = BTreeMap::new();
        for (name, to) in edges {
            for id in std::iter::once(name).chain(to.iter()) {
                packages.insert((*id).to_owned(), ((*id).to_owned(), None));
                deps.entry((*id).to_owned()).or_insert_with(Vec::new);
            }
            deps.insert(
                (*name).to_owned(),
                to.iter().map(|d| (*d).to_owned()).collect(),
            );
        }
        Graph {
            packages,
            edges: deps,
            members: edges.iter().map(|(name, _)| (*name).to_owned()).collect(),
        }
    }

    #[test]
    fn layers() {
        let crates: Vec<&str> = CRATES.iter().map(|(name, _, _)| *name).collect();
        let mut edges: Vec<(&str, &[&str])> = crates.iter().map(|c| (*c, &[][..])).collect();
        edges.retain(|(c, _)| !matches!(*c, "mirror-apt" | "mirror-core" | "mirror-cli"));
        edges.push((
            "mirror-apt",
            &["mirror-paths", "mirror-core", "mirror-conda"],
        ));
        edges.push(("mirror-core", &["mirror-paths", "anyhow"]));
        edges.push(("mirror-cli", &["mirror-apt", "clap"]));
        edges.push(("mirror-unlisted", &["mirror-core"]));
        let problems = layer_problems(&graph(&edges)).expect("checks");
        assert_eq!(
            problems,
            [
                "library mirror-core depends on anyhow (front ends only)",
                "mirror-apt depends on mirror-conda",
                "library mirror-apt depends on anyhow (front ends only)",
                "workspace member mirror-unlisted is not in xtask's layer table (checks.rs CRATES)",
            ]
        );
    }

    #[test]
    fn spdx_expressions() {
        assert_eq!(allowed("MIT OR Apache-2.0"), Ok(true));
        assert_eq!(allowed("MIT/Apache-2.0"), Ok(true));
        assert_eq!(allowed("(MIT OR Apache-2.0) AND Unicode-3.0"), Ok(true));
        assert_eq!(allowed("Apache-2.0 WITH LLVM-exception OR MIT"), Ok(true));
        assert_eq!(allowed("GPL-3.0-only"), Ok(false));
        assert_eq!(allowed("MIT AND GPL-3.0-only"), Ok(false));
        assert_eq!(allowed("GPL-3.0-only OR MIT"), Ok(true));
        assert!(allowed("(MIT").is_err());
    }
}
