//! Selection: which records of a channel a filtered mirror keeps.
//!
//! The rules, in order (see the crate docs for the why):
//! 1. Only records that passed [`crate::record::check_record`] (and the `licenses`
//!    allow-list) are eligible; records matching an `exclude` spec never are.
//! 2. Roots: every eligible record matching one of the `specs` (all eligible records when
//!    there are no specs).
//! 3. `keep_versions = N` trims each match set to the newest N versions per package name
//!    (all builds of those versions). It applies to the roots *and* to each dependency's
//!    match set, never to the universe: a dependency that only an older version satisfies
//!    keeps that version, so no kept package loses its dependencies.
//! 4. Closure: for every selected record, each of its `depends` is matched against the
//!    platform subdir plus `noarch` and the matches are selected too, transitively.
//!    Virtual packages (`__glibc`...) are skipped; a dependency nothing satisfies is
//!    reported, not an error.
//!
//! Typed [`PackageRecord`]s are built only for records whose name a spec or dependency
//! names, so a selection over a conda-forge-sized index parses a small fraction of it.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::str::FromStr;

use rattler_conda_types::{
    MatchSpec, Matches, PackageName, PackageNameMatcher, PackageRecord, ParseMatchSpecOptions,
    Version,
};

use crate::record::{CheckedRecord, Skipped, parse_filename};
use crate::repodata::RepoDataView;

/// The subdir every platform's selection also draws from.
pub const NOARCH: &str = "noarch";

/// One subdir's records and their check results, as selection input.
#[derive(Debug)]
pub struct SubdirRecords<'v, 'a> {
    /// The subdir name.
    pub subdir: &'v str,
    /// The parsed index.
    pub view: &'v RepoDataView<'a>,
    /// For each of `view.records`, the outcome of its checks.
    pub checked: &'v [Result<CheckedRecord, Skipped>],
}

/// What to select. Build the specs with [`parse_spec`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Roots; empty means every eligible record.
    pub specs: Vec<MatchSpec>,
    /// Newest N versions per package name in every match set.
    pub keep_versions: Option<usize>,
    /// Records matching any of these are never selected.
    pub exclude: Vec<MatchSpec>,
}

impl Filter {
    /// True when the filter keeps every eligible record (no closure or typing needed).
    pub fn selects_everything(&self) -> bool {
        self.specs.is_empty() && self.keep_versions.is_none() && self.exclude.is_empty()
    }
}

/// How user specs and `depends` entries are parsed: leniently, like conda, so that
/// `python=3.12`, `numpy 1.26*` and the old-style specs found in real `depends` work.
/// Package-name globs (`r-*`) are allowed in user specs.
pub fn parse_spec(spec: &str) -> Result<MatchSpec, rattler_conda_types::ParseMatchSpecError> {
    MatchSpec::from_str(
        spec,
        ParseMatchSpecOptions::lenient().with_exact_names_only(false),
    )
}

/// The outcome of [`select`].
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Per input subdir, per record: selected or not.
    pub selected: Vec<Vec<bool>>,
    /// `depends` entries no eligible record satisfies (with the platform they failed on).
    pub unresolved: BTreeSet<String>,
    /// User specs that matched nothing on any platform.
    pub unmatched_specs: Vec<String>,
    /// Records whose JSON a typed parse refused (treated as ineligible).
    pub untyped: usize,
}

/// A record: index into the subdir list, index into that subdir's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RecRef {
    subdir: u32,
    index: u32,
}

/// A typed record and whether an exclude spec matches it.
struct Typed {
    record: PackageRecord,
    excluded: bool,
}

/// Typed records built on demand and kept for the whole selection.
struct TypedCache<'s, 'v, 'a> {
    subdirs: &'s [SubdirRecords<'v, 'a>],
    cells: Vec<Vec<OnceCell<Option<Box<Typed>>>>>,
    exclude: &'s [MatchSpec],
    failures: std::cell::Cell<usize>,
}

impl<'s, 'v, 'a> TypedCache<'s, 'v, 'a> {
    fn new(subdirs: &'s [SubdirRecords<'v, 'a>], exclude: &'s [MatchSpec]) -> Self {
        let cells = subdirs
            .iter()
            .map(|s| (0..s.view.records.len()).map(|_| OnceCell::new()).collect())
            .collect();
        Self {
            subdirs,
            cells,
            exclude,
            failures: std::cell::Cell::new(0),
        }
    }

