//! Dependency closure: which packages a client needs to install the requested ones.
//!
//! [`PackageIndex`] gathers the binary packages of every configured suite, component and
//! architecture and maps real names and virtual (provided) names to them.
//! [`PackageIndex::closure`] then follows dependencies the way apt does on a machine
//! with nothing installed, so that `apt-get install <requested>` works against a mirror
//! holding only the selection:
//!
//! - A requested name selects its highest version per configured architecture (apt's
//!   candidate; an `Architecture: all` package counts for every architecture). A name no
//!   package carries but some provide selects a provider, like a dependency would.
//! - For each selected package, Pre-Depends and Depends are followed, then (when enabled)
//!   Recommends, one package at a time with the hard dependencies of everything selected
//!   settled in between, so an alternative group prefers what is already needed anyway.
//! - An alternative group already satisfied by a selected package (by name or through
//!   Provides, with its version constraint checked in dpkg's order) selects nothing.
//!   Otherwise the first satisfiable alternative is taken: the highest version of a real
//!   package meeting the constraint, else a provider (a versioned Provides for a
//!   versioned relation), preferring higher `Priority`, then index order.
//! - Architectures: an unqualified relation wants the depending package's architecture
//!   (the first configured, "native", for `all` packages), `all`, or a `Multi-Arch:
//!   foreign` package; `:any` also accepts `Multi-Arch: allowed`; `:native` wants the
//!   first configured architecture.
//! - An unsatisfiable Recommends is skipped, as apt does; an unsatisfiable (or malformed)
//!   Depends becomes a [`ClosureWarning`]: a partial upstream is common and must not stop
//!   a sync.
//! - Identical packages (same name, architecture and version) listed in several indices
//!   are selected together, so each suite's filtered index keeps its copy.

use std::cmp::{Ordering, Reverse};
use std::fmt;

use crate::packages::{BinaryPackage, MultiArch};
use crate::relation::{ArchQualifier, Relation, RelationError, Relations};
use crate::version::Version;

/// Settings of a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureOptions {
    architectures: Vec<String>,
    recommends: bool,
}

impl ClosureOptions {
    /// Options for the configured architectures; the first is the native one. Recommends
    /// are followed by default.
    pub fn new<I, S>(architectures: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClosureOptions {
            architectures: architectures.into_iter().map(Into::into).collect(),
            recommends: true,
        }
    }

    /// Whether to follow Recommends (default `true`, like apt).
    pub fn recommends(mut self, follow: bool) -> Self {
        self.recommends = follow;
        self
    }

    /// The configured architectures.
    pub fn architectures(&self) -> &[String] {
        &self.architectures
    }
}

/// A closure that cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosureError {
    /// Requested names that no package of a configured architecture has or provides.
    #[error("requested packages not found for architectures {}: {}", architectures.join(" "), names.join(", "))]
    UnknownPackages {
        /// The requests, as given.
        names: Vec<String>,
        /// The configured architectures.
        architectures: Vec<String>,
    },
    /// A request like `jq:` or `:amd64`.
    #[error("invalid package request {0:?}: expected NAME or NAME:ARCH")]
    InvalidRequest(String),
    /// No architecture configured.
    #[error("no architectures configured for the dependency closure")]
    NoArchitectures,
}

/// Something the closure could not honour; the selection is still usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosureWarning {
    /// No package satisfies any alternative of a Depends or Pre-Depends group.
    Unsatisfiable {
        /// `name version architecture` of the depending package.
        package: String,
        /// `Depends` or `Pre-Depends`.
        field: &'static str,
        /// The group, as `a (>= 1) | b`.
        relation: String,
    },
    /// A relationship field that does not parse (the field is ignored).
    Malformed {
        /// `name version architecture` of the package.
        package: String,
        /// The field.
        field: &'static str,
        /// The parse error.
        error: RelationError,
    },
    /// A requested name that only exists as a virtual package.
    VirtualRequest {
        /// The request.
        requested: String,
        /// `name version architecture` of the chosen provider.
        provider: String,
    },
}

