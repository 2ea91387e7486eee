//! Proxy mode (issue 16), conda: `mirror-cli serve` in front of a loopback channel,
//! filling on demand what the real py-rattler client asks for, verified, and serving it
//! again with no upstream request; refusing what fails verification; coalescing
//! concurrent misses; serving what it holds when upstream is gone.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::conda::{self, channel};
use crate::common::{Served, cli, cli_json, ok};
use mirror_test_support::{Fault, TestServer};

const LIBGCC: &str = "linux-64/libgcc-ng-8.2.0-hdf63c60_1.tar.bz2";

/// A loopback channel (the fixture's, made installable) and `serve` in front of it, its
/// `[[conda]]` section in proxy mode with `extra` settings.
struct Proxied {
    work: tempfile::TempDir,
    upstream_dir: PathBuf,
    upstream: TestServer,
    config: PathBuf,
    served: Served,
}

impl Proxied {
    fn start(extra: &str) -> Option<Proxied> {
        let work = tempfile::tempdir().expect("tempdir");
        let upstream_dir = channel(work.path(), false)?;
        let upstream = TestServer::serve_dir(&upstream_dir);
        let config = work.path().join("mirror.toml");
        std::fs::write(
            &config,
            format!(
                "store = \"store\"\n[fetch]\nretries = 1\n[[conda]]\nname = \"conda\"\nurl = \"{}\"\nsubdirs = [\"linux-64\"]\nmode = \"proxy\"\n{extra}",
                upstream.url()
            ),
        )
        .expect("config");
        let served = Served::start(&config);
        Some(Proxied {
            work,
            upstream_dir,
            upstream,
            config,
            served,
        })
    }
}

fn package_requests(upstream: &TestServer) -> usize {
    upstream
        .requests()
        .iter()
        .filter(|p| p.ends_with(".tar.bz2") || p.ends_with(".conda"))
        .count()
}

/// Item 5: py-rattler installs through the proxy; a second client is served from the
/// cache with no upstream request at all; a name no index lists costs no upstream
/// request; `sync` passes the proxy over and `prune` keeps what it filled.
#[test]
fn py_rattler_installs_through_the_proxy_and_a_second_client_costs_upstream_nothing() {
    let Some(proxied) = Proxied::start("") else {
        return;
    };
    let Proxied {
        work,
        upstream_dir,
        upstream,
        config,
        served,
        ..
    } = &proxied;
    let channel_url = format!("{}/conda", served.url);

    let Some(installed) = conda::install(&channel_url, "libgcc-ng >=7.3.0", &work.path().join("a"))
    else {
        return;
    };
    assert!(installed.contains(&"libgcc-ng".to_owned()), "{installed:?}");
    assert_eq!(
        std::fs::read(work.path().join("a/lib/libgcc-ng-marker.txt")).expect("installed"),
        b"ok\n"
    );
    assert_eq!(upstream.request_count(&format!("/{LIBGCC}")), 1);

    upstream.clear_requests();
    let installed = conda::install(&channel_url, "libgcc-ng >=7.3.0", &work.path().join("b"))
        .expect("client present");
    assert!(installed.contains(&"libgcc-ng".to_owned()), "{installed:?}");
    assert_eq!(
        upstream.requests(),
        Vec::<String>::new(),
        "the second client was served from the cache"
    );

    // Not listed: 404 here, nothing asked upstream.
    for path in [
        "/conda/linux-64/nothing-1.0-0.tar.bz2",
        "/conda/osx-64/repodata.json",
        "/conda/linux-64/README",
    ] {
        assert_eq!(served.get(path, &[]).status, 404, "{path}");
    }
    assert_eq!(upstream.requests(), Vec::<String>::new());

    // What is served is the object filled: upstream's bytes, with its digest as ETag.
    let response = served.get(&format!("/conda/{LIBGCC}"), &[]);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        std::fs::read(upstream_dir.join(LIBGCC)).expect("upstream")
    );
    let etag = response.header("etag").expect("etag").to_owned();
    assert_eq!(
        served
            .get(&format!("/conda/{LIBGCC}"), &[("If-None-Match", &etag)])
            .status,
        304
    );
    // A range of the object (the hyper path).
    let range = served.get(&format!("/conda/{LIBGCC}"), &[("Range", "bytes=0-9")]);
    assert_eq!(range.status, 206);
    assert_eq!(range.body, response.body[..10]);

    // `sync` has nothing to do for a proxy: passed over among all, refused by name.
    let (out, json) = cli_json(config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "proxy", "{json}");
    let named = cli(config, &["sync", "conda"]);
    assert_eq!(named.status.code(), Some(3), "{named:?}");
    // `prune` keeps what the proxy filled (its log names it).
    ok(&cli(config, &["prune"]));
    assert_eq!(served.get(&format!("/conda/{LIBGCC}"), &[]).status, 200);
    assert_eq!(upstream.requests(), Vec::<String>::new());
}

