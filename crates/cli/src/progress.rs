//! Progress bars: the CLI's [`Reporter`]. indicatif on a terminal; silent when stderr is
//! not a terminal or `--json` is set (logs still go through tracing).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use mirror_core::reporter::Reporter;

/// Renders library progress as one bar per phase.
pub struct Progress {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    /// A reporter that draws only when `!json` and stderr is a terminal.
    pub fn new(json: bool) -> Self {
        Self {
            enabled: !json && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }
}

impl Reporter for Progress {
    fn begin(&self, label: &str, total_bytes: Option<u64>) {
        tracing::debug!(total_bytes, "{label}");
        if !self.enabled {
            return;
        }
        let bar = match total_bytes {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("static template parses")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(label.to_owned());
        if let Ok(mut slot) = self.bar.lock()
            && let Some(old) = slot.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
    }

    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }
}
