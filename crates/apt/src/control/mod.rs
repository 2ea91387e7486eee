//! deb822 control files (Packages, Sources, Release): a zero-copy parser and a writer.
//!
//! [`Paragraphs`] splits a buffer into stanzas with one vectorised search for the blank
//! lines between them; [`Paragraph::fields`] then reads a stanza's lines once, checking
//! each as it goes, so a full parse touches every line a single time. Nothing is copied or
//! allocated: values are slices of the input, names too (except that well-known names come
//! from a static table, which is cheaper than a UTF-8 check), and line numbers (for
//! errors) are counted only when an error needs one. Multi-line values keep their continuation lines raw
//! (newlines and leading spaces included) because each field has its own convention for
//! them (a Description folds text, an `MD5Sum` list holds one file per line).
//!
//! [`ControlWriter`] is the other direction; it refuses names and values that would not
//! parse back as written (a value smuggling in `\nPackage: x` cannot start a new field).

use std::str::Utf8Error;

use memchr::memchr;
use memchr::memmem::Finder;

use scan::{find_byte, find_name_end, known_name};

mod scan;
#[cfg(test)]
mod tests;
mod writer;

pub use writer::ControlWriter;

/// A line of a control file that cannot be parsed, or a field that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A line that is neither `Name: value` nor a continuation line.
    #[error("line {line}: expected `Name: value` or a continuation line, found {found:?}")]
    MalformedLine {
        /// 1-based line number in the parsed buffer.
        line: usize,
        /// The start of the offending line (at most 80 bytes, lossily decoded).
        found: String,
    },
    /// A continuation line (leading space or tab) that starts a stanza.
    #[error("line {line}: continuation line {found:?} does not follow a field")]
    OrphanContinuation {
        /// 1-based line number in the parsed buffer.
        line: usize,
        /// The start of the offending line (at most 80 bytes, lossily decoded).
        found: String,
    },
    /// A second stanza where exactly one was expected (a Release file).
    #[error("line {line}: a second stanza where only one is allowed")]
    ExtraParagraph {
        /// 1-based line number of the second stanza.
        line: usize,
    },
    /// A line of only spaces and tabs inside a stanza.
    #[error(
        "line {line}: whitespace-only line inside a stanza (an empty line ends a stanza; \" .\" is an empty continuation line)"
    )]
    BlankContinuation {
        /// 1-based line number in the parsed buffer.
        line: usize,
    },
    /// A field name outside Debian policy's character set (5.1).
    #[error("line {line}: invalid field name {name:?}")]
    InvalidFieldName {
        /// 1-based line number, or 0 when writing.
        line: usize,
        /// The rejected name (lossily decoded).
        name: String,
    },
    /// A value the writer cannot emit without changing its meaning.
    #[error("value of field {name:?} cannot be written: {reason}")]
    InvalidValue {
        /// The field being written.
        name: String,
        /// Why the value is rejected.
        reason: &'static str,
    },
    /// A field whose value is not UTF-8 where text is required.
    #[error("line {line}: field {name:?} is not valid UTF-8")]
    NotUtf8 {
        /// 1-based line number of the stanza holding the field.
        line: usize,
        /// The field name.
        name: String,
        /// The decoding error.
        #[source]
        source: Utf8Error,
    },
}

impl ControlError {
    /// The same error with its line counted `lines` further on: for a buffer that was one
    /// piece of a longer file, which started after `lines` lines.
    pub fn after_lines(mut self, lines: usize) -> Self {
        match &mut self {
            ControlError::MalformedLine { line, .. }
            | ControlError::OrphanContinuation { line, .. }
            | ControlError::ExtraParagraph { line }
            | ControlError::BlankContinuation { line }
            | ControlError::NotUtf8 { line, .. } => *line += lines,
            // Line 0 is "while writing": nothing to shift.
            ControlError::InvalidFieldName { line, .. } if *line > 0 => *line += lines,
            ControlError::InvalidFieldName { .. } | ControlError::InvalidValue { .. } => {}
        }
        self
    }
}

/// Iterator over the stanzas of a control file; see the [module docs](self).
///
/// Stanzas are separated by empty lines; any number of them may appear before, between
/// and after stanzas. Finding a stanza costs one vectorised search for `\n\n`; its lines
/// are checked when its fields are read, so a malformed line surfaces as an error from
/// [`Paragraph::fields`] (or [`Paragraph::get`]), with its line number. A line holding
/// only spaces is not a separator here: policy merely allows parsers to accept it, and
/// apt's archive tools never write one.
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    input: &'a [u8],
    position: usize,
    separator: Finder<'static>,
}

