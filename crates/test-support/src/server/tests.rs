//! The server is checked with a raw HTTP/1.1 client over a std socket, so that what goes
//! over the wire (Content-Length, bytes before a cut) is observed exactly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// How a raw response ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed the connection (cleanly or by reset).
    Closed,
    /// Nothing arrived for the read timeout.
    TimedOut,
}

struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
    end: End,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

fn raw_get(server: &TestServer, path: &str, extra_headers: &str) -> RawResponse {
    let mut stream = TcpStream::connect(server.address()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra_headers}\r\n",
        server.address()
    )
    .expect("send request");
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        match stream.read(&mut buf) {
            Ok(0) => break End::Closed,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break End::TimedOut;
            }
            Err(_) => break End::Closed,
        }
    };
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(received[..split].to_vec()).expect("ascii head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    RawResponse {
        status,
        head,
        body: received[split + 4..].to_vec(),
        end,
    }
}

/// A directory with `data.bin` (10 000 patterned bytes) and `hello.txt`.
fn content_dir() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("data.bin"), &data).expect("write");
    std::fs::write(dir.path().join("hello.txt"), b"hello").expect("write");
    (dir, data)
}

#[test]
fn serves_files_and_ranges_and_records_requests() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());

    let full = raw_get(&server, "/data.bin", "");
    assert_eq!(full.status, 200);
    assert_eq!(full.body, data);
    assert_eq!(full.header("content-length"), Some("10000"));

    let part = raw_get(&server, "/data.bin", "Range: bytes=9000-\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[9000..]);
    assert_eq!(part.header("content-range"), Some("bytes 9000-9999/10000"));

    assert_eq!(raw_get(&server, "/missing", "").status, 404);

    assert_eq!(server.requests(), ["/data.bin", "/data.bin", "/missing"]);
    let log = server.request_log();
    assert_eq!(log[0].range, None);
    assert_eq!(log[1].range.as_deref(), Some("bytes=9000-"));
    assert_eq!(log[1].method, "GET");
    assert_eq!(server.request_count("data.bin"), 2);
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn status_faults_apply_once_per_injection_in_order() {
    let (dir, _) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject("hello.txt", Fault::Status(500));
    server.inject("/hello.txt", Fault::Status(503));
    assert_eq!(raw_get(&server, "/hello.txt", "").status, 500);
    assert_eq!(raw_get(&server, "/hello.txt", "").status, 503);
    let ok = raw_get(&server, "/hello.txt", "");
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn always_faults_persist_until_cleared() {
    let (dir, _) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject_always("/hello.txt", Fault::Status(502));
    for _ in 0..3 {
        assert_eq!(raw_get(&server, "/hello.txt", "").status, 502);
    }
    server.clear_faults();
    assert_eq!(raw_get(&server, "/hello.txt", "").status, 200);
}

#[test]
fn truncate_sends_full_length_then_closes_after_n_bytes() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject(
        "/data.bin",
        Fault::Truncate {
            after_bytes: 1234,
            times: 2,
        },
    );
    for _ in 0..2 {
        let cut = raw_get(&server, "/data.bin", "");
        assert_eq!(cut.status, 200);
        assert_eq!(cut.header("content-length"), Some("10000"));
        assert_eq!(cut.body, &data[..1234]);
        assert_eq!(cut.end, End::Closed);
    }
    assert_eq!(raw_get(&server, "/data.bin", "").body, data);
}

#[test]
fn truncate_applies_to_range_answers_too() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject(
        "/data.bin",
        Fault::Truncate {
            after_bytes: 100,
            times: 1,
        },
    );
    let cut = raw_get(&server, "/data.bin", "Range: bytes=5000-\r\n");
    assert_eq!(cut.status, 206);
    assert_eq!(cut.header("content-length"), Some("5000"));
    assert_eq!(cut.body, &data[5000..5100]);
}

#[test]
fn stall_sends_a_prefix_then_goes_silent() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject(
        "/data.bin",
        Fault::Stall {
            after_bytes: 500,
            times: 1,
        },
    );
    let started = Instant::now();
    let stalled = raw_get(&server, "/data.bin", "");
    assert_eq!(stalled.end, End::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(stalled.header("content-length"), Some("10000"));
    assert_eq!(stalled.body, &data[..500]);
    assert_eq!(raw_get(&server, "/data.bin", "").body, data);
}

#[test]
fn wrong_bytes_keeps_the_length_and_changes_one_byte() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject("/data.bin", Fault::WrongBytes);
    let wrong = raw_get(&server, "/data.bin", "");
    assert_eq!(wrong.body.len(), data.len());
    let differing = wrong.body.iter().zip(&data).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 1);
}

#[test]
fn ignore_range_answers_200_with_the_whole_file() {
    let (dir, data) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    server.inject("/data.bin", Fault::IgnoreRange);
    let response = raw_get(&server, "/data.bin", "Range: bytes=9000-\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, data);
    // the log still shows what the client asked for
    assert_eq!(
        server.request_log()[0].range.as_deref(),
        Some("bytes=9000-")
    );
}

#[test]
fn delays_make_concurrency_observable() {
    let (dir, _) = content_dir();
    let server = TestServer::serve_dir(dir.path());
    for _ in 0..3 {
        server.inject("/hello.txt", Fault::Delay(Duration::from_millis(300)));
    }
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| assert_eq!(raw_get(&server, "/hello.txt", "").body, b"hello"));
        }
    });
    assert_eq!(server.max_concurrent(), 3);
    assert_eq!(raw_get(&server, "/hello.txt", "").status, 200);
    assert_eq!(server.max_concurrent(), 3);
}

#[test]
fn works_from_inside_a_tokio_runtime_and_stops_on_drop() {
    let (dir, _) = content_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let address = runtime.block_on(async {
        let server = TestServer::serve_dir(dir.path());
        server.inject(
            "/data.bin",
            Fault::Stall {
                after_bytes: 10,
                times: 1,
            },
        );
        let mut stream = tokio::net::TcpStream::connect(server.address())
            .await
            .expect("connect");
        use tokio::io::AsyncWriteExt;
        stream
            .write_all(b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.address()
        // the server drops here with a stalled connection still open
    });
    assert!(
        TcpStream::connect(address).is_err(),
        "the port is closed once the server is dropped"
    );
}
