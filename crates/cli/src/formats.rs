//! The format registry: every mirror format the CLI knows, by its `mirror.toml` section.
//!
//! Adding a format is a new library crate whose settings type implements
//! [`MirrorSettings`] (and `Serialize`, for `init`) plus one entry in [`FORMATS`] and one
//! dependency line; nothing else in the CLI names a format (`cargo xtask lint` fails when
//! a format crate is named in `crates/cli/src` outside this file). The config loader
//! reads each section through its entry, `sync` builds each mirror with
//! [`MirrorSettings::build`], `init` asks each entry for its example and seeds, and
//! `inspect` asks each entry whether it reads the file it was given.

use std::path::Path;

use anyhow::Context as _;
use mirror_core::settings::MirrorSettings;
use serde::Serialize;

/// One format: its section, how to read one table of it, and what `init` and `inspect`
/// ask of it.
pub struct Format {
    /// The section name: `apt` for `[[apt]]`.
    pub section: &'static str,
    /// What `inspect` and `--help` say it reads (empty: nothing yet).
    pub indices: &'static str,
    /// Deserialise one `[[section]]` table into the format's settings.
    pub load: fn(toml::Value) -> Result<Box<dyn MirrorSettings>, toml::de::Error>,
    /// A commented example section, written by `init` when nothing is seeded.
    pub example: &'static str,
    /// `init --from-system ROOT`: sections mirroring what the machine under ROOT runs.
    pub from_system: Option<fn(&Path) -> anyhow::Result<Seeded>>,
    /// `init --conda-env FILE [--conda-url URL]`: a section seeded from an environment.
    pub from_env: Option<SeedFromEnv>,
    /// `init --pip-freeze FILE [--pypi-url URL]`: a section seeded from what a Python
    /// environment has installed.
    pub from_pip_freeze: Option<SeedFromEnv>,
    /// `init --maas-images RELEASES --images-url URL`: an image mirror's section.
    pub from_images: Option<fn(&Images<'_>) -> anyhow::Result<Seeded>>,
    /// `inspect`: whether the file or URL (its last path segment, compression suffix
    /// removed) is this format's, and its summary (JSON, line).
    pub inspect: Inspect,
}

/// What `init --maas-images RELEASES --arch ARCHES --images-url URL [--images-keyring
/// FILE]` seeds an image mirror from.
pub struct Images<'a> {
    /// Releases (empty: no image mirror).
    pub releases: &'a [String],
    /// Architectures.
    pub arches: &'a [String],
    /// The stream's URL.
    pub url: Option<&'a str>,
    /// Its keyring.
    pub keyring: Option<&'a Path>,
}

/// `init --conda-env FILE [--conda-url URL]` for one format.
pub type SeedFromEnv = fn(&Path, Option<&str>) -> anyhow::Result<Seeded>;
/// `inspect`'s summary of a file's bytes read from a target: JSON, and the line for people.
pub type Summarise = fn(&[u8], &str) -> anyhow::Result<(serde_json::Value, String)>;

/// What `inspect` asks of a format.
pub struct Inspect {
    /// Whether this format reads a file of this name (compression suffix removed).
    pub claims: fn(&str) -> bool,
    /// The summary of `raw`, read from `target`: JSON, and the line for people.
    pub summarise: Summarise,
    /// Plain local files of these names are summarised as they are read, never held
    /// whole (memory stays a few MB whatever the file's size).
    pub stream: Option<Stream>,
}

/// `inspect` of a plain local file, read as a stream.
pub struct Stream {
    /// Whether a file of this name (no compression suffix) is read this way.
    pub claims: fn(&str) -> bool,
    /// The summary of what `reader` yields, read from `target`.
    pub summarise: fn(&mut dyn std::io::Read, &str) -> anyhow::Result<(serde_json::Value, String)>,
}

