//! Tests of Release parsing, writing and dates, with the real bookworm Release.

use super::*;

const MD5: &str = "0ed6d4c8891eb86358b94bb35d9e4da4";
const SHA: &str = "5d27e4146c269f89eb420bd8884da52498658fcf9612bb2725aeacb051fe905a";

fn sample_files() -> Vec<ReleaseFile<'static>> {
    vec![
        ReleaseFile {
            path: "main/binary-amd64/Packages",
            size: 50_060_337,
            sha256: SHA,
            md5: Some(MD5),
        },
        ReleaseFile {
            path: "main/binary-amd64/Packages.xz",
            size: 0,
            sha256: SHA,
            md5: None,
        },
        ReleaseFile {
            path: "main/Contents-all",
            size: 519_622_348,
            sha256: SHA,
            md5: Some(MD5),
        },
    ]
}

#[test]
fn write_then_parse_round_trips() {
    let fields = ReleaseFields {
        origin: Some("Mirror"),
        label: Some("Mirror of Debian"),
        suite: Some("stable"),
        codename: Some("bookworm"),
        date: Some("Sat, 11 Jul 2026 10:16:37 UTC"),
        valid_until: Some("Sat, 18 Jul 2026 10:16:37 UTC"),
        extra: vec![("NotAutomatic", "yes")],
        acquire_by_hash: true,
        architectures: vec!["amd64", "all"],
        components: vec!["main"],
        description: Some("Filtered for the inside"),
        ..ReleaseFields::default()
    };
    let files = sample_files();
    let text = write_release(&fields, &files).expect("valid");
    assert!(
        text.contains(&format!(
            "\n {SHA}        0 main/binary-amd64/Packages.xz\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n {MD5} 50060337 main/binary-amd64/Packages\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n {MD5} 519622348 main/Contents-all\n")),
        "{text}"
    );
    assert!(text.ends_with("main/Contents-all\n"), "{text}");
    assert!(
        text.find("NotAutomatic").expect("written")
            < text.find("Acquire-By-Hash").expect("written")
    );
    let release = Release::parse(&text).expect("parses");
    assert_eq!(release.fields, fields);
    assert_eq!(release.files(), &files[..]);
    assert_eq!(
        release.file("main/binary-amd64/Packages.xz"),
        Some(&files[1])
    );
    assert_eq!(release.file("main/missing"), None);
    let date = release.date().expect("valid").expect("present");
    assert_eq!(format_release_date(date), "Sat, 11 Jul 2026 10:16:37 UTC");
    assert!(release.valid_until().expect("valid").expect("present") > date);
}

#[test]
fn writer_rejects_bad_input() {
    let fields = ReleaseFields::default();
    let mut files = sample_files();
    files[0].path = "../escape";
    assert!(matches!(
        write_release(&fields, &files),
        Err(ReleaseError::UnsafePath(_))
    ));
    let mut files = sample_files();
    files[2].path = files[0].path;
    assert!(matches!(
        write_release(&fields, &files),
        Err(ReleaseError::Inconsistent { .. })
    ));
    let mut files = sample_files();
    files[1].sha256 = "abc";
    assert!(matches!(
        write_release(&fields, &files),
        Err(ReleaseError::InvalidEntry { .. })
    ));
    let fields = ReleaseFields {
        description: Some("two\nlines"),
        ..ReleaseFields::default()
    };
    assert!(matches!(
        write_release(&fields, &sample_files()),
        Err(ReleaseError::Control(_))
    ));
}

#[test]
fn parse_rejects_inconsistent_lists() {
    let sha = format!("SHA256:\n {SHA} 10 a\n");
    assert!(matches!(
        Release::parse("Origin: x\n"),
        Err(ReleaseError::NoSha256)
    ));
    assert!(matches!(Release::parse(""), Err(ReleaseError::Empty)));
    let twice = format!("{sha} {SHA} 10 a\n");
    assert!(matches!(
        Release::parse(&twice),
        Err(ReleaseError::Inconsistent { .. })
    ));
    let sizes = format!("MD5Sum:\n {MD5} 11 a\n{sha}");
    assert!(matches!(
        Release::parse(&sizes),
        Err(ReleaseError::Inconsistent { .. })
    ));
    let escape = format!("SHA256:\n {SHA} 10 ../a\n");
    assert!(matches!(
        Release::parse(&escape),
        Err(ReleaseError::UnsafePath(_))
    ));
    let short = "SHA256:\n abc 10 a\n";
    assert!(matches!(
        Release::parse(short),
        Err(ReleaseError::InvalidEntry { list: "SHA256", .. })
    ));
    let md5_only = format!("MD5Sum:\n {MD5} 5 b\n{sha}");
    let release = Release::parse(&md5_only).expect("valid");
    assert_eq!(release.files().len(), 1, "an MD5-only file is left out");
}

#[test]
fn dates() {
    let parse = |text| parse_release_date("Date", text);
    let utc = parse("Sat, 11 Jul 2026 10:16:37 UTC").expect("valid");
    assert_eq!(parse("11 Jul 2026 12:16:37 +0200").expect("valid"), utc);
    assert_eq!(parse("Sat, 11 Jul 2026 10:16:37 GMT").expect("valid"), utc);
    assert_eq!(utc.unix_timestamp(), 1_783_764_997);
    for bad in [
        "",
        "Sat, 11 Jul 2026",
        "Sat, 32 Jul 2026 10:16:37 UTC",
        "Sat, 11 Foo 2026 10:16:37 UTC",
        "11 Jul 2026 10:16 UTC",
        "11 Jul 2026 10:16:37 CEST",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn real_release_parses_and_is_rewritten_byte_for_byte() {
    let Some(root) = crate::packages::fixture::root() else {
        return;
    };
    let path = root.join("debian-bookworm/dists/bookworm/Release");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let release = Release::parse(&text).expect("real Release parses");
    let fields = &release.fields;
    assert_eq!(
        (fields.origin, fields.suite, fields.codename),
        (Some("Debian"), Some("oldstable"), Some("bookworm"))
    );
    assert_eq!(fields.version, Some("12.15"));
    assert!(fields.acquire_by_hash);
    assert_eq!(fields.no_support_for_architecture_all, Some("Packages"));
    assert_eq!(
        fields.components,
        vec!["main", "contrib", "non-free-firmware", "non-free"]
    );
    assert!(fields.architectures.contains(&"amd64"));
    assert_eq!(
        release
            .date()
            .expect("valid")
            .map(format_release_date)
            .as_deref(),
        fields.date
    );
    let packages = release.file("main/binary-amd64/Packages").expect("listed");
    assert_eq!(packages.size, 50_060_337, "the fixture README's size");
    assert_eq!(
        packages.sha256,
        "515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"
    );
    assert!(packages.md5.is_some());
    assert_eq!(
        release.files().len(),
        text.lines().filter(|line| line.starts_with(' ')).count() / 2
    );
    assert_eq!(
        write_release(&release.fields, release.files()).expect("writes"),
        text
    );
}
