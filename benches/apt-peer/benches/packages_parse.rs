//! Packages parsing on the real 50 MB bookworm index: mirror-apt against the
//! debian-packaging crate, on the same decompressed buffer in the same run.
//!
//! Run with `MIRROR_FIXTURES=/path/to/fixtures cargo bench` in `benches/apt-peer`.
//!
//! - `ours/paragraphs_all_fields`: `Paragraphs` over every stanza, every field's name and
//!   value touched. This is the "full parse that exposes every field" of the goal.
//! - `ours/parse_packages_typed`: `parse_packages`, a checked `BinaryPackage` per stanza
//!   (version parsed, digests and path checked).
//! - `peer/control_paragraph_reader_all_fields`: debian-packaging's fastest synchronous
//!   parser, `ControlParagraphReader`, every field's name and value touched.
//! - `peer/binary_package_control_typed`: the same, then `BinaryPackageControlFile` with
//!   the fields our typed view checks read from it (version parsed).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use debian_packaging::binary_package_control::BinaryPackageControlFile;
use debian_packaging::control::ControlParagraphReader;
use mirror_apt::{Paragraphs, parse_packages};

/// (stanzas, fields, bytes of names and values) seen by our zero-copy parser.
fn ours_all_fields(buffer: &[u8]) -> (usize, usize, usize) {
    let (mut stanzas, mut fields, mut bytes) = (0, 0, 0);
    for paragraph in Paragraphs::new(buffer) {
        stanzas += 1;
        for field in paragraph.fields() {
            let field = field.expect("the bookworm index is well formed");
            fields += 1;
            bytes += field.name().len() + field.value().len();
        }
    }
    (stanzas, fields, bytes)
}

/// (stanzas, sum of sizes) from our typed view.
fn ours_typed(buffer: &[u8]) -> (usize, u64) {
    let (mut stanzas, mut size) = (0, 0);
    for package in parse_packages(buffer) {
        let package = package.expect("every bookworm stanza is a valid binary package");
        stanzas += 1;
        size += package.size();
        black_box((
            package.name(),
            package.version(),
            package.filename(),
            package.sha256(),
        ));
    }
    (stanzas, size)
}

/// (stanzas, fields, bytes of names and values) seen by debian-packaging.
fn peer_all_fields(buffer: &[u8]) -> (usize, usize, usize) {
    let (mut stanzas, mut fields, mut bytes) = (0, 0, 0);
    for paragraph in ControlParagraphReader::new(buffer) {
        let paragraph = paragraph.expect("debian-packaging parses the bookworm index");
        stanzas += 1;
        for field in paragraph.iter_fields() {
            fields += 1;
            bytes += field.name().len() + field.value_str().len();
        }
    }
    (stanzas, fields, bytes)
}

/// (stanzas, sum of sizes) from debian-packaging's typed view.
fn peer_typed(buffer: &[u8]) -> (usize, u64) {
    let (mut stanzas, mut size) = (0, 0);
    for paragraph in ControlParagraphReader::new(buffer) {
        let control = BinaryPackageControlFile::from(
            paragraph.expect("debian-packaging parses the bookworm index"),
        );
        stanzas += 1;
        size += control
            .size()
            .expect("Size present")
            .expect("Size is a number");
        let version = control.version().expect("Version parses");
        black_box((
            control.package().ok(),
            version,
            control.field_str("Filename"),
            control.field_str("SHA256"),
        ));
    }
    (stanzas, size)
}

fn packages_parse(criterion: &mut Criterion) {
    let Some(buffer) = mirror_apt_peer_bench::load_packages() else {
        return;
    };
    // Both parsers must see the same index before their speeds mean anything.
    let (stanzas, fields, _) = ours_all_fields(&buffer);
    let (peer_stanzas, peer_fields, _) = peer_all_fields(&buffer);
    assert_eq!(
        (stanzas, fields),
        (peer_stanzas, peer_fields),
        "parsers disagree on stanzas/fields"
    );
    assert_eq!(
        ours_typed(&buffer),
        peer_typed(&buffer),
        "typed views disagree on stanzas/total size"
    );
    eprintln!(
        "Packages: {} bytes, {stanzas} stanzas, {fields} fields",
        buffer.len()
    );

    let mut ours = criterion.benchmark_group("ours");
    ours.throughput(Throughput::Bytes(buffer.len() as u64));
    ours.sample_size(20)
        .measurement_time(Duration::from_secs(5));
    ours.bench_function("paragraphs_all_fields", |bench| {
        bench.iter(|| ours_all_fields(black_box(&buffer)))
    });
    ours.bench_function("parse_packages_typed", |bench| {
        bench.iter(|| ours_typed(black_box(&buffer)))
    });
    ours.finish();

    // About half a second per pass: ten samples of one pass each.
    let mut peer = criterion.benchmark_group("peer");
    peer.throughput(Throughput::Bytes(buffer.len() as u64));
    peer.sample_size(10)
        .measurement_time(Duration::from_secs(8));
    peer.bench_function("control_paragraph_reader_all_fields", |bench| {
        bench.iter(|| peer_all_fields(black_box(&buffer)))
    });
    peer.bench_function("binary_package_control_typed", |bench| {
        bench.iter(|| peer_typed(black_box(&buffer)))
    });
    peer.finish();
}

criterion_group!(benches, packages_parse);
criterion_main!(benches);
