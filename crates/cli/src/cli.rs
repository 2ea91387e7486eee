//! Command-line definitions (clap). One variant per subcommand; the logic lives in
//! `commands/`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Mirror APT repositories and conda channels for air-gapped sites.
#[derive(Debug, Parser)]
#[command(name = "mirror-cli", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: ./mirror.toml).
    #[arg(long, global = true, env = "MIRROR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one machine-readable JSON object instead of text; no progress bars.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented mirror.toml and a signing key.
    Init {
        /// Mirror what this machine runs: its apt sources, keyrings and installed packages.
        #[arg(long)]
        from_system: bool,
        /// Overwrite an existing config.
        #[arg(long)]
        force: bool,
        /// Seed a conda mirror's specs from an environment.yml or an explicit lockfile.
        #[arg(long, value_name = "FILE")]
        conda_env: Option<PathBuf>,
        /// Upstream channel URL for --conda-env.
        #[arg(long, value_name = "URL", requires = "conda_env")]
        conda_url: Option<String>,
    },
    /// Generate a signing key: PATH (armored secret) and PATH.pub (armored public).
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// User id written into the key.
        #[arg(long, default_value = "mirror-cli signing key")]
        user_id: String,
    },
    /// Fetch, verify, snapshot and publish mirrors.
    Sync {
        /// Mirrors to sync (default: all).
        mirrors: Vec<String>,
        /// Snapshot only; do not switch the published tree.
        #[arg(long)]
        no_publish: bool,
        /// Show how many files and bytes would be fetched; fetch no package.
        #[arg(long)]
        dry_run: bool,
    },
    /// Publish the newest snapshot of mirrors, atomically.
    Publish {
        mirrors: Vec<String>,
        /// Publish this snapshot id instead of the newest (roll back).
        #[arg(long)]
        snapshot: Option<String>,
    },
    /// Serve the store's published trees over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Mirrors, snapshots, sizes, last sync/export/import.
    Status,
    /// Summarise an index: Packages*, Release/InRelease, repodata.json*.
    Inspect {
        /// A file or an http(s):// URL.
        target: String,
    },
    /// Drop old snapshots and the objects nothing references any more.
    Prune {
        /// Snapshots to keep per mirror (the published one is always kept).
        #[arg(long, default_value_t = 3)]
        keep: usize,
    },
}
