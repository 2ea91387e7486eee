//! The cleartext signature framework (RFC 9580 section 7) as we accept it: one signed
//! block with nothing but whitespace around it, the signed text cut out and normalised
//! here, the armor around it (`Hash:` headers, signature packets) parsed by rPGP.

use pgp::{composed::CleartextSignedMessage, packet::Signature};

use super::{error::SigningError, keyring::find_line};

const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// A clear-signed message, framed as we require (nothing outside the signed block); what
/// verification and [`cleartext_body`] both start from.
pub(super) struct Cleartext {
    /// What every signature covers: RFC 9580's dash-unescaped, trailing-whitespace-trimmed
    /// text with CRLF line breaks.
    pub(super) signed_text: String,
    pub(super) signatures: Vec<Signature>,
}

/// Frame and parse a clear-signed message.
///
/// The body is cut out here and only the armor around it (the `Hash:` headers and the
/// signature block) goes to rPGP: rPGP 0.21's cleartext reader searches everything read
/// so far after each line (`read_cleartext_body`), quadratic in the body, so a 2.4 MB
/// InRelease took 8 s and a hostile 30 MB one would take most of an hour. Where the body
/// ends follows rPGP (the first line starting with five dashes, without the line break
/// before it), and rPGP must agree that what is left has an empty body.
pub(super) fn parse_cleartext(signed: &[u8], origin: &str) -> Result<Cleartext, SigningError> {
    let text = std::str::from_utf8(signed).map_err(|source| SigningError::NotUtf8 {
        origin: origin.to_string(),
        source,
    })?;
    let framed = signed_block(text, origin)?;
    let not_clearsigned = |reason| SigningError::NotClearsigned {
        origin: origin.to_string(),
        reason,
    };
    let body_start = end_of_headers(framed)
        .ok_or_else(|| not_clearsigned("no empty line after the armor headers"))?;
    let armor_start = body_start
        + find_line(&framed[body_start..], "-----")
            .ok_or_else(|| not_clearsigned("no -----BEGIN PGP SIGNATURE----- line"))?;
    let body = if armor_start == body_start {
        ""
    } else {
        // Without the line break before the signature: it is not signed.
        let body = &framed[body_start..armor_start - 1];
        body.strip_suffix('\r').unwrap_or(body)
    };
    let armor = [&framed[..body_start], &framed[armor_start..]].concat();
    let (message, _headers) =
        CleartextSignedMessage::from_string(&armor).map_err(|source| SigningError::Parse {
            origin: origin.to_string(),
            what: "cleartext-signed message",
            source,
        })?;
    if !message.text().is_empty() {
        return Err(not_clearsigned(
            "the armor headers do not end where they seem to",
        ));
    }
    Ok(Cleartext {
        signed_text: signed_text(body),
        signatures: message.signatures().to_vec(),
    })
}

/// Byte offset just past the blank line that ends the armor headers (after the
/// `-----BEGIN PGP SIGNED MESSAGE-----` line): as in rPGP's armor reader, "zero length or
/// containing only whitespace", spaces and tabs before a `\n` or `\r\n`.
fn end_of_headers(framed: &str) -> Option<usize> {
    let mut offset = 0;
    for line in framed.split_inclusive('\n') {
        offset += line.len();
        let Some(content) = line.strip_suffix('\n') else {
            break;
        };
        let content = content.strip_suffix('\r').unwrap_or(content);
        if offset != line.len() && content.bytes().all(|b| b == b' ' || b == b'\t') {
            return Some(offset);
        }
    }
    None
}

/// RFC 9580's cleartext signature framework: undo the dash-escaping and trim each line's
/// trailing spaces and tabs, then make every line break (`\n` or `\r\n`) CRLF, in that
/// order, as rPGP's `CleartextSignedMessage::signed_text` does (a `\r` left at a trimmed
/// line's end joins its line break).
fn signed_text(body: &str) -> String {
    let mut unescaped = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let ending = if line.ends_with("\r\n") {
            2
        } else if line.ends_with('\n') {
            1
        } else {
            0
        };
        let (content, end) = line.split_at(line.len() - ending);
        let content = content.strip_prefix("- ").unwrap_or(content);
        unescaped.push_str(content.trim_end_matches([' ', '\t']));
        unescaped.push_str(end);
    }
    let mut out = String::with_capacity(unescaped.len() + unescaped.len() / 32);
    for line in unescaped.split_inclusive('\n') {
        let content = line
            .strip_suffix('\n')
            .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
        out.push_str(content);
        if line.ends_with('\n') {
            out.push_str("\r\n");
        }
    }
    out
}

/// Returns the part of `text` from the BEGIN line to the signature's END line, refusing
/// non-whitespace around it.
fn signed_block<'a>(text: &'a str, origin: &str) -> Result<&'a str, SigningError> {
    let block = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let first_line = block.lines().next().unwrap_or_default();
    if first_line.trim_end() != BEGIN_SIGNED {
        return Err(if find_line(block, BEGIN_SIGNED).is_some() {
            outside(origin, "before", block)
        } else {
            SigningError::NotClearsigned {
                origin: origin.to_string(),
                reason: "no -----BEGIN PGP SIGNED MESSAGE----- line at the start",
            }
        });
    }
    // The signed body cannot hold a line starting with five dashes (those are
    // dash-escaped), so the first END line is the signature's.
    let end = end_of_signature(block).ok_or_else(|| SigningError::NotClearsigned {
        origin: origin.to_string(),
        reason: "no -----END PGP SIGNATURE----- line",
    })?;
    check_nothing_after(&block[end..], origin)?;
    Ok(&block[..end])
}