impl<'a> Paragraphs<'a> {
    /// Iterates over the stanzas of `input`, a whole control file.
    pub fn new(input: &'a [u8]) -> Self {
        Self::within(input, 0..input.len())
    }

    /// Iterates over the stanzas in `range` of `input`, a range [`stanza_ranges`] gave:
    /// line numbers in errors still count from the start of `input`.
    pub fn within(input: &'a [u8], range: std::ops::Range<usize>) -> Self {
        // Cut at the range's end, kept from the start: offsets (and so line numbers)
        // stay those of the whole file.
        Paragraphs {
            input: &input[..range.end],
            position: range.start,
            separator: Finder::new(b"\n\n"),
        }
    }
}

/// `input` cut into at most `parts` ranges that each begin where a stanza may begin and
/// end after a blank line, so every stanza lies in exactly one: for parsing a large index
/// on several cores ([`Paragraphs::within`] each range). One search for `\n\n` per cut.
pub fn stanza_ranges(input: &[u8], parts: usize) -> Vec<std::ops::Range<usize>> {
    let separator = Finder::new(b"\n\n");
    let mut ranges = Vec::with_capacity(parts.max(1));
    let mut start = 0;
    for part in 1..parts.max(1) {
        let target = (input.len() / parts * part).max(start);
        let Some(found) = separator.find(&input[target..]) else {
            break;
        };
        // Cut after the first newline of the pair: the next range starts at the blank
        // line, which Paragraphs skips.
        let cut = target + found + 1;
        ranges.push(start..cut);
        start = cut;
    }
    ranges.push(start..input.len());
    ranges
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Paragraph<'a>;

    #[inline]
    fn next(&mut self) -> Option<Paragraph<'a>> {
        let input = self.input;
        while self.position < input.len() && input[self.position] == b'\n' {
            self.position += 1;
        }
        if self.position >= input.len() {
            return None;
        }
        let start = self.position;
        // The stanza keeps the newline ending its last line; the blank line is skipped.
        let end = match self.separator.find(&input[start..]) {
            Some(index) => start + index + 1,
            None => input.len(),
        };
        self.position = end;
        Some(Paragraph { input, start, end })
    }
}

/// 1-based number of the line starting at byte `offset`.
fn line_number(input: &[u8], offset: usize) -> usize {
    1 + input[..offset.min(input.len())]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&byte| byte == b' ' || byte == b'\t')
}

fn excerpt(line: &[u8]) -> String {
    let end = memchr(b'\n', line).unwrap_or(line.len()).min(80);
    String::from_utf8_lossy(&line[..end]).into_owned()
}

/// One stanza, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paragraph<'a> {
    input: &'a [u8],
    start: usize,
    end: usize,
}

impl<'a> Paragraph<'a> {
    /// Reads `input` as at most one stanza (blank lines around it are allowed); a second
    /// stanza is an error.
    pub fn parse_single(input: &'a [u8]) -> Result<Option<Paragraph<'a>>, ControlError> {
        let mut paragraphs = Paragraphs::new(input);
        let first = paragraphs.next();
        if let Some(extra) = paragraphs.next() {
            return Err(ControlError::ExtraParagraph { line: extra.line() });
        }
        Ok(first)
    }

    /// One stanza's exact bytes (as [`raw`](Self::raw) gives them) as a paragraph of its
    /// own: its line numbers count from its first line.
    pub(crate) fn of_stanza(raw: &'a [u8]) -> Self {
        Paragraph {
            input: raw,
            start: 0,
            end: raw.len(),
        }
    }

    /// The stanza's exact bytes: its lines, each with its `\n` (the last one lacks it only
    /// when the input ended without a newline), without the separating blank line.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        &self.input[self.start..self.end]
    }

    /// Byte offset of the stanza in the parsed buffer.
    pub fn offset(&self) -> usize {
        self.start
    }

    /// 1-based line number of the stanza's first line. Counted on demand (a scan of the
    /// buffer up to the stanza): meant for error messages.
    pub fn line(&self) -> usize {
        line_number(self.input, self.start)
    }

