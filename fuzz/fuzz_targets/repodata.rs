//! conda repodata.json, read lazily (records stay raw JSON): any bytes, no panic, and
//! every record's file name is the key it was found under.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_conda::repodata::RepoDataView;

fuzz_target!(|data: &[u8]| {
    let Ok(view) = RepoDataView::parse(data) else {
        return;
    };
    for record in &view.records {
        assert!(view.get(record.map, &record.filename).is_some());
    }
});
