//! Index compression: decode what upstreams serve (`.xz`, `.gz`, `.bz2`, `.zst`) with a
//! hard bound on the decoded size (a hostile index must not fill memory), and encode the
//! indices we generate reproducibly (gzip without a timestamp, fixed levels). A `.xz` of
//! several blocks is decoded on all cores (`xz_blocks.rs`).

mod xz_blocks;

use std::io::{Read, Write};

/// A compression format, known from a file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain.
    None,
    /// `.gz`
    Gzip,
    /// `.xz`
    Xz,
    /// `.bz2`
    Bzip2,
    /// `.zst`
    Zstd,
}

/// Decoding failed or exceeded its bound.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// The stream is corrupt or truncated.
    #[error("{origin}: cannot decompress ({format:?}): {source}")]
    Corrupt {
        /// File or URL.
        origin: String,
        /// The format tried.
        format: Compression,
        /// Decoder error.
        source: std::io::Error,
    },
    /// Decoded data is larger than allowed.
    #[error(
        "{origin}: decompresses to more than {limit} bytes; refusing (raise the limit if this index is genuine)"
    )]
    TooLarge {
        /// File or URL.
        origin: String,
        /// The bound.
        limit: u64,
    },
    /// Encoding failed (out of memory or an encoder bug).
    #[error("compressing {format:?}: {source}")]
    Encode {
        /// The format.
        format: Compression,
        /// Encoder error.
        source: std::io::Error,
    },
}

impl crate::error::Classify for CompressionError {
    /// A corrupt stream behind a verified digest is malformed metadata, not tampering (the
    /// digest check already passed or did not apply): no class of its own.
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Other
    }
}

impl Compression {
    /// Format from a path's extension; unknown extensions are `None`.
    pub fn from_path(path: &str) -> Self {
        match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("gz") => Self::Gzip,
            Some("xz") => Self::Xz,
            Some("bz2") => Self::Bzip2,
            Some("zst") => Self::Zstd,
            _ => Self::None,
        }
    }

    /// The extension including the dot, or "" for `None`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Bzip2 => ".bz2",
            Self::Zstd => ".zst",
        }
    }
}

/// Decode `data` in `format`, refusing output over `limit` bytes.
pub fn decompress(
    data: &[u8],
    format: Compression,
    limit: u64,
    origin: &str,
) -> Result<Vec<u8>, CompressionError> {
    decode(data, format, limit, origin, true)
}

/// [`decompress`] for bytes whose SHA-256 the caller has already checked against signed
/// metadata (an APT index against its Release): xz's own per-block CRC64 is skipped,
/// being weaker than that digest and ~6% of the decode. Everything else (structure,
/// sizes, the limit) is checked as in [`decompress`]. Never for unverified input.
pub fn decompress_verified(
    data: &[u8],
    format: Compression,
    limit: u64,
    origin: &str,
) -> Result<Vec<u8>, CompressionError> {
    decode(data, format, limit, origin, false)
}

/// Compressed input for [`decompress_verified_parts`]: in memory, or a file read where
/// it lies (an object in the store), so the compressed bytes are not held in memory while
/// they decode.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A whole file, read by position (the file's cursor is not used).
    File(&'a std::fs::File),
}

impl<'a> Input<'a> {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Input::Bytes(bytes) => Ok(bytes.len() as u64),
            Input::File(file) => Ok(file.metadata()?.len()),
        }
    }

    /// Exactly `len` bytes at `start`.
    fn read_range(&self, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0; len];
        self.reader(start, len as u64).read_exact(&mut out)?;
        Ok(out)
    }

    /// A reader of at most `len` bytes from `start`.
    fn reader(&self, start: u64, len: u64) -> Box<dyn Read + Send + 'a> {
        match *self {
            Input::Bytes(bytes) => {
                let start = usize::try_from(start)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                Box::new(&bytes[start..end.min(bytes.len())])
            }
            Input::File(file) => Box::new(std::io::BufReader::with_capacity(
                256 << 10,
                FileRange {
                    file,
                    position: start,
                    end: start.saturating_add(len),
                },
            )),
        }
    }
}

