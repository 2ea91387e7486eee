//! [`ControlWriter`]: the writing half of the control format.

use super::scan::is_name_byte;
use super::{ControlError, is_blank};
#[cfg(doc)]
use super::{Paragraph, Paragraphs};

/// Writes control files that [`Paragraphs`] (and apt) read back field for field.
///
/// Every stanza ends with a blank line when closed with
/// [`end_paragraph`](Self::end_paragraph), as in Debian's Packages files; a Release file
/// (one stanza, no trailing blank line) simply never closes its stanza.
#[derive(Debug, Clone, Default)]
pub struct ControlWriter {
    buffer: Vec<u8>,
    open: bool,
}

impl ControlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `Name: value` to the open stanza, opening one if needed.
    ///
    /// A multi-line value must have each continuation line start with a space or tab and
    /// contain something besides whitespace; a value starting with `\n` is written
    /// `Name:` followed by its lines (the `SHA256:` list style).
    pub fn field(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, ControlError> {
        check_name(name)?;
        check_value(name, value)?;
        self.buffer.extend_from_slice(name.as_bytes());
        self.buffer.push(b':');
        if !value.is_empty() && value[0] != b'\n' {
            self.buffer.push(b' ');
        }
        self.buffer.extend_from_slice(value);
        self.buffer.push(b'\n');
        self.open = true;
        Ok(self)
    }

    /// Closes the open stanza with a blank line (no-op when none is open).
    pub fn end_paragraph(&mut self) -> &mut Self {
        if self.open {
            self.buffer.push(b'\n');
            self.open = false;
        }
        self
    }

    /// Copies a whole stanza (such as [`Paragraph::raw`]) and closes it.
    pub fn paragraph(&mut self, raw: &[u8]) -> &mut Self {
        self.end_paragraph();
        self.buffer.extend_from_slice(raw);
        if raw.last() != Some(&b'\n') {
            self.buffer.push(b'\n');
        }
        self.buffer.push(b'\n');
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer
    }

    /// The finished file.
    pub fn finish(self) -> Vec<u8> {
        self.buffer
    }
}

fn check_name(name: &str) -> Result<(), ControlError> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes[0] != b'#'
        && bytes[0] != b'-'
        && bytes.iter().all(|&byte| is_name_byte(byte));
    if valid {
        Ok(())
    } else {
        Err(ControlError::InvalidFieldName {
            line: 0,
            name: name.to_owned(),
        })
    }
}

fn check_value(name: &str, value: &[u8]) -> Result<(), ControlError> {
    let invalid = |reason| ControlError::InvalidValue {
        name: name.to_owned(),
        reason,
    };
    let mut lines = value.split(|&byte| byte == b'\n');
    let first = lines.next().unwrap_or_default();
    if first
        .first()
        .is_some_and(|&byte| byte == b' ' || byte == b'\t')
    {
        return Err(invalid("leading whitespace would be dropped"));
    }
    if value
        .last()
        .is_some_and(|&byte| byte == b' ' || byte == b'\t' || byte == b'\n')
    {
        return Err(invalid("trailing whitespace would be dropped"));
    }
    for line in lines {
        if !line
            .first()
            .is_some_and(|&byte| byte == b' ' || byte == b'\t')
        {
            return Err(invalid(
                "a continuation line must start with a space or tab",
            ));
        }
        if is_blank(line) {
            return Err(invalid("a blank continuation line would end the stanza"));
        }
    }
    Ok(())
}
