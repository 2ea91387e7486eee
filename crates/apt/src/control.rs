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

use scan::{find_byte, find_name_end, is_name_byte, known_name};

mod scan;

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
        Paragraphs {
            input,
            position: 0,
            separator: Finder::new(b"\n\n"),
        }
    }
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

/// Writes control files that [`Paragraphs`] (and apt) read back field for field.
///
/// Every stanza ends with a blank line when closed with
/// [`end_paragraph`](Self::end_paragraph), as in Debian's Packages files; a Release file
/// (one stanza, no trailing blank line) simply never closes its stanza.
#[derive(Debug, Clone, Default)]
pub struct ControlWriter {
    buffer: Vec<u8>,
    open: bool,
}

impl ControlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `Name: value` to the open stanza, opening one if needed.
    ///
    /// A multi-line value must have each continuation line start with a space or tab and
    /// contain something besides whitespace; a value starting with `\n` is written
    /// `Name:` followed by its lines (the `SHA256:` list style).
    pub fn field(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, ControlError> {
        check_name(name)?;
        check_value(name, value)?;
        self.buffer.extend_from_slice(name.as_bytes());
        self.buffer.push(b':');
        if !value.is_empty() && value[0] != b'\n' {
            self.buffer.push(b' ');
        }
        self.buffer.extend_from_slice(value);
        self.buffer.push(b'\n');
        self.open = true;
        Ok(self)
    }

    /// Closes the open stanza with a blank line (no-op when none is open).
    pub fn end_paragraph(&mut self) -> &mut Self {
        if self.open {
            self.buffer.push(b'\n');
            self.open = false;
        }
        self
    }

    /// Copies a whole stanza (such as [`Paragraph::raw`]) and closes it.
    pub fn paragraph(&mut self, raw: &[u8]) -> &mut Self {
        self.end_paragraph();
        self.buffer.extend_from_slice(raw);
        if raw.last() != Some(&b'\n') {
            self.buffer.push(b'\n');
        }
        self.buffer.push(b'\n');
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer
    }

    /// The finished file.
    pub fn finish(self) -> Vec<u8> {
        self.buffer
    }
}

fn check_name(name: &str) -> Result<(), ControlError> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes[0] != b'#'
        && bytes[0] != b'-'
        && bytes.iter().all(|&byte| is_name_byte(byte));
    if valid {
        Ok(())
    } else {
        Err(ControlError::InvalidFieldName {
            line: 0,
            name: name.to_owned(),
        })
    }
}

