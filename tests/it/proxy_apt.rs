//! Proxy mode (issue 16), APT: `mirror-cli serve` in front of a loopback repository (the
//! fixture's real .debs and their real stanzas, in a suite signed here with a test key),
//! filling what the real apt-get asks for, verified from the keyring down to each .deb;
//! a second machine costs upstream no package request; a .deb changed under its name is
//! refused and never reaches a client.

use std::path::{Path, PathBuf};

use crate::common::apt::{self, AptRoot, complaints, fixture_stanzas, packages_files, show};
use crate::common::{Served, cli};
use mirror_core::signing::SigningKey;
use mirror_test_support::{Fault, TestServer};

/// The fixture's 13 pool files under `<dir>/upstream`, in a suite `bookworm` signed by a
/// key whose public half (a file) is returned, with the key.
fn signed_upstream(dir: &Path) -> Option<(PathBuf, PathBuf, SigningKey)> {
    let fixture = mirror_test_support::fixtures()?.join("debian-bookworm");
    let root = dir.join("upstream");
    for entry in walk(&fixture.join("pool")) {
        let dest = root.join(entry.strip_prefix(&fixture).expect("below"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &dest).expect("copy");
    }
    let (key, public) = apt::upstream_key(dir);
    apt::write_signed_suite(
        &root,
        "bookworm",
        packages_files("main", &fixture_stanzas(&fixture)),
        &key,
    );
    Some((root, public, key))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn proxy_config(dir: &Path, upstream: &str, keyring: &Path, extra: &str) -> PathBuf {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[fetch]\nretries = 1\n[[apt]]\nname = \"debian\"\nurl = \"{upstream}\"\nsuites = [\"bookworm\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\nkeyring = \"{}\"\nmode = \"proxy\"\n{extra}",
            keyring.display()
        ),
    )
    .expect("config");
    config
}

/// A signed loopback upstream ([`signed_upstream`]) and a proxy config for it with
/// `extra` settings; `None` (the test skips) without the fixture or apt-get.
struct Setup {
    work: tempfile::TempDir,
    upstream_dir: PathBuf,
    /// The upstream key's public half, which clients and the proxy trust.
    key: PathBuf,
    /// The upstream key itself, to sign the suite again.
    signing: SigningKey,
    upstream: TestServer,
    config: PathBuf,
}

fn setup(extra: &str) -> Option<Setup> {
    let work = tempfile::tempdir().expect("tempdir");
    let (upstream_dir, key, signing) = signed_upstream(work.path())?;
    if !apt::available() {
        return None;
    }
    let upstream = TestServer::serve_dir(&upstream_dir);
    let config = proxy_config(work.path(), &upstream.url(), &key, extra);
    Some(Setup {
        work,
        upstream_dir,
        key,
        signing,
        upstream,
        config,
    })
}

