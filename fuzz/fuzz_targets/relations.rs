//! Depends-style fields and Provides: any text, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_apt::Relations;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Relations::parse(text);
    let _ = Relations::parse_provides(text);
});
