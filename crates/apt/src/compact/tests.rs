//! The compact index against the plain parse of the same text: same stanzas, same
//! fields, same full text, same errors (with their line in the whole file), whichever way
//! the decoder's blocks cut the text.

use std::io::Write;

use super::*;
use crate::packages::{fixture, parse_packages};

/// A sink that only takes bytes.
struct CountBytes;

impl mirror_core::compression::PartSink for CountBytes {
    fn write(&mut self, _: &[u8]) -> bool {
        true
    }
}

/// An xz stream of one block per piece (a full flush ends a block).
fn multi_block(pieces: &[&[u8]]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    for piece in pieces {
        encoder.write_all(piece).expect("write");
        encoder.flush().expect("flush ends the block");
    }
    encoder.finish().expect("finish")
}

fn stanza(name: &str, depends: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: Someone <a@example.org>\n\
         Depends: {depends},\n continued (>= 1)\nDescription: the {name} tool\n long text\n .\n more\n\
         Filename: pool/main/{name}_1.0-1_amd64.deb\nSize: 1234\nMD5sum: {md5}\nSHA256: {sha}\n",
        md5 = "0".repeat(32),
        sha = "a".repeat(64),
    )
}

/// Twelve stanzas, the last without a final newline pair.
fn text() -> Vec<u8> {
    let stanzas: Vec<String> = (0..12)
        .map(|i| stanza(&format!("pkg{i}"), &format!("libc6, dep{i}")))
        .collect();
    stanzas.join("\n").into_bytes()
}

/// (name, version, filename, sha256, size, depends) of every package.
type Seen = Vec<(String, String, String, String, u64, String)>;

fn seen<'a>(packages: impl Iterator<Item = Result<BinaryPackage<'a>, PackageError>>) -> Seen {
    packages
        .map(|package| {
            let package = package.expect("parses");
            (
                package.name().to_owned(),
                package.version().as_str().to_owned(),
                package.filename().to_owned(),
                package.sha256().to_owned(),
                package.size(),
                format!("{:?}", package.depends().expect("depends")),
            )
        })
        .collect()
}

/// [`seen`] of a compact index, each package's file from [`CompactIndex::file`] (read
/// back from the spool when the compact stanzas leave it out).
fn seen_index(index: &CompactIndex) -> Seen {
    (0..index.len())
        .map(|position| {
            let package = index.package(position).expect("parses");
            let file = index.file(position).expect("file");
            (
                package.name().to_owned(),
                package.version().as_str().to_owned(),
                file.filename,
                file.sha256,
                file.size,
                format!("{:?}", package.depends().expect("depends")),
            )
        })
        .collect()
}

fn raw_stanzas(text: &[u8]) -> Vec<Vec<u8>> {
    Paragraphs::new(text).map(|p| p.raw().to_vec()).collect()
}

fn check_same(index: &CompactIndex, text: &[u8]) {
    assert_eq!(seen_index(index), seen(parse_packages(text)));
    let raw = raw_stanzas(text);
    assert_eq!(index.len(), raw.len());
    for (position, expected) in raw.iter().enumerate() {
        assert_eq!(&index.stanza_text(position).expect("text"), expected);
    }
    assert_eq!(index.decoded_len(), text.len() as u64);
}

#[test]
fn plain_text_gives_the_same_packages_and_text() {
    let text = text();
    let index = CompactIndex::from_text(&text, "Packages").expect("compact");
    check_same(&index, &text);
    let compact = index.compact_len();
    assert!(compact < text.len() * 3 / 4, "{compact} of {}", text.len());
}

