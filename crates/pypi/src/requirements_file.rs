//! Files that list Python requirements (`requirements_file` in `[[pypi]]`, and `init
//! --pip-freeze`), told apart by name ([`read`]):
//! - a requirements file as pip reads it ([`parse`]): one PEP 508 requirement a line, `#`
//!   comments (at the start of a line or after whitespace), `\` joining a line to the
//!   next, and per-requirement `--hash` options (ignored: the index's digests are what the
//!   mirror checks). Global options (`--index-url`, `--only-binary`...) configure pip,
//!   not the selection, and are skipped; `-r`, `-c` and `-e` name other files or source
//!   trees the mirror cannot follow, and are refused, naming the line;
//! - a PEP 751 lock file (`pylock.toml`, `pylock.<name>.toml`): each `[[packages]]`
//!   entry with a `version` is pinned (`name==version`); entries installed from a
//!   directory, VCS or archive have none and are refused, naming the entry;
//! - a conda `environment.yml`: the requirements of its `pip:` section (in pip's
//!   format, as conda hands them to pip).

/// A line that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {reason}")]
pub struct RequirementsError {
    /// The file.
    pub origin: String,
    /// The line number (of the first physical line of a joined one).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The requirements of the file `origin` whose content is `text`, by its kind (see the
/// module docs), each with its line (or, in a lock file, entry) number.
pub fn read(text: &str, origin: &str) -> Result<Vec<(usize, String)>, RequirementsError> {
    let name = origin.rsplit('/').next().unwrap_or(origin);
    if name.starts_with("pylock.") && name.ends_with(".toml") {
        pylock(text, origin)
    } else if name.ends_with(".yml") || name.ends_with(".yaml") {
        environment_pip(text, origin)
    } else {
        parse(text, origin)
    }
}

/// `name==version` for each `[[packages]]` entry of a PEP 751 lock file.
fn pylock(text: &str, origin: &str) -> Result<Vec<(usize, String)>, RequirementsError> {
    let error = |line: usize, reason: String| RequirementsError {
        origin: origin.to_owned(),
        line,
        reason,
    };
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(rename = "lock-version")]
        lock_version: Option<String>,
        #[serde(default)]
        packages: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: Option<String>,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| error(0, format!("not a lock file: {e}")))?;
    if lock
        .lock_version
        .as_deref()
        .is_some_and(|v| !v.starts_with("1."))
    {
        return Err(error(
            0,
            format!("lock-version {:?}: only 1.x is read", lock.lock_version),
        ));
    }
    lock.packages
        .into_iter()
        .enumerate()
        .map(|(index, package)| match package.version {
            Some(version) => Ok((index + 1, format!("{}=={version}", package.name))),
            None => Err(error(
                index + 1,
                format!(
                    "[[packages]] {}: no version (installed from a directory, VCS or archive, \
                     not an index)",
                    package.name
                ),
            )),
        })
        .collect()
}

/// The requirements of an `environment.yml`'s `pip:` section.
fn environment_pip(text: &str, origin: &str) -> Result<Vec<(usize, String)>, RequirementsError> {
    let error = |reason: String| RequirementsError {
        origin: origin.to_owned(),
        line: 0,
        reason,
    };
    let document: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| error(format!("not YAML: {e}")))?;
    let dependencies = document
        .get("dependencies")
        .and_then(serde_yaml::Value::as_sequence)
        .ok_or_else(|| error("no dependencies list".into()))?;
    let mut lines = Vec::new();
    for entry in dependencies {
        if let Some(pip) = entry.get("pip") {
            let list = pip
                .as_sequence()
                .ok_or_else(|| error("`pip:` is not a list".into()))?;
            for item in list {
                let item = item
                    .as_str()
                    .ok_or_else(|| error(format!("`pip:` entry {item:?} is not text")))?;
                lines.push(item.to_owned());
            }
        }
    }
    parse(&lines.join("\n"), &format!("{origin} (pip:)"))
}

