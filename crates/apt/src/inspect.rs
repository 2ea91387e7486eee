//! Summaries of an APT index for a person (`mirror-cli inspect FILE|URL`): what a
//! `Release`/`InRelease` says, and how many packages a `Packages` index holds, for how
//! many bytes of `.deb`s, and how fast it decoded and parsed.
//!
//! Nothing here verifies a signature (that needs a keyring, and `sync` does it): an
//! `InRelease` is shown as its signer wrote it, dash-escaping undone, with the same framing
//! rules as verification (no text outside the signed block).

use std::collections::{BTreeMap, HashSet};

use foldhash::fast::RandomState;
use std::fmt;
use std::time::Instant;

use mirror_core::compression::{Compression, decompress};
use mirror_core::signing::cleartext_body;
use serde::Serialize;

use crate::control::Paragraphs;
use crate::error::AptError;
use crate::release::Release;

/// The most an index may decode to (Debian's largest Packages is ~100 MB; Contents
/// indices are larger).
pub const MAX_DECODED_BYTES: u64 = 8 << 30;

/// What [`inspect_index`] found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum IndexSummary {
    /// A `Release` or `InRelease`.
    Release(ReleaseSummary),
    /// A `Packages` index (any compression).
    Packages(PackagesSummary),
}

impl fmt::Display for IndexSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexSummary::Release(summary) => summary.fmt(f),
            IndexSummary::Packages(summary) => summary.fmt(f),
        }
    }
}

/// A Release file's fields.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// The file or URL.
    pub file: String,
    /// Always `release`.
    pub kind: &'static str,
    /// An `InRelease` (clear-signed) rather than a plain `Release`.
    pub clearsigned: bool,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Suite`.
    pub suite: Option<String>,
    /// `Codename`.
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Date`.
    pub date: Option<String>,
    /// `Valid-Until`.
    pub valid_until: Option<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// How many index files it lists.
    pub files: usize,
}

impl fmt::Display for ReleaseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |value: &Option<String>, default: &'static str| {
            value.clone().unwrap_or_else(|| default.to_owned())
        };
        write!(
            f,
            "Release of {} {} ({}), {}; {} files listed; architectures {}; components {}{}",
            or(&self.origin, "?"),
            or(&self.suite, "?"),
            or(&self.codename, "?"),
            or(&self.date, "undated"),
            self.files,
            self.architectures.join(" "),
            self.components.join(" "),
            if self.clearsigned {
                "; clear-signed (not verified here)"
            } else {
                ""
            },
        )
    }
}

/// A Packages index, counted.
#[derive(Debug, Clone, Serialize)]
pub struct PackagesSummary {
    /// The file or URL.
    pub file: String,
    /// Always `packages`.
    pub kind: &'static str,
    /// Stanzas.
    pub stanzas: usize,
    /// Distinct package names.
    pub names: usize,
    /// Stanzas per `Architecture`.
    pub architectures: BTreeMap<String, usize>,
    /// Sum of every `Size`: what mirroring all of it would download.
    pub deb_bytes: u64,
    /// The index as read.
    pub compressed_bytes: usize,
    /// The index decoded.
    pub decoded_bytes: usize,
    /// Time to decode.
    pub decode_seconds: f64,
    /// Time to parse every field.
    pub parse_seconds: f64,
}

impl fmt::Display for PackagesSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb_per_s = self.decoded_bytes as f64 / 1e6 / self.parse_seconds.max(1e-9);
        write!(
            f,
            "{} packages ({} names), architectures {:?}, {} of .debs; index {} decoded ({:.2}s), parsed in {:.3}s ({mb_per_s:.0} MB/s)",
            self.stanzas,
            self.names,
            self.architectures,
            mirror_core::sync::human_bytes(self.deb_bytes),
            mirror_core::sync::human_bytes(self.decoded_bytes as u64),
            self.decode_seconds,
            self.parse_seconds
        )
    }
}

