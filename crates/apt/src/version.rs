//! Debian package versions (`[epoch:]upstream[-revision]`) and dpkg's ordering of them.
//!
//! The comparison is a transcription of dpkg's `verrevcmp` (lib/dpkg/version.c): strings
//! alternate between non-digit runs, compared character by character with `~` before
//! everything (even the end of the string) and letters before other characters, and digit
//! runs, compared numerically. Like dpkg, parsing rejects what dpkg calls an error (empty
//! parts, a non-numeric epoch, embedded spaces) and accepts what it merely warns about
//! (odd characters, an upstream part not starting with a digit), so an index dpkg can
//! install from is never refused here.

use std::cmp::Ordering;
use std::fmt;

/// Why a version string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {version:?}: {reason}")]
pub struct VersionError {
    /// The rejected text.
    pub version: String,
    /// dpkg's reason.
    pub reason: &'static str,
}

/// A parsed Debian version borrowing its text.
///
/// Equality follows the ordering, so `1.0`, `0:1.0` and `1.00` are equal;
/// [`as_str`](Self::as_str) keeps the text as written.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    text: &'a str,
    epoch: u32,
    // Parts of `text` as offsets, not slices: a selection holds a version for each of
    // 63k packages, and this is 32 bytes where three slices were 56.
    upstream_start: u32,
    upstream_end: u32,
    revision_start: u32,
}

impl<'a> Version<'a> {
    /// Parses `text` (surrounding whitespace is ignored, as dpkg does).
    pub fn parse(text: &'a str) -> Result<Self, VersionError> {
        let error = |reason| VersionError {
            version: text.to_owned(),
            reason,
        };
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            return Err(error("version string is empty"));
        }
        if trimmed
            .bytes()
            .any(|byte| byte.is_ascii_whitespace() || byte.is_ascii_control())
        {
            return Err(error("version string has embedded spaces"));
        }
        let (epoch, rest) = match trimmed.split_once(':') {
            None => (0, trimmed),
            Some((epoch, rest)) => {
                if epoch.is_empty() || !epoch.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(error("epoch in version is not a number"));
                }
                let epoch: u32 = epoch
                    .parse()
                    .map_err(|_| error("epoch in version is too big"))?;
                if epoch > i32::MAX as u32 {
                    return Err(error("epoch in version is too big"));
                }
                if rest.is_empty() {
                    return Err(error("nothing after colon in version number"));
                }
                (epoch, rest)
            }
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            None => (rest, ""),
            Some((_, "")) => return Err(error("revision number is empty")),
            Some(parts) => parts,
        };
        if upstream.is_empty() {
            return Err(error("version number is empty"));
        }
        let offset = |part: &str| part.as_ptr() as usize - trimmed.as_ptr() as usize;
        let offset32 =
            |at: usize| u32::try_from(at).map_err(|_| error("version string is too long"));
        Ok(Version {
            text: trimmed,
            epoch,
            upstream_start: offset32(offset(upstream))?,
            upstream_end: offset32(offset(upstream) + upstream.len())?,
            revision_start: offset32(if revision.is_empty() {
                trimmed.len()
            } else {
                offset(revision)
            })?,
        })
    }

    /// The version as written (without surrounding whitespace).
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &'a str {
        // The offsets were taken at separators (ASCII) of this text.
        &self.text[self.upstream_start as usize..self.upstream_end as usize]
    }

    /// The Debian revision, empty when absent (dpkg orders an absent revision like `0`).
    pub fn revision(&self) -> &'a str {
        &self.text[self.revision_start as usize..]
    }
}

