//! `mirror-cli`: glue between the mirror libraries and an operator's shell.
//!
//! Parses arguments, reads `mirror.toml`, sets up logging, progress and the async
//! runtime, runs one command from `commands/`, prints its result (text, or one JSON
//! object with `--json`) and maps failures to exit codes (see `exit.rs`).

mod cli;
mod commands;
mod config;
mod exit;
mod formats;
mod progress;

use std::process::ExitCode;

/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB
/// on 64-bit). After that, big short-lived buffers (an xz decoder's dictionary, 8 MB per
/// decoding thread) come from the heap of the thread that asked, and stay resident once
/// freed: measured on a filtered Debian sync, peak RSS 85 MB instead of 63 MB. A fixed
/// threshold keeps every block of 256 KiB or more mapped on its own and unmapped on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn fix_malloc_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread
    // exists, and a failure (0) leaves glibc's default, which is merely bigger.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_malloc_threshold() {}

fn main() -> ExitCode {
    fix_malloc_threshold();
    restrict_umask();
    let cli = parse_args();
    init_logging(cli.verbose, cli.json);
    let json = cli.json;
    match commands::run(cli) {
        Ok(output) => match output.print(json) {
            // Part of the work failed: the result is printed, the failure decides the code.
            // (The command has said each failure on stderr, or in the JSON.)
            Ok(()) if output.failure.is_some() => {
                let failure = output.failure.as_ref().expect("just checked");
                ExitCode::from(exit::code_for(failure))
            }
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`status | head -1`): the work is done, end quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                report_error(&format!("writing the output: {e}"));
                ExitCode::from(exit::OTHER)
            }
        },
        Err(error) => {
            let code = exit::code_for(&error);
            let message = exit::render(&error);
            if json {
                let value = serde_json::json!({
                    "ok": false,
                    "error": message,
                    "exit_code": code,
                });
                use std::io::Write as _;
                // Nothing more can be said if stdout is gone; the exit code still tells.
                let _ = writeln!(std::io::stdout(), "{value}");
            } else {
                report_error(&message);
            }
            ExitCode::from(code)
        }
    }
}

/// The command line, with the help text the format registry supplies (which indices
/// `inspect` reads comes from `formats.rs`, not from a list kept here).
fn parse_args() -> cli::Cli {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let command =
        cli::Cli::command().mut_subcommand("inspect", |c| c.about(formats::inspect_help()));
    let matches = command.get_matches();
    cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Never create group- or world-writable files or directories, whatever umask the shell,
/// cron or systemd handed down (under `umask 000` any local user could replace a conda
/// repodata.json, which clients cannot check against a signature): the inherited mask
/// keeps its stricter bits, plus 022. Files that must be readable (state, snapshots,
/// bundle files) and secrets (0600) also set their modes explicitly.
fn restrict_umask() {
    use rustix::fs::Mode;
    use rustix::process::umask;
    let inherited = umask(Mode::from_raw_mode(0o022));
    umask(inherited | Mode::from_raw_mode(0o022));
}

/// `error: <message>` on stderr, ignoring a stderr that cannot be written.
fn report_error(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "error: {message}");
}

fn init_logging(verbose: u8, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal: a log file or a pipe gets plain text (NO_COLOR too).
    use std::io::IsTerminal as _;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.without_time().init();
    }
}