/// Item 5 for APT: apt-get (stock settings: by-hash, every index target the Release
/// lists) updates and installs through the proxy; a second machine is served from the
/// cache with no upstream request for a package; names no index lists cost nothing.
#[test]
fn apt_get_installs_through_the_proxy_and_a_second_machine_costs_upstream_no_package() {
    let Some(Setup {
        work: _work,
        upstream_dir: _upstream_dir,
        key,
        signing: _signing,
        upstream,
        config,
    }) = setup("")
    else {
        return;
    };
    let served = Served::start(&config);
    let url = format!("{}/debian", served.url);

    let first = AptRoot::new(&url, "bookworm", "main", &key);
    let update = first.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", show(&update));
    assert_eq!(
        complaints(&update),
        Vec::<String>::new(),
        "{}",
        show(&update)
    );
    let install = first.apt_get(&["-q", "install", "-y", "--download-only", "jq", "sl", "tree"]);
    assert!(install.status.success(), "{}", show(&install));
    let downloaded = first.downloaded();
    assert!(
        downloaded.iter().any(|d| d.starts_with("jq_")),
        "{downloaded:?}"
    );
    let fetched = upstream
        .requests()
        .iter()
        .filter(|p| p.starts_with("/pool/"))
        .count();
    assert!(
        fetched >= 3,
        "packages came from upstream: {:?}",
        upstream.requests()
    );

    upstream.clear_requests();
    let second = AptRoot::new(&url, "bookworm", "main", &key);
    let update = second.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", show(&update));
    let install = second.apt_get(&["-q", "install", "-y", "--download-only", "jq", "sl", "tree"]);
    assert!(install.status.success(), "{}", show(&install));
    assert_eq!(second.downloaded(), downloaded);
    assert_eq!(
        upstream.requests(),
        Vec::<String>::new(),
        "the second machine was served from the cache"
    );

    for path in [
        "/debian/pool/main/e/evil/evil_1.0_amd64.deb",
        "/debian/dists/sid/InRelease",
        "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert_eq!(served.get(path, &[]).status, 404, "{path}");
    }
    assert_eq!(upstream.requests(), Vec::<String>::new());

    // A client that keeps upstream in its sources (its DNS pointing at the server) is
    // answered by the proxy by host name.
    let host = upstream.url().trim_start_matches("http://").to_owned();
    let routed = served.get("/dists/bookworm/InRelease", &[("Host", &host)]);
    assert_eq!(routed.status, 200);
    assert_eq!(
        routed.body,
        served.get("/debian/dists/bookworm/InRelease", &[]).body
    );

    let named = cli(&config, &["sync", "debian"]);
    assert_eq!(named.status.code(), Some(3), "{named:?}");
}

/// "Bad input" for APT: a .deb changed under its name upstream is refused (502), never
/// stored, and apt-get's install fails instead of getting the bytes; a Release signed by
/// another key is never served.
#[test]
fn a_changed_deb_and_a_foreign_signature_are_refused() {
    let Some(Setup {
        work,
        upstream_dir,
        key,
        signing: _signing,
        upstream,
        config,
    }) = setup("revalidate_after = \"1s\"\n")
    else {
        return;
    };
    let served = Served::start(&config);
    let url = format!("{}/debian", served.url);
    let jq = walk(&upstream_dir.join("pool"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("jq_"))
        })
        .expect("jq in the fixture");
    let jq_path = format!(
        "/{}",
        jq.strip_prefix(&upstream_dir).expect("below").display()
    );
    upstream.inject_always(&jq_path, Fault::WrongBytes);

    let client = AptRoot::new(&url, "bookworm", "main", &key);
    let update = client.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", show(&update));
    let install = client.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(!install.status.success(), "{}", show(&install));
    assert!(!client.downloaded().iter().any(|d| d.starts_with("jq_")));
    assert_eq!(served.get(&format!("/debian{jq_path}"), &[]).status, 502);
    let log = std::fs::read_to_string(work.path().join("store/proxy/debian.log")).expect("log");
    assert!(
        !log.contains("jq_"),
        "a refused file is never recorded: {log}"
    );

    // Another key re-signs the suite upstream: once the interval has passed, the proxy
    // asks again, refuses the new Release, and keeps serving the one it verified.
    let held = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(held.status, 200);
    let other_dir = work.path().join("other");
    std::fs::create_dir_all(&other_dir).expect("mkdir");
    let (other, _) = apt::upstream_key(&other_dir);
    apt::write_signed_suite(
        &upstream_dir,
        "bookworm",
        packages_files("main", b""),
        &other,
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    upstream.clear_requests();
    let after = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(after.status, 200);
    assert_eq!(
        after.body, held.body,
        "the foreign-signed Release is never served"
    );
    assert!(
        upstream.request_count("/dists/bookworm/InRelease") >= 1,
        "revalidated: {:?}",
        upstream.requests()
    );
}

