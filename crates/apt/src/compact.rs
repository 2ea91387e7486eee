//! A Packages index as the selection holds it: parsed while it is decoded, kept as
//! compact stanzas, its full text spooled to a file.
//!
//! A selection must see every stanza of every index (a dependency closure can reach any
//! of them), but it reads only the fields that relate packages (name, version,
//! architecture, Multi-Arch, Priority, relations), and the file (Filename, Size, SHA256)
//! of those it selects; the rest is text for people. So the decoded index is never held
//! whole. Each part of it (a block of a multi-block `.xz`, decoded on its own core) is
//! parsed as it comes out of the decoder; each stanza is checked
//! ([`BinaryPackage::from_paragraph`]) and appended, cut down
//! ([`BinaryPackage::write_compact`]: one-letter names, a quarter of the text), to the
//! part's arena; its full text goes to the spool (an unlinked file in the store's temp
//! directory: page cache, not heap), from which a filtered mirror reads each selected
//! package's file and copies out its stanza. Without a spool (a full mirror takes every
//! file, a `resolve_with` member's index none) the compact stanzas keep the file.
//!
//! A stanza cut in two by a block boundary is joined when the parts are put together,
//! in order. Errors name the index and the line in the whole decoded file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memchr::memmem;
use mirror_core::compression::{Compression, Input, Part, PartSink, decompress_verified_parts};

use crate::control::{Paragraph, Paragraphs};
use crate::error::AptError;
use crate::packages::{BinaryPackage, PackageError};

/// The longest stanza accepted (Debian's longest are a few hundred KB): text with no
/// blank line for longer than this is refused, not buffered.
pub const MAX_STANZA_BYTES: usize = 64 << 20;

/// Where a stanza is: its compact form in an arena, its full text in the spool.
#[derive(Debug, Clone, Copy)]
struct StanzaAt {
    /// Full text: offset in the decoded index, length.
    offset: u64,
    len: u32,
    /// Compact form: `arenas[arena][start..end]`.
    arena: u32,
    start: u32,
    end: u32,
}

/// The full decoded text, for copying selected stanzas out.
#[derive(Debug)]
enum Spool {
    /// A temp file (already unlinked: nothing is left behind by a crash).
    File(File),
    /// In memory (small indices built from text, tests).
    Memory(Vec<u8>),
}

/// A decoded Packages index: its stanzas cut down to what a selection reads, and (when
/// asked for) the full text of each on the side; see the [module docs](self).
#[derive(Debug, Default)]
pub struct CompactIndex {
    /// Compact stanzas, in index order across the arenas.
    arenas: Vec<Vec<u8>>,
    /// Per stanza, in the same order: its full text in the spool.
    stanzas: Vec<StanzaAt>,
    spool: Option<Spool>,
    /// The compact stanzas hold the file fields (Filename, Size, SHA256); without them
    /// (decoded with a spool) those are read back from the full text.
    with_file: bool,
    /// The decoded size.
    decoded: u64,
}

/// A package's file, as its stanza lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// `Filename`, checked to be a safe relative path.
    pub filename: String,
    /// `Size`.
    pub size: u64,
    /// `SHA256`, 64 lowercase hex digits.
    pub sha256: String,
}

impl PackageFile {
    /// The file of `package` (read with its file).
    pub fn of(package: &BinaryPackage<'_>) -> Self {
        PackageFile {
            filename: package.filename().to_owned(),
            size: package.size(),
            sha256: package.sha256().to_owned(),
        }
    }

    /// The file listed by the full stanza `text`, checked as
    /// [`BinaryPackage::from_paragraph`] checks it.
    pub fn in_stanza(text: &[u8]) -> Result<Self, PackageError> {
        let paragraph = Paragraph::parse_single(text)?.ok_or(PackageError::MissingField {
            package: None,
            line: 1,
            field: "Package",
        })?;
        Ok(Self::of(&BinaryPackage::from_paragraph(paragraph)?))
    }
}

