//! A selective mirror of a simple index: the closure per target, every file verified, the
//! published index used by the real pip, and what a hostile or broken index gets.

use std::path::Path;

use mirror_core::error::{Classify as _, ErrorClass};
use mirror_core::fetch::{FetchOptions, Fetcher};
use mirror_core::reporter::NoReporter;
use mirror_core::repository::SyncContext;
use mirror_core::store::Store;
use mirror_core::sync::{SyncError, SyncOptions, SyncOutcome, SyncReport, sync};
use mirror_pypi::{PypiConfig, PypiMirror};
use mirror_test_support::pypi_index::{Index, Wheel};
use mirror_test_support::{Fault, TestServer, pip_install};

/// app 1.0 (needs lib>=1, and winonly on Windows), lib 1.0 (pure), lib 2.0 (a CPython 3.12
/// wheel only), winonly 1.0, unrelated 1.0.
fn standard_index(dir: &Path) -> Index {
    let mut index = Index::new(dir);
    index
        .add(&Wheel::new("app", "1.0").requires(&["lib>=1", "winonly; sys_platform == 'win32'"]))
        .add(&Wheel::new("lib", "1.0"))
        .add(&Wheel::new("lib", "2.0").tag("cp312-cp312-manylinux_2_17_x86_64"))
        .add(&Wheel::new("winonly", "1.0"))
        .add(&Wheel::new("unrelated", "1.0"));
    index.write_pages();
    index
}

fn config(url: &str, requirements: &[&str]) -> PypiConfig {
    let requirements = requirements.iter().map(|r| (*r).to_owned()).collect();
    PypiConfig {
        python: vec!["3.11".into()],
        ..PypiConfig::new("pypi", url, requirements)
    }
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    (dir, store)
}

/// A sync into a fresh store that must fail: its error, once it is checked that nothing
/// was published.
async fn refused(config: PypiConfig, why: &str) -> SyncError {
    let (_dir, store) = temp_store();
    let error = sync_mirror(&store, config).await.expect_err(why);
    assert!(!store.public_dir().join("pypi").exists(), "{error}");
    error
}

async fn sync_mirror(store: &Store, config: PypiConfig) -> Result<SyncReport, SyncError> {
    let mirror = PypiMirror::new(config).expect("valid config");
    let fetcher = Fetcher::new(FetchOptions {
        retries: 1,
        retry_base_delay: std::time::Duration::from_millis(10),
        ..FetchOptions::default()
    })
    .expect("fetcher");
    let previous = store.latest_snapshot("pypi").expect("previous snapshot");
    let ctx = SyncContext {
        store,
        fetcher: &fetcher,
        signing_key: None,
        reporter: &NoReporter,
        previous: previous.as_ref(),
    };
    sync(
        &mirror,
        &ctx,
        SyncOptions {
            dry_run: false,
            publish: true,
        },
    )
    .await
}