/// Sections a format wrote for `init`, and what to tell the operator.
pub struct Seeded {
    /// TOML text: one or more `[[section]]` tables, with comments.
    pub text: String,
    /// How many mirrors.
    pub mirrors: usize,
    /// Lines for the operator.
    pub notes: Vec<String>,
}

/// Every format, in the order `status` and `sync` list their mirrors. The first one is
/// `inspect`'s fallback for a file no format claims by name.
pub const FORMATS: &[Format] = &[
    Format {
        section: "apt",
        indices: "Packages*, Sources*, Release/InRelease",
        load: load::<mirror_apt::AptConfig>,
        example: APT_EXAMPLE,
        from_system: Some(apt_from_system),
        from_env: None,
        from_pip_freeze: None,
        from_images: None,
        inspect: Inspect {
            claims: |stem| {
                ["Packages", "Sources", "Release", "InRelease", "Translation"]
                    .iter()
                    .any(|name| stem.starts_with(name))
            },
            summarise: |raw, target| {
                summary(mirror_apt::inspect::inspect_index(raw, target)?, target)
            },
            stream: Some(Stream {
                claims: |stem| stem != "Release" && stem != "InRelease",
                summarise: |reader, target| {
                    let counted = mirror_apt::inspect::inspect_packages_reader(reader, target)?;
                    summary(mirror_apt::inspect::IndexSummary::Packages(counted), target)
                },
            }),
        },
    },
    Format {
        section: "conda",
        indices: "repodata.json*",
        load: load::<mirror_conda::CondaConfig>,
        example: CONDA_EXAMPLE,
        from_system: None,
        from_env: Some(conda_from_env),
        from_pip_freeze: None,
        from_images: None,
        inspect: Inspect {
            claims: |stem| stem.starts_with("repodata") || stem.ends_with(".json"),
            summarise: |raw, target| summary(mirror_conda::inspect_repodata(raw, target)?, target),
            stream: None,
        },
    },
    Format {
        section: "pypi",
        indices: "",
        load: load::<mirror_pypi::PypiConfig>,
        example: PYPI_EXAMPLE,
        from_system: Some(pypi_from_system),
        from_env: None,
        from_pip_freeze: Some(pypi_from_freeze),
        from_images: None,
        inspect: Inspect {
            // A simple page is an `index.html` or `index.json` like many others: `inspect`
            // claims none yet (issue 15).
            claims: |_| false,
            summarise: |_, target| anyhow::bail!("{target}: PyPI pages are not inspected yet"),
            stream: None,
        },
    },
    Format {
        section: "simplestreams",
        indices: "streams/v1/*.sjson",
        load: load::<mirror_simplestreams::SimplestreamsConfig>,
        example: SIMPLESTREAMS_EXAMPLE,
        from_system: None,
        from_env: None,
        from_pip_freeze: None,
        from_images: Some(maas_images),
        inspect: Inspect {
            // The signed files (`.sjson`); their unsigned `.json` twins are JSON named
            // like conda's, which claims them first.
            claims: |stem| stem.ends_with(".sjson"),
            summarise: |raw, target| {
                summary(mirror_simplestreams::inspect::inspect(raw, target)?, target)
            },
            stream: None,
        },
    },
];

/// The format `inspect` hands a file named `stem` to (compression suffix removed).
pub fn for_inspect(stem: &str) -> &'static Format {
    FORMATS
        .iter()
        .find(|f| (f.inspect.claims)(stem))
        .unwrap_or(&FORMATS[0])
}

/// What `inspect --help` lists.
pub fn inspect_help() -> String {
    let names: Vec<&str> = FORMATS
        .iter()
        .map(|f| f.indices)
        .filter(|indices| !indices.is_empty())
        .collect();
    format!("Summarise an index: {}", names.join(", "))
}

fn load<S>(table: toml::Value) -> Result<Box<dyn MirrorSettings>, toml::de::Error>
where
    S: MirrorSettings + serde::de::DeserializeOwned + 'static,
{
    Ok(Box::new(table.try_into::<S>()?))
}