/// The requirements of `text` (read from `origin`), each with its line number.
pub fn parse(text: &str, origin: &str) -> Result<Vec<(usize, String)>, RequirementsError> {
    let mut requirements = Vec::new();
    let mut joined = String::new();
    let mut first = 0;
    for (index, raw) in text.lines().enumerate() {
        if joined.is_empty() {
            first = index + 1;
        }
        match raw.strip_suffix('\\') {
            Some(part) => {
                joined.push_str(part);
                joined.push(' ');
                continue;
            }
            None => joined.push_str(raw),
        }
        let line = std::mem::take(&mut joined);
        let line = strip_comment(&line).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            let option = line.split([' ', '=']).next().unwrap_or(line);
            if matches!(
                option,
                "-r" | "--requirement" | "-c" | "--constraint" | "-e" | "--editable"
            ) {
                return Err(RequirementsError {
                    origin: origin.to_owned(),
                    line: first,
                    reason: format!(
                        "{option} names another file or a source tree, which the mirror does \
                         not follow; list the requirements here"
                    ),
                });
            }
            continue;
        }
        // `name==1.0 --hash=sha256:...`: the requirement is what comes before the options.
        let requirement = match line.find(" --") {
            Some(at) => line[..at].trim(),
            None => line,
        };
        requirements.push((first, requirement.to_owned()));
    }
    Ok(requirements)
}

/// `line` up to a `#` that starts it or follows whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        if byte == b'#' && (at == 0 || bytes[at - 1].is_ascii_whitespace()) {
            return &line[..at];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_pip_freeze_and_people_write() {
        let text = "# generated\nrequests==2.32.3\n\n  rich>=13 # pretty\nuvicorn[standard] \\\n    ; python_version >= '3.9'\n--index-url http://x/simple\nattrs==24.2.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\nurl#fragment-is-not-a-comment\n";
        let parsed = parse(text, "r.txt").expect("parses");
        assert_eq!(
            parsed,
            [
                (2, "requests==2.32.3".to_owned()),
                (4, "rich>=13".to_owned()),
                (
                    5,
                    "uvicorn[standard]      ; python_version >= '3.9'".to_owned()
                ),
                (8, "attrs==24.2.0".to_owned()),
                (11, "url#fragment-is-not-a-comment".to_owned()),
            ]
        );
    }

    #[test]
    fn lock_files_and_environment_files_are_read_by_name() {
        let lock = "lock-version = \"1.0\"\ncreated-by = \"uv\"\n[[packages]]\nname = \"requests\"\nversion = \"2.32.3\"\n[[packages]]\nname = \"idna\"\nversion = \"3.10\"\n";
        assert_eq!(
            read(lock, "dir/pylock.toml").expect("lock"),
            [
                (1, "requests==2.32.3".to_owned()),
                (2, "idna==3.10".to_owned())
            ]
        );
        let local =
            "lock-version = \"1.0\"\n[[packages]]\nname = \"me\"\ndirectory = { path = \".\" }\n";
        let error = read(local, "pylock.dev.toml").expect_err("no version");
        assert!(error.to_string().contains("me: no version"), "{error}");
        let yaml = "name: x\ndependencies:\n  - python=3.12\n  - pip\n  - pip:\n    - requests>=2.31  # http\n    - --index-url http://x/simple\n    - rich\n";
        assert_eq!(
            read(yaml, "environment.yml").expect("yaml"),
            [(1, "requests>=2.31".to_owned()), (3, "rich".to_owned())]
        );
        assert_eq!(
            read("a==1\n", "requirements.txt").expect("txt"),
            [(1, "a==1".to_owned())]
        );
    }

    #[test]
    fn includes_and_editables_are_refused_with_their_line() {
        for line in ["-r base.txt", "--requirement=base.txt", "-c c.txt", "-e ."] {
            let error = parse(&format!("a\n{line}\n"), "r.txt").expect_err(line);
            assert_eq!(error.line, 2, "{line}");
            assert!(error.to_string().starts_with("r.txt:2: "), "{error}");
        }
    }
}