impl fmt::Display for ClosureWarning {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosureWarning::Unsatisfiable {
                package,
                field,
                relation,
            } => {
                write!(
                    formatter,
                    "{package}: {field} `{relation}` is not satisfiable from the indices"
                )
            }
            ClosureWarning::Malformed {
                package,
                field,
                error,
            } => {
                write!(formatter, "{package}: {field} ignored: {error}")
            }
            ClosureWarning::VirtualRequest {
                requested,
                provider,
            } => {
                write!(
                    formatter,
                    "{requested} is a virtual package; selected its provider {provider}"
                )
            }
        }
    }
}

fn describe(package: &BinaryPackage<'_>) -> String {
    format!(
        "{} {} {}",
        package.name(),
        package.version(),
        package.architecture()
    )
}

/// One provided name. The version is kept as text (parsed again on the rare lookup that
/// needs it): Debian main has ~37k provided names, and a parsed version is 56 bytes.
struct Provider<'a> {
    package: usize,
    version: Option<&'a str>,
}

/// Binary packages of several indices, looked up by real and by provided name.
///
/// Positions are the iteration order of the packages given to [`new`](Self::new): a
/// caller concatenating several Packages files can map a position back to its file.
pub struct PackageIndex<'p, 'a> {
    packages: Vec<&'p BinaryPackage<'a>>,
    // Lookup tables sorted by (hash of the name, name, position), searched by binary
    // search. Measured on bookworm: a `HashMap<&str, Vec<usize>>` spent its build time in
    // cache misses and small allocations, and sorting by name in string compares; sorting
    // integer hashes (names compare only on ties) is several times faster than either.
    names: Vec<(u64, &'a str)>,
    positions: Vec<usize>,
    providers: Vec<(u64, &'a str, Provider<'a>)>,
    warnings: Vec<ClosureWarning>,
}

/// FNV-1a. Names come from signed indices, so flooding resistance buys nothing here.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<'p, 'a> PackageIndex<'p, 'a> {
    /// Indexes `packages`. A malformed Provides field is recorded in
    /// [`warnings`](Self::warnings) and ignored.
    pub fn new(packages: impl IntoIterator<Item = &'p BinaryPackage<'a>>) -> Self {
        let packages: Vec<&'p BinaryPackage<'a>> = packages.into_iter().collect();
        let mut by_name: Vec<(u64, &'a str, usize)> = Vec::with_capacity(packages.len());
        let mut providers = Vec::new();
        let mut warnings = Vec::new();
        for (position, package) in packages.iter().enumerate() {
            by_name.push((name_hash(package.name()), package.name(), position));
            match package.provides() {
                Ok(provides) => {
                    for relation in provides {
                        let version = relation
                            .constraint
                            .map(|constraint| constraint.version.as_str());
                        let provider = Provider {
                            package: position,
                            version,
                        };
                        providers.push((name_hash(relation.name), relation.name, provider));
                    }
                }
                Err(error) => warnings.push(ClosureWarning::Malformed {
                    package: describe(package),
                    field: "Provides",
                    error,
                }),
            }
        }
        by_name.sort_unstable();
        providers.sort_unstable_by(|left, right| {
            (left.0, left.1, left.2.package).cmp(&(right.0, right.1, right.2.package))
        });
        let (names, positions) = by_name
            .into_iter()
            .map(|(hash, name, position)| ((hash, name), position))
            .unzip();
        PackageIndex {
            packages,
            names,
            positions,
            providers,
            warnings,
        }
    }

    /// Number of packages.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether the index holds no package.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// The package at `position`.
    pub fn get(&self, position: usize) -> Option<&'p BinaryPackage<'a>> {
        self.packages.get(position).copied()
    }

    /// Positions of the packages called `name`, in index order.
    pub fn named(&self, name: &str) -> &[usize] {
        let key = (name_hash(name), name);
        let start = self.names.partition_point(|entry| *entry < key);
        let length = self.names[start..].partition_point(|entry| *entry == key);
        &self.positions[start..start + length]
    }

    /// Positions of the packages providing `name`, in index order.
    pub fn providing<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.providers_of(name).map(|provider| provider.package)
    }

    fn providers_of<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Provider<'a>> + 's {
        let hash = name_hash(name);
        let start = self
            .providers
            .partition_point(|entry| (entry.0, entry.1) < (hash, name));
        self.providers[start..]
            .iter()
            .take_while(move |entry| entry.0 == hash && entry.1 == name)
            .map(|(_, _, provider)| provider)
    }

