//! Coalescing fills: many clients missing the same file cause one upstream fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::{ProxyError, ProxyFailure, ProxySource};

type Outcome = Option<Result<(), ProxyError>>;

/// The fills in flight, by key.
///
/// The first client to miss a key spawns the fill as a task of its own (so a client
/// that hangs up never cancels it for the others) and every client, first or later,
/// waits for its outcome up to its own deadline. The entry goes when the fill ends: a
/// failed fill is tried again by the next request, never remembered as a failure.
#[derive(Debug)]
pub struct Inflight {
    fills: Arc<Mutex<HashMap<String, watch::Receiver<Outcome>>>>,
    limit: usize,
}

impl Inflight {
    /// At most `limit` fills at once; a miss beyond is [`ProxyFailure::Busy`].
    pub fn new(limit: usize) -> Self {
        Self {
            fills: Arc::default(),
            limit: limit.max(1),
        }
    }

    /// Fills running now.
    pub fn running(&self) -> usize {
        self.fills
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Fill `path` of `source` (coalesced on `key`) and wait up to `wait` for it. Must
    /// be called within a tokio runtime.
    pub async fn fill(
        &self,
        source: &Arc<dyn ProxySource>,
        key: &str,
        path: &str,
        wait: Duration,
    ) -> Result<(), ProxyError> {
        // A file named by its digest is one fill whatever mirror asks (two would write
        // the same waiting file); anything else is the mirror's own.
        let key = if key.starts_with("object:") {
            key.to_owned()
        } else {
            format!("{}:{key}", source.name())
        };
        let mut outcome = {
            let mut fills = self.fills.lock().unwrap_or_else(PoisonError::into_inner);
            match fills.get(&key) {
                Some(running) => running.clone(),
                None => {
                    if fills.len() >= self.limit {
                        return Err(ProxyError::new(
                            ProxyFailure::Busy,
                            format!("{} fills in flight already", fills.len()),
                        ));
                    }
                    let (tx, rx) = watch::channel(None);
                    fills.insert(key.clone(), rx.clone());
                    let task = Arc::clone(source).fill(path.to_owned());
                    let entry = Entry {
                        fills: Arc::clone(&self.fills),
                        key,
                    };
                    tokio::spawn(async move {
                        let result = task.await;
                        // Removed before the outcome is sent: a waiter that wakes and
                        // looks again finds the result stored, or starts a new fill.
                        drop(entry);
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        match tokio::time::timeout(wait, outcome.wait_for(Option::is_some)).await {
            Ok(Ok(done)) => done.clone().unwrap_or(Ok(())),
            Ok(Err(_)) => Err(ProxyError::new(
                ProxyFailure::Internal,
                format!("the fill of {path} ended without an outcome"),
            )),
            Err(_) => Err(ProxyError::new(
                ProxyFailure::TimedOut,
                format!("upstream did not deliver {path} within {}s", wait.as_secs()),
            )),
        }
    }
}

/// A fill's entry in the map, removed when its task ends however it ends (a fill that
/// panics must not hold its key for ever).
struct Entry {
    fills: Arc<Mutex<HashMap<String, watch::Receiver<Outcome>>>>,
    key: String,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.fills
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::proxy::Lookup;

    /// Counts fills; each takes `delay` and fails when `fail` is set.
    struct Slow {
        fills: AtomicUsize,
        delay: Duration,
        fail: bool,
    }

    impl ProxySource for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn lookup(&self, _path: &str) -> Lookup {
            Lookup::NotListed
        }
        fn pulled(
            &self,
            _key: Option<&crate::signing::SigningKey>,
        ) -> Result<crate::proxy::Pulled, crate::error::RepositoryError> {
            unreachable!("not asked in these tests")
        }
        fn fill(self: Arc<Self>, _path: String) -> BoxFuture<'static, Result<(), ProxyError>> {
            Box::pin(async move {
                self.fills.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                if self.fail {
                    Err(ProxyError::new(ProxyFailure::Refused, "bad digest"))
                } else {
                    Ok(())
                }
            })
        }
    }

    fn slow(delay_ms: u64, fail: bool) -> Arc<Slow> {
        Arc::new(Slow {
            fills: AtomicUsize::new(0),
            delay: Duration::from_millis(delay_ms),
            fail,
        })
    }

    #[tokio::test]
    async fn many_waiters_one_fill_and_the_entry_goes_when_it_ends() {
        let counted = slow(100, false);
        let source: Arc<dyn ProxySource> = counted.clone();
        let inflight = Arc::new(Inflight::new(8));
        let mut waiters = Vec::new();
        for _ in 0..20 {
            let (inflight, source) = (Arc::clone(&inflight), Arc::clone(&source));
            waiters.push(tokio::spawn(async move {
                inflight
                    .fill(&source, "k", "p", Duration::from_secs(5))
                    .await
            }));
        }
        for waiter in waiters {
            waiter.await.expect("joined").expect("filled");
        }
        assert_eq!(counted.fills.load(Ordering::SeqCst), 1);
        assert_eq!(inflight.running(), 0);
        // A later miss fills again (nothing is remembered).
        inflight
            .fill(&source, "k", "p", Duration::from_secs(5))
            .await
            .expect("filled");
        assert_eq!(counted.fills.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_waiter_times_out_and_the_fill_goes_on_for_the_next() {
        let counted = slow(300, false);
        let source: Arc<dyn ProxySource> = counted.clone();
        let inflight = Inflight::new(8);
        let early = inflight
            .fill(&source, "k", "p", Duration::from_millis(20))
            .await
            .expect_err("too early");
        assert_eq!(early.failure, ProxyFailure::TimedOut);
        // The same fill, still running, serves the next waiter.
        inflight
            .fill(&source, "k", "p", Duration::from_secs(5))
            .await
            .expect("filled");
        assert_eq!(counted.fills.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_reach_every_waiter_and_the_limit_holds() {
        let source: Arc<dyn ProxySource> = slow(100, true);
        let inflight = Arc::new(Inflight::new(1));
        let first = {
            let (inflight, source) = (Arc::clone(&inflight), Arc::clone(&source));
            tokio::spawn(async move {
                inflight
                    .fill(&source, "a", "p", Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let busy = inflight
            .fill(&source, "b", "q", Duration::from_secs(5))
            .await
            .expect_err("over the limit");
        assert_eq!(busy.failure, ProxyFailure::Busy);
        let refused = first.await.expect("joined").expect_err("refused");
        assert_eq!(refused.failure, ProxyFailure::Refused);
        assert_eq!(refused.reason, "bad digest");
    }
}
