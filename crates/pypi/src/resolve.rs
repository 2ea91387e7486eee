//! The dependency closure of the requirements for one target, by PubGrub (the `pubgrub`
//! crate, PEP 440 ranges from `pep440_rs`), over the project pages and metadata files
//! fetched so far ([`Catalog`]).
//!
//! The solver is synchronous and fetching is not, so a resolution that reaches a project
//! page or a metadata file not fetched yet stops with [`Outcome::Needs`]; the caller
//! fetches what it names (and, to save rounds, what will obviously follow) and runs it
//! again. It is deterministic: the same catalog gives the same answer.
//!
//! What a target may take, as pip and uv decide it:
//! - a version is a candidate when one of its files installs on the target: a wheel whose
//!   tags it accepts (an sdist only with `sdists = true`), whose `Requires-Python`
//!   admits the target's Python, and that is not yanked (PEP 592: a yanked file counts
//!   only for a requirement pinning that version with `==` or `===`);
//! - pre-releases only for a project whose requirement names one;
//! - dependencies are the `Requires-Dist` entries whose markers hold on the target; an
//!   extra (`requests[socks]`) is a package of its own that pins its project's version
//!   and adds the entries under `extra == "socks"` (uv's model);
//! - a version whose metadata's `Requires-Python` excludes the target is unavailable
//!   (the solver backtracks to an older one).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use pep508_rs::pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, Requirement, VerbatimUrl, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter as _,
};

use crate::environment::TargetEnv;
use crate::filename::{DistFilename, Kind};
use crate::metadata::Metadata;
use crate::simple::{File, ProjectPage};

/// A requirement as configured or read from metadata.
pub type Req = Requirement<VerbatimUrl>;

/// A project page as fetched, its files read.
#[derive(Debug)]
pub struct Project {
    /// The page's URL (file URLs are relative to it).
    pub url: String,
    /// The page.
    pub page: ProjectPage,
    /// Each file's parsed name and version, by position in `page.files` (`None`: a file
    /// of another project, or a version PEP 440 does not read; never a candidate).
    pub parsed: Vec<Option<(DistFilename, Version)>>,
    /// Versions with at least one file, newest first, each with its files' positions.
    pub versions: Vec<(Version, Vec<usize>)>,
}

impl Project {
    /// Reads the files of `page`, fetched from `url`.
    pub fn new(url: String, page: ProjectPage) -> Self {
        let parsed: Vec<Option<(DistFilename, Version)>> = page
            .files
            .iter()
            .map(|file| {
                let dist = DistFilename::parse(&file.filename).ok()?;
                if dist.project != page.name {
                    return None;
                }
                let version: Version = dist.version.parse().ok()?;
                Some((dist, version))
            })
            .collect();
        let mut by_version: BTreeMap<Version, Vec<usize>> = BTreeMap::new();
        for (position, parsed) in parsed.iter().enumerate() {
            if let Some((_, version)) = parsed {
                by_version
                    .entry(version.clone())
                    .or_default()
                    .push(position);
            }
        }
        Project {
            url,
            page,
            parsed,
            versions: by_version.into_iter().rev().collect(),
        }
    }

    /// The files of `version`: (position, file, parsed name).
    pub fn files_of<'s>(
        &'s self,
        version: &Version,
    ) -> impl Iterator<Item = (usize, &'s File, &'s DistFilename)> + 's {
        let positions = self
            .versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, positions)| positions.as_slice())
            .unwrap_or_default();
        positions.iter().filter_map(|&position| {
            let (dist, _) = self.parsed[position].as_ref()?;
            Some((position, &self.page.files[position], dist))
        })
    }
}

/// What has been fetched: project pages by normalised name, and metadata by the file
/// (project, file name) it describes.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Project pages.
    pub projects: HashMap<String, Project>,
    /// Metadata files read and checked.
    pub metadata: HashMap<(String, String), Metadata>,
    /// Projects to decide before all others, first first: the caller adds a project a
    /// resolution kept walking back through (its older releases asked for again and
    /// again), so that the next one decides it while the packages it conflicts with are
    /// still open (uv's "conflict early").
    pub early: Vec<String>,
}