/// Summarise the index `raw` read from `origin` (a path or URL): its name says what it
/// is (`Release`, `InRelease`, else a Packages index) and how it is compressed.
pub fn inspect_index(raw: &[u8], origin: &str) -> Result<IndexSummary, AptError> {
    let name = origin.rsplit('/').next().unwrap_or(origin);
    let compression = Compression::from_path(name);
    let stem = name.trim_end_matches(compression.extension());
    let started = Instant::now();
    // A plain index is parsed where it lies: a copy would double the peak memory.
    let decoded: std::borrow::Cow<'_, [u8]> = match compression {
        Compression::None => raw.into(),
        _ => decompress(raw, compression, MAX_DECODED_BYTES, origin)?.into(),
    };
    let decode_seconds = started.elapsed().as_secs_f64();
    if stem == "Release" || stem == "InRelease" {
        return inspect_release(&decoded, origin).map(IndexSummary::Release);
    }
    let mut summary = inspect_packages(&decoded, origin)?;
    summary.compressed_bytes = raw.len();
    summary.decode_seconds = decode_seconds;
    Ok(IndexSummary::Packages(summary))
}

/// Summarise a `Release` or (clear-signed) `InRelease`.
pub fn inspect_release(bytes: &[u8], origin: &str) -> Result<ReleaseSummary, AptError> {
    let malformed = |message: String| AptError::Malformed {
        origin: origin.to_owned(),
        message,
    };
    let clearsigned = bytes
        .trim_ascii_start()
        .starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----");
    let body = if clearsigned {
        // The error names its origin; ours is already in `Malformed`'s message prefix.
        cleartext_body(bytes, "clear-signed message").map_err(|e| malformed(e.to_string()))?
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("not UTF-8".into()))?
    };
    let parsed =
        Release::parse(&body).map_err(|e| malformed(format!("not a Release file: {e}")))?;
    let fields = &parsed.fields;
    let owned = |value: Option<&str>| value.map(str::to_owned);
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    Ok(ReleaseSummary {
        file: origin.to_owned(),
        kind: "release",
        clearsigned,
        origin: owned(fields.origin),
        suite: owned(fields.suite),
        codename: owned(fields.codename),
        version: owned(fields.version),
        date: owned(fields.date),
        valid_until: owned(fields.valid_until),
        acquire_by_hash: fields.acquire_by_hash,
        architectures: strings(&fields.architectures),
        components: strings(&fields.components),
        files: parsed.files().len(),
    })
}

/// Count a decoded Packages index in borrowed passes, one per core over ranges cut at
/// stanza boundaries: no allocation per stanza or field, so it runs at the parser's speed
/// times the cores.
pub fn inspect_packages(decoded: &[u8], origin: &str) -> Result<PackagesSummary, AptError> {
    use rayon::prelude::*;
    let started = Instant::now();
    // Several ranges per thread, so one slow range (long descriptions) does not leave
    // the other cores idle; a small index is one range.
    let parts = if decoded.len() < 1 << 20 {
        1
    } else {
        rayon::current_num_threads() * 4
    };
    let counts: Vec<Result<Counts<'_>, AptError>> = crate::control::stanza_ranges(decoded, parts)
        .into_par_iter()
        .map(|range| Counts::of(decoded, range, origin))
        .collect();
    let mut total = Counts::default();
    for counts in counts {
        // The first error in file order, whichever core found it first.
        total.add(counts?);
    }
    let parse_seconds = started.elapsed().as_secs_f64();
    Ok(PackagesSummary {
        file: origin.to_owned(),
        kind: "packages",
        stanzas: total.stanzas,
        names: total.names.len(),
        architectures: total
            .architectures
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v))
            .collect(),
        deb_bytes: total.deb_bytes,
        compressed_bytes: decoded.len(),
        decoded_bytes: decoded.len(),
        decode_seconds: 0.0,
        parse_seconds,
    })
}

/// What one range of a Packages index holds.
#[derive(Default)]
struct Counts<'a> {
    stanzas: usize,
    deb_bytes: u64,
    /// SipHash was a fifth of the whole run; names are not attacker-chosen keys here
    /// (a summary, not a long-lived table), so a fast hash will do.
    names: HashSet<&'a [u8], RandomState>,
    architectures: BTreeMap<&'a [u8], usize>,
}

impl<'a> Counts<'a> {
    /// Count `decoded[range]`; an error's line counts from the start of `decoded`.
    fn of(
        decoded: &'a [u8],
        range: std::ops::Range<usize>,
        origin: &str,
    ) -> Result<Self, AptError> {
        Self::counted(decoded, range).map_err(|e| malformed(origin, e))
    }

