//! A provider's live state: whether it is set aside, and its load.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Why a provider was set aside, which decides the status a client gets when every provider
/// is: `429` when they all limited the rate, `503` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It answered 429.
    RateLimited,
    /// It answered 5xx, refused the connection, or did not answer in time.
    Unavailable,
}

/// The live state of one provider, shared by every request.
#[derive(Debug, Default)]
pub struct ProviderState {
    /// 0: in service; else [`millis`] when it comes back, plus 1.
    aside_until: AtomicU64,
    /// The [`Failure`] that set it aside (0 rate limited, 1 unavailable).
    aside_for: AtomicU8,
    /// Requests sent and not yet answered (until the response headers).
    in_flight: AtomicU32,
    /// EWMA of the time to response headers, in microseconds (0: no sample yet).
    ewma_micros: AtomicU64,
}

/// Milliseconds since the first call in this process, monotonic.
pub fn millis(at: Instant) -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(at.saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}

/// The weight of a new latency sample in the EWMA.
const EWMA_NEW: f64 = 0.3;
/// The latency a provider without samples is assumed to have, so that a new provider is
/// neither shunned nor flooded.
const UNKNOWN_LATENCY_MICROS: u64 = 1_000;

impl ProviderState {
    /// When it comes back into service, if it is set aside at `now`.
    pub fn set_aside_until(&self, now: Instant) -> Option<(u64, Failure)> {
        let until = self.aside_until.load(Ordering::Relaxed);
        let now = millis(now);
        if until == 0 || now + 1 >= until {
            return None;
        }
        let why = match self.aside_for.load(Ordering::Relaxed) {
            0 => Failure::RateLimited,
            _ => Failure::Unavailable,
        };
        Some((until - 1 - now, why))
    }

    /// Leaves the provider out for `span` from `now` (a later deadline already set wins).
    pub fn set_aside(&self, now: Instant, span: Duration, why: Failure) {
        let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        let until = millis(now).saturating_add(span_ms).saturating_add(1);
        let prev = self.aside_until.fetch_max(until, Ordering::Relaxed);
        if prev < until {
            let code = match why {
                Failure::RateLimited => 0,
                Failure::Unavailable => 1,
            };
            self.aside_for.store(code, Ordering::Relaxed);
        }
    }

    /// Back in service at once (it answered).
    pub fn restore(&self) {
        if self.aside_until.load(Ordering::Relaxed) != 0 {
            self.aside_until.store(0, Ordering::Relaxed);
        }
    }

    /// The load score: expected latency times the requests it would queue behind, divided by
    /// the weight. Lower is better.
    pub fn score(&self, weight: u32) -> f64 {
        let latency = match self.ewma_micros.load(Ordering::Relaxed) {
            0 => UNKNOWN_LATENCY_MICROS,
            l => l,
        };
        let queued = f64::from(self.in_flight.load(Ordering::Relaxed)) + 1.0;
        latency as f64 * queued / f64::from(weight.max(1))
    }

    /// Counts a request in flight until the guard is dropped, which also records how long the
    /// provider took when [`InFlight::answered`] was called.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            state: self.clone(),
            started: Instant::now(),
        }
    }

    fn record_latency(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .ewma_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old as f64 * (1.0 - EWMA_NEW) + sample as f64 * EWMA_NEW) as u64
                })
            });
    }
}

/// One request in flight to a provider.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<ProviderState>,
    started: Instant,
}

impl InFlight {
    /// The provider's response headers arrived: their latency goes into the EWMA.
    pub fn answered(&self) {
        self.state.record_latency(self.started.elapsed());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
