//! The format registry: every mirror format the CLI knows, by its `mirror.toml` section.
//!
//! Adding a format is a new library crate whose settings type implements
//! [`MirrorSettings`] plus one entry in [`FORMATS`]; nothing else in the CLI names a
//! format. The config loader reads each section through its entry, and `sync` builds each
//! mirror with [`MirrorSettings::build`].

use mirror_core::settings::MirrorSettings;

/// One format: the name of its array of tables and how to read one table of it.
pub struct Format {
    /// The section name: `apt` for `[[apt]]`.
    pub section: &'static str,
    /// Deserialise one `[[section]]` table into the format's settings.
    pub load: fn(toml::Value) -> Result<Box<dyn MirrorSettings>, toml::de::Error>,
}

/// Every format, in the order `status` and `sync` list their mirrors.
pub const FORMATS: &[Format] = &[
    Format {
        section: "apt",
        load: load::<mirror_apt::AptConfig>,
    },
    Format {
        section: "conda",
        load: load::<mirror_conda::CondaConfig>,
    },
];

fn load<S>(table: toml::Value) -> Result<Box<dyn MirrorSettings>, toml::de::Error>
where
    S: MirrorSettings + serde::de::DeserializeOwned + 'static,
{
    Ok(Box::new(table.try_into::<S>()?))
}