/// Item 1 and "bad input": a package whose bytes are not what its record says is never
/// served nor stored, the client gets 502 and the log names it; a good one still fills.
#[test]
fn a_tampered_package_is_refused_and_never_stored() {
    let Some(proxied) = Proxied::start("") else {
        return;
    };
    let Proxied {
        work,
        upstream_dir,
        upstream,
        served,
        ..
    } = &proxied;

    upstream.inject_always(&format!("/{LIBGCC}"), Fault::WrongBytes);
    let response = served.get(&format!("/conda/{LIBGCC}"), &[]);
    assert_eq!(response.status, 502);
    let reason = String::from_utf8_lossy(&response.body).into_owned();
    assert!(reason.contains("libgcc-ng"), "{reason}");
    let log = std::fs::read_to_string(work.path().join("store/proxy/conda.log")).expect("log");
    assert!(
        !log.contains("libgcc-ng"),
        "a refused file is never recorded: {log}"
    );
    // Asked again, asked upstream again: a refusal is not cached.
    upstream.clear_faults();
    let response = served.get(&format!("/conda/{LIBGCC}"), &[]);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        std::fs::read(upstream_dir.join(LIBGCC)).expect("upstream")
    );
    assert_eq!(upstream.request_count(&format!("/{LIBGCC}")), 2);
}

/// Item 3: fifty clients missing the same package cause one upstream fetch.
#[test]
fn concurrent_misses_are_one_upstream_fetch() {
    let Some(proxied) = Proxied::start("") else {
        return;
    };
    let Proxied {
        upstream_dir,
        upstream,
        served,
        ..
    } = &proxied;
    upstream.inject_always(
        &format!("/{LIBGCC}"),
        Fault::Delay(Duration::from_millis(500)),
    );
    let expected = std::fs::read(upstream_dir.join(LIBGCC)).expect("upstream");
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..50)
            .map(|_| scope.spawn(|| served.get(&format!("/conda/{LIBGCC}"), &[])))
            .collect();
        for client in clients {
            let response = client.join().expect("client");
            assert_eq!(response.status, 200);
            assert_eq!(response.body, expected);
        }
    });
    assert_eq!(upstream.request_count(&format!("/{LIBGCC}")), 1);
    assert_eq!(
        upstream.request_count("/linux-64/repodata.json.zst")
            + upstream.request_count("/linux-64/repodata.json"),
        2,
        "one index fill (zst asked, absent; then json)"
    );
    assert_eq!(package_requests(upstream), 1);
}

