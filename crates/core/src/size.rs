//! Byte sizes as people write them: `700M`, `4.7G`, `25G`, `650MiB`, `1048576`, for any
//! setting or flag (`[fetch] max_index_size`, `export --volume-size`).
//!
//! Plain suffixes are decimal (K = 1000), because media are sold in decimal units: a
//! "4.7G" DVD holds 4,700,372,992 bytes and a "25G" Blu-ray 25,025,314,816, so decimal
//! values always fit. `KiB`/`MiB`/`GiB`/`TiB` are binary.

/// A size that does not parse, or is zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {text:?}: {reason}")]
pub struct SizeError {
    /// What the size is for (`volume size`, `[fetch] max_index_size`).
    pub what: &'static str,
    /// What was given.
    pub text: String,
    /// Why it is refused.
    pub reason: &'static str,
}

impl crate::error::Classify for SizeError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Config
    }
}

/// Parse a byte size in the same notation, for any setting (`what` names it in errors);
/// refuses zero.
pub fn parse_size(text: &str, what: &'static str) -> Result<u64, SizeError> {
    let refuse = |reason| SizeError {
        what,
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(refuse("unknown unit (use K, M, G, T, KiB, MiB, GiB, TiB)")),
    };
    if number.is_empty() || number.matches('.').count() > 1 {
        return Err(refuse("expected a number, e.g. 700M or 4.7G"));
    }
    // Exact decimal arithmetic: 4.7G must be 4_700_000_000, not 4_699_999_999.
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let parse = |s: &str| -> Result<u64, SizeError> {
        if s.is_empty() {
            Ok(0)
        } else {
            s.parse::<u64>().map_err(|_| refuse("number too large"))
        }
    };
    let mut value = parse(whole)?
        .checked_mul(multiplier)
        .ok_or_else(|| refuse("number too large"))?;
    if !fraction.is_empty() {
        let digits = u32::try_from(fraction.len()).map_err(|_| refuse("too many digits"))?;
        let scale = 10_u64
            .checked_pow(digits)
            .ok_or_else(|| refuse("too many digits"))?;
        let part = (parse(fraction)? as u128 * multiplier as u128) / scale as u128;
        value = value
            .checked_add(u64::try_from(part).map_err(|_| refuse("number too large"))?)
            .ok_or_else(|| refuse("number too large"))?;
    }
    if value == 0 {
        return Err(refuse("must be more than 0"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_exactly_and_zero_is_refused() {
        for (text, bytes) in [
            ("700M", 700_000_000),
            ("4.7G", 4_700_000_000),
            ("650MiB", 650 << 20),
            ("1.5GiB", 3 << 29),
            ("2 GB", 2_000_000_000),
            ("512", 512),
        ] {
            assert_eq!(parse_size(text, "size").expect(text), bytes, "{text}");
        }
        for bad in [
            "",
            "0",
            "0.0M",
            "G",
            "4.7.1G",
            "12X",
            "-1M",
            "99999999999999999999T",
        ] {
            let error = parse_size(bad, "[fetch] max_index_size").expect_err(bad);
            assert!(error.to_string().contains("max_index_size"), "{error}");
        }
    }
}