/// Something a resolution needs that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// A project's page.
    Page(String),
    /// The metadata of a project's file (its position on the page).
    Metadata(String, usize),
}

/// The mirror's selection policy, common to every target.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The configured requirements.
    pub requirements: Vec<Req>,
    /// Whether sdists are candidates (and published).
    pub sdists: bool,
    /// Releases never taken (`name`, or `name` with versions: `urllib3<2`): not
    /// candidates, as roots or as dependencies.
    pub exclude: Vec<Req>,
}

impl Policy {
    /// Whether a requirement on `name` pins exactly `version` (`==1.2`, `===1.2`), which
    /// makes a yanked file of it a candidate (PEP 592).
    fn pins_exactly(&self, name: &str, version: &Version) -> bool {
        self.requirements.iter().any(|r| {
            r.name.as_ref() == name
                && matches!(&r.version_or_url, Some(VersionOrUrl::VersionSpecifier(s))
                if !s.is_empty() && s.iter().all(|s| {
                    matches!(s.operator(), Operator::Equal | Operator::ExactEqual)
                        && s.version() == version
                }))
        })
    }

    /// Whether a requirement on `name` names a pre-release (then pre-releases of it are
    /// candidates, as pip decides).
    pub fn allows_prereleases(&self, name: &str) -> bool {
        self.requirements.iter().any(|r| {
            r.name.as_ref() == name
                && matches!(&r.version_or_url, Some(VersionOrUrl::VersionSpecifier(s))
                    if s.iter().any(|s| s.version().any_prerelease()))
        })
    }

    /// Whether an `exclude` entry names `version` of `name`.
    pub fn excluded(&self, name: &str, version: &Version) -> bool {
        self.exclude.iter().any(|r| {
            r.name.as_ref() == name
                && match &r.version_or_url {
                    Some(VersionOrUrl::VersionSpecifier(s)) => s.contains(version),
                    _ => true,
                }
        })
    }

    /// Whether `file` (of `name` at `version`) installs on `target`.
    pub fn usable(
        &self,
        target: &TargetEnv,
        name: &str,
        version: &Version,
        file: &File,
        dist: &DistFilename,
    ) -> bool {
        let kind_ok = match dist.kind {
            Kind::Wheel { .. } => target.tags.accepts(dist),
            Kind::Sdist => self.sdists,
        };
        let python_ok = match &file.requires_python {
            None => true,
            Some(text) => text
                .parse::<VersionSpecifiers>()
                .is_ok_and(|specifiers| specifiers.contains(&target.python)),
        };
        let yank_ok = file.yanked.is_none() || self.pins_exactly(name, version);
        kind_ok && python_ok && yank_ok && !self.excluded(name, version)
    }
}

/// A package as the solver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Package {
    /// The requirements.
    Root,
    /// A project.
    Project(String),
    /// A project with an extra: pins the project's version, adds the extra's entries.
    Extra(String, ExtraName),
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Package::Root => f.write_str("the requirements"),
            Package::Project(name) => f.write_str(name),
            Package::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

/// Why the provider stopped the solver.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("not fetched yet")]
    Missing,
    #[error("{0}")]
    Invalid(String),
}

/// The outcome of one resolution.
#[derive(Debug)]
pub enum Outcome {
    /// Every project the target installs, with its version.
    Resolved(BTreeMap<String, Version>),
    /// Fetch these, then resolve again.
    Needs(BTreeSet<Need>),
    /// No solution: the solver's explanation.
    Unsatisfiable(String),
    /// The data cannot be used (a requirement in metadata that does not parse...).
    Invalid(String),
}

struct Provider<'c> {
    catalog: &'c Catalog,
    target: &'c TargetEnv,
    policy: &'c Policy,
    needs: RefCell<BTreeSet<Need>>,
    /// The order packages were first seen in.
    found: RefCell<HashMap<String, usize>>,
}