    /// The fields in order of appearance; a malformed line ends the iteration with an
    /// error.
    #[inline]
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            input: self.input,
            position: self.start,
            end: self.end,
        }
    }

    /// The value of the first field called `name`, compared ASCII case-insensitively as
    /// policy requires. Lines are checked up to that field.
    pub fn get(&self, name: &str) -> Result<Option<&'a [u8]>, ControlError> {
        for field in self.fields() {
            let field = field?;
            if field.is(name) {
                return Ok(Some(field.value));
            }
        }
        Ok(None)
    }

    /// Like [`get`](Self::get), decoded as UTF-8.
    pub fn get_str(&self, name: &str) -> Result<Option<&'a str>, ControlError> {
        let Some(value) = self.get(name)? else {
            return Ok(None);
        };
        std::str::from_utf8(value)
            .map(Some)
            .map_err(|source| ControlError::NotUtf8 {
                line: self.line(),
                name: name.to_owned(),
                source,
            })
    }
}

/// One `Name: value` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

impl<'a> Field<'a> {
    /// The name as written: printable ASCII (compare with [`is`](Self::is)).
    #[inline]
    pub fn name(&self) -> &'a str {
        match known_name(self.name) {
            Some(name) => name,
            None => std::str::from_utf8(self.name)
                .expect("a field name is printable ASCII, checked when read"),
        }
    }

    /// The name's bytes.
    #[inline]
    pub fn name_bytes(&self) -> &'a [u8] {
        self.name
    }

    /// Whether the field is called `name`, ignoring ASCII case as policy requires.
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// The value without the spaces after the colon and without trailing spaces and tabs.
    /// Continuation lines stay raw: `"first\n second\n ."`. A value whose first line is
    /// empty (as in a Release `SHA256:` list) starts with `\n`.
    #[inline]
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The value as UTF-8 text.
    pub fn value_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.value)
    }

    /// The value's lines with surrounding whitespace removed, skipping empty ones: the
    /// entries of a list field such as `SHA256`.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.value.split(|&byte| byte == b'\n').filter_map(|line| {
            let trimmed = line.trim_ascii();
            (!trimmed.is_empty()).then_some(trimmed)
        })
    }
}

/// Iterator over the fields of a [`Paragraph`]; ends after the first error.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    input: &'a [u8],
    position: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    #[cold]
    #[inline(never)]
    fn fail(&mut self, offset: usize) -> Option<Result<Field<'a>, ControlError>> {
        let input = self.input;
        let line = line_number(input, offset);
        let found = excerpt(&input[offset..self.end]);
        let first = input[offset];
        let error = if first == b' ' || first == b'\t' {
            if is_blank(found.as_bytes()) {
                ControlError::BlankContinuation { line }
            } else {
                ControlError::OrphanContinuation { line, found }
            }
        } else if first == b'#' || first == b'-' {
            let name = found.split(':').next().unwrap_or_default().to_owned();
            ControlError::InvalidFieldName { line, name }
        } else {
            ControlError::MalformedLine { line, found }
        };
        self.position = self.end;
        Some(Err(error))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, ControlError>;

    // Inlining into the caller's loop keeps the field in registers instead of returning
    // it through memory, which is measurable at a million fields.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (input, start, end) = (self.input, self.position, self.end);
        if start >= end {
            return None;
        }
        let Some(colon) = find_name_end(input, start, end) else {
            return self.fail(start);
        };
        let name = &input[start..colon];
        if name.is_empty() || name[0] == b'#' || name[0] == b'-' {
            return self.fail(start);
        }
        let mut value_start = colon + 1;
        while value_start < end && (input[value_start] == b' ' || input[value_start] == b'\t') {
            value_start += 1;
        }
        let mut search = value_start;
        let (value_end, next) = loop {
            let Some(newline) = find_byte(input, search, end, b'\n') else {
                break (end, end);
            };
            match input.get(newline + 1) {
                Some(b' ' | b'\t') if newline + 1 < end => {
                    search = newline + 1;
                    // A whitespace-only continuation line is not part of any value.
                    let mut cursor = search + 1;
                    while cursor < end && (input[cursor] == b' ' || input[cursor] == b'\t') {
                        cursor += 1;
                    }
                    if cursor >= end || input[cursor] == b'\n' {
                        return self.fail(search);
                    }
                }
                _ => break (newline, newline + 1),
            }
        };
        self.position = next;
        let mut value = &input[value_start..value_end.max(value_start)];
        while let [head @ .., b' ' | b'\t'] = value {
            value = head;
        }
        Some(Ok(Field { name, value }))
    }
}
