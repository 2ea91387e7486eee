//! A requirements file as pip reads it (`requirements_file` in `[[pypi]]`, and `init
//! --pip-freeze`): one PEP 508 requirement a line, `#` comments (at the start of a line
//! or after whitespace), `\` joining a line to the next, and per-requirement `--hash`
//! options (ignored: the index's digests are what the mirror checks). Global options
//! (`--index-url`, `--only-binary`...) configure pip, not the selection, and are
//! skipped; `-r`, `-c` and `-e` name other files or source trees the mirror cannot
//! follow, and are refused, naming the line.

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
    fn includes_and_editables_are_refused_with_their_line() {
        for line in ["-r base.txt", "--requirement=base.txt", "-c c.txt", "-e ."] {
            let error = parse(&format!("a\n{line}\n"), "r.txt").expect_err(line);
            assert_eq!(error.line, 2, "{line}");
            assert!(error.to_string().starts_with("r.txt:2: "), "{error}");
        }
    }
}