impl CompactIndex {
    /// Decodes `input` (compressed as `format`, its digest already checked against a signed
    /// Release), parses every stanza while decoding and keeps them compact. With a
    /// `spool_dir`, the full text is kept there for [`stanza_text`](Self::stanza_text)
    /// and [`file`](Self::file), and the compact stanzas leave out each package's file
    /// (Filename, Size, SHA256: a third of them), which only selected packages need.
    /// The decoded size is bounded by `limit`; `origin` names the index in errors.
    pub fn decode(
        input: Input<'_>,
        format: Compression,
        limit: u64,
        origin: &str,
        spool_dir: Option<&Path>,
    ) -> Result<Self, AptError> {
        let spool = match spool_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
                Some(tempfile::tempfile_in(dir).map_err(|e| io_error(dir, e))?)
            }
            None => None,
        };
        // A part's decoded size (an xz block's, or the Release's statement for a single
        // part) sizes its arena once: growing one by doubling through glibc leaves the
        // outgrown copies resident.
        let with_file = spool.is_none();
        let outcomes = decompress_verified_parts(input, format, limit, origin, |part| {
            let expected = part.len.or((limit < u64::MAX).then_some(limit));
            PartParser::new(part, spool.as_ref(), expected, with_file)
        })?;
        let mut merge = Merge {
            index: CompactIndex {
                with_file,
                ..CompactIndex::default()
            },
            ..Merge::default()
        };
        for outcome in outcomes {
            // The first failure in file order is the one to report; parts after it were
            // stopped unfinished.
            match outcome.sink.error {
                Some(PartError::Stanza(error)) => {
                    return Err(malformed(origin, &error.after_lines(merge.lines)));
                }
                Some(PartError::Spool(error)) => {
                    return Err(io_error(spool_dir.unwrap_or(Path::new("")), error));
                }
                None => {}
            }
            if let Some(error) = outcome.error {
                return Err(error.into());
            }
            if outcome.stopped {
                return Err(AptError::Internal(format!(
                    "{origin}: decoding part {} stopped with no error",
                    outcome.part.index
                )));
            }
            merge
                .part(outcome.sink)
                .map_err(|e| malformed(origin, &e))?;
        }
        let mut index = merge.finish().map_err(|e| malformed(origin, &e))?;
        index.spool = spool.map(Spool::File);
        Ok(index)
    }

    /// The index of the plain text `text`, its full text kept in memory (small indices,
    /// tests).
    pub fn from_text(text: &[u8], origin: &str) -> Result<Self, AptError> {
        let mut index = Self::decode(
            Input::Bytes(text),
            Compression::None,
            u64::MAX,
            origin,
            None,
        )?;
        index.spool = Some(Spool::Memory(text.to_vec()));
        Ok(index)
    }

    /// Number of stanzas.
    pub fn len(&self) -> usize {
        self.stanzas.len()
    }

    /// Whether the index has no stanza.
    pub fn is_empty(&self) -> bool {
        self.stanzas.is_empty()
    }

    /// Bytes the index decoded to.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Bytes the compact stanzas take.
    pub fn compact_len(&self) -> usize {
        self.arenas.iter().map(Vec::len).sum()
    }

    /// The `position`th package, compact: the fields a selection reads (see
    /// [`BinaryPackage::write_compact`]). Its stanza was checked when it was decoded.
    pub fn package(&self, position: usize) -> Result<BinaryPackage<'_>, PackageError> {
        let at = self.stanzas[position];
        let text = &self.arenas[at.arena as usize][at.start as usize..at.end as usize];
        let paragraph = Paragraph::parse_single(text)?.ok_or(PackageError::MissingField {
            package: None,
            line: 1,
            field: "Package",
        })?;
        BinaryPackage::from_compact(paragraph)
    }

    /// The `position`th package's file: from its compact stanza, or read back from the
    /// spool (its full stanza, checked again).
    pub fn file(&self, position: usize) -> Result<PackageFile, AptError> {
        let internal =
            |message: String| AptError::Internal(format!("stanza {position}: {message}"));
        if self.with_file {
            let package = self
                .package(position)
                .map_err(|e| internal(e.to_string()))?;
            return Ok(PackageFile::of(&package));
        }
        let text = self
            .stanza_text(position)
            .map_err(|e| internal(e.to_string()))?;
        PackageFile::in_stanza(&text).map_err(|e| internal(e.to_string()))
    }

    /// Every package, compact, in index order.
    pub fn packages(&self) -> impl Iterator<Item = Result<BinaryPackage<'_>, PackageError>> {
        (0..self.len()).map(|position| self.package(position))
    }

    /// The full text of the `position`th stanza, as upstream wrote it (without the blank
    /// line after it). An error when the index was decoded without a spool.
    pub fn stanza_text(&self, position: usize) -> std::io::Result<Vec<u8>> {
        let at = self
            .stanzas
            .get(position)
            .ok_or_else(|| std::io::Error::other(format!("no stanza {position} in this index")))?;
        match &self.spool {
            Some(Spool::File(file)) => {
                let mut text = vec![0; at.len as usize];
                file.read_exact_at(&mut text, at.offset)?;
                Ok(text)
            }
            Some(Spool::Memory(bytes)) => {
                Ok(bytes[at.offset as usize..at.offset as usize + at.len as usize].to_vec())
            }
            None => Err(std::io::Error::other(
                "the index was decoded without its text",
            )),
        }
    }
}

