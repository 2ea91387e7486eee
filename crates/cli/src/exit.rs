//! Exit codes: 0 only on full success; each class of failure has its own code so that
//! scripts and cron jobs can tell a tampered upstream from a network outage.
//!
//! | code | meaning |
//! |---|---|
//! | 1 | other failure |
//! | 2 | usage error (clap) |
//! | 3 | configuration error |
//! | 4 | verification failed: signature, digest or size mismatch (tampering or corruption) |
//! | 5 | upstream unreachable or answering errors |
//! | 6 | the store is locked by another writer |
//! | 10 | bundle: manifest signature missing, bad, or by a key not in `[transfer] trusted_keys` |
//! | 11 | bundle or store: a volume, object or tree file does not match its SHA-256/size (corrupt or tampered) |
//! | 12 | bundle: a volume named by the manifest is missing |
//! | 13 | bundle: does not follow the last import (sequence gap, other lineage, base objects missing) |
//! | 14 | bundle: older than the last import (replay refused) |
//! | 15 | bundle: unsafe tar entry (`..`, absolute path, symlink, not a plain object file) |
//! | 16 | not enough free space for the import |

use mirror_core::fetch::FetchError;
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;

/// A configuration problem (wrapped so the exit code can tell it apart).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<mirror_transfer::TransferError>() {
            use mirror_transfer::ErrorClass;
            match e.class() {
                ErrorClass::Signature => return 10,
                ErrorClass::Corrupt => return 11,
                ErrorClass::MissingVolume => return 12,
                ErrorClass::Sequence => return 13,
                ErrorClass::Replay => return 14,
                ErrorClass::UnsafeEntry => return 15,
                ErrorClass::NoSpace => return 16,
                // I/O, store and argument problems: look further down the chain.
                ErrorClass::Other => {}
            }
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return 3;
        }
        if cause.downcast_ref::<SigningError>().is_some()
            || cause.downcast_ref::<Box<SigningError>>().is_some()
        {
            return 4;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return match e {
                StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => 4,
                StoreError::Locked { .. } => 6,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<FetchError>() {
            return match e {
                FetchError::Verify { .. } => 4,
                _ => 5,
            };
        }
    }
    1
}
