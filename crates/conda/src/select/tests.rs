//! Selection rules on a small two-subdir channel.

use super::*;
use crate::record::RecordChecks;

const SHA: &str = "1f07873d6aa0cd18760a7b215d9956f7fa63c2f2761b03f293c659fe982923fa";

/// `(name, version, build, depends, license)` records as a subdir's repodata.json.
fn repodata(subdir: &str, records: &[(&str, &str, &str, &[&str], &str)]) -> String {
    let entries: Vec<String> = records
        .iter()
        .map(|(name, version, build, depends, license)| {
            format!(
                r#""{name}-{version}-{build}.tar.bz2": {{"name": "{name}", "version": "{version}", "build": "{build}", "build_number": 0, "depends": {depends}, "license": "{license}", "subdir": "{subdir}", "sha256": "{SHA}", "size": 1}}"#,
                depends = serde_json::to_string(depends).expect("json")
            )
        })
        .collect();
    format!(
        r#"{{"info": {{"subdir": "{subdir}"}}, "packages": {{{}}}}}"#,
        entries.join(",\n")
    )
}

fn linux() -> String {
    repodata(
        "linux-64",
        &[
            (
                "python",
                "3.11.0",
                "h_0",
                &["libc >=1", "__glibc >=2.17"],
                "PSF",
            ),
            (
                "python",
                "3.12.0",
                "h_0",
                &["libc >=1", "__glibc >=2.17"],
                "PSF",
            ),
            ("python", "3.12.1", "h_0", &["libc >=1"], "PSF"),
            ("python", "3.12.1", "h_1", &["libc >=1"], "PSF"),
            ("libc", "1.0", "0", &[], "MIT"),
            ("libc", "2.0", "0", &[], "MIT"),
            ("libc", "3.0", "0", &[], "MIT"),
            (
                "app",
                "1.0",
                "0",
                &["requests", "libc <2", "missing-dep"],
                "MIT",
            ),
            ("app-dbg", "1.0", "0", &[], "MIT"),
            ("unrelated", "1.0", "0", &[], "MIT"),
        ],
    )
}

fn noarch() -> String {
    repodata(
        "noarch",
        &[
            (
                "requests",
                "2.0",
                "py_0",
                &["python >=3.12", "certifi"],
                "Apache-2.0",
            ),
            ("certifi", "2024.1", "pyh_0", &[], "ISC"),
            ("certifi", "2023.1", "pyh_0", &[], ""),
        ],
    )
}

/// Run a selection; returns the selected file names per subdir.
fn run(filter: Filter, licenses: &[String]) -> (Vec<Vec<String>>, Selection) {
    let texts = [("linux-64", linux()), ("noarch", noarch())];
    let views: Vec<RepoDataView<'_>> = texts
        .iter()
        .map(|(_, t)| RepoDataView::parse(t.as_bytes()).expect("valid"))
        .collect();
    let checks: Vec<RecordChecks<'_, '_>> = views
        .iter()
        .zip(&texts)
        .map(|(v, (s, _))| RecordChecks::new(v, s, licenses))
        .collect();
    let inputs: Vec<SubdirRecords<'_, '_>> = views
        .iter()
        .zip(&texts)
        .zip(&checks)
        .map(|((view, (subdir, _)), checks)| SubdirRecords {
            subdir,
            view,
            checks,
        })
        .collect();
    let selection = select(&inputs, &filter);
    let names = inputs
        .iter()
        .zip(&selection.selected)
        .map(|(input, selected)| {
            input
                .view
                .records
                .iter()
                .zip(selected)
                .filter(|(_, s)| **s)
                .map(|(r, _)| r.filename.trim_end_matches(".tar.bz2").to_owned())
                .collect()
        })
        .collect();
    (names, selection)
}

fn specs(list: &[&str]) -> Vec<MatchSpec> {
    list.iter()
        .map(|s| parse_spec(s).expect("valid spec"))
        .collect()
}