    fn get(&self, r: RecRef) -> Option<&Typed> {
        self.cells[r.subdir as usize][r.index as usize]
            .get_or_init(|| {
                let sub = &self.subdirs[r.subdir as usize];
                let raw = &sub.view.records[r.index as usize];
                match serde_json::from_str::<PackageRecord>(raw.raw.get()) {
                    Ok(record) => {
                        let excluded = self.exclude.iter().any(|x| x.matches(&record));
                        Some(Box::new(Typed { record, excluded }))
                    }
                    Err(e) => {
                        tracing::warn!(
                            subdir = sub.subdir,
                            file = %raw.filename,
                            error = %e,
                            "skipping record: not a valid package record"
                        );
                        self.failures.set(self.failures.get() + 1);
                        None
                    }
                }
            })
            .as_deref()
    }

    /// Eligible for selection: typed, not excluded.
    fn usable(&self, r: RecRef) -> Option<&PackageRecord> {
        self.get(r).filter(|t| !t.excluded).map(|t| &t.record)
    }
}

/// The records one platform's selection draws from, indexed by package name.
struct Universe<'v> {
    by_name: HashMap<&'v str, Vec<RecRef>>,
}

impl<'v> Universe<'v> {
    fn new(subdirs: &[SubdirRecords<'v, '_>], members: &[u32]) -> Self {
        let mut by_name: HashMap<&'v str, Vec<RecRef>> = HashMap::new();
        for &s in members {
            let sub = &subdirs[s as usize];
            for (i, (raw, checked)) in sub.view.records.iter().zip(sub.checked).enumerate() {
                let Ok(checked) = checked else { continue };
                if !checked.license_allowed {
                    continue;
                }
                // Checked records have a valid file name that agrees with their `name`.
                let Ok(parts) = parse_filename(raw.filename.as_ref()) else {
                    continue;
                };
                by_name.entry(parts.name).or_default().push(RecRef {
                    subdir: s,
                    index: i as u32,
                });
            }
        }
        Self { by_name }
    }

    /// Names a matcher accepts, present in this universe.
    fn names(&self, matcher: &PackageNameMatcher) -> Vec<&'v str> {
        match matcher {
            PackageNameMatcher::Exact(name) => self
                .by_name
                .get_key_value(name.as_normalized())
                .map(|(k, _)| vec![*k])
                .unwrap_or_default(),
            _ => {
                let mut names: Vec<&'v str> = self
                    .by_name
                    .keys()
                    .copied()
                    .filter(|n| PackageName::from_str(n).is_ok_and(|name| matcher.matches(&name)))
                    .collect();
                names.sort_unstable();
                names
            }
        }
    }
}

/// Everything one [`select`] call shares across platforms.
struct Selector<'s, 'v, 'a> {
    subdirs: &'s [SubdirRecords<'v, 'a>],
    typed: TypedCache<'s, 'v, 'a>,
    keep_versions: Option<usize>,
    specs_cache: HashMap<String, Option<Rc<MatchSpec>>>,
}

