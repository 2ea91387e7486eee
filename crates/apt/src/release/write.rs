//! [`write_release`]: a Release body in the field order of Debian's archive software.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::control::ControlWriter;
use crate::packages::check_relative_path;

use super::{ReleaseError, ReleaseFields, ReleaseFile, inconsistent};

/// Writes a Release body: the fields in Debian's order, then the `MD5Sum` list (files
/// that have an MD5) and the `SHA256` list, each line ` hash size path` with the size
/// right-aligned in 8 columns as Debian's archive writes it. No trailing blank line.
pub fn write_release(
    fields: &ReleaseFields<'_>,
    files: &[ReleaseFile<'_>],
) -> Result<String, ReleaseError> {
    let mut writer = ControlWriter::new();
    let single = [
        ("Origin", fields.origin),
        ("Label", fields.label),
        ("Suite", fields.suite),
        ("Version", fields.version),
        ("Codename", fields.codename),
        ("Changelogs", fields.changelogs),
        ("Date", fields.date),
        ("Valid-Until", fields.valid_until),
    ];
    for (name, value) in single {
        if let Some(value) = value {
            writer.field(name, value.as_bytes())?;
        }
    }
    for (name, value) in &fields.extra {
        writer.field(name, value.as_bytes())?;
    }
    if fields.acquire_by_hash {
        writer.field("Acquire-By-Hash", b"yes")?;
    }
    if let Some(value) = fields.no_support_for_architecture_all {
        writer.field("No-Support-for-Architecture-all", value.as_bytes())?;
    }
    for (name, list) in [
        ("Architectures", &fields.architectures),
        ("Components", &fields.components),
    ] {
        if !list.is_empty() {
            writer.field(name, list.join(" ").as_bytes())?;
        }
    }
    if let Some(value) = fields.description {
        writer.field("Description", value.as_bytes())?;
    }
    let mut seen = HashMap::with_capacity(files.len());
    for file in files {
        check_relative_path(file.path).map_err(ReleaseError::UnsafePath)?;
        if seen.insert(file.path, ()).is_some() {
            return Err(inconsistent(file.path, "listed twice"));
        }
    }
    let mut md5_list = String::new();
    let mut sha256_list = String::new();
    for file in files {
        if let Some(md5) = file.md5 {
            write_entry(&mut md5_list, "MD5Sum", md5, 32, file)?;
        }
        write_entry(&mut sha256_list, "SHA256", file.sha256, 64, file)?;
    }
    if !md5_list.is_empty() {
        writer.field("MD5Sum", md5_list.as_bytes())?;
    }
    writer.field("SHA256", sha256_list.as_bytes())?;
    Ok(String::from_utf8(writer.finish()).expect("written from str pieces"))
}

fn write_entry(
    list_text: &mut String,
    list: &'static str,
    hash: &str,
    hash_length: usize,
    file: &ReleaseFile<'_>,
) -> Result<(), ReleaseError> {
    if hash.len() != hash_length
        || !hash
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ReleaseError::InvalidEntry {
            list,
            line: format!("{hash} {} {}", file.size, file.path),
            reason: format!("expected {hash_length} lowercase hex digits"),
        });
    }
    write!(list_text, "\n {hash} {:>8} {}", file.size, file.path)
        .expect("writing to a String cannot fail");
    Ok(())
}