    /// Problems found while indexing (malformed Provides).
    pub fn warnings(&self) -> &[ClosureWarning] {
        &self.warnings
    }

    /// The closure of `requested` (`NAME` or `NAME:ARCH`); see the [module docs](self).
    pub fn closure(
        &self,
        requested: &[&str],
        options: &ClosureOptions,
    ) -> Result<Closure<'p, 'a>, ClosureError> {
        let native = options
            .architectures
            .first()
            .ok_or(ClosureError::NoArchitectures)?;
        let mut resolver = Resolver {
            index: self,
            options,
            native,
            selected: vec![false; self.packages.len()],
            order: Vec::new(),
            warnings: Vec::new(),
        };
        let mut missing = Vec::new();
        for &request in requested {
            if !resolver.request(request)? {
                missing.push(request.to_owned());
            }
        }
        if !missing.is_empty() {
            return Err(ClosureError::UnknownPackages {
                names: missing,
                architectures: options.architectures.clone(),
            });
        }
        resolver.run();
        let mut indices = resolver.order;
        indices.sort_unstable();
        let packages = indices
            .iter()
            .map(|&position| self.packages[position])
            .collect();
        Ok(Closure {
            indices,
            packages,
            warnings: resolver.warnings,
        })
    }
}

/// The outcome of [`PackageIndex::closure`].
#[derive(Debug, Clone)]
pub struct Closure<'p, 'a> {
    indices: Vec<usize>,
    packages: Vec<&'p BinaryPackage<'a>>,
    warnings: Vec<ClosureWarning>,
}

impl<'p, 'a> Closure<'p, 'a> {
    /// Index positions of the selected packages, ascending.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The selected packages, in index order.
    pub fn packages(&self) -> &[&'p BinaryPackage<'a>] {
        &self.packages
    }

    /// Dependencies that could not be honoured.
    pub fn warnings(&self) -> &[ClosureWarning] {
        &self.warnings
    }
}

/// Which relationship field is being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DependencyField {
    PreDepends,
    Depends,
    Recommends,
}

impl DependencyField {
    fn name(self) -> &'static str {
        match self {
            DependencyField::PreDepends => "Pre-Depends",
            DependencyField::Depends => "Depends",
            DependencyField::Recommends => "Recommends",
        }
    }

    fn parse<'a>(self, package: &BinaryPackage<'a>) -> Result<Relations<'a>, RelationError> {
        match self {
            DependencyField::PreDepends => package.pre_depends(),
            DependencyField::Depends => package.depends(),
            DependencyField::Recommends => package.recommends(),
        }
    }
}

fn priority_rank(package: &BinaryPackage<'_>) -> u8 {
    match package.priority() {
        Some("required") => 5,
        Some("important") => 4,
        Some("standard") => 3,
        Some("optional") => 2,
        Some("extra") => 1,
        _ => 0,
    }
}

struct Resolver<'r, 'p, 'a> {
    index: &'r PackageIndex<'p, 'a>,
    options: &'r ClosureOptions,
    native: &'r str,
    selected: Vec<bool>,
    order: Vec<usize>,
    warnings: Vec<ClosureWarning>,
}

