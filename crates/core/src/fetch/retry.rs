//! Backoff between attempts: exponential, capped, jittered.

use std::time::Duration;

use rand::Rng;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The longest `Retry-After` we honour; a server asking for more is treated as down, so a
/// scheduled sync fails (and says why) instead of hanging for hours.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait before the next attempt: the backoff, or longer when the server asked for
/// longer with `Retry-After`. `None` when that request exceeds [`MAX_RETRY_AFTER`].
pub(super) fn retry_delay(
    base: Duration,
    attempt: u32,
    asked: Option<Duration>,
) -> Option<Duration> {
    let backoff = backoff_delay(base, attempt);
    match asked {
        Some(asked) if asked > MAX_RETRY_AFTER => None,
        Some(asked) => Some(asked.max(backoff)),
        None => Some(backoff),
    }
}

/// How long to wait after failed attempt `attempt` (0-based): `base * 2^attempt`, capped
/// at [`MAX_BACKOFF`], times a random factor in [0.5, 1.5) so that many transfers failing
/// together (a mirror hiccup) do not all come back at the same instant.
pub(super) fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let exponential = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    let jitter: f64 = rand::rng().random_range(0.5..1.5);
    exponential.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 0..5 {
            let nominal = base * (1 << attempt);
            for _ in 0..20 {
                let delay = backoff_delay(base, attempt);
                assert!(
                    delay >= nominal / 2 && delay < nominal * 3 / 2,
                    "{attempt}: {delay:?}"
                );
            }
        }
        assert!(backoff_delay(base, 40) < MAX_BACKOFF * 3 / 2);
        assert!(backoff_delay(base, 40) >= MAX_BACKOFF / 2);
    }
}
