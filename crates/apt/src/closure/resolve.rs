//! The resolver behind [`PackageIndex::closure`]: apt's choice among alternatives,
//! versions, providers and architectures, one selected package at a time.

use std::cmp::{Ordering, Reverse};

use crate::packages::{BinaryPackage, MultiArch};
use crate::relation::{ArchQualifier, Relation, RelationError, Relations};
use crate::version::Version;

use super::index::PackageIndex;
use super::{Closure, ClosureError, ClosureOptions, ClosureWarning, describe};

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

/// [`PackageIndex::closure`]: request every name, then follow dependencies until nothing
/// new is selected.
pub(super) fn closure<'p, 'a>(
    index: &PackageIndex<'p, 'a>,
    requested: &[&str],
    options: &ClosureOptions,
) -> Result<Closure<'p, 'a>, ClosureError> {
    let native = options
        .architectures
        .first()
        .ok_or(ClosureError::NoArchitectures)?;
    let mut resolver = Resolver {
        index,
        options,
        native,
        selected: vec![false; index.packages.len()],
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
        .map(|&position| index.packages[position])
        .collect();
    Ok(Closure {
        indices,
        packages,
        warnings: resolver.warnings,
    })
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

    /// Selects `position` and its identical copies from other indices, and (with
    /// `keep_versions`) the next older versions of the same name and architecture.
    fn select(&mut self, position: usize) {
        if self.selected[position] {
            return;
        }
        self.select_copies(position);
        let keep = self.options.keep_versions;
        if keep > 1 {
            let index = self.index;
            let package = index.packages[position];
            let mut older: Vec<usize> = index
                .named(package.name())
                .iter()
                .copied()
                .filter(|&other| {
                    let other = index.packages[other];
                    other.architecture() == package.architecture()
                        && other.version().cmp(package.version()) == Ordering::Less
                })
                .collect();
            older.sort_by(|&a, &b| index.packages[b].version().cmp(index.packages[a].version()));
            older.dedup_by(|a, b| {
                index.packages[*a]
                    .version()
                    .cmp(index.packages[*b].version())
                    == Ordering::Equal
            });
            for other in older.into_iter().take(keep - 1) {
                self.select_copies(other);
            }
        }
    }

    /// Selects `position` and its identical copies from other indices.
    fn select_copies(&mut self, position: usize) {
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
