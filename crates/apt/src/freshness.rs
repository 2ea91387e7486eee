//! Refusing stale and future metadata: a validly signed Release is still an attack when
//! it is an old one replayed (rollback: clients are held on packages with known holes) or
//! the same one served for ever (freeze), which TUF and apt's own Valid-Until guard
//! against. Each suite's `Date` must not go back from the one last accepted, which the
//! newest snapshot holds (`dists/<suite>/Release`, or InRelease; for a filtered mirror
//! our Release keeps upstream's Date), so the state survives `prune`. A `Date` further
//! ahead of this machine's clock than `max_date_skew` is refused too: it would make
//! every honest Release after it look like a rollback.

use std::time::Duration;

use mirror_core::snapshot::Snapshot;
use mirror_core::store::Store;
use time::OffsetDateTime;

use crate::error::AptError;
use crate::release::{Release, format_release_date};
use crate::upstream::VerifiedRelease;

/// The default `max_date_skew`: a few hours, as clocks inside air gaps drift.
pub const DEFAULT_DATE_SKEW: Duration = Duration::from_secs(6 * 3600);

/// Check `release` (of `origin`) against the clock and against the Date last accepted for
/// its suite in `previous` (unless `allow_rollback`).
pub fn check_dates(
    release: &VerifiedRelease,
    origin: &str,
    store: &Store,
    previous: Option<&Snapshot>,
    allow_rollback: bool,
    skew: Duration,
) -> Result<(), AptError> {
    let Some(served) = release_date(&release.text, origin)? else {
        // No Date to compare; apt itself refuses such a Release for a secure source,
        // and the signature is still checked.
        return Ok(());
    };
    let now = OffsetDateTime::now_utc();
    if served > now + skew {
        return Err(AptError::DateInFuture {
            origin: origin.to_owned(),
            served: format_release_date(served),
            now: format_release_date(now),
            skew: format!("{}s", skew.as_secs()),
        });
    }
    if allow_rollback {
        return Ok(());
    }
    let Some(accepted) = accepted_date(store, previous, &release.suite)? else {
        return Ok(());
    };
    if served < accepted {
        return Err(AptError::DateRollback {
            origin: origin.to_owned(),
            served: format_release_date(served),
            accepted: format_release_date(accepted),
        });
    }
    Ok(())
}

fn release_date(text: &str, origin: &str) -> Result<Option<OffsetDateTime>, AptError> {
    let release = Release::parse(text).map_err(|e| AptError::malformed_release(origin, &e))?;
    release
        .date()
        .map_err(|e| AptError::malformed_release(origin, &e))
}

/// The Date of the Release the newest snapshot holds for `suite`.
fn accepted_date(
    store: &Store,
    previous: Option<&Snapshot>,
    suite: &str,
) -> Result<Option<OffsetDateTime>, AptError> {
    let Some(previous) = previous else {
        return Ok(None);
    };
    for (name, signed) in [("Release", false), ("InRelease", true)] {
        let path = format!("dists/{suite}/{name}");
        let Some(file) = previous.file(&path) else {
            continue;
        };
        let bytes = store.objects().read(&file.sha256)?;
        let origin = format!("snapshot {}/{}: {path}", previous.mirror, previous.id);
        let text = if signed {
            mirror_core::signing::cleartext_body(&bytes, &origin)?
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        return release_date(&text, &origin);
    }
    Ok(None)
}
