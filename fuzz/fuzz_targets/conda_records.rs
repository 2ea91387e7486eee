//! conda records through the checks a mirror runs before publishing one: any bytes, no
//! panic; every record that passes names a package file inside its subdir (no separator,
//! no `..`, not hidden) whose name, version and build are the record's own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_conda::record::{RecordChecks, parse_filename};
use mirror_conda::repodata::RepoDataView;

fuzz_target!(|data: &[u8]| {
    let Ok(view) = RepoDataView::parse(data) else {
        return;
    };
    let checks = RecordChecks::new(&view, "linux-64", &[]);
    for (i, record) in view.records.iter().enumerate() {
        if checks.get(i).is_ok() {
            let name: &str = &record.filename;
            assert!(parse_filename(name).is_ok(), "{name:?} passed but does not parse");
            assert!(
                !name.contains('/') && !name.contains('\\') && !name.contains("..") && !name.starts_with('.'),
                "{name:?} passed"
            );
        }
    }
    // Once every record is checked, the first bad one (if any) is one that failed.
    if let Some((file, skipped, _)) = checks.first_bad() {
        assert!(skipped.reason.is_bad(), "{file:?}");
    }
});
