//! Metrics hooks, without a metrics dependency.
//!
//! The multiplexer reports through [`MuxMetrics`]; the gateway implements it
//! on top of its Prometheus registry and adds the labels only it knows
//! (`route` for `switchboard_mcp_requests_total{route,target,method}` and
//! `switchboard_mcp_calls_in_flight{route}`, `backend` for
//! `switchboard_mcp_targets_up{backend,target}`).
//! [`MuxStats`] is a ready-made in-memory implementation for tests and
//! embedders that just want to read numbers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// How one upstream request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The target answered with a result (a tool result with `isError` counts here).
    Ok,
    /// The target answered with a JSON-RPC error, or the transport failed.
    Error,
    /// No answer within the target's timeout.
    Timeout,
}

/// Receives the multiplexer's measurements. Calls are cheap and synchronous;
/// implementations must not block.
pub trait MuxMetrics: Send + Sync + 'static {
    /// One request to `target` for `method` (`tools/list`, `tools/call`, ...) finished.
    fn request(&self, target: &str, method: &str, outcome: Outcome) {
        let _ = (target, method, outcome);
    }
    /// `target` became reachable (`true`) or unreachable (`false`).
    fn target_up(&self, target: &str, up: bool) {
        let _ = (target, up);
    }
    /// The number of calls in flight that a client can cancel by notification changed by
    /// `delta` (+1: one began; -1: one ended, was cancelled or was abandoned). A gauge: it
    /// returns to zero when nothing runs, so a leaked call would show.
    fn calls_in_flight(&self, delta: i64) {
        let _ = delta;
    }
    /// A request was refused before any target saw it, for its `Host` (`reason` =
    /// `host`: DNS-rebinding protection) or its `Origin` (`origin`).
    fn refused(&self, reason: &str) {
        let _ = reason;
    }
    /// `mcpAuthorization` denied a request for `method` (`tools/call`, `prompts/get`, ...);
    /// items left out of a list are not counted.
    fn authorization_denied(&self, method: &str) {
        let _ = method;
    }
    /// An `mcpAuthorization` rule failed to evaluate (it granted nothing).
    fn authorization_rule_error(&self) {}
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl MuxMetrics for NoMetrics {}

/// Counts in memory; read with [`MuxStats::requests`], [`MuxStats::up`] and
/// [`MuxStats::calls_in_flight`].
#[derive(Debug, Default)]
pub struct MuxStats {
    requests: Mutex<BTreeMap<(String, String, Outcome), u64>>,
    up: Mutex<BTreeMap<String, bool>>,
    in_flight: AtomicI64,
}

impl MuxStats {
    /// Requests counted for `(target, method, outcome)`.
    pub fn requests(&self, target: &str, method: &str, outcome: Outcome) -> u64 {
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(target.to_owned(), method.to_owned(), outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Last reported state of `target`; `None` before its first use.
    pub fn up(&self, target: &str) -> Option<bool> {
        let map = self.up.lock().unwrap_or_else(|e| e.into_inner());
        map.get(target).copied()
    }

    /// Cancellable calls in flight (the sum of the reported changes).
    pub fn calls_in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::SeqCst)
    }
}

impl MuxMetrics for MuxStats {
    fn request(&self, target: &str, method: &str, outcome: Outcome) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((target.to_owned(), method.to_owned(), outcome))
            .or_insert(0) += 1;
    }

    fn target_up(&self, target: &str, up: bool) {
        let mut map = self.up.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(target.to_owned(), up);
    }

    fn calls_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::SeqCst);
    }
}
