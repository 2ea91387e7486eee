//! The fixture tree's integrity check: each `PROVENANCE.tsv` in it lists files with their
//! size and SHA-256, and every file of the tree must be listed. A damaged checkout then
//! fails with the file's name instead of looking like a product bug.
//!
//! std and sha2 only: xtask compiles this same file (`#[path]`) to check the tree before
//! it builds anything, so there is one implementation of the rule.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// The files that list the fixtures of their directory.
const PROVENANCE: &str = "PROVENANCE.tsv";
/// Documentation beside the data; not listed, not checked.
const README: &str = "README.md";
/// At most this many problems are spelt out; the rest are counted.
const SHOWN_PROBLEMS: usize = 20;

/// Check the fixture tree at `root` against its `PROVENANCE.tsv` files and return how many
/// files were checked.
///
/// A `PROVENANCE.tsv` is tab-separated with a header line naming the columns; `path`,
/// `size` and `sha256` are required (others, such as `commit` or `licence`, are for
/// people). `path` is relative to the directory of the `PROVENANCE.tsv`, under
/// `<owner>+<name>/` when a `repo` column gives `owner/name`. Every listed file must exist
/// with that size and SHA-256, and every file of the tree other than the `README.md` and
/// `PROVENANCE.tsv` files (at the root and beside each `PROVENANCE.tsv`) must be listed.
///
/// # Errors
/// One line per problem, each naming the file: missing, a different size or digest,
/// unlisted, not a regular file, or a malformed `PROVENANCE.tsv`.
pub fn verify_fixtures(root: &Path) -> Result<usize, String> {
    if !root.is_dir() {
        return Err(format!(
            "the fixture directory {} is missing",
            root.display()
        ));
    }
    let mut problems = Vec::new();
    let mut files = Vec::new();
    walk(root, &mut files, &mut problems);
    let mut documented = BTreeSet::from([root.to_path_buf()]);
    let mut listed = BTreeSet::new();
    for provenance in files.iter().filter(|f| f.ends_with(PROVENANCE)) {
        let Some(dir) = provenance.parent() else {
            continue;
        };
        documented.insert(dir.to_path_buf());
        let entries = match read_provenance(provenance) {
            Ok(entries) => entries,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        for entry in entries {
            let path = dir.join(&entry.relative);
            if let Err(problem) = check_file(&path, &entry, provenance) {
                problems.push(problem);
            }
            if !listed.insert(path.clone()) {
                problems.push(format!("{}: listed twice", path.display()));
            }
        }
    }
    for file in &files {
        let is_doc = file.ends_with(README) || file.ends_with(PROVENANCE);
        let beside_provenance = file.parent().is_some_and(|dir| documented.contains(dir));
        if !(listed.contains(file) || is_doc && beside_provenance) {
            problems.push(format!(
                "{}: not listed in any {PROVENANCE} (a fixture must say where it comes from)",
                file.display()
            ));
        }
    }
    if listed.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{}: no {PROVENANCE} lists any file",
            root.display()
        ));
    }
    if problems.is_empty() {
        return Ok(listed.len());
    }
    let count = problems.len();
    let mut message = problems
        .into_iter()
        .take(SHOWN_PROBLEMS)
        .collect::<Vec<_>>()
        .join("\n");
    if count > SHOWN_PROBLEMS {
        message.push_str(&format!("\n... and {} more", count - SHOWN_PROBLEMS));
    }
    Err(message)
}

/// One row of a `PROVENANCE.tsv`.
struct Entry {
    /// Relative to the directory of the `PROVENANCE.tsv`.
    relative: PathBuf,
    size: u64,
    /// Lower-case hex.
    sha256: String,
}

fn read_provenance(provenance: &Path) -> Result<Vec<Entry>, String> {
    let name = provenance.display();
    let text = std::fs::read_to_string(provenance).map_err(|e| format!("{name}: {e}"))?;
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, line)| line.split('\t').collect())
        .unwrap_or_default();
    let column = |wanted: &str| header.iter().position(|c| *c == wanted);
    let (Some(path_at), Some(size_at), Some(sha256_at)) =
        (column("path"), column("size"), column("sha256"))
    else {
        return Err(format!(
            "{name}: the header line must name the columns path, size and sha256"
        ));
    };
    let repo_at = column("repo");
    let mut entries = Vec::new();
    for (index, line) in lines {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let at = index + 1;
        if fields.len() != header.len() {
            return Err(format!(
                "{name}:{at}: {} fields, the header names {}",
                fields.len(),
                header.len()
            ));
        }
        let mut relative = PathBuf::new();
        if let Some(repo_at) = repo_at {
            relative.push(fields[repo_at].replace('/', "+"));
        }
        relative.push(fields[path_at]);
        let stays_inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !stays_inside || fields[path_at].is_empty() {
            return Err(format!(
                "{name}:{at}: {} is not a relative path inside the directory",
                relative.display()
            ));
        }
        let size: u64 = fields[size_at]
            .parse()
            .map_err(|e| format!("{name}:{at}: size {:?}: {e}", fields[size_at]))?;
        let sha256 = fields[sha256_at];
        let is_digest = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_digest {
            return Err(format!(
                "{name}:{at}: sha256 {sha256:?} is not 64 lower-case hex digits"
            ));
        }
        entries.push(Entry {
            relative,
            size,
            sha256: sha256.to_owned(),
        });
    }
    Ok(entries)
}

fn check_file(path: &Path, entry: &Entry, provenance: &Path) -> Result<(), String> {
    let shown = path.display();
    let listed_in = provenance.display();
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|e| format!("{shown}: missing or unreadable ({e}); {listed_in} lists it"))?;
    if !metadata.is_file() {
        return Err(format!(
            "{shown}: not a regular file; {listed_in} lists a file"
        ));
    }
    if metadata.len() != entry.size {
        return Err(format!(
            "{shown}: {} bytes, {listed_in} says {}",
            metadata.len(),
            entry.size
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let actual: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != entry.sha256 {
        return Err(format!(
            "{shown}: SHA-256 {actual}, {listed_in} says {}",
            entry.sha256
        ));
    }
    Ok(())
}

/// Every file under `dir` (sorted), recursively; anything neither a file nor a directory
/// (a symlink, a socket) is a problem.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => problems.push(format!("{}: {e}", dir.display())),
        }
    }
    paths.sort();
    for path in paths {
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => walk(&path, files, problems),
            Ok(metadata) if metadata.is_file() => files.push(path),
            Ok(_) => problems.push(format!(
                "{}: not a regular file (fixtures are plain files)",
                path.display()
            )),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
}