/// Every file of the published tree, relative, sorted.
fn published_files(store: &Store) -> Vec<String> {
    let root = store.public_dir().join("pypi");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(&root).expect("under root");
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn the_closure_for_the_target_is_published_and_pip_installs_it_from_the_mirror() {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_index(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    let (_dir, store) = temp_store();
    let report = sync_mirror(&store, config(&server.url_for("simple"), &["app"]))
        .await
        .expect("sync");
    assert!(report.published.is_some(), "{report:?}");
    assert_eq!(
        published_files(&store),
        [
            "packages/app/app-1.0-py3-none-any.whl",
            "packages/app/app-1.0-py3-none-any.whl.metadata",
            "packages/lib/lib-1.0-py3-none-any.whl",
            "packages/lib/lib-1.0-py3-none-any.whl.metadata",
            "simple/app/index.html",
            "simple/app/index.json",
            "simple/index.html",
            "simple/index.json",
            "simple/lib/index.html",
            "simple/lib/index.json",
        ]
    );
    // The page links relatively, with the digests of the file and of its metadata.
    let page = std::fs::read_to_string(store.public_dir().join("pypi/simple/lib/index.html"))
        .expect("page");
    let page = mirror_pypi::simple::ProjectPage::from_html(page.as_bytes(), "lib", "lib page")
        .expect("our page reads back");
    assert_eq!(page.files.len(), 1);
    assert_eq!(
        page.files[0].url,
        "../../packages/lib/lib-1.0-py3-none-any.whl"
    );
    // Neither the Windows-only dependency nor the unrelated project was fetched.
    let requests = server.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.contains("winonly") || r.contains("unrelated")),
        "{requests:?}"
    );
    // No wheel was read upstream before the plan: PEP 658 metadata sufficed.
    assert_eq!(
        server.request_count("/files/lib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        0
    );

    // The real pip, with nothing but the mirror, installs the closure.
    let index_url = format!(
        "file://{}",
        store.public_dir().join("pypi/simple").display()
    );
    let target = tempfile::tempdir().expect("tempdir");
    if let Some(result) = pip_install(&index_url, &["app"], target.path()) {
        assert_eq!(result.expect("pip installs"), ["app==1.0", "lib==1.0"]);
    }
}

#[tokio::test]
async fn an_unchanged_index_is_a_no_op_and_a_new_release_is_picked_up() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = standard_index(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    let (_dir, store) = temp_store();
    let config = config(&server.url_for("simple"), &["app"]);
    sync_mirror(&store, config.clone())
        .await
        .expect("first sync");
    let again = sync_mirror(&store, config.clone()).await.expect("no-op");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    index.add(&Wheel::new("lib", "1.5"));
    index.write_pages();
    let changed = sync_mirror(&store, config)
        .await
        .expect("sync after a release");
    assert_eq!(changed.outcome, SyncOutcome::Synced);
    assert!(published_files(&store).contains(&"packages/lib/lib-1.5-py3-none-any.whl".into()));
}

#[tokio::test]
async fn a_wheel_that_does_not_match_its_digest_is_refused_and_nothing_is_published() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let index = standard_index(upstream.path());
    // The wheel is replaced after its page stated its digest.
    std::fs::write(
        index.path("files/lib-1.0-py3-none-any.whl"),
        b"not the wheel",
    )
    .expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(config(&server.url_for("simple"), &["app"]), "a digest lie").await;
    assert_eq!(error.class(), ErrorClass::Verification, "{error}");
    assert!(
        error.to_string().contains("lib-1.0-py3-none-any.whl"),
        "{error}"
    );
}

#[tokio::test]
async fn metadata_that_contradicts_its_file_or_digest_is_refused() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let index = standard_index(upstream.path());
    let metadata = index.path("files/lib-1.0-py3-none-any.whl.metadata");
    std::fs::write(
        &metadata,
        "Metadata-Version: 2.1\nName: lib\nVersion: 1.0\nRequires-Dist: evil\n",
    )
    .expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(
        config(&server.url_for("simple"), &["app"]),
        "a metadata digest lie",
    )
    .await;
    assert_eq!(error.class(), ErrorClass::Verification, "{error}");
    assert!(server.request_count("/simple/evil/") == 0);
}

#[tokio::test]
async fn a_requirement_nothing_satisfies_names_the_target_and_what_was_found() {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_index(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(
        config(&server.url_for("simple"), &["lib>=2"]),
        "lib 2.0 has no wheel for CPython 3.11",
    )
    .await;
    let message = error.to_string();
    assert!(message.contains("cp311-manylinux_2_28_x86_64"), "{message}");
    assert!(message.contains("lib"), "{message}");
}

#[tokio::test]
async fn a_page_linking_outside_http_is_refused() {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_index(upstream.path());
    let page = upstream.path().join("simple/lib/index.html");
    let text = std::fs::read_to_string(&page).expect("page");
    std::fs::write(&page, text.replace("../../files/", "file:///etc/")).expect("write");
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(
        config(&server.url_for("simple"), &["app"]),
        "a file:// link from an http index",
    )
    .await;
    assert!(
        error.to_string().contains("scheme \"file\" refused"),
        "{error}"
    );
}

#[tokio::test]
async fn without_metadata_files_each_wheels_own_metadata_is_read_and_published() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    let app = Wheel::new("app", "1.0")
        .requires(&["lib"])
        .without_metadata();
    let lib = Wheel::new("lib", "1.0").without_metadata();
    index.add(&app).add(&lib);
    index.write_pages();
    let server = TestServer::serve_dir(upstream.path());
    let (_dir, store) = temp_store();
    sync_mirror(&store, config(&server.url_for("simple"), &["app"]))
        .await
        .expect("sync");
    // Our metadata file is the wheel's METADATA, announced with its digest.
    let public = store.public_dir().join("pypi");
    let ours = std::fs::read(public.join("packages/lib/lib-1.0-py3-none-any.whl.metadata"))
        .expect("published metadata");
    assert_eq!(ours, lib.metadata().as_bytes());
    let page = std::fs::read(public.join("simple/lib/index.html")).expect("page");
    let page = mirror_pypi::simple::ProjectPage::from_html(&page, "lib", "lib").expect("page");
    let digest = mirror_core::digest::Sha256Digest::of(&ours).to_hex();
    assert_eq!(
        page.files[0].core_metadata,
        mirror_pypi::simple::CoreMetadata::Hashes([("sha256".into(), digest)].into())
    );
    // Each wheel was downloaded once: to read it, and not again to publish it.
    assert_eq!(server.request_count("/files/lib-1.0-py3-none-any.whl"), 1);
    let index_url = format!("file://{}", public.join("simple").display());
    let target = tempfile::tempdir().expect("tempdir");
    if let Some(result) = pip_install(&index_url, &["app"], target.path()) {
        assert_eq!(result.expect("pip installs"), ["app==1.0", "lib==1.0"]);
    }
}

