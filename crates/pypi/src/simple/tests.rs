//! Project pages as PyPI and mirrors write them, read and written back.

use super::*;

const SHA: &str = "70761cfe03c773ceb8aa2dcc3ce6a4a5ad4a6e6ac5cd33df9f2df8c5b1d2a1c0";

/// A page as PyPI's JSON API writes it: both metadata keys, unknown keys, a yanked
/// file, an `.egg` among the files.
fn pypi_page() -> String {
    format!(
        r#"{{
  "meta": {{"_last-serial": 1, "api-version": "1.3"}},
  "name": "Requests",
  "project-status": {{"status": "active"}},
  "versions": ["2.31.0", "2.32.3"],
  "files": [
    {{"filename": "requests-2.32.3-py3-none-any.whl",
      "url": "https://files.example.invalid/r/requests-2.32.3-py3-none-any.whl",
      "hashes": {{"sha256": "{SHA}"}},
      "requires-python": ">=3.8",
      "core-metadata": {{"sha256": "{SHA}"}},
      "data-dist-info-metadata": {{"sha256": "{SHA}"}},
      "provenance": null,
      "size": 64928, "upload-time": "2024-05-29T15:37:47.027801Z", "yanked": false}},
    {{"filename": "requests-2.31.0.tar.gz", "url": "../../packages/requests-2.31.0.tar.gz",
      "hashes": {{}}, "yanked": "CVE-2024-35195", "dist-info-metadata": true}},
    {{"filename": "requests-0.2.0-py2.5.egg", "url": "x", "hashes": {{}}}}
  ]
}}"#
    )
}

#[test]
fn reads_every_field_a_client_uses_and_skips_the_rest() {
    let page = ProjectPage::from_json(pypi_page().as_bytes(), "simple/requests/").expect("page");
    assert_eq!(page.name, "requests");
    assert_eq!(page.versions, ["2.31.0", "2.32.3"]);
    assert_eq!(page.other_files, 1, "the .egg");
    let [wheel, sdist] = page.files.as_slice() else {
        panic!("two files: {:?}", page.files);
    };
    assert_eq!(wheel.sha256(), Some(SHA));
    assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(
        wheel.core_metadata,
        CoreMetadata::Hashes([("sha256".to_owned(), SHA.to_owned())].into())
    );
    assert_eq!((wheel.size, wheel.yanked.as_deref()), (Some(64928), None));
    assert_eq!(sdist.yanked.as_deref(), Some("CVE-2024-35195"));
    assert_eq!(
        sdist.core_metadata,
        CoreMetadata::Unhashed,
        "the old key is read"
    );
    assert_eq!(sdist.sha256(), None);
}

#[test]
fn json_written_reads_back_the_same_and_uses_only_the_pep_714_key() {
    let page = ProjectPage::from_json(pypi_page().as_bytes(), "page").expect("page");
    let json = page.to_json();
    let text = String::from_utf8(json.clone()).expect("utf-8");
    assert!(text.contains("\"core-metadata\""), "{text}");
    assert!(!text.contains("dist-info-metadata"), "{text}");
    assert!(text.contains("\"api-version\":\"1.1\""), "{text}");
    let again = ProjectPage::from_json(&json, "ours").expect("reads back");
    assert_eq!(
        again,
        ProjectPage {
            other_files: 0,
            ..page
        }
    );
}

#[test]
fn html_carries_digests_requires_python_metadata_and_yanks_escaped() {
    let mut page = ProjectPage::from_json(pypi_page().as_bytes(), "page").expect("page");
    page.files[1].yanked = Some("bad \"quote\" <b>".into());
    let html = page.to_html();
    assert!(html.contains(&format!(
        "<a href=\"https://files.example.invalid/r/requests-2.32.3-py3-none-any.whl#sha256={SHA}\" \
         data-requires-python=\"&gt;=3.8\" data-core-metadata=\"sha256={SHA}\" \
         data-dist-info-metadata=\"sha256={SHA}\">requests-2.32.3-py3-none-any.whl</a><br />"
    )), "{html}");
    assert!(
        html.contains(
            "<a href=\"../../packages/requests-2.31.0.tar.gz\" data-core-metadata=\"true\" \
         data-dist-info-metadata=\"true\" data-yanked=\"bad &quot;quote&quot; &lt;b&gt;\">"
        ),
        "{html}"
    );
    assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
}