/// "Bad input" on the request path: a Release re-signed with an older Date (a rollback
/// with the right key) is refused and the held one served; an index changed under its
/// Release entry is refused; a thousand names no index lists cost upstream nothing; a
/// trickling upstream gives the waiting client a timely 504 while a hit is answered at
/// once.
#[test]
fn rollbacks_tampered_indices_floods_and_trickles_are_refused_on_the_request_path() {
    let Some(Setup {
        work: _work,
        upstream_dir,
        key: _key,
        signing,
        upstream,
        config,
    }) = setup("revalidate_after = \"1s\"\n")
    else {
        return;
    };
    let served = Served::start_under(&config, ":", &["--proxy-timeout", "2s"]);
    let held = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(held.status, 200);

    // The same key, an older Date: a replayed Release is refused, the held one served.
    apt::write_dated_suite(
        &upstream_dir,
        "bookworm",
        packages_files("main", b""),
        &signing,
        "Mon, 01 Jan 2024 00:00:00 UTC",
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    upstream.clear_requests();
    let after = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(after.status, 200);
    assert_eq!(after.body, held.body, "the older Release is never served");
    assert!(upstream.request_count("/dists/bookworm/InRelease") >= 1);

    // A signed index changed under its Release entry (same name, other bytes).
    let xz = "/dists/bookworm/main/binary-amd64/Packages.xz";
    upstream.inject_always(xz, Fault::WrongBytes);
    let tampered = served.get(&format!("/debian{xz}"), &[]);
    assert_eq!(
        tampered.status,
        502,
        "{}",
        String::from_utf8_lossy(&tampered.body)
    );
    upstream.clear_faults();

    // A flood of names no index lists: 404s, and upstream hears nothing of them.
    upstream.clear_requests();
    for n in 0..1000 {
        let path = format!("/debian/pool/main/f/flood/flood_{n}_amd64.deb");
        assert_eq!(served.get(&path, &[]).status, 404, "{path}");
    }
    assert_eq!(upstream.requests(), Vec::<String>::new());

    // A trickling upstream: the client waiting for that .deb gets 504 in time, and a
    // client asking for something held is answered meanwhile.
    let sl = walk(&upstream_dir.join("pool"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sl_"))
        })
        .expect("sl in the fixture");
    let sl_path = format!(
        "/{}",
        sl.strip_prefix(&upstream_dir).expect("below").display()
    );
    upstream.inject_always(
        &sl_path,
        Fault::Trickle {
            bytes: 1,
            every: std::time::Duration::from_millis(200),
        },
    );
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| {
            let start = std::time::Instant::now();
            let response = served.get(&format!("/debian{sl_path}"), &[]);
            (response.status, start.elapsed())
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let start = std::time::Instant::now();
        let hit = served.get("/debian/dists/bookworm/InRelease", &[]);
        assert_eq!(hit.status, 200);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "a hit waited {:?} behind a trickle",
            start.elapsed()
        );
        let (status, took) = slow.join().expect("client");
        assert_eq!(status, 504);
        assert!(
            took < std::time::Duration::from_secs(5),
            "504 after {took:?}"
        );
    });
}

/// Item 5 for APT: an upstream that goes away still serves what is cached, across a
/// restart of the proxy: the Release served before is verified again and taken up, and
/// a new machine updates and downloads what the first one pulled.
#[test]
fn upstream_gone_and_a_restart_still_serve_what_is_cached() {
    let Some(Setup {
        work: _work,
        upstream_dir,
        key,
        signing: _signing,
        upstream,
        config,
    }) = setup("")
    else {
        return;
    };
    let served = Served::start(&config);
    let url = format!("{}/debian", served.url);
    let first = AptRoot::new(&url, "bookworm", "main", &key);
    assert!(first.apt_get(&["-q", "update"]).status.success());
    let install = first.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", show(&install));
    let in_release = served.get("/debian/dists/bookworm/InRelease", &[]);

    drop(upstream);
    drop(served);
    let served = Served::start(&config);
    let again = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, in_release.body);
    let url = format!("{}/debian", served.url);
    let second = AptRoot::new(&url, "bookworm", "main", &key);
    let update = second.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", show(&update));
    assert_eq!(
        complaints(&update),
        Vec::<String>::new(),
        "{}",
        show(&update)
    );
    let install = second.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", show(&install));
    assert_eq!(second.downloaded(), first.downloaded());
    // What was never pulled is a timely error, not a hang.
    let sl = walk(&upstream_dir.join("pool"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sl_"))
        })
        .expect("sl in the fixture");
    let sl_path = format!(
        "/debian/{}",
        sl.strip_prefix(&upstream_dir).expect("below").display()
    );
    assert_eq!(served.get(&sl_path, &[]).status, 502);
}