#[tokio::test]
async fn a_wheel_whose_metadata_claims_another_version_is_refused() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    index.add(&Wheel::new("app", "1.0").requires(&["lib"])).add(
        &Wheel::new("lib", "1.0")
            .claiming_version("6.6.6")
            .without_metadata(),
    );
    index.write_pages();
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(
        config(&server.url_for("simple"), &["app"]),
        "METADATA contradicts the file name",
    )
    .await;
    assert_eq!(error.class(), ErrorClass::Verification, "{error}");
    assert!(error.to_string().contains("6.6.6"), "{error}");
}

#[tokio::test]
async fn a_json_index_is_read_as_its_content_type_says() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let index = standard_index(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    let files_url = server.url_for("files");
    for project in index.projects() {
        server.inject_always(
            &format!("/simple/{project}/"),
            Fault::Replace {
                content_type: "application/vnd.pypi.simple.v1+json".into(),
                body: index.json_page(&project, &files_url),
            },
        );
    }
    let (_dir, store) = temp_store();
    sync_mirror(&store, config(&server.url_for("simple"), &["app"]))
        .await
        .expect("sync from a JSON index");
    // The JSON page's size and upload time are carried into ours.
    let page = std::fs::read(store.public_dir().join("pypi/simple/lib/index.json")).expect("page");
    let page = mirror_pypi::simple::ProjectPage::from_json(&page, "lib").expect("our JSON page");
    assert_eq!(page.files.len(), 1);
    assert!(page.files[0].size.is_some());
    assert_eq!(
        page.files[0].upload_time.as_deref(),
        Some("2026-01-02T03:04:05.678901Z")
    );
    assert_eq!(page.versions, ["1.0"]);

    // A page served as plain `application/json` is not the simple API: refused, as uv does.
    let server = TestServer::serve_dir(upstream.path());
    server.inject_always(
        "/simple/app/",
        Fault::Replace {
            content_type: "application/json".into(),
            body: index.json_page("app", &files_url),
        },
    );
    let error = refused(
        config(&server.url_for("simple"), &["app"]),
        "application/json",
    )
    .await;
    assert!(error.to_string().contains("no simple API type"), "{error}");
}

#[tokio::test]
async fn a_dependency_the_index_does_not_have_is_explained() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    index.add(&Wheel::new("app", "1.0").requires(&["ghost>=1"]));
    index.write_pages();
    let server = TestServer::serve_dir(upstream.path());
    let error = refused(
        config(&server.url_for("simple"), &["app"]),
        "ghost is on no page",
    )
    .await;
    let message = error.to_string();
    assert!(message.contains("ghost"), "{message}");
    assert!(message.contains("app"), "{message}");
    assert_eq!(server.request_count("/simple/ghost/"), 1);
}