fn io_error(path: &Path, error: std::io::Error) -> AptError {
    AptError::Store(mirror_core::store::StoreError::io(path, error))
}

fn malformed(origin: &str, error: &PackageError) -> AptError {
    AptError::Malformed {
        origin: origin.to_owned(),
        message: crate::error::with_causes(error),
    }
}

/// Compact stanzas and where their text is (`arena` set when the arena takes its place
/// in the index).
#[derive(Debug, Default)]
struct Parsed {
    arena: Vec<u8>,
    stanzas: Vec<StanzaAt>,
    /// Compact stanzas keep the package's file.
    with_file: bool,
}

impl Parsed {
    /// Parses the whole stanzas of `text` (which starts at `offset` of the decoded file,
    /// and `lines` lines into it): errors carry their line in the whole file.
    fn stanzas(&mut self, text: &[u8], offset: u64, lines: usize) -> Result<(), PackageError> {
        for paragraph in Paragraphs::new(text) {
            let package =
                BinaryPackage::from_paragraph(paragraph).map_err(|e| e.after_lines(lines))?;
            let start = self.arena.len();
            package.write_compact(&mut self.arena, self.with_file);
            let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(self.arena.len()))
            else {
                return Err(PackageError::InvalidField {
                    package: Some(package.name().to_owned()),
                    line: paragraph.line() + lines,
                    field: "Package",
                    value: String::new(),
                    reason: "more than 4 GiB of packages in one part of the index".into(),
                });
            };
            let len = u32::try_from(paragraph.raw().len()).expect("stanzas are bounded");
            self.stanzas.push(StanzaAt {
                offset: offset + paragraph.offset() as u64,
                len,
                arena: 0,
                start,
                end,
            });
        }
        Ok(())
    }
}

/// Parses one part of the decoded index as it arrives (see the module docs).
struct PartParser<'s> {
    part: Part,
    spool: Option<&'s File>,
    /// Bytes received so far.
    received: u64,
    /// Text received and not yet parsed: the start of an unfinished stanza.
    pending: Vec<u8>,
    /// Its offset in the part.
    pending_at: u64,
    /// Lines of the part before it.
    pending_lines: usize,
    /// The part's text before its first stanza boundary (the end of a stanza an earlier
    /// part began); `None` until that boundary is seen. The first part has none.
    head: Option<Vec<u8>>,
    parsed: Parsed,
    /// Why this part stopped; a stanza's line counts from the part's start.
    error: Option<PartError>,
}

/// Why a part stopped.
#[derive(Debug)]
enum PartError {
    Stanza(PackageError),
    Spool(std::io::Error),
}

impl<'s> PartParser<'s> {
    /// `expected`: the part's decoded size, when known.
    fn new(part: Part, spool: Option<&'s File>, expected: Option<u64>, with_file: bool) -> Self {
        // Compact stanzas are 44% of Debian's with their file, 26% without (measured:
        // 22 and 13 of 50 MB); capacity past what is written is never touched, so it
        // costs no memory.
        let share = if with_file { 5 } else { 3 };
        // At most 64 MiB up front (Debian's largest needs 22 MB): when the size known is
        // only the operator's cap, a large reservation could fail on a host that does
        // not overcommit; past it the arena grows as it must.
        let arena = expected.map_or(0, |len| (len / 8 * share).min(64 << 20) as usize);
        PartParser {
            part,
            spool,
            received: 0,
            pending: Vec::new(),
            pending_at: 0,
            pending_lines: 0,
            head: (part.index == 0).then(Vec::new),
            parsed: Parsed {
                arena: Vec::with_capacity(arena),
                stanzas: Vec::new(),
                with_file,
            },
            error: None,
        }
    }

    /// Lines in `text`.
    fn lines(text: &[u8]) -> usize {
        memchr::memchr_iter(b'\n', text).count()
    }

