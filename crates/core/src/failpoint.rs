//! Fail points: named places in the writers where a test build can kill the process, to
//! prove that a crash there leaves nothing half-done and that the next run recovers.
//!
//! Compiled in only with the `failpoints` feature, which only test builds enable (the
//! CLI's dev-dependency); a release binary has no such code and reads no variable.
//! `MIRROR_FAILPOINT=<name>` makes [`hit`] abort the process at that point, as a
//! `kill -9` or a power cut would: no destructor, no cleanup, no flush.
//!
//! [`step`] numbers every durable step of a writer (each rename, link, removal, fsync
//! and state switch in the store); `MIRROR_FAILPOINT_STEP=<n>` aborts at the n-th. A
//! test runs a command with n = 1, 2, ... until it completes, and checks after each kill
//! that the store is the old state or the new one and that the next run completes
//! (tests/it/failpoints.rs).

/// Abort the process here when `MIRROR_FAILPOINT` is `name` (test builds only).
// The one place a library prints and ends the process: a simulated crash, in test builds.
#[allow(clippy::print_stderr)]
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("MIRROR_FAILPOINT").is_ok_and(|wanted| wanted == name) {
        eprintln!("fail point {name}: aborting");
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

#[cfg(feature = "failpoints")]
static STEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One durable step (`what`: `rename`, `fsync`, `link`...); aborts the process at the
/// step `MIRROR_FAILPOINT_STEP` numbers (test builds only).
#[allow(clippy::print_stderr)]
#[inline]
pub fn step(what: &str) {
    #[cfg(feature = "failpoints")]
    {
        let n = STEPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if std::env::var("MIRROR_FAILPOINT_STEP").is_ok_and(|at| at.parse() == Ok(n)) {
            eprintln!("fail point: step {n} ({what}): aborting");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = what;
}