/// Two targets choose differently, and a release only 3.12 chose also installs on 3.11,
/// where it needs more: `x` 2.0 (pure) needs `w` on Python < 3.12, and `y` 2.0 (for
/// Python < 3.12 only) needs `x < 2` there. On 3.11 the solver decides `y` first (fewer
/// versions) and resolves to x 1.0 and y 2.0; on 3.12 to x 2.0 and y 1.0. pip on 3.11
/// sees x 2.0 and y 1.0 on the mirror and picks them (it decides `x` first): then `w`
/// must be there too, or pip fails.
#[tokio::test]
async fn a_release_one_target_chose_has_its_dependencies_for_every_target_that_can_pick_it() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    index
        .add(&Wheel::new("x", "0.5"))
        .add(&Wheel::new("x", "1.0"))
        .add(&Wheel::new("x", "2.0").requires(&["w; python_version < '3.12'"]))
        .add(&Wheel::new("y", "1.0"))
        .add(
            &Wheel::new("y", "2.0")
                .requires(&["x<2; python_version < '3.12'"])
                .requires_python("<3.12"),
        )
        .add(&Wheel::new("w", "1.0"));
    index.write_pages();
    let server = TestServer::serve_dir(upstream.path());
    let (_dir, store) = temp_store();
    let mut config = config(&server.url_for("simple"), &["x", "y"]);
    config.python = vec!["3.11".into(), "3.12".into()];
    sync_mirror(&store, config).await.expect("sync");
    let files = published_files(&store);
    assert!(
        files.contains(&"packages/x/x-2.0-py3-none-any.whl".into()),
        "{files:?}"
    );
    assert!(
        files.contains(&"packages/y/y-1.0-py3-none-any.whl".into()),
        "{files:?}"
    );
    assert!(
        files.contains(&"packages/w/w-1.0-py3-none-any.whl".into()),
        "{files:?}"
    );
    // And pip on 3.11 (the client's venv), whatever it picks, finds everything.
    let index_url = format!(
        "file://{}",
        store.public_dir().join("pypi/simple").display()
    );
    let target = tempfile::tempdir().expect("tempdir");
    if let Some(result) = pip_install(&index_url, &["x", "y"], target.path()) {
        let installed = result.expect("pip installs");
        assert!(
            installed.iter().any(|d| d.starts_with("x==")),
            "{installed:?}"
        );
    }
}

#[tokio::test]
async fn keep_versions_exclude_and_a_requirements_file_shape_the_selection() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    index
        .add(&Wheel::new("app", "1.0").requires(&["lib"]))
        .add(&Wheel::new("app", "2.0").requires(&["lib>=2"]))
        .add(&Wheel::new("app", "3.0").requires(&["lib>=3"]))
        .add(&Wheel::new("lib", "1.0"))
        .add(&Wheel::new("lib", "2.0"))
        .add(&Wheel::new("lib", "3.0"))
        .add(&Wheel::new("tool", "1.0"));
    index.write_pages();
    let server = TestServer::serve_dir(upstream.path());
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("requirements.txt");
    std::fs::write(
        &file,
        "# from pip freeze\ntool==1.0 \\\n    --hash=sha256:00\n",
    )
    .expect("write");
    let mut config = config(&server.url_for("simple"), &["app"]);
    config.requirements_file = Some(file);
    config.keep_versions = Some(2);
    config.exclude = vec!["lib>=3".into()];
    let (_dir, store) = temp_store();
    let report = sync_mirror(&store, config).await.expect("sync");
    let summary = report.summary.expect("summary").to_json();
    // app 3.0 needs lib>=3, which is excluded: the newest two that resolve are 2.0 and
    // 1.0, each with its own closure (lib 2.0 serves both).
    assert_eq!(
        summary["releases"]["app"],
        serde_json::json!(["1.0", "2.0"]),
        "{summary}"
    );
    assert_eq!(
        summary["releases"]["lib"],
        serde_json::json!(["2.0"]),
        "{summary}"
    );
    assert_eq!(
        summary["releases"]["tool"],
        serde_json::json!(["1.0"]),
        "{summary}"
    );
}

#[tokio::test]
async fn a_page_redirected_off_the_index_origin_is_refused_and_on_it_is_followed() {
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_index(upstream.path());
    // On the same origin: the page's relative links resolve against where it ended up.
    std::fs::create_dir_all(upstream.path().join("moved/lib")).expect("dir");
    std::fs::copy(
        upstream.path().join("simple/lib/index.html"),
        upstream.path().join("moved/lib/index.html"),
    )
    .expect("copy");
    let server = TestServer::serve_dir(upstream.path());
    server.inject_always(
        "/simple/lib/",
        Fault::Redirect {
            status: 301,
            location: "/moved/lib/".into(),
        },
    );
    let (_dir, store) = temp_store();
    sync_mirror(&store, config(&server.url_for("simple"), &["app"]))
        .await
        .expect("a redirect on the index's origin is followed");

    // Elsewhere (another port is another origin): refused, naming both.
    let elsewhere = TestServer::serve_dir(upstream.path());
    let server = TestServer::serve_dir(upstream.path());
    server.inject_always(
        "/simple/lib/",
        Fault::Redirect {
            status: 302,
            location: elsewhere.url_for("simple/lib/"),
        },
    );
    let error = refused(config(&server.url_for("simple"), &["app"]), "off-site").await;
    assert_eq!(error.class(), ErrorClass::Upstream, "{error}");
    assert!(
        error.to_string().contains("off the index's origin"),
        "{error}"
    );
}

