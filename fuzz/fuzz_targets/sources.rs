//! Sources stanzas: any bytes, no panic, and every file an accepted stanza names stays
//! inside the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for source in mirror_apt::parse_sources(data).flatten() {
        for file in source.files() {
            assert!(mirror_apt::packages::check_relative_path(&file.path).is_ok());
        }
    }
});
