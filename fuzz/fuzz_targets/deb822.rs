//! The deb822 scanner under every index: any bytes, no panic; every field it yields can
//! be read back by name, and a paragraph's raw bytes parse again to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_apt::{Paragraph, Paragraphs};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn fields(paragraph: &Paragraph<'_>) -> Option<Fields> {
    paragraph
        .fields()
        .map(|f| f.map(|f| (f.name_bytes().to_vec(), f.value().to_vec())))
        .collect::<Result<_, _>>()
        .ok()
}

fuzz_target!(|data: &[u8]| {
    for paragraph in Paragraphs::new(data) {
        // Stop at the first malformed paragraph, as every reader in the product does: an
        // error's message counts its line from the start, and an input of thousands of
        // malformed paragraphs would make the target (not the scanner) quadratic.
        let Some(first) = fields(&paragraph) else {
            break;
        };
        // (A few lookups by name: each is a scan, and a stanza of 10,000 one-line fields
        // would make the target, not the scanner, quadratic.)
        for (name, _) in first.iter().take(16) {
            if let Ok(name) = std::str::from_utf8(name) {
                let _ = paragraph.get(name);
            }
        }
        // Round trip: the raw bytes of a paragraph are one paragraph with the same fields.
        let again = Paragraphs::new(paragraph.raw())
            .next()
            .and_then(|p| fields(&p))
            .unwrap_or_default();
        assert_eq!(first, again, "a paragraph's raw bytes parse to the same fields");
    }
});
