//! Which files of a suite's Release a mirror carries, grouped into indices.
//!
//! A stock client asks for more than `Packages`: apt fetches `Translation-en` by default,
//! apt-file adds `Contents-*`, appstream adds `dep11/*`, Ubuntu's command-not-found adds
//! `cnf/Commands-*`, debian-installer reads `debian-installer/binary-*`. A verbatim mirror
//! republishes upstream's InRelease, which lists all of them, so it must carry every one
//! of them a client of its components and architectures can ask for, or that client's
//! `apt-get update` fails with a 404.
//!
//! [`suite_indices`] picks those entries from a Release and groups the compressions of
//! one index (`Translation-en`, `Translation-en.bz2`, `Translation-en.xz`) so the caller
//! can accept a listed compression the upstream does not serve (Debian lists every
//! uncompressed index but serves few) while refusing an index none of whose compressions
//! is served.

use std::collections::BTreeMap;

use crate::release::{Release, ReleaseFile};

/// What a mirror of a suite covers.
#[derive(Debug, Clone)]
pub struct Scope<'s> {
    /// Components (`main`).
    pub components: &'s [String],
    /// Architectures (`amd64`); `all` is always included.
    pub architectures: &'s [String],
    /// Translation languages (`en`, `de`); `None` keeps every listed language.
    pub languages: Option<&'s [String]>,
    /// Also carry source indices (`source/Sources*`, `Contents-source*`).
    pub sources: bool,
    /// Carry the `debian-installer/` indices (whose udebs the caller then mirrors).
    pub installer: bool,
}

/// What kind of index a group is, for reports and for callers that treat some apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `binary-<arch>/Packages*`
    Packages,
    /// `binary-<arch>/Release`, `source/Release`, `debian-installer/binary-<arch>/Release`
    ArchRelease,
    /// `debian-installer/binary-<arch>/Packages*`
    Installer,
    /// `i18n/Translation-<lang>*`, `i18n/Index`
    Translation,
    /// `Contents-<arch>*`, `Contents-udeb-<arch>*`, `Contents-source*`
    Contents,
    /// `dep11/*` (AppStream components and icon tarballs)
    Dep11,
    /// `cnf/Commands-<arch>*`
    CommandNotFound,
    /// `source/Sources*`
    Sources,
}

/// One index: every listed compression of it.
#[derive(Debug, Clone)]
pub struct IndexGroup<'r> {
    /// The path without its compression extension (`main/i18n/Translation-en`).
    pub stem: String,
    /// What it is.
    pub family: Family,
    /// The Release entries, uncompressed first when listed.
    pub variants: Vec<ReleaseFile<'r>>,
}

/// Compression extensions apt knows; a path ending in one is a variant of its stem.
const COMPRESSIONS: [&str; 6] = [".gz", ".xz", ".bz2", ".zst", ".lzma", ".lz4"];

/// `(stem, extension)` of a Release path.
pub fn split_compression(path: &str) -> (&str, &str) {
    for ext in COMPRESSIONS {
        if let Some(stem) = path.strip_suffix(ext) {
            return (stem, ext);
        }
    }
    (path, "")
}

/// Every index of `release` a client of `scope` can fetch, grouped, in path order.
///
/// Left out on purpose: pdiffs (`*.diff/Index`: a client without a local copy never asks,
/// one with a copy falls back to the full index), installer images (`installer-*/`), and
/// anything for other components or architectures.
pub fn suite_indices<'r>(release: &Release<'r>, scope: &Scope<'_>) -> Vec<IndexGroup<'r>> {
    let mut groups: BTreeMap<&'r str, IndexGroup<'r>> = BTreeMap::new();
    for entry in release.files() {
        let (stem, _) = split_compression(entry.path);
        let Some(family) = classify(stem, release, scope) else {
            continue;
        };
        groups
            .entry(stem)
            .or_insert_with(|| IndexGroup {
                stem: stem.to_owned(),
                family,
                variants: Vec::new(),
            })
            .variants
            .push(*entry);
    }
    let mut groups: Vec<IndexGroup<'r>> = groups.into_values().collect();
    for group in &mut groups {
        group
            .variants
            .sort_by_key(|entry| split_compression(entry.path).1.len());
    }
    groups
}

