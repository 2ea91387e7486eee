//! Debian versions: any two strings, no panic, and dpkg's order is a total order
//! (antisymmetric, and equal versions compare equal both ways).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_apt::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    let (Ok(a), Ok(b)) = (Version::parse(a), Version::parse(b)) else {
        return;
    };
    assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
    assert_eq!(a.cmp(&a), std::cmp::Ordering::Equal);
});
