//! Project names: PEP 508's grammar, compared as PEP 503 normalises them
//! (`re.sub(r"[-_.]+", "-", name).lower()`), which is also the page's path under
//! `/simple/`.

/// A project name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid project name {name:?}: {reason}")]
pub struct NameError {
    /// The name as given.
    pub name: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Checks `name` against PEP 508 (ASCII letters and digits, with `.`, `_` and `-` only
/// between them) and returns its PEP 503 normal form.
pub fn normalize(name: &str) -> Result<String, NameError> {
    let error = |reason| NameError {
        name: name.to_owned(),
        reason,
    };
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err(error("empty"));
    };
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err(error("must start and end with a letter or digit"));
    }
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for &byte in bytes {
        match byte {
            b'-' | b'_' | b'.' => in_separator = true,
            byte if byte.is_ascii_alphanumeric() => {
                if in_separator {
                    out.push('-');
                    in_separator = false;
                }
                out.push(byte.to_ascii_lowercase() as char);
            }
            _ => return Err(error("only letters, digits, '.', '_' and '-' are allowed")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_pep_503_says() {
        for (given, normal) in [
            ("requests", "requests"),
            ("Foo.Bar_baz", "foo-bar-baz"),
            ("zope.interface", "zope-interface"),
            ("a--__..b", "a-b"),
            ("Django", "django"),
            ("x", "x"),
        ] {
            assert_eq!(normalize(given).as_deref(), Ok(normal), "{given}");
        }
    }

    #[test]
    fn refuses_what_is_no_name() {
        for bad in ["", "-a", "a-", "a/b", "../a", "a b", "é", "a\n"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }
}
