//! `serve` against idle and slow clients (issue 28, item 5): a header-read timeout that
//! also ends idle keep-alive connections, a cap on open connections at which the oldest
//! idle one makes room, and the path rule's 404s. The server runs under the common
//! 1024-descriptor limit while the test holds 2,000 idle sockets against it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mirror_test_support::TestServer;
use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};

use crate::common::{Served, cli, ok};

/// A store with one small conda channel published; returns the config.
fn published_store(dir: &Path) -> (PathBuf, TestServer) {
    let mut channel = Channel::new(&dir.join("channel"));
    channel.add(&Pkg::new("linux-64", "first", "1.0", PackageFormat::Conda));
    channel.write_repodata(false);
    let server = TestServer::serve_dir(dir.join("channel"));
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"store\"\n[[conda]]\nname = \"chan\"\nurl = \"{}\"\nsubdirs = [\"linux-64\"]\n",
            server.url()
        ),
    )
    .expect("config");
    ok(&cli(&config, &["sync"]));
    (config, server)
}

fn address(served: &Served) -> String {
    served.url.trim_start_matches("http://").to_owned()
}

/// True when the server closed `stream` within `within` (a read returns end of file or
/// a reset), without our sending anything.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

#[test]
fn a_client_is_served_while_two_thousand_idle_sockets_are_open() {
    let work = tempfile::tempdir().expect("tempdir");
    let (config, _upstream) = published_store(work.path());
    let served = Served::start_under(
        &config,
        "ulimit -n 1024",
        &["--max-connections", "512", "--header-timeout", "60s"],
    );
    let addr = address(&served);
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        let stream = TcpStream::connect_timeout(
            &addr.parse().expect("socket address"),
            Duration::from_secs(10),
        )
        .expect("the server keeps accepting");
        idle.push(stream);
    }
    eprintln!("2000 idle sockets open after {:?}", started.elapsed());
    // And a half-sent request on top (a slowloris that never finishes its head).
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET /chan/linux-64/repodata.json HTTP/1.1\r\nHost: x\r\n")
        .expect("partial head");

    let asked = Instant::now();
    let response = served.get("/chan/linux-64/repodata.json", &[]);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(!response.body.is_empty());
    eprintln!(
        "served in {:?} with 2000 idle sockets open",
        asked.elapsed()
    );
    // Long before the 60 s header timeout: room was made, nothing waited it out.
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    drop(idle);
}

#[test]
fn idle_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let work = tempfile::tempdir().expect("tempdir");
    let (config, _upstream) = published_store(work.path());
    let served = Served::start_under(&config, ":", &["--header-timeout", "1s"]);
    let addr = address(&served);

    let mut idle = TcpStream::connect(&addr).expect("connect");
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)),
        "idle socket kept"
    );

    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET /chan/linux-64/repodata.json HTTP/1.1\r\n")
        .expect("partial head");
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)),
        "half-sent head kept"
    );

    // A kept-alive connection is closed once idle for the same time after its response.
    let mut kept = TcpStream::connect(&addr).expect("connect");
    kept.write_all(b"GET /chan/linux-64/repodata.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).expect("a response");
    assert_eq!(&head, b"HTTP/1.1 200");
    let mut rest = Vec::new();
    let started = Instant::now();
    // Reads the body, then end of file when the server closes the idle connection.
    let _ = kept.read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(10));

    // The path rule: a name longer than any file name, and empty components, are 404.
    let long = format!("/chan/linux-64/{}", "x".repeat(300));
    for path in [
        long.as_str(),
        "/chan//linux-64/repodata.json",
        "//chan/linux-64/repodata.json",
    ] {
        let response = served.get(path, &[]);
        assert_eq!(response.status, 404, "{path}");
    }
    assert_eq!(served.get("/chan/linux-64/repodata.json", &[]).status, 200);
}