impl<'s, 'v, 'a> Selector<'s, 'v, 'a> {
    fn filename_of(&self, r: RecRef) -> &'v str {
        self.subdirs[r.subdir as usize].view.records[r.index as usize]
            .filename
            .as_ref()
    }

    /// Eligible records of `universe` matching `spec`, trimmed by `keep_versions`.
    fn matching(&self, universe: &Universe<'v>, spec: &MatchSpec) -> Vec<RecRef> {
        let mut out = Vec::new();
        for name in universe.names(&spec.name) {
            for &r in &universe.by_name[name] {
                let Some(record) = self.typed.usable(r) else {
                    continue;
                };
                let subdir_ok = spec
                    .subdir
                    .as_deref()
                    .is_none_or(|s| s == self.subdirs[r.subdir as usize].subdir);
                if subdir_ok && spec.matches(record) {
                    out.push(r);
                }
            }
        }
        self.keep_newest(out)
    }

    /// Eligible, not excluded records of every name, trimmed by `keep_versions`.
    fn everything(&self, universe: &Universe<'v>, need_typed: bool) -> Vec<RecRef> {
        let mut out = Vec::new();
        for refs in universe.by_name.values() {
            out.extend(
                refs.iter()
                    .copied()
                    .filter(|&r| !need_typed || self.typed.usable(r).is_some()),
            );
        }
        self.keep_newest(out)
    }

    /// Keep the records whose version is among the newest `keep_versions` of their name.
    fn keep_newest(&self, refs: Vec<RecRef>) -> Vec<RecRef> {
        let Some(keep) = self.keep_versions else {
            return refs;
        };
        let mut by_name: HashMap<&str, Vec<(Version, RecRef)>> = HashMap::new();
        for r in refs {
            let filename = self.filename_of(r);
            let Ok(parts) = parse_filename(filename) else {
                continue;
            };
            match Version::from_str(parts.version) {
                Ok(v) => by_name.entry(parts.name).or_default().push((v, r)),
                Err(e) => {
                    tracing::warn!(file = filename, error = %e, "unparsable version; not kept")
                }
            }
        }
        let mut out = Vec::new();
        for (_, mut versions) in by_name {
            versions.sort_by(|a, b| b.0.cmp(&a.0));
            let mut distinct = 0;
            let mut last: Option<&Version> = None;
            for (v, r) in &versions {
                if last != Some(v) {
                    distinct += 1;
                    last = Some(v);
                }
                if distinct > keep {
                    break;
                }
                out.push(*r);
            }
        }
        out.sort_unstable();
        out
    }

    fn dependency_spec(&mut self, dep: &str) -> Option<Rc<MatchSpec>> {
        if let Some(cached) = self.specs_cache.get(dep) {
            return cached.clone();
        }
        let parsed = match MatchSpec::from_str(dep, ParseMatchSpecOptions::lenient()) {
            Ok(spec) => Some(Rc::new(spec)),
            Err(e) => {
                tracing::warn!(dependency = dep, error = %e, "unparsable dependency; ignored");
                None
            }
        };
        self.specs_cache.insert(dep.to_owned(), parsed.clone());
        parsed
    }
}