/// The family of an uncompressed path, or `None` when the scope does not carry it.
fn classify(stem: &str, release: &Release<'_>, scope: &Scope<'_>) -> Option<Family> {
    // `all` counts when the Release lists it (or lists no architectures): apt reads no
    // binary-all index otherwise, and Debian's security archive lists such files
    // without `all` and serves them stale.
    let all_listed =
        release.fields.architectures.is_empty() || release.fields.architectures.contains(&"all");
    let arch_ok =
        |arch: &str| (arch == "all" && all_listed) || scope.architectures.iter().any(|a| a == arch);
    let Some((component, rest)) = stem.split_once('/') else {
        // Flat (old Ubuntu) suite-level Contents.
        return contents(stem, scope, &arch_ok);
    };
    if !scope.components.iter().any(|c| c == component) {
        return None;
    }
    if rest.contains(".diff/") {
        return None;
    }
    if let Some(rest) = rest.strip_prefix("binary-") {
        let (arch, file) = rest.split_once('/')?;
        return match file {
            "Packages" if arch_ok(arch) => Some(Family::Packages),
            "Release" if arch_ok(arch) => Some(Family::ArchRelease),
            _ => None,
        };
    }
    if let Some(rest) = rest.strip_prefix("debian-installer/binary-") {
        if !scope.installer {
            return None;
        }
        let (arch, file) = rest.split_once('/')?;
        return match file {
            "Packages" if arch_ok(arch) => Some(Family::Installer),
            "Release" if arch_ok(arch) => Some(Family::ArchRelease),
            _ => None,
        };
    }
    if let Some(file) = rest.strip_prefix("i18n/") {
        if file == "Index" {
            return Some(Family::Translation);
        }
        let language = file.strip_prefix("Translation-")?;
        let wanted = scope
            .languages
            .is_none_or(|languages| languages.iter().any(|l| l == language));
        return wanted.then_some(Family::Translation);
    }
    if let Some(file) = rest.strip_prefix("dep11/") {
        // Per-architecture files name their architecture (`Components-amd64.yml`,
        // `CID-Index-amd64.json`); icon tarballs serve every architecture.
        let foreign = release
            .fields
            .architectures
            .iter()
            .any(|arch| !arch_ok(arch) && names_arch(file, arch));
        return (!foreign).then_some(Family::Dep11);
    }
    if let Some(arch) = rest.strip_prefix("cnf/Commands-") {
        return arch_ok(arch).then_some(Family::CommandNotFound);
    }
    if let Some(file) = rest.strip_prefix("source/") {
        return match file {
            "Sources" if scope.sources => Some(Family::Sources),
            "Release" if scope.sources => Some(Family::ArchRelease),
            _ => None,
        };
    }
    contents(rest, scope, &arch_ok)
}

fn contents(file: &str, scope: &Scope<'_>, arch_ok: &dyn Fn(&str) -> bool) -> Option<Family> {
    let tail = file.strip_prefix("Contents-")?;
    if tail == "source" {
        return scope.sources.then_some(Family::Contents);
    }
    let arch = tail.strip_prefix("udeb-").unwrap_or(tail);
    arch_ok(arch).then_some(Family::Contents)
}