#[tokio::test]
async fn a_file_without_a_digest_is_taken_only_when_the_mirror_allows_it() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = Index::new(upstream.path());
    let lib = Wheel::new("lib", "1.0").without_metadata();
    index
        .add(&Wheel::new("app", "1.0").requires(&["lib"]))
        .add(&lib);
    index.write_pages();
    // lib's page gives no digest (and no metadata file): only the wheel itself says
    // what it needs.
    let page = upstream.path().join("simple/lib/index.html");
    let text = std::fs::read_to_string(&page).expect("page");
    let start = text.find("#sha256=").expect("digest");
    let text = format!("{}{}", &text[..start], &text[start + 8 + 64..]);
    std::fs::write(&page, text).expect("page");
    let server = TestServer::serve_dir(upstream.path());

    let (_dir, store) = temp_store();
    let error = sync_mirror(&store, config(&server.url_for("simple"), &["app"]))
        .await
        .expect_err("refused by default");
    assert!(error.to_string().contains("no sha256"), "{error}");

    let mut allowing = config(&server.url_for("simple"), &["app"]);
    allowing.allow_unhashed = true;
    let report = sync_mirror(&store, allowing).await.expect("allowed");
    let summary = report.summary.expect("summary").to_json();
    assert_eq!(
        summary["unverified"],
        serde_json::json!(["packages/lib/lib-1.0-py3-none-any.whl"]),
        "{summary}"
    );
    // Our page states the digest the bytes turned out to have.
    let public = store.public_dir().join("pypi");
    let wheel = std::fs::read(public.join("packages/lib/lib-1.0-py3-none-any.whl")).expect("wheel");
    assert_eq!(wheel, lib.build());
    let page = std::fs::read(public.join("simple/lib/index.json")).expect("page");
    let page = mirror_pypi::simple::ProjectPage::from_json(&page, "lib").expect("page");
    assert_eq!(
        page.files[0].sha256(),
        Some(
            mirror_core::digest::Sha256Digest::of(&wheel)
                .to_hex()
                .as_str()
        )
    );
}

/// A second sync of an unchanged index asks for each page with the validators the server
/// gave (304: no body), reads no metadata file again (held by digest), and is a no-op; a
/// page that changed is read whole and its new release taken.
#[tokio::test]
async fn a_no_op_asks_conditionally_and_reads_no_metadata_again() {
    let upstream = tempfile::tempdir().expect("tempdir");
    let mut index = standard_index(upstream.path());
    // Pages modified a while ago: a Last-Modified in the second served is not sent back.
    let age = |dir: &Path, seconds: u64| {
        for project in ["app", "lib"] {
            let page = dir.join(format!("simple/{project}/index.html"));
            std::fs::File::options()
                .write(true)
                .open(&page)
                .and_then(|f| {
                    f.set_modified(
                        std::time::SystemTime::now() - std::time::Duration::from_secs(seconds),
                    )
                })
                .expect("mtime");
        }
    };
    age(upstream.path(), 120);
    let server = TestServer::serve_dir(upstream.path());
    let (_dir, store) = temp_store();
    let config = config(&server.url_for("simple"), &["app"]);
    sync_mirror(&store, config.clone())
        .await
        .expect("first sync");
    server.clear_requests();
    let again = sync_mirror(&store, config.clone()).await.expect("no-op");
    assert_eq!(again.outcome, SyncOutcome::Unchanged);
    assert_eq!(again.fetched.bytes, 0, "304s only: {again:?}");
    assert!(
        server.requests().iter().all(|r| r.starts_with("/simple/")),
        "{:?}",
        server.requests()
    );
    index.add(&Wheel::new("lib", "1.5"));
    index.write_pages();
    // Newer than the copy held (whole seconds apart), still older than a second.
    age(upstream.path(), 60);
    let changed = sync_mirror(&store, config).await.expect("changed");
    assert_eq!(changed.outcome, SyncOutcome::Synced);
    assert!(published_files(&store).contains(&"packages/lib/lib-1.5-py3-none-any.whl".into()));
}