/// A range of a file, read by position.
struct FileRange<'a> {
    file: &'a std::fs::File,
    position: u64,
    end: u64,
}

impl Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let wanted = buf.len().min(left);
        if wanted == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..wanted], self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

/// One piece of a decoded stream, decoded in order by one thread: each block of a
/// multi-block `.xz` is one (decoded in parallel with the others); anything else is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Position among the parts, from 0.
    pub index: usize,
    /// Offset of its first decoded byte in the whole decoded stream.
    pub offset: u64,
    /// Its decoded size, when the stream states it (an xz block's index does).
    pub len: Option<u64>,
}

/// A receiver of one [`Part`]'s decoded bytes, in order.
pub trait PartSink: Send {
    /// Takes the next bytes of the part; `false` stops the decoding of this part and of
    /// every later one (the sink keeps its own reason).
    fn write(&mut self, bytes: &[u8]) -> bool;
}

/// What became of one part of [`decompress_verified_parts`].
#[derive(Debug)]
pub struct PartOutcome<S> {
    /// The part.
    pub part: Part,
    /// Its sink, with all it was given.
    pub sink: S,
    /// Decoding this part failed (corrupt or truncated data).
    pub error: Option<CompressionError>,
    /// Decoding stopped before the part's end: its sink said stop, or an earlier part
    /// failed or stopped (then this part's outcome does not matter).
    pub stopped: bool,
}

/// How much decoded output a part hands its sink at a time.
const PART_CHUNK: usize = 512 << 10;

/// [`decompress_verified`] without the output buffer: the decoded bytes are handed, in
/// pieces, to one sink per [`Part`] (`make` builds it), and a multi-block `.xz` is decoded
/// on all cores, a part per block, so a consumer can parse while decoding and hold only
/// what it keeps. For bytes whose digest was checked against signed metadata only (xz's
/// CRC64 is skipped, as in [`decompress_verified`]).
///
/// The whole output is bounded by `limit` (a multi-block `.xz` states its decoded size,
/// checked before a byte is decoded). Outcomes come back in part order; the first part
/// with an error (the decoder's or its sink's) is the one to report.
pub fn decompress_verified_parts<S, F>(
    input: Input<'_>,
    format: Compression,
    limit: u64,
    origin: &str,
    make: F,
) -> Result<Vec<PartOutcome<S>>, CompressionError>
where
    S: PartSink,
    F: Fn(Part) -> S + Sync,
{
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let corrupt = |source| CompressionError::Corrupt {
        origin: origin.to_owned(),
        format,
        source,
    };
    let too_large = || CompressionError::TooLarge {
        origin: origin.to_owned(),
        limit,
    };
    if format == Compression::Xz
        && rayon::current_num_threads() > 1
        && let Some(blocks) = xz_blocks::blocks_in(input)
    {
        if xz_blocks::decoded_size(&blocks).is_none_or(|total| total > limit) {
            return Err(too_large());
        }
        let mut offset = 0;
        let parts: Vec<Part> = blocks
            .iter()
            .enumerate()
            .map(|(index, block)| {
                let len = xz_blocks::block_decoded(block);
                let part = Part {
                    index,
                    offset,
                    len: Some(len),
                };
                offset += len;
                part
            })
            .collect();
        // The first part that failed or was stopped: later parts need not finish.
        let first_stop = AtomicUsize::new(usize::MAX);
        let outcomes = blocks
            .par_iter()
            .zip(parts.par_iter())
            .map(|(block, &part)| {
                let mut sink = make(part);
                let reader = xz_blocks::block_reader_in(input, block, false).map(|reader| {
                    // The block's own size bounds it (liblzma checks it at the end).
                    reader.take(xz_blocks::block_decoded(block).saturating_add(1))
                });
                let result = reader.and_then(|reader| {
                    pump(reader, &mut sink, || {
                        first_stop.load(Ordering::Relaxed) < part.index
                    })
                });
                let (error, stopped) = match result {
                    Ok(Pumped::Done(_)) => (None, false),
                    Ok(Pumped::Stopped) => (None, true),
                    Err(source) => (Some(corrupt(source)), false),
                };
                if error.is_some() || stopped {
                    first_stop.fetch_min(part.index, Ordering::Relaxed);
                }
                PartOutcome {
                    part,
                    sink,
                    error,
                    stopped,
                }
            })
            .collect();
        return Ok(outcomes);
    }
    let outcome = decompress_verified_stream(input, format, limit, origin, make(FIRST))?;
    Ok(vec![outcome])
}

