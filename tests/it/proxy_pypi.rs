//! Proxy mode (issue 16), PyPI: `mirror-cli serve` in front of a loopback simple index of
//! wheels, filling the pages and files the real pip and uv ask for, each file verified
//! against its page's sha256; a second install costs upstream no file; a file changed
//! under its name is refused.

use mirror_test_support::pypi_index::{Index, Wheel};
use mirror_test_support::{Fault, TestServer, install_with_each_client};

use crate::common::Served;

#[test]
fn pip_and_uv_install_through_the_proxy_and_files_are_verified() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let mut index = Index::new(&dir.join("upstream"));
    index
        .add(&Wheel::new("app", "1.0").requires(&["lib>=1", "extra-only; extra == 'more'"]))
        .add(&Wheel::new("lib", "1.0"))
        .add(&Wheel::new("lib", "2.0").requires_python(">=3.99"))
        .add(&Wheel::new("extra-only", "1.0"));
    index.write_pages();
    let upstream = TestServer::serve_dir(dir.join("upstream"));
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 1\n[[pypi]]\nname = \"pypi\"\nurl = \"{}\"\nmode = \"proxy\"\n",
            upstream.url_for("simple")
        ),
    )
    .expect("config");
    let served = Served::start(&config);
    let index_url = format!("{}/pypi/simple/", served.url);
    let files_fetched = || {
        upstream
            .requests()
            .iter()
            .filter(|p| p.starts_with("/files/"))
            .cloned()
            .collect::<Vec<_>>()
    };

    let outcomes = install_with_each_client(&index_url, &["app"]);
    if outcomes.is_empty() {
        return;
    }
    for (client, installed) in &outcomes {
        assert_eq!(installed, &["app==1.0", "lib==1.0"], "{client}");
    }
    let first = files_fetched();
    assert!(
        first
            .iter()
            .any(|p| p.ends_with("app-1.0-py3-none-any.whl")),
        "{first:?}"
    );
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        first.len(),
        "each file fetched once: {first:?}"
    );

    upstream.clear_requests();
    for (client, installed) in install_with_each_client(&index_url, &["app"]) {
        assert_eq!(installed, ["app==1.0", "lib==1.0"], "{client}");
    }
    assert_eq!(
        files_fetched(),
        Vec::<String>::new(),
        "served from the cache"
    );

    // What was pulled becomes a snapshot (a static server of the published tree serves
    // both clients) and the requirements that select the same.
    let allow = dir.join("allow.toml");
    let out = crate::common::cli(
        &config,
        &[
            "snapshot",
            "--from-proxy",
            "pypi",
            "--allow-list",
            allow.to_str().expect("utf8"),
        ],
    );
    crate::common::ok(&out);
    let allow_list = std::fs::read_to_string(&allow).expect("allow-list");
    assert!(
        allow_list.contains("\"app==1.0\"") && allow_list.contains("\"lib==1.0\""),
        "{allow_list}"
    );
    assert!(!allow_list.contains("lib==2.0"), "{allow_list}");
    let published = TestServer::serve_dir(dir.join("store/public"));
    for (client, installed) in
        install_with_each_client(&format!("{}/pypi/simple/", published.url()), &["app"])
    {
        assert_eq!(
            installed,
            ["app==1.0", "lib==1.0"],
            "{client} from the snapshot"
        );
    }

    // Pages as a published mirror's: chosen by Accept, links below our packages/.
    let uv_accept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
    let page = served.get("/pypi/simple/lib/", &[("Accept", uv_accept)]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    assert_eq!(page.header("vary"), Some("accept"));
    let json: serde_json::Value = serde_json::from_slice(&page.body).expect("JSON page");
    assert_eq!(
        json["files"][0]["url"],
        "../../packages/lib/lib-1.0-py3-none-any.whl"
    );
    let html = served.get("/pypi/simple/lib/", &[]);
    assert_eq!(html.header("content-type"), Some("text/html"));
    assert_eq!(
        served
            .get("/pypi/simple/lib/", &[("Accept", "application/json")])
            .status,
        406
    );

    // Names no page lists, and projects upstream lacks: 404.
    upstream.clear_requests();
    assert_eq!(
        served
            .get("/pypi/packages/app/evil-1.0-py3-none-any.whl", &[])
            .status,
        404
    );
    assert_eq!(upstream.requests(), Vec::<String>::new());
    assert_eq!(served.get("/pypi/simple/nothing-here/", &[]).status, 404);

    // A file changed under its name upstream: refused, never stored.
    upstream.inject_always("/files/extra_only-1.0-py3-none-any.whl", Fault::WrongBytes);
    let refused = served.get(
        "/pypi/packages/extra-only/extra_only-1.0-py3-none-any.whl",
        &[],
    );
    assert_eq!(
        refused.status,
        502,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let log = std::fs::read_to_string(dir.join("store/proxy/pypi.log")).expect("log");
    assert!(!log.contains("extra_only-1.0-py3-none-any.whl\""), "{log}");

    // Upstream gone and the proxy restarted: the pages it served are taken up again and
    // both clients install what was pulled.
    drop(upstream);
    drop(served);
    let served = Served::start(&config);
    let index_url = format!("{}/pypi/simple/", served.url);
    for (client, installed) in install_with_each_client(&index_url, &["app"]) {
        assert_eq!(
            installed,
            ["app==1.0", "lib==1.0"],
            "{client} after a restart"
        );
    }
    let missing = served.get(
        "/pypi/packages/extra-only/extra_only-1.0-py3-none-any.whl",
        &[],
    );
    assert_eq!(missing.status, 502, "never pulled, upstream gone");
}
