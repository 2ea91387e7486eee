//! Tests of the control format: parsing, writing, and both against real indices.

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

proptest! {
    /// However a file is cut for parsing on several cores, every stanza is read exactly
    /// once, in order, with the line number it has in the whole file.
    #[test]
    fn stanza_ranges_cover_every_stanza_once(
        stanzas in proptest::collection::vec(("[a-z]{1,8}", 0usize..3, 1usize..4), 0..40),
        parts in 1usize..12,
    ) {
        let mut input = Vec::new();
        for (name, blanks, lines) in &stanzas {
            for line in 0..*lines {
                input.extend_from_slice(format!("F{line}: {name}\n").as_bytes());
            }
            input.extend(std::iter::repeat_n(b'\n', *blanks + 1));
        }
        let whole: Vec<(usize, Vec<u8>)> = Paragraphs::new(&input)
            .map(|p| (p.line(), p.raw().to_vec()))
            .collect();
        let ranges = stanza_ranges(&input, parts);
        prop_assert!(ranges.len() <= parts);
        prop_assert_eq!(ranges.first().map(|r| r.start), Some(0));
        prop_assert_eq!(ranges.last().map(|r| r.end), Some(input.len()));
        for pair in ranges.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start);
        }
        let cut: Vec<(usize, Vec<u8>)> = ranges
            .into_iter()
            .flat_map(|range| Paragraphs::within(&input, range))
            .map(|p| (p.line(), p.raw().to_vec()))
            .collect();
        prop_assert_eq!(cut, whole);
    }
}
