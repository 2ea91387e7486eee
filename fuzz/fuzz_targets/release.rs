//! Release files: any text, no panic; every listed path is safe; and what parses writes
//! back (`write_release`) to a Release that parses to the same files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_apt::{Release, write_release};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(release) = Release::parse(text) else {
        return;
    };
    let _ = release.date();
    let _ = release.valid_until();
    for file in release.files() {
        assert!(mirror_apt::packages::check_relative_path(file.path).is_ok());
    }
    if let Ok(written) = write_release(&release.fields, release.files()) {
        let again = Release::parse(&written).expect("a written Release parses");
        assert_eq!(again.files(), release.files(), "files survive a round trip");
    }
});
