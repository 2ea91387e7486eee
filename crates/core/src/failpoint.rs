//! Fail points: named places in the writers where a test build can kill the process, to
//! prove that a crash there leaves nothing half-done and that the next run recovers.
//!
//! Compiled in only with the `failpoints` feature, which only test builds enable (the
//! CLI's dev-dependency); a release binary has no such code and reads no variable.
//! `MIRROR_FAILPOINT=<name>` makes [`hit`] abort the process at that point, as a
//! `kill -9` or a power cut would: no destructor, no cleanup, no flush.

/// Abort the process here when `MIRROR_FAILPOINT` is `name` (test builds only).
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