impl Provider<'_> {
    fn project(&self, name: &str) -> Result<&Project, Stop> {
        match self.catalog.projects.get(name) {
            Some(project) => Ok(project),
            None => {
                self.needs.borrow_mut().insert(Need::Page(name.to_owned()));
                Err(Stop::Missing)
            }
        }
    }

    /// The file whose metadata speaks for `version` on this target: the first usable
    /// wheel (metadata can differ between a version's wheels; this is the one the
    /// target's client reads), else the first usable file.
    fn representative(&self, project: &Project, version: &Version) -> Option<usize> {
        let usable: Vec<(usize, &DistFilename)> = project
            .files_of(version)
            .filter(|(_, file, dist)| {
                self.policy
                    .usable(self.target, &project.page.name, version, file, dist)
            })
            .map(|(position, _, dist)| (position, dist))
            .collect();
        usable
            .iter()
            .find(|(_, dist)| matches!(dist.kind, Kind::Wheel { .. }))
            .or(usable.first())
            .map(|(position, _)| *position)
    }

    /// The dependencies `metadata` states for this target, with `extra` active.
    fn requirements_of(
        &self,
        metadata: &Metadata,
        extra: Option<&ExtraName>,
        constraints: &mut DependencyConstraints<Package, Ranges<Version>>,
    ) -> Result<(), Stop> {
        let extras: Vec<ExtraName> = extra.into_iter().cloned().collect();
        for text in &metadata.requires_dist {
            let requirement: Req = text.parse().map_err(|e| {
                Stop::Invalid(format!(
                    "{} {}: Requires-Dist {text:?}: {e}",
                    metadata.name, metadata.version
                ))
            })?;
            if !requirement.marker.evaluate(&self.target.markers, &extras) {
                continue;
            }
            // An extra's own entries: the ones the plain project does not have.
            if extra.is_some() && requirement.marker.evaluate(&self.target.markers, &[]) {
                continue;
            }
            add_requirement(&requirement, constraints).map_err(Stop::Invalid)?;
        }
        Ok(())
    }
}

/// `requirement` as constraints: its project, and each of its extras.
fn add_requirement(
    requirement: &Req,
    constraints: &mut DependencyConstraints<Package, Ranges<Version>>,
) -> Result<(), String> {
    let range = match &requirement.version_or_url {
        None => Ranges::full(),
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => Ranges::from(specifiers.clone()),
        Some(VersionOrUrl::Url(url)) => {
            return Err(format!(
                "{}: a URL requirement ({url}) names no index file",
                requirement.name
            ));
        }
    };
    let name = requirement.name.as_ref().to_owned();
    let mut add = |package: Package| {
        let entry = constraints.entry(package).or_insert_with(Ranges::full);
        *entry = entry.intersection(&range);
    };
    add(Package::Project(name.clone()));
    for extra in &requirement.extras {
        add(Package::Extra(name.clone(), extra.clone()));
    }
    Ok(())
}