fn summary<T: Serialize + std::fmt::Display>(
    summary: T,
    target: &str,
) -> anyhow::Result<(serde_json::Value, String)> {
    Ok((
        serde_json::to_value(&summary)?,
        format!("{target}: {summary}"),
    ))
}

/// One `[[section]]` table of `settings`, serialised by the format's own type.
pub fn section_toml<S: Serialize>(section: &str, settings: &S) -> anyhow::Result<String> {
    let tables = std::collections::BTreeMap::from([(section, [settings])]);
    toml::to_string(&tables).with_context(|| format!("writing a [[{section}]] section"))
}

fn apt_from_system(root: &Path) -> anyhow::Result<Seeded> {
    let machine = mirror_apt::machine::mirrors_for_machine(root)?;
    let mut text = String::new();
    for mirror in &machine.mirrors {
        text.push_str(&format!(
            "# every package installed on this machine ({}), with its dependencies; names\n\
             # this upstream does not carry are skipped with a warning; resolved together\n\
             # with the machine's other sources, as its apt does\n",
            machine.installed
        ));
        text.push_str(&section_toml("apt", mirror)?);
        text.push('\n');
    }
    Ok(Seeded {
        text,
        mirrors: machine.mirrors.len(),
        notes: vec![format!(
            "{} installed packages selected from {}",
            machine.installed,
            machine.dpkg_status.display()
        )],
    })
}

fn conda_from_env(env_file: &Path, url: Option<&str>) -> anyhow::Result<Seeded> {
    let specs = mirror_conda::specs_from_file(env_file)
        .with_context(|| format!("reading specs from {}", env_file.display()))?;
    let settings = mirror_conda::CondaConfig {
        name: "conda".into(),
        url: url.unwrap_or("http://HOST/conda-forge").into(),
        subdirs: vec!["linux-64".into(), "noarch".into()],
        specs,
        ..Default::default()
    };
    Ok(Seeded {
        text: format!(
            "# seeded from {}\n{}\n",
            env_file.display(),
            section_toml("conda", &settings)?
        ),
        mirrors: 1,
        notes: Vec::new(),
    })
}

fn pypi_from_system(root: &Path) -> anyhow::Result<Seeded> {
    let seed = mirror_pypi::seed::from_system(root)
        .map_err(|e| crate::exit::ConfigError(format!("--from-system (PyPI): {e}")))?;
    Ok(match seed.config {
        Some(settings) => Seeded {
            text: format!(
                "# every distribution pip installed on this machine, with its dependencies\n{}\n",
                section_toml("pypi", &settings)?
            ),
            mirrors: 1,
            notes: seed.notes,
        },
        None => Seeded {
            text: PYPI_EXAMPLE.to_owned(),
            mirrors: 0,
            notes: seed.notes,
        },
    })
}

fn pypi_from_freeze(freeze: &Path, url: Option<&str>) -> anyhow::Result<Seeded> {
    // The file the operator named is unusable: a configuration error (exit 3).
    let (settings, notes) = mirror_pypi::seed::from_freeze(freeze, url)
        .map_err(|e| crate::exit::ConfigError(format!("--pip-freeze: {e}")))?;
    Ok(Seeded {
        text: format!(
            "# seeded from {}\n{}\n",
            freeze.display(),
            section_toml("pypi", &settings)?
        ),
        mirrors: 1,
        notes,
    })
}

fn maas_images(images: &Images<'_>) -> anyhow::Result<Seeded> {
    let url = images
        .url
        .ok_or_else(|| crate::exit::ConfigError("--maas-images needs --images-url".into()))?;
    let (settings, notes) = mirror_simplestreams::seed::maas(
        images.releases,
        images.arches,
        url,
        images.keyring.map(Path::to_path_buf),
    )
    .map_err(crate::exit::ConfigError)?;
    Ok(Seeded {
        text: format!(
            "# MAAS images: {}\n{}\n",
            images.releases.join(", "),
            section_toml("simplestreams", &settings)?
        ),
        mirrors: 1,
        notes,
    })
}

