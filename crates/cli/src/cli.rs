//! Command-line definitions (clap). One variant per subcommand; the logic lives in
//! `commands/`.
//!
//! The doc comments below are clap's `--help` text, written for a terminal, not for
//! rustdoc: `[transfer]` names a config section, `<store>` a placeholder.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

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
        /// With --from-system: read DIR/etc/apt and DIR/var/lib/dpkg/status (a copy of
        /// another machine's) instead of this machine's.
        #[arg(long, value_name = "DIR", requires = "from_system")]
        root: Option<PathBuf>,
        /// Overwrite an existing config.
        #[arg(long)]
        force: bool,
        /// Seed a conda mirror's specs from an environment.yml or an explicit lockfile.
        #[arg(long, value_name = "FILE")]
        conda_env: Option<PathBuf>,
        /// Upstream channel URL for --conda-env.
        #[arg(long, value_name = "URL", requires = "conda_env")]
        conda_url: Option<String>,
        /// Seed a PyPI mirror's requirements from `pip freeze` output (or a requirements
        /// file).
        #[arg(long, value_name = "FILE")]
        pip_freeze: Option<PathBuf>,
        /// Upstream simple index URL for --pip-freeze.
        #[arg(long, value_name = "URL", requires = "pip_freeze")]
        pypi_url: Option<String>,
        /// Seed a MAAS image mirror (simplestreams) with these releases: noble,jammy.
        #[arg(
            long,
            value_name = "RELEASES",
            value_delimiter = ',',
            requires = "images_url"
        )]
        maas_images: Vec<String>,
        /// Architectures for --maas-images.
        #[arg(
            long,
            value_name = "ARCHES",
            value_delimiter = ',',
            default_value = "amd64",
            requires = "maas_images"
        )]
        arch: Vec<String>,
        /// The image stream for --maas-images: the directory holding streams/v1/.
        #[arg(long, value_name = "URL", requires = "maas_images")]
        images_url: Option<String>,
        /// The keyring that signs that stream (default: Ubuntu's image keyring).
        #[arg(long, value_name = "FILE", requires = "maas_images")]
        images_keyring: Option<PathBuf>,
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
    /// Make a snapshot of what clients pulled through a mirror in proxy mode, and publish
    /// it (for `export`, or a first selection for a mirror).
    Snapshot {
        /// The mirror in proxy mode.
        #[arg(long, value_name = "MIRROR")]
        from_proxy: String,
        /// Also write the settings that select what was pulled (`specs = [...]`) to FILE.
        #[arg(long, value_name = "FILE")]
        allow_list: Option<PathBuf>,
        /// Save the snapshot without publishing it.
        #[arg(long)]
        no_publish: bool,
    },
    /// Serve the store's published trees over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Close a connection that has not sent a whole request head this long after it
        /// opened or after its previous response (so also the keep-alive idle timeout).
        #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = duration_flag)]
        header_timeout: std::time::Duration,
        /// Close a connection whose client has taken no byte of a whole-file response for
        /// this long (a reader that stopped reading keeps no connection for ever).
        #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = duration_flag)]
        send_timeout: std::time::Duration,
        /// Open connections at most; at the cap the oldest idle one is closed for a new
        /// one. Keep it under the process's file-descriptor limit (`ulimit -n`).
        #[arg(long, default_value_t = 512,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_connections: usize,
        /// Mirrors in proxy mode: the longest a client waits for a file to be fetched and
        /// verified before it gets 504 (the fetch goes on for the next client).
        #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = duration_flag)]
        proxy_timeout: std::time::Duration,
        /// Mirrors in proxy mode: upstream fetches in flight at most; a miss beyond gets
        /// 503 with `Retry-After`.
        #[arg(long, default_value_t = 64,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        proxy_fills: usize,
    },
    /// Write a signed bundle of the newest snapshots for the other side of the gap.
    Export {
        /// Bundle directory to create (must be new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Carry every object the snapshots need, not only what earlier bundles lacked.
        #[arg(long)]
        full: bool,
        /// Largest volume: 700M, 4.7G, 25G, 650MiB or bytes (K/M/G/T are decimal).
        #[arg(long, default_value = "4G", value_name = "SIZE", value_parser = volume_size_flag)]
        volume_size: String,
        /// Carry what the inside lacks according to its `status --json` output (or its
        /// <store>/live/imported.json), e.g. after a lost bundle or a rebuilt inside.
        #[arg(long, value_name = "FILE", conflicts_with = "full")]
        since: Option<PathBuf>,
        /// Print how many objects and bytes the bundle would carry; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Mirrors to carry (default: every mirror with a snapshot).
        mirrors: Vec<String>,
    },
    /// Verify a bundle completely (signature, volumes, objects), then apply it.
    Import {
        /// The bundle directory.
        dir: PathBuf,
    },
    /// Re-hash the store and published trees, or a bundle; change nothing.
    Verify {
        /// Check this bundle instead of the store (no store or config needed).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// Public key(s) to check the bundle signature with (default: [transfer]
        /// trusted_keys of the config, when there is one).
        #[arg(long, value_name = "FILE", requires = "bundle")]
        key: Vec<PathBuf>,
    },
    /// Mirrors, snapshots, sizes, last sync/export/import.
    Status,
    /// Summarise an index (the formats' list is filled in from `formats.rs`).
    Inspect {
        /// A file or an http(s):// URL.
        target: String,
    },
    /// Drop old snapshots and the objects nothing references any more.
    Prune {
        /// Snapshots to keep per mirror (the published one is always kept).
        #[arg(long, default_value_t = 3,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        keep: usize,
    },
}

/// `--volume-size` is checked by clap, so a bad value is a usage error (exit 2) like any
/// other bad flag; the text is kept for the bundle's own messages.
fn volume_size_flag(text: &str) -> Result<String, String> {
    mirror_transfer::parse_volume_size(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// A duration flag (`20s`, `500ms`, `2m`), in the config's notation; zero is refused.
fn duration_flag(text: &str) -> Result<std::time::Duration, String> {
    match mirror_core::time_util::parse_duration(text) {
        Some(d) if d.is_zero() => Err("must be more than zero".into()),
        Some(d) => Ok(d),
        None => Err(format!(
            "{text:?}: expected a number and a unit (500ms, 20s, 2m)"
        )),
    }
}
