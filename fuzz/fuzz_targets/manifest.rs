//! The bundle manifest: any bytes, no panic; an accepted manifest writes back
//! (`to_json`) to one that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirror_transfer::Manifest;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("manifest.json");
    let Ok(manifest) = Manifest::from_json(data, path) else {
        return;
    };
    let again = Manifest::from_json(&manifest.to_json(), path).expect("a written manifest parses");
    assert_eq!(again, manifest);
});