/// Item 2 and 5: repodata is revalidated after `revalidate_after`; when upstream has
/// gone, what is held is still served (repodata and packages), also after a restart, and
/// what is not held is a timely error.
#[test]
fn upstream_gone_still_serves_what_is_cached() {
    let Some(proxied) = Proxied::start("revalidate_after = \"1s\"\n") else {
        return;
    };
    let Proxied {
        upstream,
        served,
        work: _work,
        upstream_dir: _upstream_dir,
        config,
    } = proxied;
    let first = served.get("/conda/linux-64/repodata.json", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(served.get(&format!("/conda/{LIBGCC}"), &[]).status, 200);

    // Past the interval, upstream is asked again.
    std::thread::sleep(Duration::from_millis(1200));
    upstream.clear_requests();
    assert_eq!(served.get("/conda/linux-64/repodata.json", &[]).status, 200);
    assert!(
        upstream
            .requests()
            .iter()
            .any(|p| p.starts_with("/linux-64/repodata.json")),
        "revalidated: {:?}",
        upstream.requests()
    );

    drop(upstream);
    std::thread::sleep(Duration::from_millis(1200));
    let again = served.get("/conda/linux-64/repodata.json", &[]);
    assert_eq!(again.status, 200, "the held index is served");
    assert_eq!(again.body, first.body);
    assert_eq!(served.get(&format!("/conda/{LIBGCC}"), &[]).status, 200);
    let zlib = served.get("/conda/linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2", &[]);
    assert_eq!(zlib.status, 502, "listed, not held, upstream gone");

    // Restarted with upstream still gone: the index is taken up from the log and the
    // store, checked again, and served with what is held.
    drop(served);
    let served = Served::start(&config);
    let restarted = served.get("/conda/linux-64/repodata.json", &[]);
    assert_eq!(restarted.status, 200, "the index held before the restart");
    assert_eq!(restarted.body, first.body);
    assert_eq!(served.get(&format!("/conda/{LIBGCC}"), &[]).status, 200);
    assert_eq!(
        served
            .get("/conda/linux-64/nothing-1.0-0.tar.bz2", &[])
            .status,
        404,
        "names not listed stay unknown after the restart"
    );
}

/// Item 4: what clients pulled becomes a snapshot (published, served by a plain static
/// server, installed from by py-rattler) and an allow-list that selects the same on a
/// mirror; with nothing pulled, there is nothing to snapshot (exit 7, never an empty
/// channel).
#[test]
fn what_was_pulled_becomes_a_snapshot_and_an_allow_list() {
    let Some(proxied) = Proxied::start("") else {
        return;
    };
    let Proxied {
        work,
        upstream,
        config,
        served,
        ..
    } = &proxied;
    let empty = cli(config, &["snapshot", "--from-proxy", "conda"]);
    assert_eq!(empty.status.code(), Some(7), "{empty:?}");

    assert_eq!(served.get(&format!("/conda/{LIBGCC}"), &[]).status, 200);
    let allow = work.path().join("allow.toml");
    let (out, json) = cli_json(
        config,
        &[
            "snapshot",
            "--from-proxy",
            "conda",
            "--allow-list",
            allow.to_str().expect("utf8"),
        ],
    );
    ok(&out);
    assert_eq!(json["summary"]["packages"], 1, "{json}");
    assert!(json["published"].is_string(), "{json}");
    // The same pulls again: the same snapshot.
    let (out, again) = cli_json(config, &["snapshot", "--from-proxy", "conda"]);
    ok(&out);
    assert_eq!(again["snapshot"], json["snapshot"]);

    // The published channel holds what was pulled, and only that.
    let public = work.path().join("store/public/conda");
    let repodata: serde_json::Value = serde_json::from_slice(
        &std::fs::read(public.join("linux-64/repodata.json")).expect("published index"),
    )
    .expect("json");
    let names: Vec<&String> = repodata["packages"]
        .as_object()
        .expect("packages")
        .keys()
        .collect();
    assert_eq!(names, ["libgcc-ng-8.2.0-hdf63c60_1.tar.bz2"]);
    assert!(public.join("noarch/repodata.json").is_file());
    let static_server = TestServer::serve_dir(work.path().join("store/public"));
    let installed = conda::install(
        &format!("{}/conda", static_server.url()),
        "libgcc-ng",
        &work.path().join("from-snapshot"),
    )
    .expect("client present");
    assert!(installed.contains(&"libgcc-ng".to_owned()), "{installed:?}");

    // The allow-list selects the same on a mirror synced from the same upstream.
    let allow_list = std::fs::read_to_string(&allow).expect("allow-list written");
    assert!(
        allow_list.contains("libgcc-ng==8.2.0=hdf63c60_1"),
        "{allow_list}"
    );
    let mirror_dir = work.path().join("mirror");
    std::fs::create_dir_all(&mirror_dir).expect("mkdir");
    let mirror_config = mirror_dir.join("mirror.toml");
    std::fs::write(
        &mirror_config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 1\n[[conda]]\nname = \"picked\"\nurl = \"{}\"\nsubdirs = [\"linux-64\"]\n{allow_list}",
            upstream.url()
        ),
    )
    .expect("config");
    let (out, json) = cli_json(&mirror_config, &["sync"]);
    ok(&out);
    assert_eq!(json["mirrors"][0]["outcome"], "synced", "{json}");
    let picked = mirror_dir.join("store/public/picked/linux-64");
    assert!(picked.join("libgcc-ng-8.2.0-hdf63c60_1.tar.bz2").is_file());
    assert!(!picked.join("zlib-1.2.11-h7b6447c_3.tar.bz2").exists());
}

