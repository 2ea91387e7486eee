//! Choosing what the mirror carries (blocking, CPU-bound): parse every Packages index,
//! take everything or the dependency closure of the allow-list, and produce the pool
//! files to download plus, for a filtered mirror, each index's selected stanzas.

use std::collections::HashMap;

use mirror_core::store::Expected;

use rayon::prelude::*;

use crate::closure::{ClosureOptions, PackageIndex};
use crate::compact::{CompactIndex, PackageFile};
use crate::error::AptError;
use crate::packages::BinaryPackage;

/// One decoded upstream index.
#[derive(Debug)]
pub struct IndexData {
    /// Position of its suite in the configured suites.
    pub suite: usize,
    /// `main`
    pub component: String,
    /// `amd64` or `all`
    pub architecture: String,
    /// Its packages, compact, with (for a filtered mirror) their full text spooled.
    pub packages: CompactIndex,
    /// Its URL, for errors.
    pub origin: String,
    /// An index of another mirror of the group (`resolve_with`): it takes part in the
    /// candidate choice and satisfies dependencies, but nothing of it is published here.
    pub resolve_only: bool,
}

/// What to select.
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// Allow-list; `None` = everything.
    pub packages: Option<Vec<String>>,
    /// Follow Recommends.
    pub recommends: bool,
    /// Versions of each selected package to keep (1: the candidate).
    pub keep_versions: usize,
    /// Configured architectures (first = native).
    pub architectures: Vec<String>,
    /// Fail on listed names no index carries (else warn).
    pub missing_packages_are_errors: bool,
    /// With a group: also publish the closure of the selection within this mirror's own
    /// indices alone, so a client (or debootstrap) using only this mirror resolves.
    pub self_contained: bool,
    /// Report requested names no index of the group carries (one member of a group
    /// reports them, not each).
    pub report_missing: bool,
}

/// A pool file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFile {
    /// `pool/main/j/jq/jq_1.6-2.1+deb12u2_amd64.deb`
    pub path: String,
    /// Digest and size from the index.
    pub expected: Expected,
}

/// The outcome.
#[derive(Debug, Default)]
pub struct Selection {
    /// Every pool file, deduplicated by path.
    pub pool: Vec<PoolFile>,
    /// Per input index (same order): the selected stanzas, for regenerated indices.
    pub filtered: Vec<Vec<u8>>,
    /// Packages in all indices.
    pub total_packages: usize,
    /// Packages selected (counting a package once per index that lists it).
    pub selected_packages: usize,
    /// Names selected, sorted, deduplicated (filtered mirrors only).
    pub selected_names: Vec<String>,
    /// Closure warnings and (one line for all of them) skipped requests.
    pub warnings: Vec<String>,
    /// Requested names no index carries, skipped (`missing_packages = "warn"`).
    pub skipped: Vec<String>,
}

/// How many names a warning line shows before "and N more".
const NAMES_SHOWN: usize = 5;

/// The first few of `names` and how many more: `a, b, c, d, e and 295 more`.
pub(crate) fn first_names<S: AsRef<str>>(names: &[S], more_hint: &str) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(AsRef::as_ref).collect();
    let more = names.len().saturating_sub(NAMES_SHOWN);
    let mut line = shown.join(", ");
    if more > 0 {
        line.push_str(&format!(" and {more} more{more_hint}"));
    }
    line
}

/// One line for every requested name no index carries: the count and the first few
/// (the whole list is in the sync report's `skipped`).
fn missing_line(missing: &[&str], grouped: bool) -> String {
    let shown = first_names(missing, " (all in --json: skipped)");
    let count = missing.len();
    let plural = if count == 1 { "" } else { "s" };
    let who = if grouped {
        "no mirror of the group carries"
    } else {
        "this upstream does not carry"
    };
    format!("{count} requested package{plural} {who}, skipped: {shown}")
}

