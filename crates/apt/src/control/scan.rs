//! Byte scanning for the control parser: word-at-a-time searches for newlines and for the
//! colon ending a field name, and the table of well-known field names.

use memchr::memchr;

/// A byte allowed in a field name (policy 5.1): printable US-ASCII except the colon. The
/// caller also rejects a name starting with `#` or `-`.
#[inline]
pub(super) fn is_name_byte(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b':'
}

// Byte-parallel ("SWAR") scanning, eight bytes per u64. Lines are short (about 40 bytes
// in a Packages file); on such haystacks the setup of a `memchr` call costs more than
// these loops, which inline into the field iterator. `zero_bytes(x)` sets the high bit of
// each zero byte of `x`; borrows can set spurious bits, but only above a real zero byte,
// so the lowest set bit is always exact, which is all the scanners use.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS
}

#[inline(always)]
fn load(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("an 8-byte chunk"))
}

/// Finds the first `needle` in `input[from..end]`. Words may extend past `end` (not
/// past the input); hits there are ignored.
#[inline]
pub(super) fn find_byte(input: &[u8], from: usize, end: usize, needle: u8) -> Option<usize> {
    let pattern = LOW_BITS * u64::from(needle);
    let mut offset = from;
    for pair in input[from..].chunks_exact(16) {
        let (first, second) = (load(&pair[..8]) ^ pattern, load(&pair[8..]) ^ pattern);
        let (first, second) = (zero_bytes(first), zero_bytes(second));
        if first | second != 0 {
            let bit = if first != 0 {
                first.trailing_zeros()
            } else {
                64 + second.trailing_zeros()
            };
            let found = offset + (bit / 8) as usize;
            return (found < end).then_some(found);
        }
        offset += 16;
        if offset >= end {
            return None;
        }
    }
    memchr(needle, &input[offset.min(end)..end]).map(|index| offset + index)
}

/// Marks, in the high bit of each byte, colons and bytes that cannot be part of a field
/// name (policy 5.1: below `!` (0x21), DEL, or non-ASCII). Returns `(colons, stops)`.
#[inline(always)]
fn name_stops(word: u64) -> (u64, u64) {
    let colons = zero_bytes(word ^ (LOW_BITS * u64::from(b':')));
    let below = word.wrapping_sub(LOW_BITS * 0x21) & !word & HIGH_BITS;
    let outside = below | zero_bytes(word ^ (LOW_BITS * 0x7f)) | (word & HIGH_BITS);
    (colons, colons | outside)
}

/// The colon ending the field name that starts at `from`: the first byte of
/// `input[from..end]` that is not a name character must be a colon. Names are nearly
/// always shorter than 16 bytes, so the first 16 are tested without a data-dependent
/// branch (names of 7 and 12 bytes alternate and would defeat the branch predictor).
#[inline]
pub(super) fn find_name_end(input: &[u8], from: usize, end: usize) -> Option<usize> {
    if let Some(head) = input.get(from..from + 16) {
        let (colons_low, stops_low) = name_stops(load(&head[..8]));
        let (colons_high, stops_high) = name_stops(load(&head[8..]));
        let stops = u128::from(stops_low) | (u128::from(stops_high) << 64);
        if stops != 0 {
            let colons = u128::from(colons_low) | (u128::from(colons_high) << 64);
            let bit = stops.trailing_zeros();
            let found = from + (bit / 8) as usize;
            return ((colons >> bit) & 1 == 1 && found < end).then_some(found);
        }
    }
    let rest = &input[from..end];
    let length = rest.iter().position(|&byte| !is_name_byte(byte))?;
    (rest[length] == b':').then_some(from + length)
}

/// The field names of Packages, Sources and Release files, as `'static` text.
///
/// `str::from_utf8` is an out-of-line call whose setup dwarfs the work on a 7-byte name;
/// returning the same text from this table is several times cheaper, which matters at a
/// million fields per Packages file. Unknown names fall back to `from_utf8`.
pub(super) fn known_name(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"Package" => "Package",
        b"Version" => "Version",
        b"Size" => "Size",
        b"Section" => "Section",
        b"SHA256" => "SHA256",
        b"Priority" => "Priority",
        b"Maintainer" => "Maintainer",
        b"MD5sum" => "MD5sum",
        b"Filename" => "Filename",
        b"Description" => "Description",
        b"Description-md5" => "Description-md5",
        b"Architecture" => "Architecture",
        b"Installed-Size" => "Installed-Size",
        b"Homepage" => "Homepage",
        b"Depends" => "Depends",
        b"Source" => "Source",
        b"Tag" => "Tag",
        b"Multi-Arch" => "Multi-Arch",
        b"Suggests" => "Suggests",
        b"Recommends" => "Recommends",
        b"Provides" => "Provides",
        b"Replaces" => "Replaces",
        b"Breaks" => "Breaks",
        b"Conflicts" => "Conflicts",
        b"Built-Using" => "Built-Using",
        b"Enhances" => "Enhances",
        b"Pre-Depends" => "Pre-Depends",
        b"Essential" => "Essential",
        b"Protected" => "Protected",
        b"Static-Built-Using" => "Static-Built-Using",
        b"Binary" => "Binary",
        b"Format" => "Format",
        b"Files" => "Files",
        b"Checksums-Sha1" => "Checksums-Sha1",
        b"Checksums-Sha256" => "Checksums-Sha256",
        b"Directory" => "Directory",
        b"Build-Depends" => "Build-Depends",
        b"Standards-Version" => "Standards-Version",
        b"Package-List" => "Package-List",
        b"Origin" => "Origin",
        b"Label" => "Label",
        b"Suite" => "Suite",
        b"Codename" => "Codename",
        b"Date" => "Date",
        b"Valid-Until" => "Valid-Until",
        b"Architectures" => "Architectures",
        b"Components" => "Components",
        b"MD5Sum" => "MD5Sum",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time scanners agree with plain byte loops anywhere in a buffer.
        #[test]
        fn scanners_match_byte_loops(
            input in proptest::collection::vec(
                prop_oneof![Just(b':'), Just(b'\n'), Just(b' '), Just(0x7f), Just(0xc3), 0x21u8..0x7f],
                0..80,
            ),
            from in 0usize..80,
            length in 0usize..80,
        ) {
            let from = from.min(input.len());
            let end = (from + length).min(input.len());
            let naive_newline = input[from..end].iter().position(|&byte| byte == b'\n').map(|index| from + index);
            prop_assert_eq!(find_byte(&input, from, end, b'\n'), naive_newline);
            let naive_name = input[from..end]
                .iter()
                .position(|&byte| !is_name_byte(byte))
                .filter(|&index| input[from + index] == b':')
                .map(|index| from + index);
            prop_assert_eq!(find_name_end(&input, from, end), naive_name);
        }

    }

    #[test]
    fn known_names_are_returned_as_written() {
        assert_eq!(known_name(b"Package"), Some("Package"));
        assert_eq!(
            known_name(b"package"),
            None,
            "lookups are exact: the caller keeps the input's case"
        );
    }
}
