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

use crate::record::{RecordChecks, parse_filename};
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
    /// The records' checks (computed as the selection needs them).
    pub checks: &'v RecordChecks<'v, 'a>,
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
            for (i, raw) in sub.view.records.iter().enumerate() {
                // Indexed by the name in the file name; the checks (run when a record is
                // considered) refuse records whose `name` disagrees with it.
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
    /// Passed its checks and the license allow-list.
    fn eligible(&self, r: RecRef) -> bool {
        self.subdirs[r.subdir as usize]
            .checks
            .eligible(r.index as usize)
    }

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
                if !self.eligible(r) {
                    continue;
                }
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
    ///
    /// Only records whose name an `exclude` spec can match are typed (to test the rest of
    /// the spec): a full mirror with an exclude list must not type the whole channel.
    fn everything(&self, universe: &Universe<'v>, exclude: &[MatchSpec]) -> Vec<RecRef> {
        let mut out = Vec::new();
        for (name, refs) in &universe.by_name {
            let refs: Vec<RecRef> = refs.iter().copied().filter(|&r| self.eligible(r)).collect();
            let package = PackageName::from_str(name).ok();
            let maybe_excluded = exclude
                .iter()
                .any(|x| package.as_ref().is_none_or(|p| x.name.matches(p)));
            if maybe_excluded {
                out.extend(
                    refs.iter()
                        .copied()
                        .filter(|&r| self.typed.usable(r).is_some()),
                );
            } else {
                out.extend(refs.iter().copied());
            }
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
            selector.everything(&universe, &filter.exclude)
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
mod tests;
