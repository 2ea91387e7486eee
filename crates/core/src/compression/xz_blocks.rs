//! Decoding a multi-block `.xz` on several cores, straight into one output buffer.
//!
//! An xz stream compressed with threads is a series of independent blocks (Debian's
//! `Packages.xz` for main/amd64 has two of ~24 MB). liblzma's threaded decoder gives each
//! worker a private buffer the size of its block (+48 MB for that index); here each block
//! is decoded directly into its place in the output, so two cores cost one extra
//! dictionary, not a copy of the data.
//!
//! Only the block boundaries are read here (stream footer, then the index). Each block
//! is then handed to liblzma as a complete one-block stream: the original stream header,
//! the block's bytes unchanged, and a one-record index and footer written here. So liblzma
//! still checks all it checks for the whole file: block headers, the block's integrity
//! check (CRC64, SHA-256...), and that the block decodes to exactly the size the index
//! gave. Anything this module does not expect (a single block, several concatenated
//! streams, stream padding, an index that does not add up) yields `None`, and the caller
//! decodes sequentially.

use std::io::Read;

use rayon::prelude::*;

const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Stream header and footer are both 12 bytes.
const FRAME: usize = 12;

/// One block: where its bytes are in the input and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block {
    /// Offset of the block header in the input.
    start: usize,
    /// Header + compressed data + check, without padding (the index's "unpadded size").
    unpadded: u64,
    /// Decoded size.
    decoded: u64,
}

/// The blocks of `data` when it is one xz stream of two or more blocks; `None` otherwise.
pub(super) fn blocks(data: &[u8]) -> Option<Vec<Block>> {
    blocks_in(super::Input::Bytes(data))
}

/// [`blocks`] of any input: only its header, footer and index are read.
pub(super) fn blocks_in(input: super::Input<'_>) -> Option<Vec<Block>> {
    let len = usize::try_from(input.len().ok()?).ok()?;
    if len < 2 * FRAME {
        return None;
    }
    let header = input.read_range(0, FRAME).ok()?;
    if header[..6] != HEADER_MAGIC {
        return None;
    }
    let footer = input.read_range((len - FRAME) as u64, FRAME).ok()?;
    if footer[10..] != FOOTER_MAGIC || footer[8..10] != header[6..8] {
        return None; // stream padding, several streams, or flags that disagree
    }
    let backward = u32::from_le_bytes(footer[4..8].try_into().ok()?);
    let index_len = (usize::try_from(backward).ok()? + 1) * 4;
    // 2^16 blocks of two 9-byte varints each: an index longer than this is not ours.
    if index_len > 1 << 21 {
        return None;
    }
    let index_start = len.checked_sub(FRAME + index_len)?;
    let index = input.read_range(index_start as u64, index_len).ok()?;
    let (body, crc) = index.split_at(index.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc || body.first() != Some(&0) {
        return None;
    }
    let mut cursor = &body[1..];
    let count = read_varint(&mut cursor)?;
    if !(2..=1 << 16).contains(&count) {
        return None;
    }
    let mut blocks = Vec::with_capacity(count as usize);
    let mut start = FRAME;
    for _ in 0..count {
        let unpadded = read_varint(&mut cursor)?;
        let decoded = read_varint(&mut cursor)?;
        blocks.push(Block {
            start,
            unpadded,
            decoded,
        });
        start = start.checked_add(usize::try_from(unpadded.checked_next_multiple_of(4)?).ok()?)?;
    }
    // The blocks must fill the space between the header and the index exactly.
    (start == index_start && cursor.iter().all(|&b| b == 0)).then_some(blocks)
}

/// Total decoded size of `blocks`.
pub(super) fn decoded_size(blocks: &[Block]) -> Option<u64> {
    blocks
        .iter()
        .try_fold(0u64, |sum, b| sum.checked_add(b.decoded))
}

/// Decode every block of `data` in parallel into one buffer of `total` bytes.
/// `check`: verify each block's integrity check (false when the caller verified the
/// whole file's digest already).
pub(super) fn decode(
    data: &[u8],
    blocks: &[Block],
    total: usize,
    check: bool,
) -> std::io::Result<Vec<u8>> {
    let mut out = vec![0u8; total];
    let mut slices = Vec::with_capacity(blocks.len());
    let mut rest = out.as_mut_slice();
    for block in blocks {
        let (slice, tail) = rest.split_at_mut(block.decoded as usize);
        slices.push(slice);
        rest = tail;
    }
    blocks
        .par_iter()
        .zip(slices.into_par_iter())
        .try_for_each(|(block, slice)| decode_block(data, block, slice, check))?;
    Ok(out)
}

/// Decode one block as a one-block stream of its own; it must fill `out` exactly.
fn decode_block(data: &[u8], block: &Block, out: &mut [u8], check: bool) -> std::io::Result<()> {
    let mut decoder = block_reader(data, block, check)?;
    decoder.read_exact(out)?;
    // Reading on to the end makes liblzma check the block, our index and the footer.
    let mut probe = [0u8; 1];
    if decoder.read(&mut probe)? != 0 {
        return Err(std::io::Error::other(
            "xz block decodes to more than its index entry says",
        ));
    }
    Ok(())
}

/// A reader of one block's decoded bytes, as a one-block stream of its own. liblzma
/// checks at its end that the block decoded to exactly the size our index gives it.
pub(super) fn block_reader<'d>(
    data: &'d [u8],
    block: &Block,
    check: bool,
) -> std::io::Result<impl Read + 'd> {
    block_reader_in(super::Input::Bytes(data), block, check)
}

