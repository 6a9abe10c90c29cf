//! The calls a client can cancel with a `notifications/cancelled` of its own (a
//! separate POST on Streamable HTTP, a message POST on legacy HTTP+SSE), by
//! (session, request id).
//!
//! An entry lives exactly as long as its call. Registering returns a
//! [`Registration`] that the call's task holds; dropping it removes the entry,
//! however the call ends: with its result, cancelled, or abandoned by a client
//! that left before the response began (its request future is dropped, which
//! cancels the call and ends the task). The entry is not tied to the HTTP
//! response: a response that turned into an SSE stream at the first progress
//! notification belongs to a call that is still running, and still cancellable.
//!
//! The number of entries is reported through [`MuxMetrics::calls_in_flight`] (the
//! gateway's `switchboard_mcp_calls_in_flight`), so a leak would show.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashMap;
use rmcp::model::RequestId;
use tokio_util::sync::CancellationToken;

use crate::metrics::MuxMetrics;

type Key = (Arc<str>, RequestId);

/// The cancellable calls of one endpoint.
pub(crate) struct Inflight {
    calls: Mutex<HashMap<Key, Entry>>,
    /// Tells registrations apart when a client reuses a request id.
    next_serial: AtomicU64,
    metrics: Arc<dyn MuxMetrics>,
}

struct Entry {
    cancel: CancellationToken,
    serial: u64,
}

/// Keeps a call's entry; dropping it removes the entry (if it is still this call's).
#[must_use = "the entry is removed when the registration is dropped"]
pub(crate) struct Registration {
    inflight: Arc<Inflight>,
    key: Key,
    serial: u64,
}

impl Inflight {
    pub(crate) fn new(metrics: Arc<dyn MuxMetrics>) -> Self {
        Self {
            calls: Mutex::default(),
            next_serial: AtomicU64::new(0),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the call `id` of `session`, cancelled through `cancel`. A client that reuses
    /// the id of a call still running replaces it here: the newer call is the one a cancel
    /// names, and the older call's registration then removes nothing when it ends.
    pub(crate) fn register(
        self: &Arc<Self>,
        session: Arc<str>,
        id: RequestId,
        cancel: CancellationToken,
    ) -> Registration {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let key = (session, id);
        let replaced = self
            .lock()
            .insert(key.clone(), Entry { cancel, serial })
            .is_some();
        if !replaced {
            self.metrics.calls_in_flight(1);
        }
        Registration {
            inflight: self.clone(),
            key,
            serial,
        }
    }

    /// Cancels the call `id` of `session`, if it is in flight. Its entry goes at once (a
    /// second cancel finds nothing); the call ends as soon as it sees the cancellation.
    pub(crate) fn cancel(&self, session: &str, id: RequestId) -> bool {
        let entry = self.lock().remove(&(Arc::from(session), id));
        match entry {
            Some(e) => {
                self.metrics.calls_in_flight(-1);
                e.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every call of `session` (its legacy SSE stream closed).
    pub(crate) fn cancel_session(&self, session: &str) {
        let mut ended = Vec::new();
        self.lock().retain(|(s, _), e| {
            let keep = &**s != session;
            if !keep {
                ended.push(e.cancel.clone());
            }
            keep
        });
        if !ended.is_empty() {
            self.metrics.calls_in_flight(-(ended.len() as i64));
        }
        for t in ended {
            t.cancel();
        }
    }

    /// Calls in flight now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut calls = self.inflight.lock();
        let ours = calls
            .get(&self.key)
            .is_some_and(|e| e.serial == self.serial);
        if ours {
            calls.remove(&self.key);
            drop(calls);
            self.inflight.metrics.calls_in_flight(-1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MuxStats;

    #[test]
    fn entries_go_with_their_registration_and_a_reused_id_is_not_removed_by_the_old_call() {
        let stats = Arc::new(MuxStats::default());
        let inflight = Arc::new(Inflight::new(stats.clone()));
        let first = CancellationToken::new();
        let old = inflight.register("s".into(), RequestId::Number(1), first.clone());
        let second = CancellationToken::new();
        let new = inflight.register("s".into(), RequestId::Number(1), second.clone());
        assert_eq!((inflight.len(), stats.calls_in_flight()), (1, 1));
        drop(old);
        assert_eq!(inflight.len(), 1, "the newer call's entry stays");
        assert!(inflight.cancel("s", RequestId::Number(1)));
        assert!(second.is_cancelled() && !first.is_cancelled());
        assert!(!inflight.cancel("s", RequestId::Number(1)), "gone");
        drop(new);
        assert_eq!((inflight.len(), stats.calls_in_flight()), (0, 0));

        let a = CancellationToken::new();
        let _a = inflight.register("a".into(), RequestId::Number(1), a.clone());
        let _b = inflight.register("b".into(), RequestId::Number(1), CancellationToken::new());
        inflight.cancel_session("a");
        assert!(a.is_cancelled());
        assert_eq!((inflight.len(), stats.calls_in_flight()), (1, 1));
    }
}
