//! Choosing what the mirror carries (blocking, CPU-bound): parse every Packages index,
//! take everything or the dependency closure of the allow-list, and produce the pool
//! files to download plus, for a filtered mirror, each index's selected stanzas.

use std::collections::HashMap;

use mirror_core::store::Expected;

use crate::closure::{ClosureOptions, PackageIndex};
use crate::error::AptError;
use crate::packages::{BinaryPackage, parse_packages};

/// One decoded upstream index.
#[derive(Debug)]
pub struct IndexData {
    /// Position of its suite in the configured suites.
    pub suite: usize,
    /// `main`
    pub component: String,
    /// `amd64` or `all`
    pub architecture: String,
    /// Decompressed Packages.
    pub decoded: Vec<u8>,
    /// Its URL, for errors.
    pub origin: String,
}

/// What to select.
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// Allow-list; `None` = everything.
    pub packages: Option<Vec<String>>,
    /// Follow Recommends.
    pub recommends: bool,
    /// Configured architectures (first = native).
    pub architectures: Vec<String>,
    /// Fail on listed names no index carries (else warn).
    pub missing_packages_are_errors: bool,
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
    /// Closure warnings and skipped requests.
    pub warnings: Vec<String>,
}

/// Parse the indices and select.
pub fn select(indices: &[IndexData], options: &SelectOptions) -> Result<Selection, AptError> {
    // Sized once from a count of stanza separators (a memchr pass, ~1% of the parse):
    // growing by doubling would overshoot by up to half and briefly hold two copies.
    let estimate: usize = indices
        .iter()
        .map(|i| memchr::memmem::find_iter(&i.decoded, b"\n\n").count() + 1)
        .sum();
    let mut all: Vec<BinaryPackage<'_>> = Vec::with_capacity(estimate);
    let mut owner: Vec<usize> = Vec::with_capacity(estimate);
    for (i, index) in indices.iter().enumerate() {
        for package in parse_packages(&index.decoded) {
            let package = package.map_err(|e| AptError::Malformed {
                origin: index.origin.clone(),
                message: e.to_string(),
            })?;
            all.push(package);
            owner.push(i);
        }
    }
    let mut selection = Selection {
        total_packages: all.len(),
        filtered: vec![Vec::new(); indices.len()],
        ..Selection::default()
    };
    let chosen: Vec<usize> = match &options.packages {
        None => (0..all.len()).collect(),
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
                selection.warnings.push(format!(
                    "not carried by this upstream, skipped: {}",
                    missing.join(", ")
                ));
            }
            let closure_options = ClosureOptions::new(options.architectures.iter().cloned())
                .recommends(options.recommends);
            let closure =
                index
                    .closure(&present, &closure_options)
                    .map_err(|e| AptError::Malformed {
                        origin: "package selection".into(),
                        message: e.to_string(),
                    })?;
            selection
                .warnings
                .extend(closure.warnings().iter().map(ToString::to_string));
            let mut chosen = closure.indices().to_vec();
            chosen.sort_unstable();
            chosen
        }
    };

    let mut by_path: HashMap<&str, usize> = HashMap::new();
    for &position in &chosen {
        let package = &all[position];
        let sha256 = package.sha256().parse().map_err(|_| AptError::Malformed {
            origin: indices[owner[position]].origin.clone(),
            message: format!("{}: bad SHA256", package.name()),
        })?;
        let expected = Expected {
            sha256,
            size: Some(package.size()),
        };
        match by_path.get(package.filename()) {
            Some(&i) if selection.pool[i].expected != expected => {
                return Err(AptError::ConflictingPool {
                    path: package.filename().to_owned(),
                    first: selection.pool[i].expected.sha256.to_hex(),
                    second: sha256.to_hex(),
                });
            }
            Some(_) => {}
            None => {
                by_path.insert(package.filename(), selection.pool.len());
                selection.pool.push(PoolFile {
                    path: package.filename().to_owned(),
                    expected,
                });
            }
        }
        if options.packages.is_some() {
            let buffer = &mut selection.filtered[owner[position]];
            buffer.extend_from_slice(package.raw());
            if !package.raw().ends_with(b"\n") {
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
