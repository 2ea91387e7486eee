//! Progress reporting from libraries without printing: libraries call a [`Reporter`];
//! the CLI renders it (indicatif on a terminal, nothing in `--json` or non-TTY mode).

/// Receives progress of long work. Every method has a no-op default.
pub trait Reporter: Send + Sync {
    /// A new phase starts (e.g. "fetching indices", "downloading", "hashing").
    /// `total_bytes` is the amount of work when known.
    fn begin(&self, _label: &str, _total_bytes: Option<u64>) {}
    /// `bytes` more of the current phase are done.
    fn advance(&self, _bytes: u64) {}
    /// The current phase is over.
    fn finish(&self) {}
    /// A one-line note worth showing (a skipped file, a fallback taken).
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {}
