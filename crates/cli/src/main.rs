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

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose, cli.json);
    let json = cli.json;
    match commands::run(cli) {
        Ok(output) => {
            output.print(json);
            ExitCode::SUCCESS
        }
        Err(error) => {
            let code = exit::code_for(&error);
            if json {
                let value = serde_json::json!({
                    "ok": false,
                    "error": format!("{error:#}"),
                    "exit_code": code,
                });
                println!("{value}");
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(code)
        }
    }
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