#[test]
fn hostile_or_broken_pages_are_refused_naming_the_page() {
    let file = |filename: &str, hashes: &str| {
        format!(
            r#"{{"name": "x", "files": [{{"filename": "{filename}", "url": "u", "hashes": {hashes}}}]}}"#
        )
    };
    for (page, reason) in [
        (file("../x-1.0-py3-none-any.whl", "{}"), "not a plain name"),
        (file("a/x-1.0-py3-none-any.whl", "{}"), "not a plain name"),
        (file("/x-1.0-py3-none-any.whl", "{}"), "not a plain name"),
        (file("x-1.0-py3-none-any.whl", r#"{"sha256": "ABC"}"#), "64 lowercase hex"),
        (
            r#"{"name": "x", "files": [{"filename": "x-1.0.tar.gz", "url": "u", "hashes": {}, "yanked": 3}]}"#.into(),
            "yanked 3",
        ),
        (r#"{"name": "../x", "files": []}"#.into(), "invalid project name"),
        ("[]".into(), "not a PEP 691 project page"),
    ] {
        let error = ProjectPage::from_json(page.as_bytes(), "http://up/simple/x/")
            .expect_err(reason);
        let message = error.to_string();
        assert!(
            message.starts_with("http://up/simple/x/: ") && message.contains(reason),
            "{message}"
        );
    }
}

#[test]
fn html_written_reads_back_the_same() {
    let mut page = ProjectPage::from_json(pypi_page().as_bytes(), "page").expect("page");
    page.files[1].yanked = Some("bad \"quote\" <b> & more".into());
    page.files[1].requires_python = Some(">=3.8, !=3.9.*".into());
    let again =
        ProjectPage::from_html(page.to_html().as_bytes(), "Requests", "ours").expect("reads back");
    let expected: Vec<File> = page
        .files
        .iter()
        .cloned()
        .map(|file| File {
            // HTML carries neither.
            size: None,
            upload_time: None,
            ..file
        })
        .collect();
    assert_eq!(again.name, "requests");
    assert_eq!(again.files, expected);
}

#[test]
fn an_html_page_as_other_indexes_write_it() {
    let html = format!(
        "<html><head><title>Links for x</title></head><body>\n\
         <h1>Links for x</h1>\n\
         <a href=\"/packages/x-1.0-py3-none-any.whl#sha256={SHA}\" data-requires-python=\"&gt;=3.8\" \
         data-dist-info-metadata=\"sha256={SHA}\">x-1.0-py3-none-any.whl</a><br/>\n\
         <a href=\"x-0.9.tar.gz\" data-yanked>x-0.9.tar.gz</a>\n\
         <a href=\"x-0.1-py2.5.egg\">x-0.1-py2.5.egg</a>\n\
         <a name=\"anchor-without-href\">note</a>\n\
         </body></html>"
    );
    let page = ProjectPage::from_html(html.as_bytes(), "x", "http://up/simple/x/").expect("page");
    assert_eq!(page.other_files, 1);
    let [wheel, sdist] = page.files.as_slice() else {
        panic!("two files: {:?}", page.files);
    };
    assert_eq!(wheel.url, "/packages/x-1.0-py3-none-any.whl");
    assert_eq!(wheel.sha256(), Some(SHA));
    assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(
        wheel.core_metadata,
        CoreMetadata::Hashes([("sha256".to_owned(), SHA.to_owned())].into())
    );
    assert_eq!(sdist.yanked.as_deref(), Some(""), "yanked with no reason");
    assert_eq!(sdist.sha256(), None);
}

#[test]
fn a_hostile_html_page_is_refused_naming_it() {
    for (anchor, reason) in [
        (
            "<a href=\"../x-1.0-py3-none-any.whl\">../x-1.0-py3-none-any.whl</a>",
            "not a plain name",
        ),
        (
            "<a href=\"u\">/etc/x-1.0-py3-none-any.whl</a>",
            "not a plain name",
        ),
        (
            "<a href=\"u#sha256=XYZ\">x-1.0-py3-none-any.whl</a>",
            "64 lowercase hex",
        ),
        (
            "<a href=\"u\" data-core-metadata=\"yes please\">x-1.0-py3-none-any.whl</a>",
            "neither true nor",
        ),
    ] {
        let html = format!("<html><body>{anchor}</body></html>");
        let error =
            ProjectPage::from_html(html.as_bytes(), "x", "http://up/simple/x/").expect_err(reason);
        let message = error.to_string();
        assert!(
            message.starts_with("http://up/simple/x/: ") && message.contains(reason),
            "{message}"
        );
    }
}
