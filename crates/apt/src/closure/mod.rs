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

//!
//! The module is in three parts: this file (options, outcome, warnings), `index.rs` (who
//! is called what and who provides what) and `resolve.rs` (apt's choices among them).

mod index;
mod resolve;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::packages::BinaryPackage;
use crate::relation::RelationError;

pub use index::PackageIndex;

/// Settings of a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureOptions {
    architectures: Vec<String>,
    recommends: bool,
    keep_versions: usize,
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
            keep_versions: 1,
        }
    }

    /// How many versions of each selected package to keep (default 1, the candidate):
    /// with `n`, the `n` newest versions of every selected name and architecture are
    /// selected, and each version's own dependencies followed, so `apt-get install
    /// pkg=older` still resolves. At least 1.
    pub fn keep_versions(mut self, n: usize) -> Self {
        self.keep_versions = n.max(1);
        self
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