impl DependencyProvider for Provider<'_> {
    type P = Package;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    // Packages known to be backtracked through first (`Catalog::early`), then those in
    // more conflicts, then in the order they were found (the requirements' own order
    // first), as uv and pip decide: deciding the package with the fewest versions first
    // picked python-dateutil 4 before botocore, whose every release needs < 3, and walked
    // back through all of them.
    type Priority = (usize, u32, std::cmp::Reverse<usize>);
    type Err = Stop;

    fn prioritize(
        &self,
        package: &Package,
        _range: &Ranges<Version>,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let name = match package {
            Package::Root => return (usize::MAX, u32::MAX, std::cmp::Reverse(0)),
            Package::Project(name) | Package::Extra(name, _) => name,
        };
        let early = self
            .catalog
            .early
            .iter()
            .position(|e| e == name)
            .map_or(0, |rank| self.catalog.early.len() - rank);
        let mut found = self.found.borrow_mut();
        let next = found.len();
        let order = match self
            .policy
            .requirements
            .iter()
            .position(|r| r.name.as_ref() == name.as_str())
        {
            Some(position) => position,
            None => *found
                .entry(name.clone())
                .or_insert(self.policy.requirements.len() + next),
        };
        (early, statistics.conflict_count(), std::cmp::Reverse(order))
    }

    fn choose_version(
        &self,
        package: &Package,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, Stop> {
        let name = match package {
            Package::Root => return Ok(Some(Version::new([0]))),
            Package::Project(name) | Package::Extra(name, _) => name,
        };
        let project = self.project(name)?;
        let prereleases = self.policy.allows_prereleases(name);
        Ok(project
            .versions
            .iter()
            .map(|(version, _)| version)
            .filter(|version| range.contains(*version))
            .filter(|version| prereleases || !version.any_prerelease())
            .find(|version| self.representative(project, version).is_some())
            .cloned())
    }

    fn get_dependencies(
        &self,
        package: &Package,
        version: &Version,
    ) -> Result<Dependencies<Package, Ranges<Version>, String>, Stop> {
        let mut constraints = DependencyConstraints::default();
        let (name, extra) = match package {
            Package::Root => {
                for requirement in &self.policy.requirements {
                    if requirement.marker.evaluate(&self.target.markers, &[]) {
                        add_requirement(requirement, &mut constraints).map_err(Stop::Invalid)?;
                    }
                }
                return Ok(Dependencies::Available(constraints));
            }
            Package::Project(name) => (name, None),
            Package::Extra(name, extra) => (name, Some(extra)),
        };
        let project = self.project(name)?;
        let Some(position) = self.representative(project, version) else {
            tracing::trace!(%name, %version, "no representative");
            return Ok(Dependencies::Unavailable(format!(
                "no file of {name} {version} installs on {}",
                self.target.label
            )));
        };
        let key = (name.clone(), project.page.files[position].filename.clone());
        let Some(metadata) = self.catalog.metadata.get(&key) else {
            self.needs
                .borrow_mut()
                .insert(Need::Metadata(name.clone(), position));
            return Err(Stop::Missing);
        };
        if let Some(requires) = &metadata.requires_python
            && let Ok(specifiers) = requires.parse::<VersionSpecifiers>()
            && !specifiers.contains(&self.target.python)
        {
            tracing::trace!(%name, %version, %requires, "requires-python");
            return Ok(Dependencies::Unavailable(format!(
                "{name} {version} requires Python {requires}"
            )));
        }
        if extra.is_some() {
            // The extra pins its project's version; an extra the project does not
            // declare adds nothing (pip warns and goes on).
            constraints.insert(
                Package::Project(name.clone()),
                Ranges::singleton(version.clone()),
            );
        }
        self.requirements_of(metadata, extra, &mut constraints)?;
        tracing::trace!(%name, %version, ?constraints, "dependencies");
        // A project requiring itself (`foo[a]` needing `foo[b]` is fine, plain `foo`
        // needing `foo` is not a constraint pubgrub takes).
        if extra.is_none() {
            constraints.remove(&Package::Project(name.clone()));
        }
        Ok(Dependencies::Available(constraints))
    }
}

/// Resolve `policy`'s requirements for `target` over `catalog`.
pub fn resolve(catalog: &Catalog, target: &TargetEnv, policy: &Policy) -> Outcome {
    let provider = Provider {
        catalog,
        target,
        policy,
        needs: RefCell::new(BTreeSet::new()),
        found: RefCell::new(HashMap::new()),
    };
    let result = pubgrub::resolve(&provider, Package::Root, Version::new([0]));
    let needs = provider.needs.into_inner();
    match result {
        Ok(selected) => {
            let pins = selected
                .into_iter()
                .filter_map(|(package, version)| match package {
                    Package::Project(name) => Some((name, version)),
                    Package::Root | Package::Extra(..) => None,
                })
                .collect();
            Outcome::Resolved(pins)
        }
        Err(_) if !needs.is_empty() => Outcome::Needs(needs),
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            Outcome::Unsatisfiable(DefaultStringReporter::report(&tree))
        }
        Err(PubGrubError::ErrorRetrievingDependencies {
            package,
            version,
            source,
        }) => Outcome::Invalid(format!("{package} {version}: {source}")),
        Err(PubGrubError::ErrorChoosingVersion { package, source }) => {
            Outcome::Invalid(format!("{package}: {source}"))
        }
        Err(PubGrubError::ErrorInShouldCancel(source)) => Outcome::Invalid(source.to_string()),
    }
}

#[cfg(test)]
mod tests;
