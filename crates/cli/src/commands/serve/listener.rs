//! The accept loop of `serve` (each connection then runs in `connection.rs`): HTTP/1.1
//! connections with a header-read timeout and a cap on how many are open, so idle or
//! slow clients cannot take every file descriptor.
//!
//! `axum::serve` keeps a connection for as long as the client does: 1,100 idle sockets
//! under the common 1024-descriptor limit made every other client time out. Here:
//!
//! - **Header timeout.** A connection must send a request's whole head within
//!   `header_timeout` of opening, and of its previous response ending (hyper's
//!   `header_read_timeout` restarts whenever it waits for a head), so it is also the
//!   idle keep-alive timeout. A download in progress is not limited by it.
//! - **Send timeout.** A whole-file response (the connection loop's) whose client takes
//!   no byte for `send_timeout` ends the connection: a reader that stopped reading is
//!   counted busy (never evicted), so without it such readers could hold every slot.
//!   Responses through hyper (ranges, errors) are not covered.
//! - **Connection cap.** At most `max_connections` are open. When one more arrives at
//!   the cap, the oldest *idle* connection (no request in progress) is closed to make
//!   room, so a flood of idle sockets never locks out a client that sends a request;
//!   when every open connection is busy the new one is closed at once (its descriptor is
//!   freed, and the client can retry).
//! - **Running out of descriptors** in `accept` is waited out (100 ms), not fatal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::{Served, connection};

/// How `serve` treats connections (the defaults are the command line's, in `cli.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest wait for a request's head (also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// The longest a whole-file response may wait for the client to take a byte.
    pub send_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Proxy mirrors: the longest a client waits for a fill before a 504.
    pub proxy_timeout: Duration,
    /// Proxy mirrors: fills in flight at most (beyond: 503).
    pub proxy_fills: usize,
}

/// One open connection: how many of its requests are in progress (a response counts
/// until its body has been written), and how to close it.
#[derive(Default)]
pub struct Conn {
    busy: AtomicUsize,
    close: Notify,
}

/// The open connections, oldest first (ids only grow).
#[derive(Default)]
struct Open {
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Room for one more: `Some(new connection)` when there is room (after closing the
    /// oldest idle one if at the cap), `None` when every connection is busy.
    fn admit(&self, id: u64, cap: usize) -> Option<Arc<Conn>> {
        let mut conns = self.lock();
        if conns.len() >= cap {
            let idle = conns
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            let evicted = conns.remove(&idle).expect("just found");
            // `notify_one` stores a permit: the close is not lost if the task is not
            // waiting yet.
            evicted.close.notify_one();
        }
        let conn = Arc::new(Conn::default());
        conns.insert(id, Arc::clone(&conn));
        Some(conn)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    served: Arc<Served>,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            // EMFILE/ENFILE (and aborted handshakes): the kernel keeps the connection
            // queued; try again shortly instead of ending the server.
            Err(error) => {
                tracing::warn!(%error, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Headers and body leave in separate writes: with Nagle's algorithm on, the
        // second waits for the client's delayed ACK (~40 ms a request on one connection).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        next_id += 1;
        let id = next_id;
        let Some(conn) = open.admit(id, limits.max_connections) else {
            tracing::warn!(%peer, open = open.len(), "every connection is busy; refusing one");
            drop(stream);
            continue;
        };
        let open = Arc::clone(&open);
        let served = Arc::clone(&served);
        let router = router.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = connection::serve(stream, served, router, &conn, limits) => {}
                // Evicted while idle: dropping the connection closes the socket.
                () = conn.close.notified() => tracing::debug!("idle connection closed to make room"),
            }
            open.remove(id);
        });
    }
}

/// A request in progress on a connection, until its response body is done.
pub struct Busy(Arc<Conn>);

impl Busy {
    pub fn enter(conn: &Arc<Conn>) -> Self {
        conn.busy.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(conn))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let open = Open::default();
        let first = open.admit(1, 2).expect("room");
        let second = open.admit(2, 2).expect("room");
        let _busy = Busy::enter(&first);
        // The first is busy: the second, idle, is closed for the third.
        let _third = open.admit(3, 2).expect("an idle one makes room");
        assert_eq!(open.len(), 2);
        assert!(!open.lock().contains_key(&2));
        // Its close is waiting for it even though nobody listened yet.
        let notified = second.close.notified();
        futures_poll_ready(notified);
        // Every connection busy: no room.
        let _busy_third = Busy::enter(&open.lock()[&3].clone());
        assert!(open.admit(4, 2).is_none());
    }

    /// Poll a future once and require it to be ready.
    fn futures_poll_ready(future: impl std::future::Future<Output = ()>) {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        assert!(future.as_mut().poll(&mut cx).is_ready());
    }
}