/// Select records across `subdirs` (platform subdirs and `noarch`).
pub fn select(subdirs: &[SubdirRecords<'_, '_>], filter: &Filter) -> Selection {
    let mut selected: Vec<Vec<bool>> = subdirs
        .iter()
        .map(|s| vec![false; s.view.records.len()])
        .collect();
    let mut selector = Selector {
        subdirs,
        typed: TypedCache::new(subdirs, &filter.exclude),
        keep_versions: filter.keep_versions,
        specs_cache: HashMap::new(),
    };
    let noarch: Vec<u32> = (0..subdirs.len() as u32)
        .filter(|&i| subdirs[i as usize].subdir == NOARCH)
        .collect();
    let platforms: Vec<u32> = (0..subdirs.len() as u32)
        .filter(|&i| subdirs[i as usize].subdir != NOARCH)
        .collect();
    // One universe per platform (platform + noarch); noarch alone when there is none.
    let universes: Vec<Vec<u32>> = if platforms.is_empty() {
        vec![noarch.clone()]
    } else {
        platforms
            .iter()
            .map(|&p| std::iter::once(p).chain(noarch.iter().copied()).collect())
            .collect()
    };

    let mut unresolved = BTreeSet::new();
    let mut matched_specs = vec![false; filter.specs.len()];
    for members in &universes {
        let universe = Universe::new(subdirs, members);
        let roots = if filter.specs.is_empty() {
            selector.everything(&universe, !filter.exclude.is_empty())
        } else {
            let mut roots = Vec::new();
            for (i, spec) in filter.specs.iter().enumerate() {
                let found = selector.matching(&universe, spec);
                matched_specs[i] |= !found.is_empty();
                roots.extend(found);
            }
            roots
        };
        let follow_dependencies = !filter.selects_everything();
        let mut seen: HashSet<RecRef> = HashSet::new();
        let mut queue: VecDeque<RecRef> = roots.into_iter().collect();
        let mut resolved_deps: HashSet<String> = HashSet::new();
        while let Some(r) = queue.pop_front() {
            if !seen.insert(r) {
                continue;
            }
            selected[r.subdir as usize][r.index as usize] = true;
            if !follow_dependencies {
                continue;
            }
            let Some(record) = selector.typed.usable(r) else {
                continue;
            };
            let depends = record.depends.clone();
            for dep in depends {
                // Each dependency string is resolved once per platform.
                if !resolved_deps.insert(dep.clone()) {
                    continue;
                }
                let Some(spec) = selector.dependency_spec(&dep) else {
                    continue;
                };
                if spec.is_virtual() {
                    continue;
                }
                let found = selector.matching(&universe, &spec);
                if found.is_empty() {
                    let platform = subdirs[members[0] as usize].subdir;
                    tracing::warn!(dependency = %dep, platform, "no record satisfies dependency");
                    unresolved.insert(format!("{platform}: {dep}"));
                }
                queue.extend(found.into_iter().filter(|f| !seen.contains(f)));
            }
        }
    }
    let unmatched_specs = filter
        .specs
        .iter()
        .zip(&matched_specs)
        .filter(|(_, matched)| !**matched)
        .map(|(spec, _)| spec.to_string())
        .collect();
    Selection {
        selected,
        unresolved,
        unmatched_specs,
        untyped: selector.typed.failures.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::check_all;

    const SHA: &str = "1f07873d6aa0cd18760a7b215d9956f7fa63c2f2761b03f293c659fe982923fa";

    /// `(name, version, build, depends, license)` records as a subdir's repodata.json.
    fn repodata(subdir: &str, records: &[(&str, &str, &str, &[&str], &str)]) -> String {
        let entries: Vec<String> = records
            .iter()
            .map(|(name, version, build, depends, license)| {
                format!(
                    r#""{name}-{version}-{build}.tar.bz2": {{"name": "{name}", "version": "{version}", "build": "{build}", "build_number": 0, "depends": {depends}, "license": "{license}", "subdir": "{subdir}", "sha256": "{SHA}", "size": 1}}"#,
                    depends = serde_json::to_string(depends).expect("json")
                )
            })
            .collect();
        format!(
            r#"{{"info": {{"subdir": "{subdir}"}}, "packages": {{{}}}}}"#,
            entries.join(",\n")
        )
    }

    fn linux() -> String {
        repodata(
            "linux-64",
            &[
                (
                    "python",
                    "3.11.0",
                    "h_0",
                    &["libc >=1", "__glibc >=2.17"],
                    "PSF",
                ),
                (
                    "python",
                    "3.12.0",
                    "h_0",
                    &["libc >=1", "__glibc >=2.17"],
                    "PSF",
                ),
                ("python", "3.12.1", "h_0", &["libc >=1"], "PSF"),
                ("python", "3.12.1", "h_1", &["libc >=1"], "PSF"),
                ("libc", "1.0", "0", &[], "MIT"),
                ("libc", "2.0", "0", &[], "MIT"),
                ("libc", "3.0", "0", &[], "MIT"),
                (
                    "app",
                    "1.0",
                    "0",
                    &["requests", "libc <2", "missing-dep"],
                    "MIT",
                ),
                ("app-dbg", "1.0", "0", &[], "MIT"),
                ("unrelated", "1.0", "0", &[], "MIT"),
            ],
        )
    }

    fn noarch() -> String {
        repodata(
            "noarch",
            &[
                (
                    "requests",
                    "2.0",
                    "py_0",
                    &["python >=3.12", "certifi"],
                    "Apache-2.0",
                ),
                ("certifi", "2024.1", "pyh_0", &[], "ISC"),
                ("certifi", "2023.1", "pyh_0", &[], ""),
            ],
        )
    }

    /// Run a selection; returns the selected file names per subdir.
    fn run(filter: Filter, licenses: &[String]) -> (Vec<Vec<String>>, Selection) {
        let texts = [("linux-64", linux()), ("noarch", noarch())];
        let views: Vec<RepoDataView<'_>> = texts
            .iter()
            .map(|(_, t)| RepoDataView::parse(t.as_bytes()).expect("valid"))
            .collect();
        let checked: Vec<_> = views
            .iter()
            .zip(&texts)
            .map(|(v, (s, _))| check_all(v, s, licenses))
            .collect();
        let inputs: Vec<SubdirRecords<'_, '_>> = views
            .iter()
            .zip(&texts)
            .zip(&checked)
            .map(|((view, (subdir, _)), checked)| SubdirRecords {
                subdir,
                view,
                checked,
            })
            .collect();
        let selection = select(&inputs, &filter);
        let names = inputs
            .iter()
            .zip(&selection.selected)
            .map(|(input, selected)| {
                input
                    .view
                    .records
                    .iter()
                    .zip(selected)
                    .filter(|(_, s)| **s)
                    .map(|(r, _)| r.filename.trim_end_matches(".tar.bz2").to_owned())
                    .collect()
            })
            .collect();
        (names, selection)
    }

    fn specs(list: &[&str]) -> Vec<MatchSpec> {
        list.iter()
            .map(|s| parse_spec(s).expect("valid spec"))
            .collect()
    }

    #[test]
    fn closure_crosses_platform_and_noarch() {
        let (names, selection) = run(
            Filter {
                specs: specs(&["app"]),
                ..Filter::default()
            },
            &[],
        );
        // app -> requests (noarch) -> python >=3.12 (linux-64) -> libc >=1; certifi (noarch).
        assert_eq!(
            names[0],
            [
                "app-1.0-0",
                "libc-1.0-0",
                "libc-2.0-0",
                "libc-3.0-0",
                "python-3.12.0-h_0",
                "python-3.12.1-h_0",
                "python-3.12.1-h_1"
            ]
        );
        assert_eq!(
            names[1],
            [
                "certifi-2023.1-pyh_0",
                "certifi-2024.1-pyh_0",
                "requests-2.0-py_0"
            ]
        );
        // The virtual __glibc is skipped silently; the missing dependency is reported.
        assert_eq!(
            selection.unresolved.iter().collect::<Vec<_>>(),
            ["linux-64: missing-dep"]
        );
        assert!(selection.unmatched_specs.is_empty());
    }

    #[test]
    fn keep_versions_trims_roots_but_keeps_needed_dependencies() {
        let (names, _) = run(
            Filter {
                specs: specs(&["app", "python"]),
                keep_versions: Some(1),
                ..Filter::default()
            },
            &[],
        );
        // python: newest version 3.12.1, both builds. libc: `libc >=1` keeps the newest
        // (3.0), `libc <2` (from app) keeps 1.0 although it is not among the newest.
        assert_eq!(
            names[0],
            [
                "app-1.0-0",
                "libc-1.0-0",
                "libc-3.0-0",
                "python-3.12.1-h_0",
                "python-3.12.1-h_1"
            ]
        );
        assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);

        // Everything, newest 2 versions per name.
        let (names, _) = run(
            Filter {
                keep_versions: Some(2),
                ..Filter::default()
            },
            &[],
        );
        assert!(!names[0].contains(&"python-3.11.0-h_0".to_owned()));
        assert!(
            names[0].contains(&"libc-1.0-0".to_owned()),
            "needed by app: {:?}",
            names[0]
        );
        assert!(names[0].contains(&"unrelated-1.0-0".to_owned()));
    }

    #[test]
    fn exclude_and_licenses() {
        let (names, _) = run(
            Filter {
                specs: specs(&["app*"]),
                exclude: specs(&["libc >=2", "*-dbg"]),
                ..Filter::default()
            },
            &[],
        );
        assert!(names[0].contains(&"app-1.0-0".to_owned()));
        assert!(!names[0].iter().any(|n| n.starts_with("app-dbg")));
        assert!(names[0].contains(&"libc-1.0-0".to_owned()));
        assert!(
            !names[0]
                .iter()
                .any(|n| n == "libc-2.0-0" || n == "libc-3.0-0")
        );

        // Allow-list: certifi 2023.1 has an empty license string and PSF is not listed, so
        // python and everything needing it (requests) is dropped.
        let allowed: Vec<String> = ["MIT", "ISC", "Apache-2.0"].map(String::from).to_vec();
        let (names, selection) = run(Filter::default(), &allowed);
        assert!(!names[0].iter().any(|n| n.starts_with("python")));
        assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);
        assert!(selection.unresolved.is_empty(), "no closure without specs");
        let (names, selection) = run(
            Filter {
                specs: specs(&["requests"]),
                ..Filter::default()
            },
            &allowed,
        );
        assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);
        assert!(names[0].is_empty());
        assert!(
            selection
                .unresolved
                .iter()
                .any(|u| u.contains("python >=3.12"))
        );
    }

    #[test]
    fn unmatched_specs_and_spec_subdir() {
        let (names, selection) = run(
            Filter {
                specs: specs(&[
                    "nothing-like-this",
                    "certifi[subdir=noarch]",
                    "libc[subdir=osx-64]",
                ]),
                ..Filter::default()
            },
            &[],
        );
        assert!(names[0].is_empty());
        assert_eq!(names[1].len(), 2);
        assert_eq!(
            selection.unmatched_specs.len(),
            2,
            "{:?}",
            selection.unmatched_specs
        );
    }
}
