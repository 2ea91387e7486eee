//! A filtered mirror's `Translation-<lang>` indices: upstream's, cut down to the selected
//! packages as it decodes, so a 30 MB Translation-en is never held whole (only the
//! stanzas kept, and the one being read).
//!
//! The decoder runs in one part, in order (a multi-block `.xz` is not split across cores
//! here): the decoded text is hashed as it passes and checked against the Release's
//! entry for the uncompressed index, as a whole decode would be.

use std::collections::HashSet;

use memchr::memmem;
use mirror_core::compression::{Input, PartSink, decompress_verified_stream};
use mirror_core::digest::Hasher;
use mirror_core::fetch::Fetcher;
use mirror_core::store::ObjectStore;

use crate::compact::MAX_STANZA_BYTES;
use crate::control::{ControlWriter, Paragraphs};
use crate::error::AptError;
use crate::release::{Release, ReleaseFile};
use crate::upstream::fetch_verified;

/// Fetch the first of `variants` (compressions of one Translation index) upstream
/// serves, verify it against the Release, store it, and keep the stanzas whose `Package`
/// is in `selected`, bytes unchanged. [`AptError::IndexMissing`] when upstream serves
/// none of them.
pub async fn fetch_filtered(
    fetcher: &Fetcher,
    objects: &ObjectStore,
    dists: &str,
    parsed: &Release<'_>,
    variants: &[ReleaseFile<'_>],
    selected: &HashSet<Vec<u8>>,
) -> Result<Vec<u8>, AptError> {
    let mut verified = fetch_verified(fetcher, objects, dists, parsed, variants).await?;
    // Decoded from the stored object, read where it lies.
    let object = verified.open_stored(objects)?;
    let (origin, format, limit) = (verified.url.clone(), verified.format, verified.limit);
    let selected = selected.clone();
    let (filter, digest) = tokio::task::spawn_blocking(move || {
        let outcome = decompress_verified_stream(
            Input::File(&object),
            format,
            limit,
            &origin,
            Filter::new(&selected),
        )?;
        if let Some(error) = outcome.error {
            return Err(AptError::from(error));
        }
        let mut filter = outcome.sink;
        if let Some(message) = filter.error.take() {
            return Err(AptError::Malformed { origin, message });
        }
        let digest = filter.hasher.take().map(Hasher::finish);
        filter
            .finish()
            .map(|out| (out, digest))
            .map_err(|message| AptError::Malformed { origin, message })
    })
    .await
    .map_err(|e| AptError::Internal(e.to_string()))?
    .map_err(|e| verified.too_large(e))?;
    if let Some((actual, len)) = digest {
        verified.check_decoded(Some(actual), len)?;
    }
    Ok(filter)
}

/// Keeps the selected stanzas of a Translation index as its text passes.
struct Filter<'s> {
    selected: &'s HashSet<Vec<u8>>,
    /// The start of a stanza not yet whole.
    pending: Vec<u8>,
    /// Lines before `pending`.
    lines: usize,
    out: ControlWriter,
    hasher: Option<Hasher>,
    error: Option<String>,
}

impl<'s> Filter<'s> {
    fn new(selected: &'s HashSet<Vec<u8>>) -> Self {
        Filter {
            selected,
            pending: Vec::new(),
            lines: 0,
            out: ControlWriter::new(),
            hasher: Some(Hasher::new()),
            error: None,
        }
    }

    /// Keeps the selected stanzas of `text`, whole stanzas after `self.lines` lines.
    fn stanzas(&mut self, text: &[u8]) -> Result<(), String> {
        for paragraph in Paragraphs::new(text) {
            let line = paragraph.line() + self.lines;
            let name = paragraph
                .get("Package")
                .map_err(|e| e.after_lines(self.lines).to_string())?
                .ok_or_else(|| format!("stanza at line {line} has no Package field"))?;
            if self.selected.contains(name) {
                self.out.paragraph(paragraph.raw());
            }
        }
        self.lines += memchr::memchr_iter(b'\n', text).count();
        Ok(())
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        if let Some(last) = memmem::rfind(&self.pending, b"\n\n") {
            let pending = std::mem::take(&mut self.pending);
            self.stanzas(&pending[..last + 2])?;
            self.pending = pending[last + 2..].to_vec();
        } else if self.pending.len() > MAX_STANZA_BYTES {
            return Err(format!(
                "a stanza longer than {MAX_STANZA_BYTES} bytes (no blank line) at line {}",
                self.lines + 1
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, String> {
        let pending = std::mem::take(&mut self.pending);
        self.stanzas(&pending)?;
        Ok(self.out.finish())
    }
}

impl PartSink for Filter<'_> {
    fn write(&mut self, bytes: &[u8]) -> bool {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        match self.take(bytes) {
            Ok(()) => true,
            Err(message) => {
                self.error = Some(message);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(names: &[&str]) -> HashSet<Vec<u8>> {
        names.iter().map(|name| name.as_bytes().to_vec()).collect()
    }

    const TEXT: &str = "Package: a\nDescription-md5: 00\nDescription-en: A\n long\n\n\
        Package: b\nDescription-md5: 11\nDescription-en: B\n\n\n\
        Package: c\nDescription-md5: 22\nDescription-en: C\n .\n more\n";

    /// The filter fed `text` in pieces of `piece` bytes.
    fn filtered(text: &[u8], names: &HashSet<Vec<u8>>, piece: usize) -> Result<Vec<u8>, String> {
        let mut filter = Filter::new(names);
        for chunk in text.chunks(piece) {
            if !filter.write(chunk) {
                return Err(filter.error.unwrap_or_default());
            }
        }
        filter.finish()
    }

    #[test]
    fn keeps_the_selected_stanzas_unchanged_however_the_text_is_cut() {
        let names = selected(&["a", "c"]);
        let expected = "Package: a\nDescription-md5: 00\nDescription-en: A\n long\n\n\
            Package: c\nDescription-md5: 22\nDescription-en: C\n .\n more\n\n";
        for piece in 1..=TEXT.len() {
            let out = filtered(TEXT.as_bytes(), &names, piece).expect("filters");
            assert_eq!(String::from_utf8_lossy(&out), expected, "pieces of {piece}");
        }
        assert!(
            filtered(TEXT.as_bytes(), &selected(&[]), 7)
                .expect("filters")
                .is_empty()
        );
    }

    #[test]
    fn a_stanza_without_package_names_its_line_in_the_whole_file() {
        let text = format!("{TEXT}\nDescription-md5: 33\nDescription-en: D\n");
        for piece in [1, 5, 64, text.len()] {
            let error =
                filtered(text.as_bytes(), &selected(&["a"]), piece).expect_err("no Package");
            assert_eq!(
                error, "stanza at line 17 has no Package field",
                "pieces of {piece}"
            );
        }
        let text = format!("{TEXT}\nPackage d\n");
        let error = filtered(text.as_bytes(), &selected(&["a"]), 3).expect_err("malformed");
        assert!(error.contains("line 17"), "{error}");
    }
}