/// "Bad input" for conda: an index with a hostile record is refused whole (502, naming
/// the record) unless `skip_bad_records`, which serves our index without it; an index
/// whose `info.subdir` is another subdir is refused.
#[test]
fn hostile_records_and_a_wrong_subdir_refuse_the_index() {
    fn poison(upstream_dir: &std::path::Path, edit: impl Fn(&mut serde_json::Value)) {
        let path = upstream_dir.join("linux-64/repodata.json");
        let mut repodata: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        edit(&mut repodata);
        std::fs::write(&path, serde_json::to_vec(&repodata).expect("json")).expect("write");
    }
    let traversal = |repodata: &mut serde_json::Value| {
        let good = repodata["packages"]["libgcc-ng-8.2.0-hdf63c60_1.tar.bz2"].clone();
        repodata["packages"]["../evil-1.0-0.tar.bz2"] = good;
    };
    for (extra, status) in [("", 502), ("skip_bad_records = true\n", 200)] {
        let Some(proxied) = Proxied::start(extra) else {
            return;
        };
        let Proxied {
            upstream_dir,
            served,
            ..
        } = &proxied;
        poison(upstream_dir, traversal);
        let response = served.get("/conda/linux-64/repodata.json", &[]);
        assert_eq!(response.status, status, "{extra:?}");
        let body = String::from_utf8_lossy(&response.body);
        // The refusal names the record; the index served without it does not.
        assert_eq!(body.contains("evil"), status == 502, "{body}");
        if status == 200 {
            let index: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
            assert!(index["packages"].get("../evil-1.0-0.tar.bz2").is_none());
            assert!(
                index["packages"]
                    .get("libgcc-ng-8.2.0-hdf63c60_1.tar.bz2")
                    .is_some()
            );
        }
        assert_eq!(
            served
                .get("/conda/linux-64/..%2Fevil-1.0-0.tar.bz2", &[])
                .status,
            404
        );
    }
    let Some(proxied) = Proxied::start("") else {
        return;
    };
    poison(&proxied.upstream_dir, |repodata| {
        repodata["info"]["subdir"] = "osx-64".into();
    });
    let response = proxied.served.get("/conda/linux-64/repodata.json", &[]);
    assert_eq!(response.status, 502);
    assert!(String::from_utf8_lossy(&response.body).contains("osx-64"));
}

/// A proxy whose upstream name leads back to itself answers 508 instead of fetching from
/// itself for ever; a fill through another proxy (a tier: another server's `Via`) is not
/// a loop.
#[test]
fn a_fill_that_comes_back_to_its_own_server_is_a_loop() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = work.path().join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 1\n[[conda]]\nname = \"conda\"\nurl = \"http://127.0.0.1:{port}/conda\"\nsubdirs = [\"linux-64\"]\nmode = \"proxy\"\n"
        ),
    )
    .expect("config");
    let listen = format!("127.0.0.1:{port}");
    let served = Served::start_under(&config, ":", &["--listen", &listen]);
    let response = served.get("/conda/linux-64/repodata.json", &[]);
    // Our fill reached us again and was answered 508; the client sees the fill fail.
    assert_eq!(
        response.status,
        502,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        String::from_utf8_lossy(&response.body).contains("508"),
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    // Another server's mark is a tier, not a loop: that request is filled (and fails
    // here only because this upstream is ourselves).
    let tier = served.get(
        "/conda/linux-64/repodata.json",
        &[("Via", "1.1 airgap-mirror-0000000000000000")],
    );
    assert_ne!(tier.status, 508);
}
