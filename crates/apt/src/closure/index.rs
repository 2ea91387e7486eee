//! [`PackageIndex`]: binary packages looked up by real and by provided name.

use crate::packages::BinaryPackage;

use super::{Closure, ClosureError, ClosureOptions, ClosureWarning, describe};

/// One provided name. The version is kept as text (parsed again on the rare lookup that
/// needs it): Debian main has ~37k provided names, and a parsed version is 56 bytes.
pub(super) struct Provider<'a> {
    pub(super) package: usize,
    pub(super) version: Option<&'a str>,
}

/// Binary packages of several indices, looked up by real and by provided name.
///
/// Positions are the iteration order of the packages given to [`new`](Self::new): a
/// caller concatenating several Packages files can map a position back to its file.
pub struct PackageIndex<'p, 'a> {
    pub(super) packages: Vec<&'p BinaryPackage<'a>>,
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

    pub(super) fn providers_of<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Provider<'a>> + 's {
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

    /// The closure of `requested` (`NAME` or `NAME:ARCH`); see the [module docs](super).
    pub fn closure(
        &self,
        requested: &[&str],
        options: &ClosureOptions,
    ) -> Result<Closure<'p, 'a>, ClosureError> {
        super::resolve::closure(self, requested, options)
    }
}
