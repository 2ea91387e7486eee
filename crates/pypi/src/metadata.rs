//! Core metadata (`METADATA` in a wheel, and the PEP 658 `.metadata` file beside it): the
//! headers a resolver reads, in the email-header format the core metadata specification
//! uses (`Name: value` lines, continuation lines starting with whitespace, repeated
//! fields, a blank line before the description).
//!
//! Parsed here rather than with a mail parser: the fields are few, and the one crate that
//! does it has a licence outside the project's list (see `docs/pypi-plan.md`).

/// Metadata that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct MetadataError {
    /// The file or URL.
    pub origin: String,
    /// What is wrong.
    pub reason: String,
}

/// What a resolver needs of a distribution's core metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `Metadata-Version`.
    pub metadata_version: String,
    /// `Name`, normalised (PEP 503).
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Requires-Python`, when given.
    pub requires_python: Option<String>,
    /// Every `Requires-Dist` (PEP 508 requirements, markers included), in order.
    pub requires_dist: Vec<String>,
    /// Every `Provides-Extra`, in order.
    pub provides_extra: Vec<String>,
}

impl Metadata {
    /// Reads `bytes` (from `origin`, for errors). `Metadata-Version`, `Name` and
    /// `Version` are required; unknown fields are ignored.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, MetadataError> {
        let error = |reason: String| MetadataError {
            origin: origin.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| error(format!("not UTF-8: {e}")))?;
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                break; // the description follows
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(error(format!("line {}: continues no field", number + 1)));
                };
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| error(format!("line {}: no ':' in {line:?}", number + 1)))?;
            fields.push((key.trim(), value.trim().to_owned()));
        }
        let mut metadata = Metadata::default();
        for (key, value) in fields {
            match key.to_ascii_lowercase().as_str() {
                "metadata-version" => metadata.metadata_version = value,
                "name" => {
                    metadata.name =
                        crate::name::normalize(&value).map_err(|e| error(e.to_string()))?;
                }
                "version" => metadata.version = value,
                "requires-python" => metadata.requires_python = Some(value),
                "requires-dist" => metadata.requires_dist.push(value),
                "provides-extra" => metadata.provides_extra.push(value),
                _ => {}
            }
        }
        for (field, value) in [
            ("Metadata-Version", &metadata.metadata_version),
            ("Name", &metadata.name),
            ("Version", &metadata.version),
        ] {
            if value.is_empty() {
                return Err(error(format!("no {field}")));
            }
        }
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTS: &str = "Metadata-Version: 2.1\n\
        Name: requests\n\
        Version: 2.32.3\n\
        Summary: Python HTTP for Humans.\n\
        Requires-Python: >=3.8\n\
        License: Apache-2.0\n\
        Classifier: Development Status :: 5 - Production/Stable\n\
        Requires-Dist: charset-normalizer <4,>=2\n\
        Requires-Dist: idna <4,>=2.5\n\
        Requires-Dist: urllib3 <3,>=1.21.1\n\
        Requires-Dist: certifi >=2017.4.17\n\
        Provides-Extra: socks\n\
        Requires-Dist: PySocks !=1.5.7,>=1.5.6 ; extra == 'socks'\n\
        Provides-Extra: use_chardet_on_py3\n\
        Requires-Dist: chardet <6,>=3.0.2 ;\n \
        extra == 'use_chardet_on_py3'\n\
        \n\
        # Requests\n\
        Requires-Dist: not-a-field (this is the description)\n";

    #[test]
    fn reads_what_a_resolver_needs_and_stops_at_the_description() {
        let metadata = Metadata::parse(REQUESTS.as_bytes(), "requests.metadata").expect("parses");
        assert_eq!(metadata.metadata_version, "2.1");
        assert_eq!(
            (metadata.name.as_str(), metadata.version.as_str()),
            ("requests", "2.32.3")
        );
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(metadata.requires_dist.len(), 6);
        assert_eq!(
            metadata.requires_dist[5], "chardet <6,>=3.0.2 ; extra == 'use_chardet_on_py3'",
            "a continuation line joins its field"
        );
        assert_eq!(metadata.provides_extra, ["socks", "use_chardet_on_py3"]);
    }

    #[test]
    fn missing_fields_and_garbage_are_refused_naming_the_file() {
        for (text, reason) in [
            ("Name: x\nVersion: 1\n", "no Metadata-Version"),
            ("Metadata-Version: 2.1\nVersion: 1\n", "no Name"),
            (
                "Metadata-Version: 2.1\nName: ../x\nVersion: 1\n",
                "invalid project name",
            ),
            ("Metadata-Version: 2.1\nName x\n", "line 2: no ':'"),
            (" continued\n", "line 1: continues no field"),
        ] {
            let error = Metadata::parse(text.as_bytes(), "x.metadata").expect_err(reason);
            let message = error.to_string();
            assert!(
                message.starts_with("x.metadata: ") && message.contains(reason),
                "{message}"
            );
        }
        assert!(Metadata::parse(b"\xff", "x").is_err());
    }
}
