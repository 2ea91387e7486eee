//! The fetcher against a loopback upstream ([`TestServer`]) that misbehaves on request.
//!
//! `object`: single downloads into the store (verification, retries, resume);
//! `metadata`: in-memory bodies and `file://`; `batch`: `fetch_objects`.

mod batch;
mod metadata;
mod object;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mirror_test_support::TestServer;

use super::*;
use crate::digest::Sha256Digest;
use crate::reporter::NoReporter;
use crate::store::{Store, StoreError};

/// Pseudo-random content of `len` bytes (xorshift32); different seeds, different content.
pub(super) fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

pub(super) fn expected(bytes: &[u8]) -> Expected {
    Expected {
        sha256: Sha256Digest::of(bytes),
        size: Some(bytes.len() as u64),
    }
}

/// Short timeouts and backoff so failure paths stay fast.
pub(super) fn fast_options() -> FetchOptions {
    FetchOptions {
        retries: 4,
        retry_base_delay: Duration::from_millis(5),
        read_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        ..FetchOptions::default()
    }
}

pub(super) struct Upstream {
    dir: tempfile::TempDir,
    pub(super) server: TestServer,
    _store_dir: tempfile::TempDir,
    pub(super) store: Store,
}

pub(super) fn upstream(files: &[(&str, &[u8])]) -> Upstream {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write upstream file");
    }
    let server = TestServer::serve_dir(dir.path());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(store_dir.path()).expect("store");
    Upstream {
        dir,
        server,
        _store_dir: store_dir,
        store,
    }
}

impl Upstream {
    /// Fetch `name` from this upstream into its store, expecting `body`.
    pub(super) async fn fetch(
        &self,
        fetcher: &Fetcher,
        name: &str,
        body: &[u8],
    ) -> Result<Fetched, FetchError> {
        fetcher
            .fetch_object(
                &self.server.url_for(name),
                expected(body),
                self.store.objects(),
                &NoReporter,
            )
            .await
    }

    /// The stored object holding `body` (panics when it is missing).
    pub(super) fn stored(&self, body: &[u8]) -> Vec<u8> {
        self.store
            .objects()
            .read(&Sha256Digest::of(body))
            .expect("object")
    }

    /// The directory the server serves.
    pub(super) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

pub(super) fn temp_files(store: &Store) -> usize {
    // Verified objects wait in `tmp/` for their durability batch; they are not leftovers.
    std::fs::read_dir(store.tmp_dir())
        .expect("tmp dir")
        .filter(|e| {
            !e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("unsynced-")
        })
        .count()
}

/// Sums what the fetcher reports.
#[derive(Default)]
pub(super) struct CountingReporter(pub(super) AtomicU64);

impl Reporter for CountingReporter {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[test]
fn fetch_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let fetcher = Fetcher::new(FetchOptions::default()).expect("fetcher");
    let e = expected(b"x");
    assert_send(&fetcher.get("http://127.0.0.1:9/", 1));
    assert_send(&fetcher.get_optional("http://127.0.0.1:9/", 1));
    assert_send(&fetcher.fetch_object("http://127.0.0.1:9/", e, store.objects(), &NoReporter));
    assert_send(&fetcher.fetch_objects(Vec::new(), store.objects(), &NoReporter));
}
