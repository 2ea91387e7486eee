//! Packages stanzas: typed views and the relationship fields parsed on demand; any bytes,
//! no panic, and every accepted `Filename` stays inside the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for package in mirror_apt::parse_packages(data).flatten() {
        assert!(mirror_apt::packages::check_relative_path(package.filename()).is_ok());
        let _ = package.depends();
        let _ = package.pre_depends();
        let _ = package.recommends();
        let _ = package.provides();
        let _ = mirror_apt::built_from(&package);
    }
});
