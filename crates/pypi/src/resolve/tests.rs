use super::*;
use crate::environment::targets;
use crate::simple::CoreMetadata;

/// One file of the test catalog: its name, its metadata's Requires-Dist, and tweaks.
struct F {
    filename: &'static str,
    requires: &'static [&'static str],
    requires_python: Option<&'static str>,
    yanked: bool,
}

fn f(filename: &'static str, requires: &'static [&'static str]) -> F {
    F {
        filename,
        requires,
        requires_python: None,
        yanked: false,
    }
}

fn catalog(files: Vec<F>) -> Catalog {
    let mut pages: BTreeMap<String, Vec<F>> = BTreeMap::new();
    for file in files {
        let dist = DistFilename::parse(file.filename).expect("valid in the test");
        pages.entry(dist.project).or_default().push(file);
    }
    let mut catalog = Catalog::default();
    for (name, files) in pages {
        let mut page_files = Vec::new();
        for file in &files {
            let dist = DistFilename::parse(file.filename).expect("valid in the test");
            catalog.metadata.insert(
                (name.clone(), file.filename.to_owned()),
                Metadata {
                    metadata_version: "2.1".into(),
                    name: name.clone(),
                    version: dist.version.clone(),
                    requires_python: file.requires_python.map(str::to_owned),
                    requires_dist: file.requires.iter().map(|s| (*s).to_owned()).collect(),
                    provides_extra: Vec::new(),
                },
            );
            page_files.push(File {
                filename: file.filename.to_owned(),
                url: format!("../../files/{}", file.filename),
                hashes: [("sha256".to_owned(), "0".repeat(64))].into(),
                requires_python: None,
                core_metadata: CoreMetadata::Unhashed,
                yanked: file.yanked.then(String::new),
                size: None,
                upload_time: None,
            });
        }
        let page = ProjectPage {
            name: name.clone(),
            versions: Vec::new(),
            files: page_files,
            other_files: 0,
        };
        catalog.projects.insert(
            name.clone(),
            Project::new(format!("http://x/{name}/"), page),
        );
    }
    catalog
}

fn policy(requirements: &[&str]) -> Policy {
    Policy {
        requirements: requirements
            .iter()
            .map(|r| r.parse().expect("valid in the test"))
            .collect(),
        sdists: false,
        exclude: Vec::new(),
    }
}

fn linux311() -> TargetEnv {
    targets(&["3.11".into()], &["manylinux_2_28_x86_64".into()])
        .expect("valid in the test")
        .remove(0)
}

fn pins(outcome: Outcome) -> Vec<String> {
    match outcome {
        Outcome::Resolved(pins) => pins
            .into_iter()
            .map(|(name, version)| format!("{name}=={version}"))
            .collect(),
        other => panic!("not resolved: {other:?}"),
    }
}

#[test]
fn the_closure_follows_markers_for_the_target_not_the_host() {
    let catalog = catalog(vec![
        f(
            "app-1.0-py3-none-any.whl",
            &[
                "lib>=1",
                "winonly; sys_platform == 'win32'",
                "old; python_version < '3.8'",
            ],
        ),
        f("lib-1.0-py3-none-any.whl", &[]),
        f("lib-1.5-cp311-cp311-manylinux_2_17_x86_64.whl", &[]),
        f("lib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", &[]),
        f("winonly-1.0-py3-none-any.whl", &[]),
        f("old-1.0-py3-none-any.whl", &[]),
    ]);
    let outcome = resolve(&catalog, &linux311(), &policy(&["app"]));
    // lib 2.0 has no wheel for CPython 3.11: 1.5 is the newest that installs.
    assert_eq!(pins(outcome), ["app==1.0", "lib==1.5"]);
    let windows = targets(&["3.11".into()], &["win_amd64".into()])
        .expect("valid in the test")
        .remove(0);
    let outcome = resolve(&catalog, &windows, &policy(&["app"]));
    assert_eq!(pins(outcome), ["app==1.0", "lib==1.0", "winonly==1.0"]);
}

#[test]
fn a_version_whose_dependencies_cannot_be_met_is_backtracked_from() {
    let catalog = catalog(vec![
        f("a-2.0-py3-none-any.whl", &["b>=2"]),
        f("a-1.0-py3-none-any.whl", &["b"]),
        f("b-1.0-py3-none-any.whl", &[]),
    ]);
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["a"]))),
        ["a==1.0", "b==1.0"]
    );
}

#[test]
fn an_extra_adds_its_entries_and_pins_its_project() {
    let catalog = catalog(vec![
        f(
            "req-2.0-py3-none-any.whl",
            &[
                "core",
                "socks<2; extra == 'socks'",
                "other; extra == 'other'",
            ],
        ),
        f("req-1.0-py3-none-any.whl", &["core"]),
        f("core-1.0-py3-none-any.whl", &[]),
        f("socks-1.0-py3-none-any.whl", &[]),
        f("socks-2.0-py3-none-any.whl", &[]),
        f("other-1.0-py3-none-any.whl", &[]),
    ]);
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["req[socks]"]))),
        ["core==1.0", "req==2.0", "socks==1.0"]
    );
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["req"]))),
        ["core==1.0", "req==2.0"]
    );
}