impl<'a> Resolver<'_, '_, 'a> {
    fn package(&self, position: usize) -> &BinaryPackage<'a> {
        self.index.packages[position]
    }

    fn configured(&self, architecture: &str) -> bool {
        architecture == "all"
            || self
                .options
                .architectures
                .iter()
                .any(|configured| configured == architecture)
    }

    /// Whether `candidate` may satisfy a relation with `qualifier` from a package of
    /// architecture `from`.
    fn architecture_fits(
        &self,
        from: &str,
        qualifier: Option<ArchQualifier<'_>>,
        candidate: &BinaryPackage<'_>,
    ) -> bool {
        let architecture = candidate.architecture();
        if !self.configured(architecture) {
            return false;
        }
        if architecture == "all" {
            return true;
        }
        let from = if from == "all" { self.native } else { from };
        let wanted = match qualifier {
            None | Some(ArchQualifier::Any) => from,
            Some(ArchQualifier::Native) => self.native,
            Some(ArchQualifier::Arch(architecture)) => architecture,
        };
        architecture == wanted
            || match candidate.multi_arch() {
                MultiArch::Foreign => true,
                MultiArch::Allowed => qualifier == Some(ArchQualifier::Any),
                MultiArch::No | MultiArch::Same => false,
            }
    }

    fn real_matches<'s>(
        &'s self,
        from: &'s str,
        relation: &'s Relation<'_>,
    ) -> impl Iterator<Item = usize> + 's {
        self.index
            .named(relation.name)
            .iter()
            .copied()
            .filter(move |&position| {
                let package = self.package(position);
                self.architecture_fits(from, relation.arch_qualifier, package)
                    && relation.accepts(Some(package.version()))
            })
    }

    fn provider_matches<'s>(
        &'s self,
        from: &'s str,
        relation: &'s Relation<'_>,
    ) -> impl Iterator<Item = usize> + 's {
        self.index
            .providers_of(relation.name)
            .filter_map(move |provider| {
                let package = self.package(provider.package);
                // Parsed when the provider was indexed, so this cannot fail.
                let version = provider.version.and_then(|v| Version::parse(v).ok());
                let fits = self.architecture_fits(from, relation.arch_qualifier, package)
                    && relation.accepts(version.as_ref());
                fits.then_some(provider.package)
            })
    }

    fn satisfied(&self, from: &str, relation: &Relation<'_>) -> bool {
        self.real_matches(from, relation)
            .any(|position| self.selected[position])
            || self
                .provider_matches(from, relation)
                .any(|position| self.selected[position])
    }

    /// The highest version among `positions`, the earliest on ties.
    fn highest(&self, positions: impl Iterator<Item = usize>) -> Option<usize> {
        positions.max_by(|&left, &right| {
            self.package(left)
                .version()
                .cmp(self.package(right).version())
                .then(right.cmp(&left))
        })
    }

    fn choose(&self, from: &str, relation: &Relation<'_>) -> Option<usize> {
        if let Some(real) = self.highest(self.real_matches(from, relation)) {
            return Some(real);
        }
        let first = self
            .provider_matches(from, relation)
            .min_by_key(|&position| (Reverse(priority_rank(self.package(position))), position))?;
        let name = self.package(first).name();
        self.highest(
            self.provider_matches(from, relation)
                .filter(|&position| self.package(position).name() == name),
        )
    }

    /// Selects `position` and its identical copies from other indices.
    fn select(&mut self, position: usize) {
        if self.selected[position] {
            return;
        }
        let index = self.index;
        let package = index.packages[position];
        for &twin in index.named(package.name()) {
            let other = index.packages[twin];
            let identical = other.architecture() == package.architecture()
                && other.version().cmp(package.version()) == Ordering::Equal;
            if identical && !self.selected[twin] {
                self.selected[twin] = true;
                self.order.push(twin);
            }
        }
    }

    /// Selects the candidates of one request; `false` when there are none.
    fn request(&mut self, request: &str) -> Result<bool, ClosureError> {
        let (name, architectures) = match request.split_once(':') {
            None => (
                request,
                self.options
                    .architectures
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            Some((name, architecture)) => {
                if name.is_empty() || architecture.is_empty() {
                    return Err(ClosureError::InvalidRequest(request.to_owned()));
                }
                if !self.configured(architecture) {
                    return Ok(false);
                }
                (name, vec![architecture])
            }
        };
        if name.trim_ascii().is_empty() {
            return Err(ClosureError::InvalidRequest(request.to_owned()));
        }
        let mut found = false;
        for &architecture in &architectures {
            let candidates = self.index.named(name).iter().copied().filter(|&position| {
                let candidate = self.package(position).architecture();
                candidate == architecture || candidate == "all"
            });
            if let Some(best) = self.highest(candidates) {
                self.select(best);
                found = true;
            }
        }
        if found {
            return Ok(true);
        }
        let relation = Relation {
            name,
            arch_qualifier: None,
            constraint: None,
            architectures: Vec::new(),
            build_profiles: Vec::new(),
        };
        for &architecture in &architectures {
            if let Some(provider) = self.choose(architecture, &relation) {
                self.select(provider);
                let provider = describe(self.package(provider));
                self.warnings.push(ClosureWarning::VirtualRequest {
                    requested: request.to_owned(),
                    provider,
                });
                found = true;
            }
        }
        Ok(found)
    }

    fn run(&mut self) {
        let mut hard_done = 0;
        let mut recommends_done = 0;
        loop {
            while hard_done < self.order.len() {
                let position = self.order[hard_done];
                hard_done += 1;
                self.follow(position, DependencyField::PreDepends);
                self.follow(position, DependencyField::Depends);
            }
            if !self.options.recommends || recommends_done >= self.order.len() {
                break;
            }
            let position = self.order[recommends_done];
            recommends_done += 1;
            self.follow(position, DependencyField::Recommends);
        }
    }

    fn follow(&mut self, position: usize, field: DependencyField) {
        let package = self.index.packages[position];
        let relations = match field.parse(package) {
            Ok(relations) => relations,
            Err(error) => {
                let package = describe(package);
                self.warnings.push(ClosureWarning::Malformed {
                    package,
                    field: field.name(),
                    error,
                });
                return;
            }
        };
        let from = package.architecture();
        for group in &relations.groups {
            if group.iter().any(|relation| self.satisfied(from, relation)) {
                continue;
            }
            match group
                .iter()
                .find_map(|relation| self.choose(from, relation))
            {
                Some(choice) => self.select(choice),
                // apt installs what it can of Recommends and ignores the rest.
                None if field == DependencyField::Recommends => {}
                None => {
                    let relation = Relations {
                        groups: vec![group.clone()],
                    }
                    .to_string();
                    let package = describe(package);
                    self.warnings.push(ClosureWarning::Unsatisfiable {
                        package,
                        field: field.name(),
                        relation,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::parse_packages;

    const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// Packages text from `name version arch [Field: value; ...]` lines.
    fn index_text(entries: &[&str]) -> String {
        let mut text = String::new();
        for entry in entries {
            let mut parts = entry.splitn(4, ' ');
            let [Some(name), Some(version), Some(architecture)] =
                [parts.next(), parts.next(), parts.next()]
            else {
                panic!("bad entry {entry}");
            };
            text.push_str(&format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {architecture}\n"
            ));
            for field in parts
                .next()
                .unwrap_or_default()
                .split(';')
                .filter(|field| !field.trim().is_empty())
            {
                text.push_str(&format!("{}\n", field.trim()));
            }
            text.push_str(&format!(
                "Filename: pool/{name}_{version}_{architecture}.deb\nSize: 1\nSHA256: {SHA}\n\n"
            ));
        }
        text
    }

    fn parse(text: &str) -> Vec<BinaryPackage<'_>> {
        parse_packages(text.as_bytes())
            .collect::<Result<_, _>>()
            .expect("test index parses")
    }

    /// `name=version:arch` of the closure, sorted.
    fn resolve(
        packages: &[BinaryPackage<'_>],
        requested: &[&str],
        options: &ClosureOptions,
    ) -> (Vec<String>, Vec<ClosureWarning>) {
        let index = PackageIndex::new(packages);
        let closure = index.closure(requested, options).expect("closure succeeds");
        let mut names: Vec<String> = closure
            .packages()
            .iter()
            .map(|package| {
                format!(
                    "{}={}:{}",
                    package.name(),
                    package.version(),
                    package.architecture()
                )
            })
            .collect();
        names.sort();
        (names, closure.warnings().to_vec())
    }

    fn amd64() -> ClosureOptions {
        ClosureOptions::new(["amd64"])
    }

    #[test]
    fn highest_version_and_version_constraints() {
        let text = index_text(&[
            "lib 1.0 amd64",
            "lib 3.0 amd64",
            "lib 2.0 amd64",
            "new 1 amd64 Depends: lib (>= 1.5)",
            "old 1 amd64 Depends: lib (<< 2~)",
            "gone 1 amd64 Depends: lib (>= 5) | lib (= 0.1), libc6",
        ]);
        let packages = parse(&text);
        assert_eq!(resolve(&packages, &["lib"], &amd64()).0, ["lib=3.0:amd64"]);
        assert_eq!(
            resolve(&packages, &["new"], &amd64()).0,
            ["lib=3.0:amd64", "new=1:amd64"]
        );
        assert_eq!(
            resolve(&packages, &["old"], &amd64()).0,
            ["lib=1.0:amd64", "old=1:amd64"]
        );
        let (names, warnings) = resolve(&packages, &["gone"], &amd64());
        assert_eq!(names, ["gone=1:amd64"]);
        let relations: Vec<String> = warnings
            .iter()
            .map(|warning| match warning {
                ClosureWarning::Unsatisfiable {
                    package,
                    field,
                    relation,
                } => format!("{package}|{field}|{relation}"),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            relations,
            [
                "gone 1 amd64|Depends|lib (>= 5) | lib (= 0.1)",
                "gone 1 amd64|Depends|libc6"
            ]
        );
    }

    #[test]
    fn alternatives_prefer_what_is_selected_then_the_first_satisfiable() {
        let text = index_text(&[
            "app 1 amd64 Depends: missing | second | third",
            "second 1 amd64",
            "third 1 amd64",
        ]);
        let packages = parse(&text);
        assert_eq!(
            resolve(&packages, &["app"], &amd64()).0,
            ["app=1:amd64", "second=1:amd64"]
        );
        assert_eq!(
            resolve(&packages, &["app", "third"], &amd64()).0,
            ["app=1:amd64", "third=1:amd64"]
        );
    }

    #[test]
    fn virtual_packages_and_versioned_provides() {
        let text = index_text(&[
            "mailer 1 amd64 Depends: mail-transport-agent",
            "postfix 3 amd64 Provides: mail-transport-agent; Priority: optional",
            "exim4 4 amd64 Provides: mail-transport-agent; Priority: standard",
            "needs-v2 1 amd64 Depends: libfoo-api (>= 2)",
            "libfoo-old 1 amd64 Provides: libfoo-api",
            "libfoo-new 1 amd64 Provides: libfoo-api (= 2.5)",
        ]);
        let packages = parse(&text);
        // The higher Priority wins among providers, unless one is already selected.
        assert_eq!(
            resolve(&packages, &["mailer"], &amd64()).0,
            ["exim4=4:amd64", "mailer=1:amd64"]
        );
        assert_eq!(
            resolve(&packages, &["mailer", "postfix"], &amd64()).0,
            ["mailer=1:amd64", "postfix=3:amd64"]
        );
        // An unversioned Provides cannot satisfy a versioned dependency.
        assert_eq!(
            resolve(&packages, &["needs-v2"], &amd64()).0,
            ["libfoo-new=1:amd64", "needs-v2=1:amd64"]
        );
        let (names, warnings) = resolve(&packages, &["mail-transport-agent"], &amd64());
        assert_eq!(names, ["exim4=4:amd64"]);
        assert!(
            matches!(&warnings[..], [ClosureWarning::VirtualRequest { provider, .. }] if provider == "exim4 4 amd64")
        );
    }

    #[test]
    fn recommends_are_optional_and_skipped_when_unsatisfiable() {
        let text = index_text(&[
            "app 1 amd64 Pre-Depends: early; Recommends: extra, nowhere (>= 1)",
            "early 1 amd64",
            "extra 1 amd64 Depends: extra-lib",
            "extra-lib 1 all",
        ]);
        let packages = parse(&text);
        let (names, warnings) = resolve(&packages, &["app"], &amd64());
        assert_eq!(
            names,
            [
                "app=1:amd64",
                "early=1:amd64",
                "extra-lib=1:all",
                "extra=1:amd64"
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let (names, _) = resolve(&packages, &["app"], &amd64().recommends(false));
        assert_eq!(names, ["app=1:amd64", "early=1:amd64"]);
    }

    #[test]
    fn architectures_and_multi_arch() {
        let text = index_text(&[
            "tool 1 amd64 Depends: lib, helper, script:any",
            "tool 1 i386 Depends: lib, helper, script:any",
            "lib 1 amd64 Multi-Arch: same",
            "lib 1 i386 Multi-Arch: same",
            "lib 1 armhf Multi-Arch: same",
            "helper 1 amd64 Multi-Arch: foreign",
            "script 1 amd64 Multi-Arch: allowed",
            "native-only 1 amd64 Depends: lib:native",
        ]);
        let packages = parse(&text);
        let both = ClosureOptions::new(["amd64", "i386"]);
        // i386 tool takes i386 lib, and the amd64 helper (foreign) and script (allowed).
        assert_eq!(
            resolve(&packages, &["tool"], &both).0,
            [
                "helper=1:amd64",
                "lib=1:amd64",
                "lib=1:i386",
                "script=1:amd64",
                "tool=1:amd64",
                "tool=1:i386"
            ]
        );
        assert_eq!(
            resolve(&packages, &["tool:i386"], &both).0,
            [
                "helper=1:amd64",
                "lib=1:i386",
                "script=1:amd64",
                "tool=1:i386"
            ]
        );
        assert_eq!(
            resolve(&packages, &["native-only"], &both).0,
            ["lib=1:amd64", "native-only=1:amd64"]
        );
        let index = PackageIndex::new(&packages);
        let error = index
            .closure(&["lib:armhf", "nope", "tool"], &both)
            .expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "requested packages not found for architectures amd64 i386: lib:armhf, nope"
        );
        assert!(matches!(
            index.closure(&["tool:"], &both),
            Err(ClosureError::InvalidRequest(_))
        ));
        assert!(matches!(
            index.closure(&["tool"], &ClosureOptions::new(Vec::<String>::new())),
            Err(ClosureError::NoArchitectures)
        ));
    }

    #[test]
    fn identical_copies_in_several_indices_are_selected_together() {
        let base = index_text(&["app 1 amd64 Depends: lib", "lib 1 amd64"]);
        let updates = index_text(&["lib 1 amd64", "app 2 amd64 Depends: lib"]);
        let (base, updates) = (parse(&base), parse(&updates));
        let index = PackageIndex::new(base.iter().chain(&updates));
        let closure = index.closure(&["app"], &amd64()).expect("closure");
        // app 2 (updates) wins; lib is selected in both indices.
        assert_eq!(closure.indices(), [1, 2, 3]);
    }

    #[test]
    fn malformed_fields_become_warnings() {
        let text = index_text(&[
            "app 1 amd64 Depends: lib (>= )",
            "prov 1 amd64 Provides: a | b",
        ]);
        let packages = parse(&text);
        let index = PackageIndex::new(&packages);
        assert!(matches!(
            index.warnings(),
            [ClosureWarning::Malformed {
                field: "Provides",
                ..
            }]
        ));
        let closure = index.closure(&["app"], &amd64()).expect("closure");
        assert!(matches!(
            closure.warnings(),
            [ClosureWarning::Malformed {
                field: "Depends",
                ..
            }]
        ));
    }

    /// The fixture README's closure of jq, sl and tree, checked against the real index.
    #[test]
    fn real_bookworm_closure_of_jq_sl_tree() {
        let Some(bytes) = crate::packages::fixture::packages() else {
            return;
        };
        let packages: Vec<BinaryPackage<'_>> = parse_packages(bytes)
            .collect::<Result<_, _>>()
            .expect("valid index");
        let index = PackageIndex::new(&packages);
        let names = |options: &ClosureOptions| {
            let closure = index
                .closure(&["jq", "sl", "tree"], options)
                .expect("closure");
            assert!(closure.warnings().is_empty(), "{:?}", closure.warnings());
            let mut names: Vec<&str> = closure
                .packages()
                .iter()
                .map(|package| package.name())
                .collect();
            names.sort_unstable();
            names
        };
        let mut hard = vec![
            "gcc-12-base",
            "libgcc-s1",
            "libc6",
            "libtinfo6",
            "libncurses6",
            "libonig5",
            "libjq1",
            "jq",
            "sl",
            "tree",
        ];
        hard.sort_unstable();
        assert_eq!(names(&amd64().recommends(false)), hard);
        let mut full = hard.clone();
        full.extend(["libidn2-0", "libunistring2", "libgpm2"]);
        full.sort_unstable();
        assert_eq!(names(&amd64()), full);
        let error = index
            .closure(&["jq", "no-such-package"], &amd64())
            .expect_err("unknown");
        assert!(error.to_string().ends_with(": no-such-package"), "{error}");
    }
}