#[test]
fn every_block_boundary_gives_the_same_index() {
    let text = text();
    let dir = tempfile::tempdir().expect("tempdir");
    // Cuts inside a line, at a line's end, between the two newlines of a boundary, right
    // after one, and three blocks where the middle one holds no boundary at all.
    let first = text.iter().position(|&b| b == b'\n').expect("a line") + 1;
    let pair = memmem::find(&text, b"\n\n").expect("a boundary");
    let mut cuts: Vec<Vec<usize>> = vec![
        vec![5],
        vec![first],
        vec![first - 1],
        vec![pair + 1],
        vec![pair + 2],
        vec![pair],
        vec![text.len() / 2],
        vec![pair + 10, pair + 40],
        vec![1, 2, 3, text.len() - 1],
    ];
    cuts.extend((1..text.len()).step_by(97).map(|cut| vec![cut]));
    for cut in cuts {
        let mut pieces = Vec::new();
        let mut start = 0;
        for &end in &cut {
            pieces.push(&text[start..end]);
            start = end;
        }
        pieces.push(&text[start..]);
        let xz = multi_block(&pieces);
        let index = CompactIndex::decode(
            Input::Bytes(&xz),
            Compression::Xz,
            u64::MAX,
            "Packages.xz",
            Some(dir.path()),
        )
        .unwrap_or_else(|error| panic!("cut at {cut:?}: {error}"));
        check_same(&index, &text);
        // Decoded as parts: each part's arena, the stanza joined at each cut, the last.
        assert!(index.arenas.len() > cut.len().min(2), "cut at {cut:?}");
        // The cuts are real: the stream decodes as one part per piece (the parallel
        // path), not as one sequential stream.
        let parts =
            decompress_verified_parts(Input::Bytes(&xz), Compression::Xz, u64::MAX, "x", |_| {
                CountBytes
            })
            .expect("decodes");
        assert_eq!(parts.len(), cut.len() + 1, "cut at {cut:?}");
    }
    // The spool is unlinked: nothing is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[test]
fn an_error_names_the_index_and_its_line_in_the_whole_file() {
    let mut text = text();
    // Break the ninth stanza's Size: its line in the whole file is what the plain parse
    // reports, whichever block it fell in.
    let ninth = Paragraphs::new(&text).nth(8).expect("nine stanzas");
    let size = ninth.offset() + memmem::find(ninth.raw(), b"Size: 1234").expect("size");
    text[size + 6] = b'x';
    let expected = parse_packages(&text)
        .find_map(Result::err)
        .expect("the plain parse fails");
    for cut in [10, size - 3, size + 3, text.len() - 10] {
        let xz = multi_block(&[&text[..cut], &text[cut..]]);
        let error = CompactIndex::decode(
            Input::Bytes(&xz),
            Compression::Xz,
            u64::MAX,
            "dists/x/Packages.xz",
            None,
        )
        .expect_err("malformed");
        let message = error.to_string();
        assert!(message.contains("dists/x/Packages.xz"), "{message}");
        assert!(
            message.contains(&expected.to_string()),
            "cut at {cut}: {message} vs {expected}"
        );
    }
}

#[test]
fn a_decoded_size_over_the_limit_is_refused() {
    let text = text();
    for xz in [
        multi_block(&[&text[..100], &text[100..]]),
        multi_block(&[&text]),
    ] {
        let error = CompactIndex::decode(
            Input::Bytes(&xz),
            Compression::Xz,
            1000,
            "Packages.xz",
            None,
        )
        .expect_err("over the limit");
        assert!(
            matches!(
                error,
                AptError::Compression(mirror_core::compression::CompressionError::TooLarge { .. })
            ),
            "{error}"
        );
    }
}

#[test]
fn without_a_spool_the_text_is_an_error_not_a_guess() {
    let text = text();
    let index = CompactIndex::decode(
        Input::Bytes(&text),
        Compression::None,
        u64::MAX,
        "Packages",
        None,
    )
    .expect("compact");
    assert_eq!(index.len(), 12);
    assert!(index.stanza_text(0).is_err());
    // Without a spool the compact stanzas keep each package's file.
    assert_eq!(index.package(0).expect("parses").size(), 1234);
    assert_eq!(index.file(0).expect("file").size, 1234);
}

#[test]
fn the_bookworm_index_decodes_compact_in_parallel() {
    let Some(plain) = fixture::packages() else {
        return;
    };
    let root = fixture::root().expect("fixture root");
    // Read where it lies, as sync reads a stored index.
    let path = root.join("debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz");
    let xz = std::fs::File::open(&path).expect("open");
    let dir = tempfile::tempdir().expect("tempdir");
    let index = CompactIndex::decode(
        Input::File(&xz),
        Compression::Xz,
        u64::MAX,
        "Packages.xz",
        Some(dir.path()),
    )
    .expect("decodes");
    assert_eq!(seen_index(&index), seen(parse_packages(plain)));
    // With a spool, the compact stanzas leave each package's file out.
    let first = index.package(0).expect("parses");
    assert_eq!(
        (first.filename(), first.size(), first.sha256()),
        ("", 0, "")
    );
    let raw = raw_stanzas(plain);
    assert_eq!(index.len(), raw.len());
    // The stanzas around the block boundary (the file has two blocks), and a few others.
    let boundary = raw
        .iter()
        .scan(0usize, |offset, stanza| {
            *offset += stanza.len() + 1;
            Some(*offset)
        })
        .position(|end| end >= 25_165_824)
        .expect("a stanza crosses the first block's end");
    for position in [0, boundary - 1, boundary, boundary + 1, raw.len() - 1] {
        assert_eq!(index.stanza_text(position).expect("text"), raw[position]);
    }
    // Measured: 12.9 MB of 50.1 without the file, 22.1 MB with it.
    let compact = index.compact_len();
    assert!(
        compact < plain.len() * 3 / 10,
        "{compact} of {}",
        plain.len()
    );
    let with_file = CompactIndex::decode(Input::File(&xz), Compression::Xz, u64::MAX, "x", None)
        .expect("decodes");
    assert!(with_file.compact_len() < plain.len() / 2);
    assert_eq!(seen_index(&with_file), seen(parse_packages(plain)));
}
