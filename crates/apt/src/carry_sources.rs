//! `sources = true`: the source packages a mirror carries, so `apt-get source` works
//! from it (licence compliance inside an air gap).
//!
//! A full mirror carries each component's Sources index byte for byte (the index
//! families put `source/Sources*` in its scope) and every file it names. A filtered
//! mirror carries the source package each selected binary was built from (its
//! `Source:` name and version, see [`built_from`]) in a Sources index of its own, which
//! our signed Release lists. Either way each file is downloaded against the SHA-256 and
//! size its Sources stanza states.

use std::collections::{BTreeSet, HashSet};

use mirror_core::repository::{PlannedFile, Source, SyncContext};
use mirror_core::store::Expected;

use crate::control::ControlWriter;
use crate::error::AptError;
use crate::generate::FilteredIndex;
use crate::packages::parse_packages;
use crate::release::Release;
use crate::sources::{SourcePackage, built_from, parse_sources};
use crate::upstream::{fetch_decoded, source_variants};

/// A source package, as `(name, version)`.
pub type SourceId = (String, String);

/// What a suite's Sources indices contribute to the tree.
#[derive(Debug, Default)]
pub struct CarriedSources {
    /// Filtered mirror: one generated Sources index per component.
    pub indices: Vec<FilteredIndex>,
    /// The source packages' files, to download (`base/path`).
    pub files: Vec<PlannedFile>,
    /// Wanted source packages no Sources index of the suite lists (`name (version)`).
    pub missing: Vec<String>,
}

/// The source packages the binaries in some (filtered) Packages indices were built from.
pub fn wanted_sources<'a>(indices: impl Iterator<Item = &'a [u8]>) -> HashSet<SourceId> {
    let mut wanted = HashSet::new();
    for index in indices {
        // These stanzas passed the selection's parse already.
        for package in parse_packages(index).flatten() {
            let (name, version) = built_from(&package);
            wanted.insert((name.to_owned(), version.to_owned()));
        }
    }
    wanted
}

/// Read each component's Sources index (verified against the Release, decoded) and take
/// every source package (`wanted = None`, a full mirror) or the wanted ones.
pub async fn carry_sources(
    ctx: &SyncContext<'_>,
    base: &str,
    dists: &str,
    parsed: &Release<'_>,
    components: &[String],
    wanted: Option<&HashSet<SourceId>>,
) -> Result<CarriedSources, AptError> {
    let mut carried = CarriedSources::default();
    let mut found: HashSet<SourceId> = HashSet::new();
    for component in components {
        let variants = source_variants(parsed, component);
        if variants.is_empty() {
            return Err(AptError::NoSources {
                origin: format!("{dists}/Release"),
                component: component.clone(),
            });
        }
        let index =
            fetch_decoded(ctx.fetcher, ctx.store.objects(), dists, parsed, &variants).await?;
        let origin = format!("{dists}/{}", index.path);
        let mut writer = ControlWriter::new();
        for stanza in parse_sources(&index.decoded) {
            let stanza = stanza.map_err(|e| AptError::Malformed {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
            let id = (stanza.name().to_owned(), stanza.version().to_owned());
            if wanted.is_some_and(|wanted| !wanted.contains(&id)) {
                continue;
            }
            carried.files.extend(planned_files(&stanza, base, &origin)?);
            writer.paragraph(stanza.raw());
            found.insert(id);
        }
        if wanted.is_some() {
            carried
                .indices
                .push(FilteredIndex::sources(component, writer.finish()));
        }
    }
    if let Some(wanted) = wanted {
        let missing: BTreeSet<String> = wanted
            .difference(&found)
            .map(|(name, version)| format!("{name} ({version})"))
            .collect();
        carried.missing = missing.into_iter().collect();
    }
    Ok(carried)
}

/// The files of one source package, to download from `base`.
fn planned_files(
    stanza: &SourcePackage<'_>,
    base: &str,
    origin: &str,
) -> Result<Vec<PlannedFile>, AptError> {
    stanza
        .files()
        .iter()
        .map(|file| {
            let sha256 = file.sha256.parse().map_err(|_| AptError::Malformed {
                origin: origin.to_owned(),
                message: format!("{}: bad SHA256 for {}", stanza.name(), file.path),
            })?;
            Ok(PlannedFile {
                path: file.path.clone(),
                expected: Expected {
                    sha256,
                    size: Some(file.size),
                },
                source: Source::Url(format!("{base}/{}", file.path)),
            })
        })
        .collect()
}