/// Parse the indices and select.
pub fn select(indices: &[IndexData], options: &SelectOptions) -> Result<Selection, AptError> {
    // Positions run over the indices in order; `first[i]` is index i's first.
    let mut first = Vec::with_capacity(indices.len());
    let mut owner: Vec<usize> = Vec::new();
    for (i, index) in indices.iter().enumerate() {
        first.push(owner.len());
        owner.extend(std::iter::repeat_n(i, index.packages.len()));
    }
    // Each compact stanza is parsed on any core, straight into its place: a vector per
    // core concatenated after would briefly hold every package twice (14 MB for Debian's
    // main/amd64). A stanza that does not parse (it parsed when it was decoded) leaves a
    // `None`, found below.
    let mut slots: Vec<Option<BinaryPackage<'_>>> = Vec::new();
    (0..owner.len())
        .into_par_iter()
        .map(|position| {
            let i = owner[position];
            indices[i].packages.package(position - first[i]).ok()
        })
        .collect_into_vec(&mut slots);
    if let Some(position) = slots.iter().position(Option::is_none) {
        let i = owner[position];
        let error = indices[i]
            .packages
            .package(position - first[i])
            .err()
            .map_or_else(String::new, |e| crate::error::with_causes(&e));
        return Err(AptError::Malformed {
            origin: indices[i].origin.clone(),
            message: format!("compact stanza {}: {error}", position - first[i]),
        });
    }
    // Same layout (a package is never null): collected in place, no second vector.
    let all: Vec<BinaryPackage<'_>> = slots
        .into_iter()
        .map(|slot| slot.expect("checked above"))
        .collect();
    let own = |position: &usize| !indices[owner[*position]].resolve_only;
    let grouped = indices.iter().any(|index| index.resolve_only);
    let mut selection = Selection {
        total_packages: (0..all.len()).filter(own).count(),
        filtered: vec![Vec::new(); indices.len()],
        ..Selection::default()
    };
    let chosen: Vec<usize> = match &options.packages {
        None => (0..all.len()).filter(own).collect(),
        Some(requested) => {
            let index = PackageIndex::new(all.iter());
            let (present, missing): (Vec<&str>, Vec<&str>) =
                requested.iter().map(String::as_str).partition(|name| {
                    let bare = name.split(':').next().unwrap_or(name);
                    !index.named(bare).is_empty() || index.providing(bare).next().is_some()
                });
            if !missing.is_empty() {
                if options.missing_packages_are_errors {
                    return Err(AptError::UnknownPackages {
                        names: missing.iter().map(|s| (*s).to_owned()).collect(),
                    });
                }
                if options.report_missing {
                    selection.warnings.push(missing_line(&missing, grouped));
                }
                selection.skipped = missing.iter().map(|s| (*s).to_owned()).collect();
            }
            let closure_options = ClosureOptions::new(options.architectures.iter().cloned())
                .recommends(options.recommends)
                .keep_versions(options.keep_versions);
            let closure_error = |e: crate::closure::ClosureError| AptError::Malformed {
                origin: "package selection".into(),
                message: e.to_string(),
            };
            let closure = index
                .closure(&present, &closure_options)
                .map_err(closure_error)?;
            selection
                .warnings
                .extend(closure.warnings().iter().map(ToString::to_string));
            // The group's candidates that this mirror carries (identical copies in
            // several indices are selected together, so a version both carry is here).
            let mut chosen: Vec<usize> = closure.indices().iter().copied().filter(own).collect();
            if grouped && options.self_contained {
                let mine: Vec<usize> = (0..all.len()).filter(own).collect();
                let alone = PackageIndex::new(mine.iter().map(|&p| &all[p]));
                let present: Vec<&str> = present
                    .iter()
                    .copied()
                    .filter(|name| {
                        let bare = name.split(':').next().unwrap_or(name);
                        !alone.named(bare).is_empty() || alone.providing(bare).next().is_some()
                    })
                    .collect();
                let closure = alone
                    .closure(&present, &closure_options)
                    .map_err(closure_error)?;
                selection.warnings.extend(
                    closure
                        .warnings()
                        .iter()
                        .map(|w| format!("within this mirror alone: {w}")),
                );
                chosen.extend(closure.indices().iter().map(|&i| mine[i]));
            }
            chosen.sort_unstable();
            chosen.dedup();
            chosen
        }
    };

    let mut by_path: HashMap<String, usize> = HashMap::new();
    for &position in &chosen {
        let package = &all[position];
        let index = &indices[owner[position]];
        let local = position - first[owner[position]];
        // A filtered mirror's compact stanzas leave out the file: it is read, with the
        // text the regenerated index takes, from the stanza as upstream wrote it.
        let text = match options.packages {
            Some(_) => Some(
                index
                    .packages
                    .stanza_text(local)
                    .map_err(|e| AptError::Internal(format!("{}: {e}", index.origin)))?,
            ),
            None => None,
        };
        let file = match &text {
            _ if !package.filename().is_empty() => PackageFile::of(package),
            Some(text) => PackageFile::in_stanza(text).map_err(|e| AptError::Malformed {
                origin: index.origin.clone(),
                message: crate::error::with_causes(&e),
            })?,
            None => index.packages.file(local)?,
        };
        let sha256 = file.sha256.parse().map_err(|_| AptError::Malformed {
            origin: index.origin.clone(),
            message: format!("{}: bad SHA256", package.name()),
        })?;
        let expected = Expected {
            sha256,
            size: Some(file.size),
        };
        match by_path.get(&file.filename) {
            Some(&i) if selection.pool[i].expected != expected => {
                return Err(AptError::ConflictingPool {
                    path: file.filename,
                    first: selection.pool[i].expected.sha256.to_hex(),
                    second: sha256.to_hex(),
                });
            }
            Some(_) => {}
            None => {
                by_path.insert(file.filename.clone(), selection.pool.len());
                selection.pool.push(PoolFile {
                    path: file.filename,
                    expected,
                });
            }
        }
        if let Some(text) = text {
            let buffer = &mut selection.filtered[owner[position]];
            buffer.extend_from_slice(&text);
            if !text.ends_with(b"\n") {
                buffer.push(b'\n');
            }
            buffer.push(b'\n');
            selection.selected_names.push(package.name().to_owned());
        }
    }
    selection.selected_packages = chosen.len();
    selection.selected_names.sort();
    selection.selected_names.dedup();
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::missing_line;

    #[test]
    fn missing_names_are_one_line_with_a_count_and_the_first_few() {
        assert_eq!(
            missing_line(&["a"], false),
            "1 requested package this upstream does not carry, skipped: a"
        );
        let many: Vec<String> = (0..300).map(|i| format!("pkg{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let line = missing_line(&many, true);
        assert_eq!(
            line,
            "300 requested packages no mirror of the group carries, skipped: \
             pkg0, pkg1, pkg2, pkg3, pkg4 and 295 more (all in --json: skipped)"
        );
    }
}
