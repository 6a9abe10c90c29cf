//! Targets that are down: fail fast, and come back on their own.
//!
//! After a failed connect, a target is not tried again by every list (each would wait for the
//! connect to fail, a timeout for a blackholed host, and a list waits for its slowest target)
//! but after a backoff (1 s, doubling, at most [`MAX_BACKOFF`]); lists in between skip it at
//! once with the last error. A request for that target alone (a call) still tries. A probe
//! task per multiplexer ([`probe`]) reconnects such targets when their backoff is over, and
//! re-opens connections whose transport closed while idle (a stdio process that exited), so
//! a target that comes back joins the merged lists (and clients are told) without waiting for
//! a request. The first reconnect after a live connection died is immediate: only failed
//! connects are backed off.
//!
//! The probe also stops the connection of a target with an `idleTimeout` (a stdio process)
//! that has had no request for that long and none in flight; the next use starts it again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{TargetState, Upstream};
use crate::MuxError;

/// The first wait after a failed connect.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between connect attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the probe looks at the targets.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Failed connects of one target, and when the next attempt is due.
#[derive(Default)]
pub(crate) struct Backoff(Mutex<Option<Failing>>);

struct Failing {
    failures: u32,
    next_attempt: Instant,
    last_error: String,
}

impl Backoff {
    fn lock(&self) -> MutexGuard<'_, Option<Failing>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error to fail with at once, if the target is failing and not due yet.
    pub(crate) fn refusal(&self, target: &str) -> Option<MuxError> {
        let guard = self.lock();
        let failing = guard.as_ref()?;
        let wait = failing
            .next_attempt
            .checked_duration_since(Instant::now())?;
        Some(MuxError::Connect {
            target: target.to_owned(),
            message: format!(
                "down ({}); next attempt in {} ms",
                failing.last_error,
                wait.as_millis()
            ),
        })
    }

    /// Records a failed connect.
    pub(crate) fn failed(&self, error: &MuxError) {
        let mut guard = self.lock();
        let failures = guard.as_ref().map_or(0, |f| f.failures) + 1;
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_BACKOFF);
        *guard = Some(Failing {
            failures,
            next_attempt: Instant::now() + wait,
            last_error: match error {
                MuxError::Connect { message, .. } => message.clone(),
                other => other.to_string(),
            },
        });
    }

    /// Records a successful connect.
    pub(crate) fn succeeded(&self) {
        *self.lock() = None;
    }

    /// Whether a failed target's next attempt is due.
    fn due(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|f| f.next_attempt <= Instant::now())
    }
}

/// Milliseconds since this process first asked: a clock that fits in an atomic.
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// When a target was last used, and how many of its requests are in flight.
#[derive(Default)]
pub(crate) struct Usage {
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

/// One request in flight, counted until dropped.
pub(crate) struct InFlight<'a>(&'a Usage);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.last_ms.store(now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Usage {
    /// Counts a request from now until the guard is dropped.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self)
    }

    /// Notes a use now (a new connection counts as one).
    pub(crate) fn touch(&self) {
        self.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether nothing used the target for `idle` and nothing is in flight.
    fn idle_for(&self, idle: Duration) -> bool {
        let quiet = now_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed));
        self.in_flight.load(Ordering::Relaxed) == 0 && u128::from(quiet) >= idle.as_millis()
    }
}

impl Upstream {
    /// Stops the connection if the target has an idle timeout and has been idle that long.
    async fn stop_if_idle(&self) {
        let Some(idle) = self.target.idle_timeout else {
            return;
        };
        if !self.usage.idle_for(idle) {
            return;
        }
        let stopped = {
            let mut slot = self.conn.lock().await;
            // Checked again under the lock: a request may have connected meanwhile.
            if !self.usage.idle_for(idle) {
                return;
            }
            slot.take()
        };
        if let Some(conn) = stopped {
            tracing::info!(mcp_target = %self.name(), ?idle, "MCP target idle; stopped (it starts again on the next use)");
            // Idle, not down: nothing to announce, and the probe leaves it alone.
            self.state.store(0, Ordering::Relaxed);
            conn.close().await;
        }
    }

    /// Whether the probe should connect this target now: it failed and its wait is over, or
    /// its live connection's transport closed.
    async fn needs_probe(&self) -> bool {
        match self.state() {
            TargetState::Idle => false,
            TargetState::Down => self.backoff.due(),
            TargetState::Up => {
                let slot = self.conn.lock().await;
                slot.as_ref().is_some_and(|c| c.peer.is_transport_closed())
            }
        }
    }
}

/// Probes `upstreams` until the multiplexer that owns them is dropped.
pub(crate) async fn probe(upstreams: Weak<Vec<Arc<Upstream>>>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(upstreams) = upstreams.upgrade() else {
            return;
        };
        let mut due = Vec::new();
        for up in upstreams.iter() {
            if up.needs_probe().await {
                due.push(up.clone());
            }
        }
        // A failure is logged and backed off by `connection` itself.
        join_all(due.iter().map(|up| up.connection())).await;
        join_all(upstreams.iter().map(|up| up.stop_if_idle())).await;
        drop(upstreams);
    }
}

/// Whether process `pid` has exited (a zombie not yet reaped, or gone). Linux only, from
/// `/proc`; elsewhere it answers no, and a request to a process that just died fails as it
/// would have anyway.
pub(crate) fn process_exited(pid: u32) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain any.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_has_not_exited_and_an_unknown_one_has() {
        if cfg!(target_os = "linux") {
            assert!(!process_exited(std::process::id()));
            assert!(process_exited(u32::MAX));
        }
    }

    #[test]
    fn failed_connects_back_off_until_one_succeeds() {
        let backoff = Backoff::default();
        assert!(backoff.refusal("t").is_none(), "never failed");
        let error = MuxError::Connect {
            target: "t".into(),
            message: "connection refused".into(),
        };
        backoff.failed(&error);
        let refusal = backoff.refusal("t").expect("backing off");
        assert!(
            refusal.to_string().contains("connection refused"),
            "{refusal}"
        );
        assert!(!backoff.due());
        for _ in 0..10 {
            backoff.failed(&error);
        }
        let wait = backoff
            .lock()
            .as_ref()
            .map(|f| f.next_attempt - Instant::now())
            .unwrap_or_default();
        assert!(wait <= MAX_BACKOFF, "{wait:?}");
        backoff.succeeded();
        assert!(backoff.refusal("t").is_none());
    }
}