/// `Components-amd64.yml` names `amd64`; `icons-64x64.tar` names none.
fn names_arch(file: &str, arch: &str) -> bool {
    file.match_indices(arch).any(|(at, _)| {
        let before = file[..at].chars().next_back();
        let after = file[at + arch.len()..].chars().next();
        before == Some('-') && matches!(after, None | Some('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(paths: &[&str]) -> String {
        let mut text =
            String::from("Architectures: all amd64 arm64\nComponents: main contrib\nSHA256:\n");
        for path in paths {
            text.push_str(&format!(" {} 1 {path}\n", "0".repeat(64)));
        }
        text
    }

    fn main_amd64() -> ([String; 1], [String; 1]) {
        (["main".to_owned()], ["amd64".to_owned()])
    }

    /// Every family of `components`/`architectures`, all languages, no sources.
    fn scope<'s>(components: &'s [String], architectures: &'s [String]) -> Scope<'s> {
        Scope {
            components,
            architectures,
            languages: None,
            sources: false,
            installer: true,
        }
    }

    fn stems(text: &str, scope: &Scope<'_>) -> Vec<(String, Family, usize)> {
        let release = Release::parse(text).expect("parses");
        suite_indices(&release, scope)
            .into_iter()
            .map(|g| (g.stem, g.family, g.variants.len()))
            .collect()
    }

    #[test]
    fn every_family_of_the_scope_and_nothing_else() {
        let text = release(&[
            "main/binary-amd64/Packages",
            "main/binary-amd64/Packages.xz",
            "main/binary-amd64/Packages.gz",
            "main/binary-amd64/Release",
            "main/binary-arm64/Packages.xz",
            "main/binary-all/Packages.xz",
            "main/binary-amd64/Packages.diff/Index",
            "main/debian-installer/binary-amd64/Packages.xz",
            "main/debian-installer/binary-arm64/Packages.xz",
            "main/i18n/Translation-en",
            "main/i18n/Translation-en.bz2",
            "main/i18n/Translation-de.bz2",
            "main/Contents-amd64.gz",
            "main/Contents-udeb-amd64.gz",
            "main/Contents-arm64.gz",
            "main/Contents-all.gz",
            "main/Contents-source.gz",
            "main/dep11/Components-amd64.yml.gz",
            "main/dep11/Components-arm64.yml.gz",
            "main/dep11/icons-64x64.tar.gz",
            "main/dep11/icons-64x64@2.tar.gz",
            "main/cnf/Commands-amd64.xz",
            "main/cnf/Commands-arm64.xz",
            "main/source/Sources.xz",
            "main/installer-amd64/current/images/SHA256SUMS",
            "contrib/binary-amd64/Packages.xz",
            "Contents-amd64.gz",
        ]);
        let (components, architectures) = main_amd64();
        let scope = scope(&components, &architectures);
        let got = stems(&text, &scope);
        let expected = [
            ("Contents-amd64", Family::Contents, 1),
            ("main/Contents-all", Family::Contents, 1),
            ("main/Contents-amd64", Family::Contents, 1),
            ("main/Contents-udeb-amd64", Family::Contents, 1),
            ("main/binary-all/Packages", Family::Packages, 1),
            ("main/binary-amd64/Packages", Family::Packages, 3),
            ("main/binary-amd64/Release", Family::ArchRelease, 1),
            ("main/cnf/Commands-amd64", Family::CommandNotFound, 1),
            (
                "main/debian-installer/binary-amd64/Packages",
                Family::Installer,
                1,
            ),
            ("main/dep11/Components-amd64.yml", Family::Dep11, 1),
            ("main/dep11/icons-64x64.tar", Family::Dep11, 1),
            ("main/dep11/icons-64x64@2.tar", Family::Dep11, 1),
            ("main/i18n/Translation-de", Family::Translation, 1),
            ("main/i18n/Translation-en", Family::Translation, 2),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(s, f, n)| (s.to_string(), *f, *n))
            .collect();
        assert_eq!(got, expected);

        let languages = ["en".to_owned()];
        let scope = Scope {
            languages: Some(&languages),
            sources: true,
            ..scope
        };
        let got = stems(&text, &scope);
        assert!(got.iter().any(|g| g.0 == "main/source/Sources"));
        assert!(got.iter().any(|g| g.0 == "main/Contents-source"));
        assert!(!got.iter().any(|g| g.0 == "main/i18n/Translation-de"));
    }

    #[test]
    fn all_counts_only_when_the_release_lists_it() {
        let text = release(&[
            "main/binary-all/Packages.xz",
            "main/binary-amd64/Packages.xz",
        ])
        .replace(
            "Architectures: all amd64 arm64",
            "Architectures: amd64 arm64",
        );
        let (components, architectures) = main_amd64();
        let scope = scope(&components, &architectures);
        let got: Vec<String> = stems(&text, &scope).into_iter().map(|g| g.0).collect();
        assert_eq!(got, ["main/binary-amd64/Packages"]);
    }

    #[test]
    fn variants_come_uncompressed_first() {
        let text = release(&["main/i18n/Translation-en.xz", "main/i18n/Translation-en"]);
        let release = Release::parse(&text).expect("parses");
        let (components, architectures) = main_amd64();
        let groups = suite_indices(&release, &scope(&components, &architectures));
        let paths: Vec<&str> = groups[0].variants.iter().map(|v| v.path).collect();
        assert_eq!(
            paths,
            ["main/i18n/Translation-en", "main/i18n/Translation-en.xz"]
        );
    }
}
