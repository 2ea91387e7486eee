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

use mirror_core::fetch::FetchError;
use mirror_core::signing::SigningError;
use mirror_core::store::StoreError;

/// A configuration problem (wrapped so the exit code can tell it apart).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
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