    /// Moves the first `len` pending bytes out of `pending`, keeping the counts.
    fn advance(&mut self, len: usize) {
        self.pending_lines += Self::lines(&self.pending[..len]);
        self.pending_at += len as u64;
        self.pending.drain(..len);
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), PackageError> {
        self.pending.extend_from_slice(bytes);
        if self.head.is_none() {
            // Cut after the first newline of the pair: the rest starts at the blank line.
            let Some(found) = memmem::find(&self.pending, b"\n\n") else {
                return self.check_pending();
            };
            self.head = Some(self.pending[..found + 1].to_vec());
            self.advance(found + 1);
        }
        let Some(last) = memmem::rfind(&self.pending, b"\n\n") else {
            return self.check_pending();
        };
        let whole = last + 2;
        let offset = self.part.offset + self.pending_at;
        self.parsed
            .stanzas(&self.pending[..whole], offset, self.pending_lines)?;
        self.advance(whole);
        Ok(())
    }

    fn check_pending(&self) -> Result<(), PackageError> {
        if self.pending.len() <= MAX_STANZA_BYTES {
            return Ok(());
        }
        Err(PackageError::InvalidField {
            package: None,
            line: self.pending_lines + 1,
            field: "Package",
            value: String::new(),
            reason: format!("a stanza longer than {MAX_STANZA_BYTES} bytes (no blank line)"),
        })
    }
}

impl PartSink for PartParser<'_> {
    fn write(&mut self, bytes: &[u8]) -> bool {
        if let Some(spool) = self.spool
            && let Err(error) = spool.write_all_at(bytes, self.part.offset + self.received)
        {
            self.error = Some(PartError::Spool(error));
            return false;
        }
        self.received += bytes.len() as u64;
        match self.take(bytes) {
            Ok(()) => true,
            Err(error) => {
                self.error = Some(PartError::Stanza(error));
                false
            }
        }
    }
}

/// Puts the parts together in order, parsing the stanzas cut by their boundaries.
#[derive(Debug, Default)]
struct Merge {
    index: CompactIndex,
    /// Text between the last whole stanza of the parts so far and the next boundary.
    edge: Vec<u8>,
    /// Its offset in the decoded file.
    edge_at: u64,
    /// Lines of the file before it.
    edge_lines: usize,
    /// Lines of the parts merged so far.
    lines: usize,
}

impl Merge {
    fn part(&mut self, part: PartParser<'_>) -> Result<(), PackageError> {
        let lines_before = self.lines;
        self.index.decoded += part.received;
        self.lines += part.pending_lines + PartParser::lines(&part.pending);
        let Some(head) = part.head else {
            // No boundary in the whole part: it all continues one stanza.
            self.push_edge(&part.pending, part.part.offset, lines_before)?;
            return Ok(());
        };
        self.push_edge(&head, part.part.offset, lines_before)?;
        self.flush_edge()?;
        self.push(part.parsed);
        self.edge = part.pending;
        self.edge_at = part.part.offset + part.pending_at;
        self.edge_lines = lines_before + part.pending_lines;
        Ok(())
    }

    /// Adds `text`, found at `offset` of the file after `lines` lines, to the edge.
    fn push_edge(&mut self, text: &[u8], offset: u64, lines: usize) -> Result<(), PackageError> {
        if self.edge.is_empty() {
            self.edge_at = offset;
            self.edge_lines = lines;
        }
        self.edge.extend_from_slice(text);
        if self.edge.len() > MAX_STANZA_BYTES {
            return Err(PackageError::InvalidField {
                package: None,
                line: self.edge_lines + 1,
                field: "Package",
                value: String::new(),
                reason: format!("a stanza longer than {MAX_STANZA_BYTES} bytes (no blank line)"),
            });
        }
        Ok(())
    }

    /// Parses the text gathered at a boundary (none, one or two stanzas).
    fn flush_edge(&mut self) -> Result<(), PackageError> {
        let edge = std::mem::take(&mut self.edge);
        let mut parsed = Parsed {
            with_file: self.index.with_file,
            ..Parsed::default()
        };
        parsed.stanzas(&edge, self.edge_at, self.edge_lines)?;
        self.push(parsed);
        Ok(())
    }

    /// Adds the stanzas of one arena.
    fn push(&mut self, parsed: Parsed) {
        if parsed.stanzas.is_empty() {
            return;
        }
        let arena = u32::try_from(self.index.arenas.len()).expect("one arena per part");
        self.index.arenas.push(parsed.arena);
        self.index.stanzas.extend(
            parsed
                .stanzas
                .into_iter()
                .map(|at| StanzaAt { arena, ..at }),
        );
    }

    fn finish(mut self) -> Result<CompactIndex, PackageError> {
        self.flush_edge()?;
        Ok(self.index)
    }
}

#[cfg(test)]
mod tests;