/// Item 4 for APT: what apt-get pulled becomes a snapshot, a filtered mirror signed with
/// our key that a machine trusting that key installs from (served by a plain static
/// server), holding only what was pulled; and the `packages` allow-list. Nothing pulled:
/// exit 7.
#[test]
fn what_apt_get_pulled_becomes_a_signed_snapshot_and_an_allow_list() {
    let Some(Setup {
        work,
        upstream_dir: _upstream_dir,
        key,
        signing: _signing,
        upstream: _upstream,
        config,
    }) = setup("[signing]\nkey = \"keys/signing.asc\"\n")
    else {
        return;
    };
    crate::common::keygen(work.path());
    let empty = cli(&config, &["snapshot", "--from-proxy", "debian"]);
    assert_eq!(empty.status.code(), Some(7), "{}", show(&empty));

    let served = Served::start(&config);
    let first = AptRoot::new(&format!("{}/debian", served.url), "bookworm", "main", &key);
    assert!(first.apt_get(&["-q", "update"]).status.success());
    let install = first.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", show(&install));

    let allow = work.path().join("allow.toml");
    let out = cli(
        &config,
        &[
            "snapshot",
            "--from-proxy",
            "debian",
            "--allow-list",
            allow.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let allow_list = std::fs::read_to_string(&allow).expect("allow-list");
    assert!(allow_list.contains("\"jq\""), "{allow_list}");
    assert!(!allow_list.contains("\"sl\""), "{allow_list}");

    let static_server = TestServer::serve_dir(work.path().join("store/public"));
    let ours = work.path().join("keys/signing.asc.pub");
    let inside = AptRoot::new(
        &format!("{}/debian", static_server.url()),
        "bookworm",
        "main",
        &ours,
    );
    let update = inside.apt_get(&["-q", "update"]);
    assert!(update.status.success(), "{}", show(&update));
    assert_eq!(
        complaints(&update),
        Vec::<String>::new(),
        "{}",
        show(&update)
    );
    let install = inside.apt_get(&["-q", "install", "-y", "--download-only", "jq"]);
    assert!(install.status.success(), "{}", show(&install));
    assert_eq!(inside.downloaded(), first.downloaded());
    let sl = inside.apt_get(&["-q", "install", "-y", "--download-only", "sl"]);
    assert!(!sl.status.success(), "only what was pulled: {}", show(&sl));
}

/// Item 2 for APT: once `revalidate_after` has passed, the InRelease is asked for with
/// the validators upstream sent; an unchanged one costs that one request (a 304), not
/// the Release, Release.gpg and indices again.
#[test]
fn an_unchanged_release_is_revalidated_with_one_conditional_request() {
    let Some(Setup {
        work: _work,
        upstream_dir: _upstream_dir,
        key: _key,
        signing: _signing,
        upstream,
        config,
    }) = setup("revalidate_after = \"1s\"\n")
    else {
        return;
    };
    // A Last-Modified of the second being served is not sent back (it could hide a
    // change within that second): let the files be a second old.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let served = Served::start(&config);
    let first = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(first.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    upstream.clear_requests();
    let again = served.get("/debian/dists/bookworm/InRelease", &[]);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(
        upstream.requests(),
        ["/dists/bookworm/InRelease"],
        "one conditional request"
    );
}
