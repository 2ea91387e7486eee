//! One module per subcommand, plus what they share: loading the config, opening the
//! store, and printing results.

mod export;
mod import;
mod init;
mod inspect;
mod keygen;
mod prune;
mod publish;
mod serve;
mod snapshot;
mod status;
mod sync;
mod verify;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::ConfigError;

/// What a command prints: a JSON value for `--json`, lines of text otherwise; and, for
/// a command that did part of its work (`sync` of several mirrors), the failure that
/// decides its exit code after the result is printed.
pub struct Output {
    pub json: serde_json::Value,
    pub text: String,
    pub failure: Option<anyhow::Error>,
}

impl Output {
    pub fn new(json: serde_json::Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
            failure: None,
        }
    }

    /// The same result, ending with `failure`'s exit code. The command has already said
    /// each failure (on stderr; `print` adds it to the JSON).
    pub fn failed(mut self, failure: Option<anyhow::Error>) -> Self {
        self.failure = failure;
        self
    }

    /// Write the result to stdout. A failed write (a closed pipe, a full disk) is
    /// returned, not a panic: the caller decides how to end.
    pub fn print(&self, json: bool) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if json {
            let mut value = self.json.clone();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("ok".into(), self.failure.is_none().into());
                if let Some(failure) = &self.failure {
                    obj.insert("error".into(), crate::exit::render(failure).into());
                    obj.insert("exit_code".into(), crate::exit::code_for(failure).into());
                }
            }
            writeln!(out, "{value}")?;
        } else if !self.text.is_empty() {
            writeln!(out, "{}", self.text.trim_end())?;
        }
        out.flush()
    }
}

/// Shared state of one invocation.
pub struct Context {
    pub config_path: PathBuf,
    pub json: bool,
}

impl Context {
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(&self.config_path)
            .map_err(|e| anyhow::Error::new(ConfigError(format!("{e:#}"))))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Output> {
    let ctx = Context {
        config_path: cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("mirror.toml")),
        json: cli.json,
    };
    match cli.command {
        Command::Init {
            from_system,
            root,
            force,
            conda_env,
            conda_url,
            pip_freeze,
            pypi_url,
            maas_images,
            arch,
            images_url,
            images_keyring,
        } => init::run(
            &ctx,
            from_system.then(|| root.unwrap_or_else(|| PathBuf::from("/"))),
            force,
            init::Seeds {
                conda_env: conda_env.as_deref(),
                conda_url: conda_url.as_deref(),
                pip_freeze: pip_freeze.as_deref(),
                pypi_url: pypi_url.as_deref(),
                maas_images: crate::formats::Images {
                    releases: &maas_images,
                    arches: &arch,
                    url: images_url.as_deref(),
                    keyring: images_keyring.as_deref(),
                },
            },
        ),
        Command::Keygen { out, user_id } => keygen::run(&out, &user_id),
        Command::Sync {
            mirrors,
            no_publish,
            dry_run,
        } => runtime()?.block_on(sync::run(&ctx, &mirrors, !no_publish, dry_run)),
        Command::Publish { mirrors, snapshot } => publish::run(&ctx, &mirrors, snapshot.as_deref()),
        Command::Snapshot {
            from_proxy,
            allow_list,
            no_publish,
        } => snapshot::run(&ctx, &from_proxy, allow_list.as_deref(), !no_publish),
        Command::Serve {
            listen,
            header_timeout,
            send_timeout,
            max_connections,
            proxy_timeout,
            proxy_fills,
        } => runtime()?.block_on(serve::run(
            &ctx,
            &listen,
            serve::Limits {
                header_timeout,
                send_timeout,
                max_connections,
                proxy_timeout,
                proxy_fills,
            },
        )),
        Command::Export {
            out,
            full,
            volume_size,
            since,
            dry_run,
            mirrors,
        } => export::run(
            &ctx,
            &export::Args {
                out,
                full,
                volume_size,
                since,
                dry_run,
                mirrors,
            },
        ),
        Command::Import { dir } => import::run(&ctx, &dir),
        Command::Verify { bundle, key } => verify::run(&ctx, bundle.as_deref(), &key),
        Command::Status => status::run(&ctx),
        Command::Inspect { target } => runtime()?.block_on(inspect::run(&target)),
        Command::Prune { keep } => prune::run(&ctx, keep),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Human-readable byte count (the same as in the libraries' report lines).
pub use mirror_core::sync::human_bytes as bytes;
