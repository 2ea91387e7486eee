//! InRelease framing and verification: any bytes, no panic; a document that verifies is
//! exactly one signed block (nothing but whitespace around it), and the text it verifies
//! to is the body the framing alone reads.
//!
//! The seed is the fixture's real InRelease. By default the keyring is empty: the framing
//! and the signature packets are parsed, and verification stops at "no such key", which
//! is what the project owns. `MIRROR_FUZZ_KEYRING=<the fixture's Debian keyring>` checks
//! real RSA-4096 signatures too, at a few executions per second.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mirror_core::signing::{Keyring, cleartext_body, verify_cleartext};

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| {
        std::env::var_os("MIRROR_FUZZ_KEYRING")
            .and_then(|path| Keyring::load(std::path::Path::new(&path)).ok())
            .unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let body = cleartext_body(data, "fuzz");
    if let Ok(verified) = verify_cleartext(keyring(), data, "fuzz") {
        let body = body.expect("a verified document is framed");
        assert_eq!(body, verified.text, "the verified text is the framed body");
    }
});
