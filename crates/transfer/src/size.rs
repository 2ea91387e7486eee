//! Volume sizes: `mirror_core::size`'s notation (`700M`, `4.7G`, `25G`, `650MiB`; plain
//! suffixes decimal, as media are sold), and the smallest volume a bundle may use.

use mirror_core::size::parse_size;

use crate::error::TransferError;

/// The smallest volume: a tar header, one data block and the end-of-archive blocks need
/// 2 KiB; below 64 KiB a bundle would be mostly headers.
pub const MIN_VOLUME_SIZE: u64 = 64 * 1024;

/// Parse a volume size (`mirror_core::size`'s notation). Refuses sizes below
/// [`MIN_VOLUME_SIZE`].
pub fn parse_volume_size(text: &str) -> Result<u64, TransferError> {
    let value = parse_size(text, "volume size").map_err(|e| TransferError::VolumeSize {
        what: e.what,
        text: e.text,
        reason: e.reason,
    })?;
    if value < MIN_VOLUME_SIZE {
        return Err(TransferError::VolumeSize {
            what: "volume size",
            text: text.to_owned(),
            reason: "volumes must be at least 64KiB",
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_sizes_parse_exactly() {
        for (text, bytes) in [
            ("700M", 700_000_000),
            ("4.7G", 4_700_000_000),
            ("25G", 25_000_000_000),
            ("1T", 1_000_000_000_000),
            ("100K", 100_000),
            ("650MiB", 650 << 20),
            ("1.5GiB", 3 << 29),
            ("1048576", 1_048_576),
            ("2 GB", 2_000_000_000),
            ("1M", 1_000_000),
        ] {
            assert_eq!(parse_volume_size(text).expect(text), bytes, "{text}");
        }
        for bad in [
            "",
            "G",
            "4.7.1G",
            "12X",
            "-1M",
            "1K",
            "99999999999999999999T",
        ] {
            assert!(parse_volume_size(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