    fn counted(
        decoded: &'a [u8],
        range: std::ops::Range<usize>,
    ) -> Result<Self, crate::control::ControlError> {
        let mut counts = Counts::default();
        for paragraph in Paragraphs::within(decoded, range) {
            counts.stanzas += 1;
            for field in paragraph.fields() {
                let field = field?;
                match field.name() {
                    "Package" => {
                        counts.names.insert(field.value());
                    }
                    "Architecture" => *counts.architectures.entry(field.value()).or_default() += 1,
                    "Size" => {
                        counts.deb_bytes += std::str::from_utf8(field.value())
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                            .unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
        Ok(counts)
    }

    fn add(&mut self, other: Counts<'a>) {
        self.stanzas += other.stanzas;
        self.deb_bytes += other.deb_bytes;
        if self.names.len() < other.names.len() {
            let smaller = std::mem::replace(&mut self.names, other.names);
            self.names.extend(smaller);
        } else {
            self.names.extend(other.names);
        }
        for (arch, n) in other.architectures {
            *self.architectures.entry(arch).or_default() += n;
        }
    }
}

fn malformed(origin: &str, error: crate::control::ControlError) -> AptError {
    AptError::Malformed {
        origin: origin.to_owned(),
        message: format!("malformed control data: {error}"),
    }
}

/// Bytes read at a time by [`inspect_packages_reader`]: large enough that a chunk is
/// thousands of stanzas, small enough that a few in flight are a few MB.
const CHUNK: usize = 512 << 10;

/// The longest stanza [`inspect_packages_reader`] accepts (Debian's longest are a few
/// hundred KB): a file with no blank line for longer than this is refused, not buffered.
pub const MAX_STANZA_BYTES: usize = 64 << 20;

/// Count a plain Packages index read from `reader`, in chunks cut at stanza boundaries
/// and parsed on every core while the next chunk is read. Memory is a few chunks and
/// the summary, not the file: nothing is mapped (another process truncating the file
/// cannot kill this one with SIGBUS) and a pipe works as well as a file. An error names
/// `origin` and the line in the whole file.
pub fn inspect_packages_reader(
    reader: impl std::io::Read,
    origin: &str,
) -> Result<PackagesSummary, AptError> {
    read_in_chunks(reader, origin, CHUNK, MAX_STANZA_BYTES)
}

/// [`inspect_packages_reader`] with its sizes as parameters (tests use small ones).
fn read_in_chunks(
    mut reader: impl std::io::Read,
    origin: &str,
    chunk_bytes: usize,
    max_stanza: usize,
) -> Result<PackagesSummary, AptError> {
    let started = Instant::now();
    let workers = rayon::current_num_threads().max(1);
    let read_error = |e: std::io::Error| AptError::Malformed {
        origin: origin.to_owned(),
        message: format!("read failed: {e}"),
    };
    let mut summary = OwnedCounts::default();
    let mut total_bytes = 0usize;
    let (work, jobs) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(workers);
    let jobs = std::sync::Mutex::new(jobs);
    let (done, finished) = std::sync::mpsc::channel::<(usize, Vec<u8>, ChunkResult)>();
    std::thread::scope(|scope| -> Result<(), AptError> {
        // Owned here, so an early return drops it and the workers' `recv` ends.
        let work = work;
        for _ in 0..workers {
            let (jobs, done) = (&jobs, done.clone());
            scope.spawn(move || {
                loop {
                    let job = jobs
                        .lock()
                        .map_err(|_| ())
                        .and_then(|j| j.recv().map_err(|_| ()));
                    let Ok((index, chunk)) = job else { break };
                    let result = ChunkResult::of(&chunk);
                    if done.send((index, chunk, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        // Chunks come back in any order; they are merged in file order, so the first
        // error reported is the first in the file and its line counts every line before.
        let mut merger = Merger::default();
        let mut free: Vec<Vec<u8>> = (0..=workers).map(|_| Vec::new()).collect();
        let mut carry: Vec<u8> = Vec::new();
        let mut sent = 0usize;
        let mut at_end = false;
        while !at_end {
            let mut chunk = match free.pop() {
                Some(chunk) => chunk,
                None => {
                    let (index, chunk, result) = finished.recv().expect("workers run");
                    merger.accept(index, result, &mut summary, origin)?;
                    chunk
                }
            };
            chunk.clear();
            chunk.append(&mut carry);
            // Read at least a chunk, and on until a blank line ends a stanza in it.
            let cut = loop {
                at_end = fill(&mut reader, &mut chunk, chunk_bytes).map_err(read_error)?;
                if at_end {
                    break chunk.len();
                }
                if let Some(found) = memchr::memmem::rfind(&chunk, b"\n\n") {
                    break found + 1;
                }
                if chunk.len() > max_stanza {
                    return Err(AptError::Malformed {
                        origin: origin.to_owned(),
                        message: format!(
                            "a stanza longer than {max_stanza} bytes (no blank line from byte {total_bytes})"
                        ),
                    });
                }
            };
            carry.extend_from_slice(&chunk[cut..]);
            chunk.truncate(cut);
            total_bytes += chunk.len();
            work.send((sent, chunk)).expect("workers run");
            sent += 1;
        }
        drop(work);
        for (index, _, result) in finished {
            merger.accept(index, result, &mut summary, origin)?;
        }
        Ok(())
    })?;
    Ok(PackagesSummary {
        file: origin.to_owned(),
        kind: "packages",
        stanzas: summary.stanzas,
        names: summary.names.len(),
        architectures: summary
            .architectures
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
            .collect(),
        deb_bytes: summary.deb_bytes,
        compressed_bytes: total_bytes,
        decoded_bytes: total_bytes,
        decode_seconds: 0.0,
        parse_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Read up to `want` more bytes onto `buf`; true at the end of the input.
fn fill(reader: &mut impl std::io::Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    use std::io::Read as _;
    buf.reserve(want);
    let read = reader.by_ref().take(want as u64).read_to_end(buf)?;
    Ok(read < want)
}

/// One chunk's counts, owned (the chunk's buffer is reused), and how many lines it held.
struct ChunkResult {
    lines: usize,
    counts: Result<OwnedCounts, crate::control::ControlError>,
}

impl ChunkResult {
    fn of(chunk: &[u8]) -> Self {
        // Counted always, though only an error in a later chunk needs it: memchr's
        // vectorised count is ~1 ms for 50 MB (a plain `filter(..).count()` was 10 ms,
        // a third of the run).
        let lines = memchr::memchr_iter(b'\n', chunk).count();
        let counts = Counts::counted(chunk, 0..chunk.len()).map(|counts| OwnedCounts {
            stanzas: counts.stanzas,
            deb_bytes: counts.deb_bytes,
            names: counts.names.into_iter().map(Box::from).collect(),
            architectures: counts
                .architectures
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v))
                .collect(),
        });
        Self { lines, counts }
    }
}

/// [`Counts`] that outlive their chunk.
#[derive(Default)]
struct OwnedCounts {
    stanzas: usize,
    deb_bytes: u64,
    names: HashSet<Box<[u8]>, RandomState>,
    architectures: BTreeMap<Vec<u8>, usize>,
}

impl OwnedCounts {
    fn add(&mut self, other: OwnedCounts) {
        self.stanzas += other.stanzas;
        self.deb_bytes += other.deb_bytes;
        self.names.extend(other.names);
        for (arch, n) in other.architectures {
            *self.architectures.entry(arch).or_default() += n;
        }
    }
}

/// Merges chunk results in file order as they arrive in any order.
#[derive(Default)]
struct Merger {
    next: usize,
    lines: usize,
    waiting: BTreeMap<usize, ChunkResult>,
}

impl Merger {
    fn accept(
        &mut self,
        index: usize,
        result: ChunkResult,
        summary: &mut OwnedCounts,
        origin: &str,
    ) -> Result<(), AptError> {
        self.waiting.insert(index, result);
        while let Some(result) = self.waiting.remove(&self.next) {
            match result.counts {
                Ok(counts) => summary.add(counts),
                Err(e) => return Err(malformed(origin, e.after_lines(self.lines))),
            }
            self.lines += result.lines;
            self.next += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::signing::SigningKey;

    const PACKAGES: &[u8] = b"Package: a\nArchitecture: amd64\nSize: 10\n\nPackage: a\nArchitecture: i386\nSize: 5\n\nPackage: b\nArchitecture: all\nSize: 1\n";

    #[test]
    fn packages_are_counted() {
        let summary = inspect_packages(PACKAGES, "Packages").expect("parses");
        assert_eq!(
            (summary.stanzas, summary.names, summary.deb_bytes),
            (3, 2, 16)
        );
        assert_eq!(summary.architectures["amd64"], 1);
        let packed = mirror_core::compression::compress(PACKAGES, Compression::Gzip).expect("gzip");
        let IndexSummary::Packages(summary) =
            inspect_index(&packed, "dists/x/main/binary-amd64/Packages.gz").expect("gz")
        else {
            panic!("not a Packages summary")
        };
        assert_eq!(summary.stanzas, 3);
        assert_eq!(summary.compressed_bytes, packed.len());
        assert!(
            summary.to_string().starts_with("3 packages (2 names)"),
            "{summary}"
        );
    }

    /// `n` stanzas of a few fields, the `bad`-th (if any) with a malformed line.
    fn index(n: usize, bad: Option<usize>) -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..n {
            let arch = if i % 3 == 0 { "all" } else { "amd64" };
            text.extend_from_slice(
                format!(
                    "Package: p{}\nArchitecture: {arch}\nSize: {i}\nDescription: x\n y\n",
                    i / 2
                )
                .as_bytes(),
            );
            if bad == Some(i) {
                text.extend_from_slice(b"not a field line\n");
            }
            text.push(b'\n');
        }
        text
    }

    #[test]
    fn a_stream_in_chunks_counts_what_the_whole_buffer_does() {
        let text = index(5_000, None);
        let whole = inspect_packages(&text, "Packages").expect("whole");
        for chunk in [64, 1000, 4096, 1 << 20] {
            let streamed = read_in_chunks(&text[..], "Packages", chunk, 1 << 20).expect("streamed");
            assert_eq!(
                (streamed.stanzas, streamed.names, streamed.deb_bytes),
                (whole.stanzas, whole.names, whole.deb_bytes),
                "chunks of {chunk}"
            );
            assert_eq!(streamed.architectures, whole.architectures);
            assert_eq!(streamed.decoded_bytes, text.len());
        }
        // A reader handing out a few bytes at a time (a pipe) is the same.
        let trickle = std::io::BufReader::with_capacity(7, &text[..]);
        let streamed = read_in_chunks(trickle, "Packages", 4096, 1 << 20).expect("trickle");
        assert_eq!(streamed.stanzas, 5_000);
    }

    #[test]
    fn an_error_in_a_later_chunk_names_its_line_in_the_whole_file() {
        // Each stanza is 6 lines (5 and the blank); the bad line follows stanza 3,000's
        // five lines.
        let text = index(5_000, Some(3_000));
        let err =
            read_in_chunks(&text[..], "dists/x/Packages", 4096, 1 << 20).expect_err("malformed");
        let message = err.to_string();
        assert!(message.contains("dists/x/Packages"), "{message}");
        assert!(
            message.contains(&format!("line {}", 3_000 * 6 + 6)),
            "{message}"
        );
        let whole = inspect_packages(&text, "dists/x/Packages").expect_err("whole");
        assert_eq!(whole.to_string(), message, "the same error either way");
    }

    #[test]
    fn a_stanza_longer_than_the_cap_is_refused_not_buffered() {
        let mut text = b"Package: a\nDescription: x\n".to_vec();
        text.extend(std::iter::repeat_n(b" long line\n".as_slice(), 10_000).flatten());
        let err = read_in_chunks(&text[..], "Packages", 4096, 50_000).expect_err("too long");
        assert!(err.to_string().contains("longer than 50000 bytes"), "{err}");
        // Under the cap it is one stanza.
        let fine = read_in_chunks(&text[..], "Packages", 4096, 1 << 20).expect("fits");
        assert_eq!(fine.stanzas, 1);
    }

    #[test]
    fn a_read_error_names_the_file() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let err = inspect_packages_reader(Failing, "/srv/Packages").expect_err("fails");
        assert!(err.to_string().contains("/srv/Packages"), "{err}");
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    #[test]
    fn inrelease_body_is_shown_unescaped_and_framing_is_enforced() {
        let release = "Origin: Test\nSuite: stable\nCodename: x\nDate: Sat, 01 Jan 2000 00:00:00 UTC\nArchitectures: amd64\nComponents: main\nDescription: a\n -----a continuation line with dashes\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 0 main/binary-amd64/Packages\n";
        let key = SigningKey::generate("Test <test@example.invalid>").expect("key");
        let signed = key.clearsign(release).expect("sign");
        let summary = inspect_release(signed.as_bytes(), "InRelease").expect("parses");
        assert!(summary.clearsigned);
        assert_eq!(summary.origin.as_deref(), Some("Test"));
        assert_eq!(summary.files, 1);
        assert!(
            summary
                .to_string()
                .ends_with("clear-signed (not verified here)")
        );

        let mut prepended = b"Origin: Evil\n\n".to_vec();
        prepended.extend_from_slice(signed.as_bytes());
        let err = inspect_release(&prepended, "InRelease").expect_err("text before the block");
        assert!(err.to_string().starts_with("InRelease: "), "{err}");
    }
}
