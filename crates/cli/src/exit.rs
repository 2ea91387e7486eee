//! Exit codes: 0 only on full success; each class of failure has its own code so that
//! scripts and cron jobs can tell a tampered upstream from a network outage.
//!
//! Every library error knows its [`ErrorClass`] ([`Classify`]); this module only maps
//! classes to numbers. The first cause in the chain with a class other than
//! [`ErrorClass::Other`] decides.
//!
//! | code | meaning |
//! |---|---|
//! | 1 | other failure |
//! | 2 | usage error (clap) |
//! | 3 | configuration error |
//! | 4 | verification failed: signature, digest or size mismatch (tampering or corruption) |
//! | 5 | upstream unreachable or answering errors |
//! | 6 | the store is locked by another writer |
//! | 7 | a sync would publish an empty selection, or empty a subdir that had packages (conda; `allow_empty = true` permits it) |
//! | 10 | bundle: manifest signature missing, bad, or by a key not in `[transfer] trusted_keys` |
//! | 11 | bundle or store: a volume, object or tree file does not match its SHA-256/size (corrupt or tampered) |
//! | 12 | bundle: a volume named by the manifest is missing |
//! | 13 | bundle: does not follow the last import (sequence gap, other lineage, base objects missing) |
//! | 14 | bundle: older than the last import (replay refused) |
//! | 15 | bundle: unsafe tar entry (`..`, absolute path, symlink, not a plain object file) |
//! | 16 | not enough free space for the import |

use mirror_core::error::{Classify, ErrorClass, RepositoryError};
use mirror_core::fetch::FetchError;
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;
use mirror_core::sync::SyncError;
use mirror_transfer::TransferError;

/// A configuration problem found by the CLI itself (a bad flag value, a missing section).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Classify for ConfigError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
}

/// A command line that names something that is not there (an unknown mirror): exit 2,
/// like the usage errors clap finds itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Classify for UsageError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
}

/// The exit code of a class. Exhaustive, so a new class cannot go without a code.
fn code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Other => 1,
        ErrorClass::Usage => 2,
        ErrorClass::Config => 3,
        ErrorClass::Verification => 4,
        ErrorClass::Upstream => 5,
        ErrorClass::Locked => 6,
        ErrorClass::BundleSignature => 10,
        ErrorClass::Corrupt => 11,
        ErrorClass::MissingVolume => 12,
        ErrorClass::Sequence => 13,
        ErrorClass::Replay => 14,
        ErrorClass::UnsafeEntry => 15,
        ErrorClass::NoSpace => 16,
        ErrorClass::EmptySelection => 7,
    }
}

/// The code of a failure that has no class of its own (the `other` row).
pub const OTHER: u8 = 1;

/// The message of a failed command: the error and its causes, `: `-joined, each said
/// once. Many errors embed their cause's text and also expose it as a source; printing
/// both gave "X: X". A cause whose text the message already holds is left out.
pub fn render(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// How serious a class is, to pick the one failure a run of several mirrors reports:
/// evidence of tampering first, then what an operator must fix, then what may pass.
pub fn severity(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Verification
        | ErrorClass::BundleSignature
        | ErrorClass::Corrupt
        | ErrorClass::UnsafeEntry => 5,
        ErrorClass::Replay | ErrorClass::Sequence | ErrorClass::MissingVolume => 4,
        ErrorClass::Usage
        | ErrorClass::Config
        | ErrorClass::NoSpace
        | ErrorClass::EmptySelection => 3,
        ErrorClass::Locked | ErrorClass::Upstream => 2,
        ErrorClass::Other => 1,
    }
}

/// The class that decides `error`'s exit code.
pub fn class_for(error: &anyhow::Error) -> ErrorClass {
    error
        .chain()
        .filter_map(class_of)
        .find(|class| *class != ErrorClass::Other)
        .unwrap_or(ErrorClass::Other)
}

/// The exit code for a failed command.
pub fn code_for(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .filter_map(class_of)
        .find(|class| *class != ErrorClass::Other)
        .map_or(OTHER, code)
}

/// The class of one cause, when it is one of the error types the CLI can meet.
fn class_of(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    macro_rules! classes {
        ($($ty:ty),*) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() {
                return Some(e.class());
            })*
        };
    }
    classes!(
        UsageError,
        ConfigError,
        SyncError,
        RepositoryError,
        TransferError,
        StoreError,
        FetchError,
        SigningError
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_specific_class_decides() {
        let locked = StoreError::Locked {
            path: "/s/lock".into(),
            holder: "pid 1".into(),
        };
        let error = anyhow::Error::new(locked).context("opening the store");
        assert_eq!(code_for(&error), 6);
        let error = anyhow::Error::new(ConfigError("x".into())).context("loading");
        assert_eq!(code_for(&error), 3);
        assert_eq!(code_for(&anyhow::anyhow!("plain")), 1);
    }

    #[test]
    fn each_cause_is_said_once() {
        // A Display that embeds its source, as several library errors do.
        #[derive(Debug, thiserror::Error)]
        #[error("reading key.asc: {0}")]
        struct Embeds(#[source] std::io::Error);
        let io = std::io::Error::other("permission denied");
        let error = anyhow::Error::new(Embeds(io)).context("loading [signing] key");
        assert_eq!(
            render(&error),
            "loading [signing] key: reading key.asc: permission denied"
        );
        assert_eq!(format!("{error:#}").matches("permission denied").count(), 2);
    }
}