const APT_EXAMPLE: &str = r#"# An APT mirror (published at public/debian, served at /debian/):
# [[apt]]
# name = "debian"
# url = "http://HOST/debian"                  # http://, https:// or file://
# suites = ["bookworm", "bookworm-updates"]
# components = ["main"]
# architectures = ["amd64"]
# keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"   # upstream must verify
# packages = ["jq", "curl"]    # optional: these + dependencies; absent = everything
# recommends = true            # follow Recommends, as apt does by default

"#;

const PYPI_EXAMPLE: &str = r#"# A Python package index mirror (pip and uv use it as --index-url .../pypi/simple/):
# [[pypi]]
# name = "pypi"
# url = "http://HOST/simple"                 # a PEP 503/691 simple index
# requirements = ["requests>=2.31"]          # PEP 508; their closure is mirrored
# python = ["3.11", "3.12"]                  # target interpreters
# platforms = ["manylinux_2_28_x86_64"]      # plus pure-Python wheels, always
"#;

const SIMPLESTREAMS_EXAMPLE: &str = r#"# An image stream mirror (MAAS boot images, cloud and LXD images):
# [[simplestreams]]
# name = "maas"                              # index at /maas/streams/v1/index.sjson
# url = "http://HOST/ephemeral-v3/stable"    # the directory holding streams/v1/
# keyring = ["/usr/share/keyrings/IMAGES-KEYRING.gpg"]
# filters = ["release~(jammy|noble)", "arch=amd64"]   # sstream-mirror's syntax
# keep_versions = 1                          # newest version names per product
"#;

const CONDA_EXAMPLE: &str = r#"# A conda channel mirror:
# [[conda]]
# name = "conda-forge"
# url = "http://HOST/conda-forge"
# subdirs = ["linux-64", "noarch"]
# specs = ["python 3.12.*", "numpy >=1.26"]   # optional: these + dependencies
# keep_versions = 2                           # optional: newest N versions per name

"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's recipe, followed for a toy format: a settings type and one entry
    /// give a section the loader reads back, an `init` section, and an `inspect` claim.
    #[derive(Debug, Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ToySettings {
        name: String,
        url: String,
    }

    #[test]
    fn a_format_is_one_entry() {
        let toy = ToySettings {
            name: "toy".into(),
            url: "http://h/toy".into(),
        };
        let text = section_toml("toy", &toy).expect("toml");
        assert!(text.starts_with("[[toy]]"), "{text}");
        let parsed: toml::Value = toml::from_str(&text).expect("parses");
        let table = parsed["toy"][0].clone();
        let back: ToySettings = table.try_into().expect("the format reads its own section");
        assert_eq!(
            (back.name.as_str(), back.url.as_str()),
            ("toy", "http://h/toy")
        );

        // The real entries: each reads back the section it writes, and inspect's claims
        // pick conda for repodata and fall back to apt.
        let conda = mirror_conda::CondaConfig {
            name: "c".into(),
            url: "http://h/c".into(),
            ..Default::default()
        };
        let text = section_toml("conda", &conda).expect("toml");
        let parsed: toml::Value = toml::from_str(&text).expect("parses");
        let entry = FORMATS
            .iter()
            .find(|f| f.section == "conda")
            .expect("conda");
        let settings = (entry.load)(parsed["conda"][0].clone()).expect("loads");
        assert_eq!(settings.name(), "c");
        assert_eq!(for_inspect("repodata.json").section, "conda");
        assert_eq!(for_inspect("Packages").section, "apt");
        assert_eq!(for_inspect("some-index").section, "apt", "the fallback");
        assert!(inspect_help().contains("Packages") && inspect_help().contains("repodata"));
    }
}
