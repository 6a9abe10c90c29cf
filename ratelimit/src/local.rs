//! `localRateLimit`: token buckets in this replica's memory, one per key (the route, an
//! identity or a tool name, as the gateway chooses).
//!
//! A hand-written map rather than `governor`: governor's GCRA adds tokens one at a time
//! (`fillInterval / tokensPerFill` apart) where this config promises `tokensPerFill` at once
//! every `fillInterval`, and the global limiter's Lua script must follow the same rule
//! ([`crate::bucket`]) so that moving a limit from local to global changes nothing but scope.
//!
//! Memory is bounded: the map is split into shards (one lock each, held for a few
//! instructions, never across an await); a shard drops its full buckets (which equal absent
//! ones) at most once per time-to-full of the bucket, and when a shard is at capacity even
//! so, it drops its oldest-filled eighth (those callers get a full bucket again: the price of
//! a bound, paid only by a flood of distinct keys).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::bucket::{Bucket, State};
use crate::clock::{Clock, MonotonicClock};
use crate::decision::{Decision, Outcome};

/// Number of shards (a power of two).
const SHARDS: usize = 16;

/// Default bound on the number of keys one limiter keeps.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct Shard {
    buckets: HashMap<Box<str>, State>,
    next_sweep: Duration,
}

/// In-memory token buckets for one configured limit.
pub struct LocalLimiter {
    bucket: Bucket,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    max_keys_per_shard: usize,
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("bucket", &self.bucket)
            .field("keys", &self.len())
            .finish()
    }
}

impl LocalLimiter {
    /// A limiter on the process's monotonic clock, keeping at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(bucket: Bucket) -> Self {
        Self::with_clock(
            bucket,
            Arc::new(MonotonicClock::default()),
            DEFAULT_MAX_KEYS,
        )
    }

    /// A limiter on the given clock, keeping at most about `max_keys` keys (rounded up to a
    /// multiple of the shard count).
    pub fn with_clock(bucket: Bucket, clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self {
            bucket,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            clock,
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// The bucket's parameters.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Takes one token from `key`'s bucket.
    pub fn check(&self, key: &str) -> Decision {
        let now = self.clock.now();
        let b = &self.bucket;
        let idx = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        // A panic while holding the lock cannot leave a bucket half-written (State is Copy
        // and written whole), so a poisoned lock is still sound to use.
        let mut shard = self.shards[idx]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = match shard.buckets.get_mut(key) {
            Some(state) => state.take(b, now),
            None => {
                self.make_room(&mut shard, now);
                let mut state = State::full(b, now);
                let taken = state.take(b, now);
                shard.buckets.insert(key.into(), state);
                taken
            }
        };
        drop(shard);
        Decision {
            allowed: taken.allowed,
            limit: b.max_tokens,
            remaining: taken.remaining,
            retry_after: (!taken.allowed).then_some(taken.next_fill),
            reset_after: taken.next_fill,
            outcome: Outcome::Checked,
        }
    }

    /// Before a new key goes in: drops full buckets when a sweep is due or the shard is at
    /// capacity, then the oldest-filled eighth if it still is.
    fn make_room(&self, shard: &mut Shard, now: Duration) {
        let b = &self.bucket;
        let at_capacity = shard.buckets.len() >= self.max_keys_per_shard;
        if at_capacity || now >= shard.next_sweep {
            shard.buckets.retain(|_, s| !s.is_full_at(b, now));
            shard.next_sweep = now + b.time_to_full().max(Duration::from_secs(1));
        }
        let len = shard.buckets.len();
        if len >= self.max_keys_per_shard {
            let mut fills: Vec<Duration> = shard.buckets.values().map(|s| s.last_fill).collect();
            let drop_n = (len / 8).max(1);
            let (_, cutoff, _) = fills.select_nth_unstable(drop_n - 1);
            let cutoff = *cutoff;
            let mut dropped = 0;
            shard.buckets.retain(|_, s| {
                let keep = s.last_fill > cutoff || dropped >= drop_n;
                if !keep {
                    dropped += 1;
                }
                keep
            });
        }
    }

    /// Number of keys held (for tests and a gauge).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .buckets
                    .len()
            })
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
