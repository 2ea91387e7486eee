//! # mirror-apt
//!
//! APT repositories for the mirror: reading and writing the archive's metadata and
//! deciding which packages a filtered mirror must carry.
//!
//! The modules below are pure (no I/O, no network) so that benchmarks and other tools
//! can use them on their own:
//!
//! - [`control`]: the deb822 format under every index; a zero-copy [`Paragraphs`]
//!   iterator and a [`ControlWriter`].
//! - [`version`]: Debian versions and dpkg's ordering ([`Version`]).
//! - [`relation`]: Depends-style fields ([`Relations`]).
//! - [`packages`]: typed views of Packages stanzas ([`BinaryPackage`]) and the path
//!   check that keeps a `Filename` inside the mirror.
//! - [`sources`]: Sources stanzas ([`SourcePackage`]), the files `apt-get source`
//!   fetches, and the source a binary was built from.
//! - [`release`]: Release files, parsed ([`Release`]) and written ([`write_release`]).
//! - [`families`]: which of a Release's files a mirror of some components and
//!   architectures carries (Packages, Translation, Contents, dep11, cnf, installer),
//!   grouped by index.
//! - [`closure`]: the dependency closure of requested packages ([`PackageIndex`]).
//! - [`system`]: what an installed system's apt sources, keyrings and dpkg status say
//!   (for `init --from-system`).
//!
//! ```
//! use mirror_apt::{ClosureOptions, PackageIndex, parse_packages};
//!
//! let index_text = b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
//! Depends: libc6 (>= 2.34)\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\n\
//! Size: 53000\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n\
//! Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n\
//! Filename: pool/main/g/glibc/libc6_2.36-9_amd64.deb\n\
//! Size: 2800000\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n";
//! let packages = parse_packages(index_text).collect::<Result<Vec<_>, _>>()?;
//! let index = PackageIndex::new(&packages);
//! let closure = index.closure(&["hello"], &ClosureOptions::new(["amd64"]))?;
//! let files: Vec<&str> = closure.packages().iter().map(|package| package.filename()).collect();
//! assert_eq!(files, ["pool/main/h/hello/hello_2.10-3_amd64.deb", "pool/main/g/glibc/libc6_2.36-9_amd64.deb"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)
)]

pub mod closure;
pub mod control;
pub mod families;
pub mod packages;
pub mod relation;
pub mod release;
pub mod sources;
pub mod system;
pub mod version;

// The syncing half: fetch and verify upstream, select, regenerate and sign (feature
// `mirror`, on by default).
#[cfg(feature = "mirror")]
pub mod auth;
#[cfg(feature = "mirror")]
pub mod carry_sources;
#[cfg(feature = "mirror")]
pub mod compact;
#[cfg(feature = "mirror")]
pub mod config;
#[cfg(feature = "mirror")]
pub mod error;
#[cfg(feature = "mirror")]
pub mod freshness;
#[cfg(feature = "mirror")]
pub mod generate;
#[cfg(feature = "mirror")]
pub mod inspect;
#[cfg(feature = "mirror")]
pub mod machine;
#[cfg(feature = "mirror")]
pub mod proxy;
#[cfg(feature = "mirror")]
pub mod repository;
#[cfg(feature = "mirror")]
pub mod select;
#[cfg(feature = "mirror")]
pub mod translation;
#[cfg(feature = "mirror")]
pub mod upstream;
#[cfg(feature = "mirror")]
pub use config::{AptConfig, Keyrings, MissingPackages};
#[cfg(feature = "mirror")]
pub use error::AptError;
#[cfg(feature = "mirror")]
pub use repository::{AptMirror, AptSummary};

pub use closure::{Closure, ClosureError, ClosureOptions, ClosureWarning, PackageIndex};
pub use control::{ControlError, ControlWriter, Field, Paragraph, Paragraphs};
pub use packages::{BinaryPackage, PackageError, parse_packages};
pub use relation::{Relation, Relations};
pub use release::{Release, ReleaseError, ReleaseFields, ReleaseFile, write_release};
pub use sources::{SourcePackage, built_from, parse_sources};
pub use version::Version;