/// Byte offset just past the first `-----END PGP SIGNATURE-----` line of `text`.
pub(super) fn end_of_signature(text: &str) -> Option<usize> {
    let start = find_line(text, END_SIGNATURE)?;
    let line_end = text[start..]
        .find('\n')
        .map_or(text.len(), |newline| start + newline + 1);
    Some(line_end)
}

pub(super) fn check_nothing_after(rest: &str, origin: &str) -> Result<(), SigningError> {
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if rest.is_empty() {
        Ok(())
    } else {
        Err(outside(origin, "after", rest))
    }
}

fn outside(origin: &str, position: &'static str, data: &str) -> SigningError {
    SigningError::DataOutsideSignedBlock {
        origin: origin.to_string(),
        position,
        excerpt: data.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;
    use crate::signing::SigningKey;

    /// A real signature block by a test key, to wrap any body in: framing and the signed
    /// text do not depend on whether it verifies.
    fn signature_armor() -> &'static str {
        static ARMOR: OnceLock<String> = OnceLock::new();
        ARMOR.get_or_init(|| {
            let key = SigningKey::generate("Test <test@example.invalid>").expect("key");
            let signed = key.clearsign("x").expect("sign");
            let start = signed.find("-----BEGIN PGP SIGNATURE-----").expect("armor");
            signed[start..].to_owned()
        })
    }

    fn message(headers: &str, body: &str) -> String {
        format!("{BEGIN_SIGNED}\n{headers}\n{body}\n{}", signature_armor())
    }

    /// What rPGP makes of the whole framed message.
    fn rpgp(message: &str) -> Option<(String, Vec<Signature>)> {
        let framed = signed_block(message, "t").ok()?;
        let (parsed, _) = CleartextSignedMessage::from_string(framed).ok()?;
        Some((parsed.signed_text(), parsed.signatures().to_vec()))
    }

    proptest! {
        /// Cutting the body out ourselves changes nothing: same signed text, same
        /// signatures, same refusals as rPGP reading the whole message.
        #[test]
        fn the_body_cut_out_here_is_what_rpgp_reads(
            headers in prop::sample::select(vec![
                "Hash: SHA512\n", "", "Hash: SHA256\nHash: SHA512\n", "Hash: SHA512\r\n",
                "Comment: x\n", "Hash: NONE\n", " \n", "Hash: SHA512\n\t \r\n",
                "Hash: SHA512\n \r \n",
            ]),
            lines in prop::collection::vec("(- |-|-----| )?[a-z \t\r-]{0,6}", 0..10),
            crlf in any::<bool>(),
        ) {
            let body = lines.join(if crlf { "\r\n" } else { "\n" });
            let message = message(headers, &body);
            let ours = parse_cleartext(message.as_bytes(), "t")
                .ok()
                .map(|c| (c.signed_text, c.signatures));
            prop_assert_eq!(ours, rpgp(&message), "{:?}", message);
        }
    }

    #[test]
    fn dash_escapes_trailing_blanks_and_line_breaks_are_normalised() {
        let body = "- -----BEGIN not a block\nkept  \t\n- - twice\r\nlast \r \n";
        let message = message("Hash: SHA512\n", body);
        let parsed = parse_cleartext(message.as_bytes(), "t").expect("parses");
        assert_eq!(
            parsed.signed_text,
            "-----BEGIN not a block\r\nkept\r\n- twice\r\nlast \r\n"
        );
        assert_eq!(
            Some((parsed.signed_text, parsed.signatures)),
            rpgp(&message)
        );
    }

    /// rPGP alone took 8 s for a 2.4 MB body and grows with its square; cut out here it is
    /// one pass. The bound is 50x what a debug build needs, far below rPGP's minutes.
    #[test]
    fn a_large_body_is_read_in_one_pass() {
        let line = "Package: something-long-enough-to-matter 1.2.3-4 amd64\n";
        let body = line.repeat(8 << 20 >> 6);
        let message = message("Hash: SHA512\n", body.trim_end());
        let started = Instant::now();
        let parsed = parse_cleartext(message.as_bytes(), "t").expect("parses");
        assert_eq!(
            parsed.signed_text.len(),
            body.len() + body.len() / line.len() - 2
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?} for {} bytes",
            started.elapsed(),
            body.len()
        );
    }

    #[test]
    fn headers_without_their_empty_line_are_refused() {
        let message = format!("{BEGIN_SIGNED}\nHash: SHA512\n{}", signature_armor());
        let error = parse_cleartext(message.as_bytes(), "InRelease")
            .err()
            .expect("refused");
        assert!(error.to_string().starts_with("InRelease: "), "{error}");
    }
}