#[test]
fn requires_python_in_metadata_and_on_the_page_are_both_honoured() {
    let mut newest = f("a-3.0-py3-none-any.whl", &[]);
    newest.requires_python = Some(">=3.12");
    let mut catalog = catalog(vec![
        newest,
        f("a-2.0-py3-none-any.whl", &[]),
        f("a-1.0-py3-none-any.whl", &[]),
    ]);
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["a"]))),
        ["a==2.0"]
    );
    // The page's data-requires-python rules a file out before its metadata is read.
    let project = catalog.projects.get_mut("a").expect("valid in the test");
    let position = project
        .page
        .files
        .iter()
        .position(|file| file.filename.starts_with("a-2.0"))
        .expect("valid in the test");
    project.page.files[position].requires_python = Some(">=3.12".into());
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["a"]))),
        ["a==1.0"]
    );
}

#[test]
fn yanked_files_and_prereleases_only_when_asked_for() {
    let mut yanked = f("a-2.0-py3-none-any.whl", &[]);
    yanked.yanked = true;
    let catalog = catalog(vec![
        f("a-3.0rc1-py3-none-any.whl", &[]),
        yanked,
        f("a-1.0-py3-none-any.whl", &[]),
    ]);
    let target = linux311();
    assert_eq!(
        pins(resolve(&catalog, &target, &policy(&["a"]))),
        ["a==1.0"]
    );
    assert_eq!(
        pins(resolve(&catalog, &target, &policy(&["a==2.0"]))),
        ["a==2.0"]
    );
    assert_eq!(
        pins(resolve(&catalog, &target, &policy(&["a>=3.0rc1"]))),
        ["a==3.0rc1"]
    );
}

#[test]
fn a_missing_page_or_metadata_is_asked_for() {
    let mut catalog = catalog(vec![f("a-1.0-py3-none-any.whl", &["b"])]);
    let target = linux311();
    match resolve(&catalog, &target, &policy(&["a"])) {
        Outcome::Needs(needs) => assert_eq!(needs, [Need::Page("b".into())].into()),
        other => panic!("{other:?}"),
    }
    catalog.metadata.clear();
    match resolve(&catalog, &target, &policy(&["a"])) {
        Outcome::Needs(needs) => assert_eq!(needs, [Need::Metadata("a".into(), 0)].into()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_solution_names_the_requirement_and_what_was_found() {
    let catalog = catalog(vec![
        f("a-1.0-py3-none-any.whl", &["b>=2"]),
        f("b-1.0-py3-none-any.whl", &[]),
    ]);
    match resolve(&catalog, &linux311(), &policy(&["a"])) {
        Outcome::Unsatisfiable(report) => {
            assert!(report.contains("b >=2"), "{report}");
            assert!(report.contains("a"), "{report}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn excluded_releases_are_never_candidates() {
    let catalog = catalog(vec![
        f("a-1.0-py3-none-any.whl", &["b"]),
        f("b-2.0-py3-none-any.whl", &[]),
        f("b-1.0-py3-none-any.whl", &[]),
    ]);
    let mut policy = policy(&["a"]);
    policy.exclude = vec!["b>=2".parse().expect("valid")];
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy)),
        ["a==1.0", "b==1.0"]
    );
    policy.exclude = vec!["b".parse().expect("valid")];
    assert!(matches!(
        resolve(&catalog, &linux311(), &policy),
        Outcome::Unsatisfiable(_)
    ));
}

/// pip's and uv's order, not the fewest versions first: deciding python-dateutil (two
/// releases) before botocore (many, each needing dateutil < 3) would pick dateutil 4 and
/// then ask for the metadata of every older botocore, one round of fetching each.
#[test]
fn packages_are_decided_in_the_order_found_so_a_pin_does_not_walk_back_through_releases() {
    let mut files = vec![
        f("python_dateutil-2.9-py3-none-any.whl", &[]),
        f("python_dateutil-4.0-py3-none-any.whl", &[]),
    ];
    let names: Vec<&'static str> = (0..10)
        .map(|minor| &*Box::leak(format!("botocore-1.{minor}-py3-none-any.whl").into_boxed_str()))
        .collect();
    for name in &names {
        files.push(f(name, &["python-dateutil<3"]));
    }
    let mut catalog = catalog(files);
    // Only the newest botocore's metadata has been read.
    catalog
        .metadata
        .retain(|(project, file), _| project != "botocore" || file.starts_with("botocore-1.9-"));
    assert_eq!(
        pins(resolve(
            &catalog,
            &linux311(),
            &policy(&["botocore", "python-dateutil"])
        )),
        ["botocore==1.9", "python-dateutil==2.9"]
    );
    // Found later than python-dateutil, botocore is walked back through, until the
    // caller says to decide it early.
    let later = policy(&["python-dateutil", "botocore"]);
    assert!(matches!(
        resolve(&catalog, &linux311(), &later),
        Outcome::Needs(_)
    ));
    catalog.early = vec!["botocore".into()];
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &later)),
        ["botocore==1.9", "python-dateutil==2.9"]
    );
}

/// A dependency cycle (a needs b, b needs a) is a closure like any other.
#[test]
fn a_dependency_cycle_resolves() {
    let catalog = catalog(vec![
        f("a-1.0-py3-none-any.whl", &["b"]),
        f("b-1.0-py3-none-any.whl", &["a>=1"]),
    ]);
    assert_eq!(
        pins(resolve(&catalog, &linux311(), &policy(&["a"]))),
        ["a==1.0", "b==1.0"]
    );
}
