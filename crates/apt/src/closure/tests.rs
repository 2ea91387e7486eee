//! Tests of the closure: hand-written indices for each of apt's rules, and the real
//! bookworm index.

use super::*;
use crate::packages::parse_packages;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Packages text from `name version arch [Field: value; ...]` lines.
fn index_text(entries: &[&str]) -> String {
    let mut text = String::new();
    for entry in entries {
        let mut parts = entry.splitn(4, ' ');
        let [Some(name), Some(version), Some(architecture)] =
            [parts.next(), parts.next(), parts.next()]
        else {
            panic!("bad entry {entry}");
        };
        text.push_str(&format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {architecture}\n"
        ));
        for field in parts
            .next()
            .unwrap_or_default()
            .split(';')
            .filter(|field| !field.trim().is_empty())
        {
            text.push_str(&format!("{}\n", field.trim()));
        }
        text.push_str(&format!(
            "Filename: pool/{name}_{version}_{architecture}.deb\nSize: 1\nSHA256: {SHA}\n\n"
        ));
    }
    text
}

fn parse(text: &str) -> Vec<BinaryPackage<'_>> {
    parse_packages(text.as_bytes())
        .collect::<Result<_, _>>()
        .expect("test index parses")
}

/// `name=version:arch` of the closure, sorted.
fn resolve(
    packages: &[BinaryPackage<'_>],
    requested: &[&str],
    options: &ClosureOptions,
) -> (Vec<String>, Vec<ClosureWarning>) {
    let index = PackageIndex::new(packages);
    let closure = index.closure(requested, options).expect("closure succeeds");
    let mut names: Vec<String> = closure
        .packages()
        .iter()
        .map(|package| {
            format!(
                "{}={}:{}",
                package.name(),
                package.version(),
                package.architecture()
            )
        })
        .collect();
    names.sort();
    (names, closure.warnings().to_vec())
}

fn amd64() -> ClosureOptions {
    ClosureOptions::new(["amd64"])
}

#[test]
fn keep_versions_keeps_the_newest_n_with_their_own_dependencies() {
    let text = index_text(&[
        "tool 3 amd64 Depends: libt (= 3)",
        "tool 2 amd64 Depends: libt (= 2)",
        "tool 1 amd64 Depends: libt (= 1)",
        "libt 3 amd64",
        "libt 2 amd64",
        "libt 1 amd64",
    ]);
    let packages = parse(&text);
    let (one, _) = resolve(&packages, &["tool"], &amd64());
    assert_eq!(one, ["libt=3:amd64", "tool=3:amd64"]);
    let (two, warnings) = resolve(&packages, &["tool"], &amd64().keep_versions(2));
    assert_eq!(
        two,
        [
            "libt=2:amd64",
            "libt=3:amd64",
            "tool=2:amd64",
            "tool=3:amd64"
        ]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn highest_version_and_version_constraints() {
    let text = index_text(&[
        "lib 1.0 amd64",
        "lib 3.0 amd64",
        "lib 2.0 amd64",
        "new 1 amd64 Depends: lib (>= 1.5)",
        "old 1 amd64 Depends: lib (<< 2~)",
        "gone 1 amd64 Depends: lib (>= 5) | lib (= 0.1), libc6",
    ]);
    let packages = parse(&text);
    assert_eq!(resolve(&packages, &["lib"], &amd64()).0, ["lib=3.0:amd64"]);
    assert_eq!(
        resolve(&packages, &["new"], &amd64()).0,
        ["lib=3.0:amd64", "new=1:amd64"]
    );
    assert_eq!(
        resolve(&packages, &["old"], &amd64()).0,
        ["lib=1.0:amd64", "old=1:amd64"]
    );
    let (names, warnings) = resolve(&packages, &["gone"], &amd64());
    assert_eq!(names, ["gone=1:amd64"]);
    let relations: Vec<String> = warnings
        .iter()
        .map(|warning| match warning {
            ClosureWarning::Unsatisfiable {
                package,
                field,
                relation,
            } => format!("{package}|{field}|{relation}"),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        relations,
        [
            "gone 1 amd64|Depends|lib (>= 5) | lib (= 0.1)",
            "gone 1 amd64|Depends|libc6"
        ]
    );
}

#[test]
fn alternatives_prefer_what_is_selected_then_the_first_satisfiable() {
    let text = index_text(&[
        "app 1 amd64 Depends: missing | second | third",
        "second 1 amd64",
        "third 1 amd64",
    ]);
    let packages = parse(&text);
    assert_eq!(
        resolve(&packages, &["app"], &amd64()).0,
        ["app=1:amd64", "second=1:amd64"]
    );
    assert_eq!(
        resolve(&packages, &["app", "third"], &amd64()).0,
        ["app=1:amd64", "third=1:amd64"]
    );
}

#[test]
fn virtual_packages_and_versioned_provides() {
    let text = index_text(&[
        "mailer 1 amd64 Depends: mail-transport-agent",
        "postfix 3 amd64 Provides: mail-transport-agent; Priority: optional",
        "exim4 4 amd64 Provides: mail-transport-agent; Priority: standard",
        "needs-v2 1 amd64 Depends: libfoo-api (>= 2)",
        "libfoo-old 1 amd64 Provides: libfoo-api",
        "libfoo-new 1 amd64 Provides: libfoo-api (= 2.5)",
    ]);
    let packages = parse(&text);
    // The higher Priority wins among providers, unless one is already selected.
    assert_eq!(
        resolve(&packages, &["mailer"], &amd64()).0,
        ["exim4=4:amd64", "mailer=1:amd64"]
    );
    assert_eq!(
        resolve(&packages, &["mailer", "postfix"], &amd64()).0,
        ["mailer=1:amd64", "postfix=3:amd64"]
    );
    // An unversioned Provides cannot satisfy a versioned dependency.
    assert_eq!(
        resolve(&packages, &["needs-v2"], &amd64()).0,
        ["libfoo-new=1:amd64", "needs-v2=1:amd64"]
    );
    let (names, warnings) = resolve(&packages, &["mail-transport-agent"], &amd64());
    assert_eq!(names, ["exim4=4:amd64"]);
    assert!(
        matches!(&warnings[..], [ClosureWarning::VirtualRequest { provider, .. }] if provider == "exim4 4 amd64")
    );
}

#[test]
fn recommends_are_optional_and_skipped_when_unsatisfiable() {
    let text = index_text(&[
        "app 1 amd64 Pre-Depends: early; Recommends: extra, nowhere (>= 1)",
        "early 1 amd64",
        "extra 1 amd64 Depends: extra-lib",
        "extra-lib 1 all",
    ]);
    let packages = parse(&text);
    let (names, warnings) = resolve(&packages, &["app"], &amd64());
    assert_eq!(
        names,
        [
            "app=1:amd64",
            "early=1:amd64",
            "extra-lib=1:all",
            "extra=1:amd64"
        ]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let (names, _) = resolve(&packages, &["app"], &amd64().recommends(false));
    assert_eq!(names, ["app=1:amd64", "early=1:amd64"]);
}

#[test]
fn architectures_and_multi_arch() {
    let text = index_text(&[
        "tool 1 amd64 Depends: lib, helper, script:any",
        "tool 1 i386 Depends: lib, helper, script:any",
        "lib 1 amd64 Multi-Arch: same",
        "lib 1 i386 Multi-Arch: same",
        "lib 1 armhf Multi-Arch: same",
        "helper 1 amd64 Multi-Arch: foreign",
        "script 1 amd64 Multi-Arch: allowed",
        "native-only 1 amd64 Depends: lib:native",
    ]);
    let packages = parse(&text);
    let both = ClosureOptions::new(["amd64", "i386"]);
    // i386 tool takes i386 lib, and the amd64 helper (foreign) and script (allowed).
    assert_eq!(
        resolve(&packages, &["tool"], &both).0,
        [
            "helper=1:amd64",
            "lib=1:amd64",
            "lib=1:i386",
            "script=1:amd64",
            "tool=1:amd64",
            "tool=1:i386"
        ]
    );
    assert_eq!(
        resolve(&packages, &["tool:i386"], &both).0,
        [
            "helper=1:amd64",
            "lib=1:i386",
            "script=1:amd64",
            "tool=1:i386"
        ]
    );
    assert_eq!(
        resolve(&packages, &["native-only"], &both).0,
        ["lib=1:amd64", "native-only=1:amd64"]
    );
    let index = PackageIndex::new(&packages);
    let error = index
        .closure(&["lib:armhf", "nope", "tool"], &both)
        .expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "requested packages not found for architectures amd64 i386: lib:armhf, nope"
    );
    assert!(matches!(
        index.closure(&["tool:"], &both),
        Err(ClosureError::InvalidRequest(_))
    ));
    assert!(matches!(
        index.closure(&["tool"], &ClosureOptions::new(Vec::<String>::new())),
        Err(ClosureError::NoArchitectures)
    ));
}

#[test]
fn identical_copies_in_several_indices_are_selected_together() {
    let base = index_text(&["app 1 amd64 Depends: lib", "lib 1 amd64"]);
    let updates = index_text(&["lib 1 amd64", "app 2 amd64 Depends: lib"]);
    let (base, updates) = (parse(&base), parse(&updates));
    let index = PackageIndex::new(base.iter().chain(&updates));
    let closure = index.closure(&["app"], &amd64()).expect("closure");
    // app 2 (updates) wins; lib is selected in both indices.
    assert_eq!(closure.indices(), [1, 2, 3]);
}

#[test]
fn malformed_fields_become_warnings() {
    let text = index_text(&[
        "app 1 amd64 Depends: lib (>= )",
        "prov 1 amd64 Provides: a | b",
    ]);
    let packages = parse(&text);
    let index = PackageIndex::new(&packages);
    assert!(matches!(
        index.warnings(),
        [ClosureWarning::Malformed {
            field: "Provides",
            ..
        }]
    ));
    let closure = index.closure(&["app"], &amd64()).expect("closure");
    assert!(matches!(
        closure.warnings(),
        [ClosureWarning::Malformed {
            field: "Depends",
            ..
        }]
    ));
}

/// The fixture README's closure of jq, sl and tree, checked against the real index.
#[test]
fn real_bookworm_closure_of_jq_sl_tree() {
    let Some(bytes) = crate::packages::fixture::packages() else {
        return;
    };
    let packages: Vec<BinaryPackage<'_>> = parse_packages(bytes)
        .collect::<Result<_, _>>()
        .expect("valid index");
    let index = PackageIndex::new(&packages);
    let names = |options: &ClosureOptions| {
        let closure = index
            .closure(&["jq", "sl", "tree"], options)
            .expect("closure");
        assert!(closure.warnings().is_empty(), "{:?}", closure.warnings());
        let mut names: Vec<&str> = closure
            .packages()
            .iter()
            .map(|package| package.name())
            .collect();
        names.sort_unstable();
        names
    };
    let mut hard = vec![
        "gcc-12-base",
        "libgcc-s1",
        "libc6",
        "libtinfo6",
        "libncurses6",
        "libonig5",
        "libjq1",
        "jq",
        "sl",
        "tree",
    ];
    hard.sort_unstable();
    assert_eq!(names(&amd64().recommends(false)), hard);
    let mut full = hard.clone();
    full.extend(["libidn2-0", "libunistring2", "libgpm2"]);
    full.sort_unstable();
    assert_eq!(names(&amd64()), full);
    let error = index
        .closure(&["jq", "no-such-package"], &amd64())
        .expect_err("unknown");
    assert!(error.to_string().ends_with(": no-such-package"), "{error}");
}