/// The one part of a stream decoded in order.
const FIRST: Part = Part {
    index: 0,
    offset: 0,
    len: None,
};

/// [`decompress_verified_parts`] in one part, in order, whatever the format: for a
/// consumer that needs the text in order (to hash it, or to keep stanzas in place).
pub fn decompress_verified_stream<S: PartSink>(
    input: Input<'_>,
    format: Compression,
    limit: u64,
    origin: &str,
    mut sink: S,
) -> Result<PartOutcome<S>, CompressionError> {
    let corrupt = |source| CompressionError::Corrupt {
        origin: origin.to_owned(),
        format,
        source,
    };
    let data = input.reader(0, u64::MAX);
    let reader: Box<dyn Read + '_> = match format {
        Compression::None => data,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_stream(
            data,
            xz_decoder(false, liblzma::stream::CONCATENATED).map_err(corrupt)?,
        )),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(data)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(data).map_err(corrupt)?),
    };
    let reader = reader.take(limit.saturating_add(1));
    // With a second core, the sink runs beside the decoder instead of after it.
    let pumped = if rayon::current_num_threads() > 1 {
        pump_beside(reader, &mut sink)
    } else {
        pump(reader, &mut sink, || false)
    };
    let (error, stopped) = match pumped {
        Ok(Pumped::Done(total)) if total > limit => {
            return Err(CompressionError::TooLarge {
                origin: origin.to_owned(),
                limit,
            });
        }
        Ok(Pumped::Done(_)) => (None, false),
        Ok(Pumped::Stopped) => (None, true),
        Err(source) => (Some(corrupt(source)), false),
    };
    Ok(PartOutcome {
        part: FIRST,
        sink,
        error,
        stopped,
    })
}

enum Pumped {
    /// The reader ended after this many bytes.
    Done(u64),
    /// The sink, or `stop`, ended it early.
    Stopped,
}

/// [`pump`] with the sink on a thread of its own: the decoder fills the next chunk while
/// the sink takes the last (a gzip index decodes on one core, its stanzas parse on the
/// other). Three chunks circulate between the two, so memory stays bounded.
fn pump_beside(mut reader: impl Read, sink: &mut impl PartSink) -> std::io::Result<Pumped> {
    use std::sync::mpsc::sync_channel;
    const CHUNKS: usize = 3;
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(CHUNKS);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(CHUNKS);
    for _ in 0..CHUNKS {
        empty_tx
            .send(vec![0u8; PART_CHUNK])
            .expect("the receiver is here");
    }
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || {
            for (chunk, filled) in full_rx {
                if !sink.write(&chunk[..filled]) {
                    return false;
                }
                // The decoder may have stopped: then nobody takes the chunk back.
                let _ = empty_tx.send(chunk);
            }
            true
        });
        let mut total = 0u64;
        let produced = loop {
            // The sink stopped (its end of both channels is gone).
            let Ok(mut chunk) = empty_rx.recv() else {
                break Ok(false);
            };
            let filled = match fill(&mut reader, &mut chunk) {
                Ok(filled) => filled,
                Err(error) => break Err(error),
            };
            if filled == 0 {
                break Ok(true);
            }
            total += filled as u64;
            if full_tx.send((chunk, filled)).is_err() {
                break Ok(false);
            }
        };
        drop(full_tx);
        let taken = consumer.join().expect("a sink does not panic");
        match produced {
            Err(error) => Err(error),
            Ok(true) if taken => Ok(Pumped::Done(total)),
            Ok(_) => Ok(Pumped::Stopped),
        }
    })
}