#[test]
fn closure_crosses_platform_and_noarch() {
    let (names, selection) = run(
        Filter {
            specs: specs(&["app"]),
            ..Filter::default()
        },
        &[],
    );
    // app -> requests (noarch) -> python >=3.12 (linux-64) -> libc >=1; certifi (noarch).
    assert_eq!(
        names[0],
        [
            "app-1.0-0",
            "libc-1.0-0",
            "libc-2.0-0",
            "libc-3.0-0",
            "python-3.12.0-h_0",
            "python-3.12.1-h_0",
            "python-3.12.1-h_1"
        ]
    );
    assert_eq!(
        names[1],
        [
            "certifi-2023.1-pyh_0",
            "certifi-2024.1-pyh_0",
            "requests-2.0-py_0"
        ]
    );
    // The virtual __glibc is skipped silently; the missing dependency is reported.
    assert_eq!(
        selection.unresolved.iter().collect::<Vec<_>>(),
        ["linux-64: missing-dep"]
    );
    assert!(selection.unmatched_specs.is_empty());
}

#[test]
fn keep_versions_trims_roots_but_keeps_needed_dependencies() {
    let (names, _) = run(
        Filter {
            specs: specs(&["app", "python"]),
            keep_versions: Some(1),
            ..Filter::default()
        },
        &[],
    );
    // python: newest version 3.12.1, both builds. libc: `libc >=1` keeps the newest
    // (3.0), `libc <2` (from app) keeps 1.0 although it is not among the newest.
    assert_eq!(
        names[0],
        [
            "app-1.0-0",
            "libc-1.0-0",
            "libc-3.0-0",
            "python-3.12.1-h_0",
            "python-3.12.1-h_1"
        ]
    );
    assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);

    // Everything, newest 2 versions per name.
    let (names, _) = run(
        Filter {
            keep_versions: Some(2),
            ..Filter::default()
        },
        &[],
    );
    assert!(!names[0].contains(&"python-3.11.0-h_0".to_owned()));
    assert!(
        names[0].contains(&"libc-1.0-0".to_owned()),
        "needed by app: {:?}",
        names[0]
    );
    assert!(names[0].contains(&"unrelated-1.0-0".to_owned()));
}

#[test]
fn exclude_and_licenses() {
    let (names, _) = run(
        Filter {
            specs: specs(&["app*"]),
            exclude: specs(&["libc >=2", "*-dbg"]),
            ..Filter::default()
        },
        &[],
    );
    assert!(names[0].contains(&"app-1.0-0".to_owned()));
    assert!(!names[0].iter().any(|n| n.starts_with("app-dbg")));
    assert!(names[0].contains(&"libc-1.0-0".to_owned()));
    assert!(
        !names[0]
            .iter()
            .any(|n| n == "libc-2.0-0" || n == "libc-3.0-0")
    );

    // Allow-list: certifi 2023.1 has an empty license string and PSF is not listed, so
    // python and everything needing it (requests) is dropped.
    let allowed: Vec<String> = ["MIT", "ISC", "Apache-2.0"].map(String::from).to_vec();
    let (names, selection) = run(Filter::default(), &allowed);
    assert!(!names[0].iter().any(|n| n.starts_with("python")));
    assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);
    assert!(selection.unresolved.is_empty(), "no closure without specs");
    let (names, selection) = run(
        Filter {
            specs: specs(&["requests"]),
            ..Filter::default()
        },
        &allowed,
    );
    assert_eq!(names[1], ["certifi-2024.1-pyh_0", "requests-2.0-py_0"]);
    assert!(names[0].is_empty());
    assert!(
        selection
            .unresolved
            .iter()
            .any(|u| u.contains("python >=3.12"))
    );
}

#[test]
fn unmatched_specs_and_spec_subdir() {
    let (names, selection) = run(
        Filter {
            specs: specs(&[
                "nothing-like-this",
                "certifi[subdir=noarch]",
                "libc[subdir=osx-64]",
            ]),
            ..Filter::default()
        },
        &[],
    );
    assert!(names[0].is_empty());
    assert_eq!(names[1].len(), 2);
    assert_eq!(
        selection.unmatched_specs.len(),
        2,
        "{:?}",
        selection.unmatched_specs
    );
}