/// [`block_reader`] of any input: reads the stream header and the block's bytes.
pub(super) fn block_reader_in<'d>(
    input: super::Input<'d>,
    block: &Block,
    check: bool,
) -> std::io::Result<impl Read + 'd> {
    let padded = block.unpadded.next_multiple_of(4);
    if (block.start as u64).saturating_add(padded) > input.len()? {
        return Err(std::io::Error::other(
            "xz block runs past the end of the file",
        ));
    }
    let header = input.read_range(0, FRAME)?;
    let trailer = index_and_footer(block, header[6..8].try_into().expect("two flag bytes"));
    let stream = std::io::Cursor::new(header)
        .chain(input.reader(block.start as u64, padded))
        .chain(std::io::Cursor::new(trailer));
    Ok(liblzma::read::XzDecoder::new_stream(
        stream,
        super::xz_decoder(check, 0)?,
    ))
}

/// Decoded size of `block`.
pub(super) fn block_decoded(block: &Block) -> u64 {
    block.decoded
}

/// The index (one record) and stream footer of a stream holding just `block`.
fn index_and_footer(block: &Block, flags: [u8; 2]) -> Vec<u8> {
    let mut index = vec![0x00];
    write_varint(&mut index, 1);
    write_varint(&mut index, block.unpadded);
    write_varint(&mut index, block.decoded);
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let backward = ((index.len() / 4) - 1) as u32;
    let mut footer_body = backward.to_le_bytes().to_vec();
    footer_body.extend_from_slice(&flags);
    index.extend_from_slice(&crc32fast::hash(&footer_body).to_le_bytes());
    index.extend_from_slice(&footer_body);
    index.extend_from_slice(&FOOTER_MAGIC);
    index
}

/// xz's variable-length integer: 7 bits a byte, least significant first, at most 9 bytes.
fn read_varint(cursor: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let (&byte, rest) = cursor.split_first()?;
        *cursor = rest;
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An xz stream of one block per part (a full flush ends a block).
    fn multi_block(parts: &[&[u8]]) -> Vec<u8> {
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
        for part in parts {
            encoder.write_all(part).expect("write");
            encoder.flush().expect("flush ends the block");
        }
        encoder.finish().expect("finish")
    }

    fn text(seed: u32, len: usize) -> Vec<u8> {
        (0..len as u32)
            .map(|i| b"Package: abcdefgh\n"[((i ^ seed) % 18) as usize])
            .collect()
    }

    #[test]
    fn blocks_decode_in_parallel_to_the_original() {
        let (a, b, c) = (text(1, 300_000), text(2, 200_000), text(3, 5));
        let packed = multi_block(&[&a, &b, &c]);
        let found = blocks(&packed).expect("three blocks");
        assert_eq!(found.len(), 3);
        let total = decoded_size(&found).expect("sum") as usize;
        assert_eq!(total, a.len() + b.len() + c.len());
        let out = decode(&packed, &found, total, true).expect("decode");
        assert_eq!(
            decode(&packed, &found, total, false).expect("unchecked"),
            out,
            "skipping the CRC64 changes nothing on intact data"
        );
        assert_eq!(out, [a, b, c].concat());
    }

    #[test]
    fn anything_unusual_falls_back_or_fails() {
        let one = multi_block(&[&text(4, 1000)]);
        assert!(
            blocks(&one).is_none(),
            "a single block is not worth threads"
        );
        let packed = multi_block(&[&text(5, 50_000), &text(6, 50_000)]);
        let mut padded = packed.clone();
        padded.extend_from_slice(&[0; 4]);
        assert!(blocks(&padded).is_none(), "stream padding");
        let doubled = [packed.clone(), packed.clone()].concat();
        assert!(blocks(&doubled).is_none(), "two streams");

        // An index that lies about a block's size: liblzma refuses the block.
        let mut found = blocks(&packed).expect("blocks");
        found[0].decoded -= 1;
        let total = decoded_size(&found).expect("sum") as usize;
        assert!(decode(&packed, &found, total, true).is_err());
        assert!(
            decode(&packed, &found, total, false).is_err(),
            "sizes are checked without the CRC64 too"
        );

        // A flipped byte inside a block's data: its CRC64 check fails.
        let found = blocks(&packed).expect("blocks");
        let mut corrupt = packed.clone();
        corrupt[found[1].start + 40] ^= 0x10;
        assert!(decode(&corrupt, &found, 100_000, true).is_err());
    }

    #[test]
    fn debian_packages_xz_decodes_the_same_in_parallel() {
        let Some(fixtures) = mirror_test_support::fixtures() else {
            return;
        };
        let path = fixtures.join("debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz");
        let data = std::fs::read(&path).expect("fixture index");
        let found = blocks(&data).expect("Debian's index has several blocks");
        assert!(found.len() >= 2);
        let total = decoded_size(&found).expect("sum") as usize;
        let parallel = decode(&data, &found, total, true).expect("parallel");
        let mut sequential = Vec::new();
        liblzma::read::XzDecoder::new(data.as_slice())
            .read_to_end(&mut sequential)
            .expect("sequential");
        assert!(parallel == sequential, "outputs differ");
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, 1 << 35, u64::MAX >> 1] {
            let mut bytes = Vec::new();
            write_varint(&mut bytes, value);
            assert_eq!(read_varint(&mut bytes.as_slice()), Some(value));
        }
        assert_eq!(read_varint(&mut [0x80u8; 10].as_slice()), None);
    }
}