/// dpkg's weight of one character of a non-digit run; `None` is the end of the string.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => i32::from(byte),
        Some(b'~') => -1,
        Some(byte) => i32::from(byte) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn compare_part(left: &[u8], right: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let is_digit = |part: &[u8], index: usize| part.get(index).is_some_and(u8::is_ascii_digit);
    while i < left.len() || j < right.len() {
        while (i < left.len() && !is_digit(left, i)) || (j < right.len() && !is_digit(right, j)) {
            let (a, b) = (order(left.get(i).copied()), order(right.get(j).copied()));
            if a != b {
                return a.cmp(&b);
            }
            i += 1;
            j += 1;
        }
        while left.get(i) == Some(&b'0') {
            i += 1;
        }
        while right.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while is_digit(left, i) && is_digit(right, j) {
            if first_difference == Ordering::Equal {
                first_difference = left[i].cmp(&right[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(left, i) {
            return Ordering::Greater;
        }
        if is_digit(right, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| compare_part(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

impl fmt::Display for Version<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Paragraphs;

    fn compare(left: &str, right: &str) -> Ordering {
        let left = Version::parse(left).expect("valid left version");
        let right = Version::parse(right).expect("valid right version");
        left.cmp(&right)
    }

    #[test]
    fn hand_picked_orderings() {
        use Ordering::{Equal, Greater, Less};
        let cases = [
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-1+b1", Less),
            ("1.0-1+b1", "1.0-2", Less),
            ("1.0", "1.0-0", Equal),
            ("1.0", "0:1.0", Equal),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0.0", Less),
            ("1.10", "1.9", Greater),
            ("2.36-9+deb12u14", "2.36-9+deb12u2", Greater),
            ("1.15.6~", "1.21.22", Less),
            ("1.2.3-1ubuntu1", "1.2.3-1", Greater),
            ("9", "10", Less),
            ("a", "b", Less),
            ("1-1-1", "1-1", Greater),
            ("1:1.2.13.dfsg-1", "1:1.2.0", Greater),
        ];
        for (left, right, expected) in cases {
            assert_eq!(compare(left, right), expected, "{left} vs {right}");
            assert_eq!(
                compare(right, left),
                expected.reverse(),
                "{right} vs {left}"
            );
        }
    }

    #[test]
    fn parts_and_errors() {
        let version = Version::parse(" 2:1.0-rc-3 ").expect("valid");
        assert_eq!(
            (version.epoch(), version.upstream(), version.revision()),
            (2, "1.0-rc", "3")
        );
        assert_eq!(version.as_str(), "2:1.0-rc-3");
        assert_eq!(version.to_string(), "2:1.0-rc-3");
        let version = Version::parse("1:0:2").expect("colon kept in upstream");
        assert_eq!((version.epoch(), version.upstream()), (1, "0:2"));
        for bad in [
            "",
            "  ",
            "a:1.0",
            ":1.0",
            "1:",
            "1.0-",
            "1 0",
            "-1",
            "99999999999:1",
        ] {
            let error = Version::parse(bad).expect_err(bad);
            assert_eq!(error.version, bad);
        }
    }

    /// Versions from the real fixture index, paired so that neighbours, relation
    /// constraints and different packages all meet; dpkg is the judge.
    #[test]
    fn agrees_with_dpkg_on_real_versions() {
        let Some(packages) = crate::packages::fixture::packages() else {
            return;
        };
        if std::process::Command::new("dpkg")
            .arg("--version")
            .output()
            .is_err()
        {
            mirror_test_support::skip("dpkg not installed");
            return;
        }
        let mut versions: Vec<&str> = Vec::new();
        for paragraph in Paragraphs::new(packages).step_by(29) {
            if let Some(version) = paragraph.get_str("Version").expect("utf-8") {
                versions.push(version);
            }
            // Constraint versions bring `~`, epochs and odd suffixes into play.
            if let Some(depends) = paragraph.get_str("Depends").expect("utf-8") {
                versions.extend(
                    depends
                        .split(['(', ')'])
                        .skip(1)
                        .step_by(2)
                        .filter_map(|part| {
                            part.trim_start_matches(['<', '>', '=', ' '])
                                .split_whitespace()
                                .next()
                        }),
                );
            }
        }
        assert!(versions.len() > 2000, "only {} versions", versions.len());
        let neighbours = versions.windows(2).map(|pair| (pair[0], pair[1]));
        let distant = versions
            .iter()
            .zip(versions.iter().skip(versions.len() / 2));
        let mut pairs: Vec<(&str, &str)> = neighbours.take(1200).collect();
        pairs.extend(distant.map(|(left, right)| (*left, *right)).take(1200));
        // Equal pairs with different spellings are where bugs hide.
        pairs.extend([("1.0", "1.00"), ("1:1.0", "1:1.0-0"), ("1.0~", "1.0~~")]);
        for batch in pairs.chunks(400) {
            let mut script = String::new();
            for (left, right) in batch {
                for version in [left, right] {
                    assert!(
                        version
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".:+~-".contains(&b)),
                        "unexpected character in {version:?}"
                    );
                }
                script.push_str(&format!(
                    "if dpkg --compare-versions '{left}' lt '{right}'; then echo lt; \
                     elif dpkg --compare-versions '{left}' eq '{right}'; then echo eq; else echo gt; fi\n"
                ));
            }
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .expect("sh runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let verdicts = String::from_utf8(output.stdout).expect("ascii");
            let verdicts: Vec<&str> = verdicts.lines().collect();
            assert_eq!(verdicts.len(), batch.len());
            for ((left, right), verdict) in batch.iter().zip(verdicts) {
                let expected = match verdict {
                    "lt" => Ordering::Less,
                    "eq" => Ordering::Equal,
                    _ => Ordering::Greater,
                };
                assert_eq!(
                    compare(left, right),
                    expected,
                    "dpkg says {left} {verdict} {right}"
                );
            }
        }
    }
}