/// Fill `buffer` from `reader` (decoders return short reads; a sink is cheaper called
/// with large pieces); the bytes read, 0 at the end.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Read `reader` to its end into `sink`, a chunk at a time, checking `stop` between
/// chunks.
fn pump(
    mut reader: impl Read,
    sink: &mut impl PartSink,
    stop: impl Fn() -> bool,
) -> std::io::Result<Pumped> {
    let mut buffer = vec![0u8; PART_CHUNK];
    let mut total = 0u64;
    loop {
        let filled = fill(&mut reader, &mut buffer)?;
        if filled == 0 {
            return Ok(Pumped::Done(total));
        }
        total += filled as u64;
        if stop() || !sink.write(&buffer[..filled]) {
            return Ok(Pumped::Stopped);
        }
    }
}

/// An xz stream decoder; `check`: verify the integrity check of each block. `flags`
/// adds liblzma decoder flags (`CONCATENATED`).
fn xz_decoder(check: bool, flags: u32) -> std::io::Result<liblzma::stream::Stream> {
    let flags = flags
        | if check {
            0
        } else {
            liblzma::stream::IGNORE_CHECK
        };
    liblzma::stream::Stream::new_auto_decoder(u64::MAX, flags).map_err(std::io::Error::other)
}

fn decode(
    data: &[u8],
    format: Compression,
    limit: u64,
    origin: &str,
    check: bool,
) -> Result<Vec<u8>, CompressionError> {
    if format == Compression::Xz
        && rayon::current_num_threads() > 1
        && let Some(blocks) = xz_blocks::blocks(data)
    {
        let total = xz_blocks::decoded_size(&blocks).unwrap_or(u64::MAX);
        if total > limit {
            return Err(CompressionError::TooLarge {
                origin: origin.to_owned(),
                limit,
            });
        }
        return xz_blocks::decode(data, &blocks, total as usize, check).map_err(|source| {
            CompressionError::Corrupt {
                origin: origin.to_owned(),
                format,
                source,
            }
        });
    }
    let reader: Box<dyn Read + '_> = match format {
        Compression::None => {
            if data.len() as u64 > limit {
                return Err(CompressionError::TooLarge {
                    origin: origin.to_owned(),
                    limit,
                });
            }
            return Ok(data.to_vec());
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Compression::Xz => {
            let stream = xz_decoder(check, liblzma::stream::CONCATENATED).map_err(|source| {
                CompressionError::Corrupt {
                    origin: origin.to_owned(),
                    format,
                    source,
                }
            })?;
            Box::new(liblzma::read::XzDecoder::new_stream(data, stream))
        }
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(data)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(data).map_err(|source| {
                CompressionError::Corrupt {
                    origin: origin.to_owned(),
                    format,
                    source,
                }
            })?)
        }
    };
    // When the caller knows the decoded size (an APT Release states it), the bound is
    // exact: reserve it once instead of doubling through 32, 64, 128 MB (which briefly
    // holds two copies and doubles peak memory).
    let capacity = if limit <= 1 << 30 {
        limit as usize + 1
    } else {
        data.len().saturating_mul(4)
    };
    let mut out = Vec::with_capacity(capacity);
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| CompressionError::Corrupt {
            origin: origin.to_owned(),
            format,
            source,
        })?;
    if out.len() as u64 > limit {
        return Err(CompressionError::TooLarge {
            origin: origin.to_owned(),
            limit,
        });
    }
    Ok(out)
}