fn check_value(name: &str, value: &[u8]) -> Result<(), ControlError> {
    let invalid = |reason| ControlError::InvalidValue {
        name: name.to_owned(),
        reason,
    };
    let mut lines = value.split(|&byte| byte == b'\n');
    let first = lines.next().unwrap_or_default();
    if first
        .first()
        .is_some_and(|&byte| byte == b' ' || byte == b'\t')
    {
        return Err(invalid("leading whitespace would be dropped"));
    }
    if value
        .last()
        .is_some_and(|&byte| byte == b' ' || byte == b'\t' || byte == b'\n')
    {
        return Err(invalid("trailing whitespace would be dropped"));
    }
    for line in lines {
        if !line
            .first()
            .is_some_and(|&byte| byte == b' ' || byte == b'\t')
        {
            return Err(invalid(
                "a continuation line must start with a space or tab",
            ));
        }
        if is_blank(line) {
            return Err(invalid("a blank continuation line would end the stanza"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Stanza = Vec<(String, Vec<u8>)>;

    fn fields_of(paragraph: &Paragraph<'_>) -> Result<Stanza, ControlError> {
        paragraph
            .fields()
            .map(|field| field.map(|field| (field.name().to_owned(), field.value().to_vec())))
            .collect()
    }

    fn collect(input: &[u8]) -> Result<Vec<Stanza>, ControlError> {
        Paragraphs::new(input)
            .map(|paragraph| fields_of(&paragraph))
            .collect()
    }

    #[test]
    fn parses_stanzas_fields_and_continuations() {
        let input = b"\n\nPackage: a\nDescription: short\n long line\n .\n more\nSize:  12  \n\n\n\nPackage: b\nSHA256:\n 00 1 x\n 11 2 y";
        let paragraphs: Vec<_> = Paragraphs::new(input).collect();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[0].line(), 3);
        assert_eq!(
            paragraphs[0].raw(),
            b"Package: a\nDescription: short\n long line\n .\n more\nSize:  12  \n"
        );
        assert_eq!(
            paragraphs[0].get("description"),
            Ok(Some(&b"short\n long line\n .\n more"[..]))
        );
        assert_eq!(paragraphs[0].get("SIZE"), Ok(Some(&b"12"[..])));
        assert_eq!(paragraphs[0].get("Missing"), Ok(None));
        assert_eq!(paragraphs[1].line(), 12);
        assert_eq!(
            paragraphs[1].raw(),
            b"Package: b\nSHA256:\n 00 1 x\n 11 2 y"
        );
        let field = paragraphs[1]
            .fields()
            .nth(1)
            .expect("two fields")
            .expect("valid");
        assert!(field.is("sha256") && field.name() == "SHA256" && field.name_bytes() == b"SHA256");
        assert_eq!(field.value(), b"\n 00 1 x\n 11 2 y");
        assert_eq!(
            field.lines().collect::<Vec<_>>(),
            vec![&b"00 1 x"[..], b"11 2 y"]
        );
    }

    #[test]
    fn empty_value_and_colon_in_value() {
        let fields = collect(b"Empty:\nUrl: http://x:80/y\n").expect("valid");
        assert_eq!(
            fields,
            vec![vec![
                ("Empty".into(), b"".to_vec()),
                ("Url".into(), b"http://x:80/y".to_vec())
            ]]
        );
    }

    #[test]
    fn malformed_lines_report_their_line_number() {
        let error = collect(b"Package: a\n\nPackage: b\nno colon here\n").expect_err("malformed");
        assert!(
            matches!(error, ControlError::MalformedLine { line: 4, ref found } if found == "no colon here")
        );
        assert!(error.to_string().starts_with("line 4:"), "{error}");
        let error = collect(b"A: b\n\n continuation\n").expect_err("orphan");
        assert!(
            matches!(error, ControlError::OrphanContinuation { line: 3, .. }),
            "{error}"
        );
        let error = collect(b"Bad Name: x\n").expect_err("space in name");
        assert!(
            matches!(error, ControlError::MalformedLine { line: 1, .. }),
            "{error}"
        );
        let error = collect(b": x\n").expect_err("empty name");
        assert!(
            matches!(error, ControlError::MalformedLine { line: 1, .. }),
            "{error}"
        );
        let error = collect(b"#comment: x\n").expect_err("comment");
        assert!(
            matches!(error, ControlError::InvalidFieldName { line: 1, .. }),
            "{error}"
        );
        let error = collect(b"Name-without-colon").expect_err("no colon at end of input");
        assert!(
            matches!(error, ControlError::MalformedLine { line: 1, .. }),
            "{error}"
        );
        let error = collect(b"A: b\n \t\nC: d\n").expect_err("blank continuation");
        assert!(
            matches!(error, ControlError::BlankContinuation { line: 2 }),
            "{error}"
        );
        let error = collect(b"A: b\n\n \nC: d\n").expect_err("blank line with a space");
        assert!(
            matches!(error, ControlError::BlankContinuation { line: 3 }),
            "{error}"
        );
    }

    #[test]
    fn fields_stop_after_an_error_and_other_stanzas_still_parse() {
        let mut paragraphs = Paragraphs::new(b"A: 1\nbad\nB: 2\n\nC: 3\n");
        let first = paragraphs.next().expect("one stanza");
        let mut fields = first.fields();
        assert!(fields.next().expect("A").is_ok());
        assert!(fields.next().expect("bad").is_err());
        assert!(fields.next().is_none());
        let second = paragraphs.next().expect("two stanzas");
        assert_eq!(second.get_str("c"), Ok(Some("3")));
        assert_eq!(second.offset(), 15);
        assert!(paragraphs.next().is_none());
    }

    #[test]
    fn parse_single_rejects_a_second_stanza() {
        assert!(
            Paragraph::parse_single(b"\nA: b\n\n")
                .expect("one")
                .is_some()
        );
        assert!(Paragraph::parse_single(b"\n\n").expect("none").is_none());
        let error = Paragraph::parse_single(b"A: b\n\nC: d\n").expect_err("two");
        assert!(
            matches!(error, ControlError::ExtraParagraph { line: 3 }),
            "{error}"
        );
    }

    #[test]
    fn get_str_reports_non_utf8() {
        let paragraph = Paragraph::parse_single(b"A: \xff\n")
            .expect("valid")
            .expect("one");
        assert!(matches!(
            paragraph.get_str("a"),
            Err(ControlError::NotUtf8 { line: 1, .. })
        ));
    }

    #[test]
    fn writer_rejects_values_that_would_not_round_trip() {
        let mut writer = ControlWriter::new();
        assert!(writer.field("Description", b"x\nPackage: evil").is_err());
        assert!(writer.field("Description", b"x\n \n more").is_err());
        assert!(writer.field("Description", b" x").is_err());
        assert!(writer.field("Description", b"x ").is_err());
        assert!(writer.field("Bad Name", b"x").is_err());
        assert!(writer.field("-x", b"x").is_err());
        assert!(writer.as_bytes().is_empty());
    }

    #[test]
    fn writer_closes_stanzas_with_a_blank_line() {
        let mut writer = ControlWriter::new();
        writer
            .field("A", b"1")
            .expect("valid")
            .field("B", b"\n x\n y")
            .expect("valid");
        writer
            .end_paragraph()
            .paragraph(b"C: 3")
            .field("D", b"")
            .expect("valid");
        assert_eq!(writer.finish(), b"A: 1\nB:\n x\n y\n\nC: 3\n\nD:\n");
    }

    /// A field name: policy characters, not starting with `#` or `-`.
    fn name_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][!-9;-~]{0,12}"
    }

    /// A value as the writer accepts it: no surrounding whitespace, continuation lines
    /// with content.
    fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
        let first = "([!-~]([ -~\u{e9}]{0,20}[!-~])?)?";
        let continuation = "[ \t][ -~]{0,15}[!-~]";
        (first, proptest::collection::vec(continuation, 0..4)).prop_map(|(first, lines)| {
            let mut value = first.into_bytes();
            for line in lines {
                value.push(b'\n');
                value.extend_from_slice(line.as_bytes());
            }
            value
        })
    }

    proptest! {
        #[test]
        fn written_paragraphs_parse_back(
            stanzas in proptest::collection::vec(
                proptest::collection::vec((name_strategy(), value_strategy()), 1..8),
                0..5,
            ),
            close_last in any::<bool>(),
        ) {
            let mut writer = ControlWriter::new();
            let mut raws = Vec::new();
            for (index, stanza) in stanzas.iter().enumerate() {
                let start = writer.as_bytes().len();
                for (name, value) in stanza {
                    writer.field(name, value).expect("strategy yields writable fields");
                }
                raws.push(writer.as_bytes()[start..].to_vec());
                if index + 1 < stanzas.len() || close_last {
                    writer.end_paragraph();
                }
            }
            let bytes = writer.finish();
            let parsed: Vec<Paragraph<'_>> = Paragraphs::new(&bytes).collect();
            prop_assert_eq!(parsed.len(), stanzas.len());
            for ((paragraph, stanza), raw) in parsed.iter().zip(&stanzas).zip(&raws) {
                prop_assert_eq!(paragraph.raw(), &raw[..]);
                let fields = fields_of(paragraph).expect("writer output parses");
                prop_assert_eq!(&fields, stanza);
            }
            // Copying stanzas through raw() reproduces the file byte for byte.
            let mut copy = ControlWriter::new();
            for paragraph in &parsed {
                copy.paragraph(paragraph.raw());
            }
            let mut expected = bytes.clone();
            if !stanzas.is_empty() && !close_last {
                expected.push(b'\n');
            }
            prop_assert_eq!(copy.finish(), expected);
        }

        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut covered = 0;
            for paragraph in Paragraphs::new(&input) {
                prop_assert!(!paragraph.raw().is_empty() && paragraph.raw()[0] != b'\n');
                covered += paragraph.raw().len();
                for field in paragraph.fields().flatten() {
                    prop_assert!(!field.name().is_empty());
                }
            }
            prop_assert!(covered <= input.len());
        }
    }
}
