//! Passive health: a backend that keeps refusing connections leaves the rotation for a while.
//!
//! Only failures the gateway itself observes count (connect errors), not upstream statuses,
//! so an application's 500s never eject it. After [`EJECT_AFTER`] consecutive connect failures
//! the backend is skipped for [`EJECT_FOR`]; then it gets traffic again, and one more failure
//! ejects it again at once. State lives in the model, so a config reload starts afresh.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Consecutive connect failures that eject a backend.
pub const EJECT_AFTER: u32 = 5;
/// How long an ejected backend is skipped.
pub const EJECT_FOR: Duration = Duration::from_secs(10);

/// Milliseconds since the first call in this process, monotonic.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Health of one backend entry.
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// 0 when not ejected; else `now_ms()` deadline + 1.
    ejected_until: AtomicU64,
}

impl Health {
    /// Whether the backend takes traffic now.
    pub fn is_available(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until == 0 || now_ms() >= until
    }

    /// The upstream answered (any status): the failure streak ends.
    pub fn record_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.ejected_until.load(Ordering::Relaxed) != 0 {
            self.ejected_until.store(0, Ordering::Relaxed);
        }
    }

    /// A connection attempt failed. Returns true when this failure ejected the backend.
    pub fn record_connect_failure(&self) -> bool {
        let streak = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if streak >= EJECT_AFTER {
            // Keep the streak at the threshold: after the ejection one more failure re-ejects.
            self.failures.store(EJECT_AFTER - 1, Ordering::Relaxed);
            let until = now_ms().saturating_add(EJECT_FOR.as_millis() as u64).max(1);
            self.ejected_until.store(until, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejects_after_the_streak_and_recovers_on_success() {
        let h = Health::default();
        for _ in 0..EJECT_AFTER - 1 {
            assert!(!h.record_connect_failure());
            assert!(h.is_available());
        }
        assert!(h.record_connect_failure());
        assert!(!h.is_available());
        h.record_success();
        assert!(h.is_available());
    }
}
