//! The bundle volume reader (tar): any bytes, no panic; a volume it accepts holds exactly
//! the expected entry, as a plain file, once.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use mirror_transfer::{ExpectedEntry, check_volume_entries, entry_name};

/// The one object the seed volume carries: the bytes `x`.
fn expected() -> BTreeMap<String, ExpectedEntry> {
    let sha256 = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        .parse()
        .expect("a digest");
    BTreeMap::from([(
        entry_name(&sha256, None),
        ExpectedEntry {
            sha256,
            part: None,
            size: 1,
        },
    )])
}

fuzz_target!(|data: &[u8]| {
    let expected = expected();
    if check_volume_entries(data, "data-0001.tar", &expected).is_ok() {
        // Read again with the plain tar reader: only regular files, only the expected one.
        let mut archive = tar::Archive::new(data);
        let mut names = Vec::new();
        for entry in archive.entries().expect("accepted volumes are tar") {
            let entry = entry.expect("accepted entries read");
            assert_eq!(entry.header().entry_type(), tar::EntryType::Regular);
            names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        assert_eq!(names, expected.keys().cloned().collect::<Vec<_>>());
    }
});