/// Encode `data` in `format` with a fixed level, byte-for-byte reproducible.
pub fn compress(data: &[u8], format: Compression) -> Result<Vec<u8>, CompressionError> {
    let encode_err = |source| CompressionError::Encode { format, source };
    match format {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            // GzBuilder writes mtime 0 and no file name: same input, same bytes.
            let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::new(9));
            enc.write_all(data).map_err(encode_err)?;
            enc.finish().map_err(encode_err)
        }
        Compression::Xz => {
            // Preset 6, but a dictionary no larger than the input: the default 8 MiB
            // dictionary costs ~70 MB of encoder memory even for a 30 kB filtered index,
            // and was the peak of a whole filtered sync. The output depends only on the
            // input, so it stays reproducible.
            let lzma_err = |e: liblzma::stream::Error| encode_err(std::io::Error::other(e));
            let mut options = liblzma::stream::LzmaOptions::new_preset(6).map_err(lzma_err)?;
            options.dict_size(xz_dict_size(data.len()));
            let mut filters = liblzma::stream::Filters::new();
            filters.lzma2(&options);
            let stream = liblzma::stream::Stream::new_stream_encoder(
                &filters,
                liblzma::stream::Check::Crc64,
            )
            .map_err(lzma_err)?;
            let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
            enc.write_all(data).map_err(encode_err)?;
            enc.finish().map_err(encode_err)
        }
        Compression::Bzip2 => {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            enc.write_all(data).map_err(encode_err)?;
            enc.finish().map_err(encode_err)
        }
        // Streamed into a Vec that grows with the output: the bulk API allocates the
        // worst-case bound (more than the input) before compressing, which held a 233 MB
        // repodata.json twice at the peak of a publish (heaptrack). The size is pledged,
        // so zstd still sizes its window and tables to the input.
        Compression::Zstd => {
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 10).map_err(encode_err)?;
            enc.set_pledged_src_size(Some(data.len() as u64))
                .map_err(encode_err)?;
            enc.include_contentsize(true).map_err(encode_err)?;
            enc.write_all(data).map_err(encode_err)?;
            enc.finish().map_err(encode_err)
        }
    }
}

/// xz's preset-6 dictionary (8 MiB) shrunk to the next power of two above the input,
/// never below liblzma's 4 KiB minimum.
fn xz_dict_size(len: usize) -> u32 {
    const MIN: usize = 4 << 10;
    const PRESET_6: usize = 8 << 20;
    len.clamp(MIN, PRESET_6).next_power_of_two().min(PRESET_6) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xz_dictionary_fits_the_input() {
        assert_eq!(xz_dict_size(0), 4 << 10);
        assert_eq!(xz_dict_size(30_000), 32 << 10);
        assert_eq!(xz_dict_size(1 << 20), 1 << 20);
        assert_eq!(xz_dict_size(50_000_000), 8 << 20);
    }

    #[test]
    fn round_trip_every_format_reproducibly() {
        let text = b"Package: jq\nVersion: 1.6\n\n".repeat(100);
        for format in [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Bzip2,
            Compression::Zstd,
        ] {
            let packed = compress(&text, format).expect("compress");
            assert_eq!(
                packed,
                compress(&text, format).expect("again"),
                "{format:?}"
            );
            let name = format!("Packages{}", format.extension());
            assert_eq!(Compression::from_path(&name), format);
            let back = decompress(&packed, format, 1 << 20, &name).expect("decompress");
            assert_eq!(back, text);
        }
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let zeros = vec![0u8; 10 << 20];
        let packed = compress(&zeros, Compression::Xz).expect("compress");
        let err = decompress(&packed, Compression::Xz, 1 << 20, "evil.xz").expect_err("bomb");
        assert!(matches!(err, CompressionError::TooLarge { .. }));
        assert!(err.to_string().contains("evil.xz"));
        let err = decompress(b"not gzip", Compression::Gzip, 1 << 20, "bad.gz").expect_err("bad");
        assert!(err.to_string().contains("bad.gz"), "{err}");
    }
}
