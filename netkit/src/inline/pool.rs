//! The idle connections of an [`super::InlineClient`], per `(scheme, authority)`.
//!
//! Nothing drives an idle connection (there is no task per connection), so the pool learns
//! that one died only when it looks: a checkout polls the connection future once with a no-op
//! waker, which reads the server's FIN if one came, and discards it then. Expired connections
//! are dropped when the pool is touched: those of the key at hand at once, all keys at most
//! every half idle timeout, so an unused host does not keep its sockets open for ever.
//!
//! Idle connections are kept per thread: a checkout only returns a connection given back on
//! the same thread. A socket stays registered with the I/O driver of the runtime that opened
//! it; used from another worker's runtime (the gateway runs one single-threaded runtime per
//! core), each of its readiness events would wake the opening worker just to wake the user,
//! two context switches per read. Under load that cross-thread traffic was a large part of the
//! gateway's CPU per MCP call. The price is up to one set of idle connections per worker.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use http::uri::{Authority, Scheme};
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;

use super::body::Drive;
use super::BoxError;
use crate::PairKey;

/// Where a connection goes: the same scheme and authority share connections.
pub(super) type Key = (Scheme, Authority);

/// Sweeps of every key happen at most this often, and at least every half idle timeout.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(10);

/// One HTTP/1.1 connection: the handle requests are sent on and the future that does its I/O,
/// which whoever holds the pair must poll. The future is hyper's `Connection` with upgrade
/// support (a `101` hands its socket over when the future completes), whose type hyper does
/// not name, hence the box.
pub(super) struct Pooled<B: Body + 'static> {
    pub(super) tx: SendRequest<B>,
    pub(super) conn: ConnectionFuture,
}

pub(super) type ConnectionFuture = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

impl<B> Pooled<B>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Polls the connection once with a no-op waker (so no task of ours is woken by it while
    /// it waits in the pool): whether it is still open and can take a request. A closed one
    /// must be dropped, as its future has completed.
    fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.conn.as_mut().poll(&mut cx).is_pending() && !self.tx.is_closed() && self.tx.is_ready()
    }
}

struct Idle<B: Body + 'static> {
    conn: Pooled<B>,
    since: Instant,
}

struct Idles<B: Body + 'static> {
    /// Per thread that gave them back (see the module docs), then per key. A queue that
    /// empties stays (until a sweep), so the checkout and checkin of every request do not
    /// remove and re-insert their key.
    by_key: HashMap<(ThreadId, Key), VecDeque<Idle<B>>>,
    next_sweep: Instant,
}

/// The idle connections, newest at the back of each queue.
pub(super) struct Pool<B: Body + 'static> {
    idle: Mutex<Idles<B>>,
    idle_timeout: Duration,
    max_idle_per_key: usize,
    /// Whether a checkout checks that a connection is still open (always, but for a test
    /// that needs a dead connection to be taken).
    probe: bool,
}

impl<B> Pool<B>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    pub(super) fn new(idle_timeout: Duration, max_idle_per_key: usize, probe: bool) -> Self {
        Pool {
            idle: Mutex::new(Idles {
                by_key: HashMap::new(),
                next_sweep: Instant::now() + sweep_interval(idle_timeout),
            }),
            idle_timeout,
            max_idle_per_key,
            probe,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Idles<B>> {
        // A panic elsewhere while holding the lock leaves the map consistent: keep going.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest idle connection to `key` given back on this thread that is still open, if
    /// any.
    pub(super) fn checkout(&self, key: &Key) -> Option<Pooled<B>> {
        let thread = thread::current().id();
        let slot = PairKey(&thread, key);
        let mut garbage = Vec::new();
        let found = loop {
            let candidate = {
                let mut idles = self.lock();
                let now = Instant::now();
                self.sweep_if_due(&mut idles, now, &mut garbage);
                let candidate = idles.by_key.get_mut(&slot)?.pop_back();
                match candidate {
                    Some(idle) if now.duration_since(idle.since) < self.idle_timeout => idle.conn,
                    Some(idle) => {
                        // The newest is expired, so all of them are.
                        garbage.push(idle.conn);
                        if let Some(rest) = idles.by_key.remove(&slot) {
                            garbage.extend(rest.into_iter().map(|i| i.conn));
                        }
                        break None;
                    }
                    None => break None,
                }
            };
            // Probed outside the lock: a poll may read (the FIN of a closed connection).
            let mut candidate = candidate;
            if !self.probe || candidate.usable() {
                break Some(candidate);
            }
            garbage.push(candidate);
        };
        drop(garbage); // closes the sockets, outside the lock
        found
    }

    /// Puts a connection whose exchange is over back, for this thread's checkouts, unless it
    /// closed, cannot take another request, or `key` already has its maximum of idle
    /// connections on this thread.
    pub(super) fn checkin(&self, key: Key, mut conn: Pooled<B>) {
        if self.max_idle_per_key == 0 || !conn.usable() {
            return;
        }
        let thread = thread::current().id();
        let mut garbage = Vec::new();
        {
            let mut idles = self.lock();
            let now = Instant::now();
            self.sweep_if_due(&mut idles, now, &mut garbage);
            let (_, queue) = idles
                .by_key
                .raw_entry_mut()
                .from_key(&PairKey(&thread, &key))
                .or_insert_with(|| ((thread, key.clone()), VecDeque::new()));
            while queue
                .front()
                .is_some_and(|i| now.duration_since(i.since) >= self.idle_timeout)
            {
                garbage.extend(queue.pop_front().map(|i| i.conn));
            }
            if queue.len() < self.max_idle_per_key {
                queue.push_back(Idle { conn, since: now });
            } else {
                garbage.push(conn);
            }
        }
        drop(garbage);
    }

    /// Drops every expired connection of every key, when the last sweep is old enough.
    fn sweep_if_due(&self, idles: &mut Idles<B>, now: Instant, garbage: &mut Vec<Pooled<B>>) {
        if now < idles.next_sweep {
            return;
        }
        idles.next_sweep = now + sweep_interval(self.idle_timeout);
        idles.by_key.retain(|_, queue| {
            while queue
                .front()
                .is_some_and(|i| now.duration_since(i.since) >= self.idle_timeout)
            {
                garbage.extend(queue.pop_front().map(|i| i.conn));
            }
            !queue.is_empty()
        });
    }

    /// How many idle connections the pool holds (expired ones included until a sweep).
    pub(super) fn idle_count(&self) -> usize {
        self.lock().by_key.values().map(VecDeque::len).sum()
    }
}

fn sweep_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 2).max(MIN_SWEEP_INTERVAL)
}

/// A connection lent to one exchange: the response body drives it and gives it back.
pub(super) struct Lease<B: Body + 'static> {
    pub(super) pool: Arc<Pool<B>>,
    pub(super) key: Key,
    pub(super) conn: Pooled<B>,
}

impl<B> Drive for Lease<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn poll_connection(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Ok: closed as asked (`Connection: close`); Err: the body gets the error from hyper.
        self.conn.conn.as_mut().poll(cx).map(|_| ())
    }

    fn release(self: Box<Self>) {
        let Lease { pool, key, conn } = *self;
        pool.checkin(key, conn);
    }
}
