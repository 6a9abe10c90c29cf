use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;

const MS: Duration = Duration::from_millis(1);

fn limiter(max: u64, per_fill: u64, ms: u64, max_keys: usize) -> (LocalLimiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let b = Bucket {
        max_tokens: max,
        tokens_per_fill: per_fill,
        fill_interval: Duration::from_millis(ms),
    };
    (LocalLimiter::with_clock(b, clock.clone(), max_keys), clock)
}

#[test]
fn a_burst_of_max_tokens_passes_and_the_next_is_denied() {
    let (l, _) = limiter(10, 10, 1000, 100);
    for i in 0..10 {
        let d = l.check("k");
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 9 - i);
        assert_eq!(d.limit, 10);
        assert_eq!(d.retry_after, None);
    }
    let d = l.check("k");
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after, Some(1000 * MS));
}

#[test]
fn refill_adds_tokens_per_fill_at_each_interval_exactly() {
    let (l, clock) = limiter(5, 2, 100, 100);
    for _ in 0..5 {
        assert!(l.check("k").allowed);
    }
    clock.advance(99 * MS);
    let d = l.check("k");
    assert!(!d.allowed, "one millisecond before the fill");
    assert_eq!(d.retry_after, Some(MS), "retry-after is exact");
    clock.advance(MS);
    assert!(l.check("k").allowed);
    assert!(l.check("k").allowed);
    let d = l.check("k");
    assert!(!d.allowed, "a fill adds tokensPerFill, not more");
    assert_eq!(d.retry_after, Some(100 * MS));
    // Long idle: capped at maxTokens.
    clock.advance(10_000 * MS);
    let allowed = (0..20).filter(|_| l.check("k").allowed).count();
    assert_eq!(allowed, 5);
}

#[test]
fn retry_after_is_when_a_retry_succeeds() {
    let (l, clock) = limiter(3, 1, 250, 100);
    for _ in 0..3 {
        l.check("k");
    }
    clock.advance(70 * MS);
    let d = l.check("k");
    let wait = d.retry_after.expect("denied");
    assert_eq!(wait, 180 * MS);
    clock.advance(wait - MS);
    assert!(!l.check("k").allowed, "just before retry-after");
    clock.advance(MS);
    assert!(l.check("k").allowed, "at retry-after");
}

#[test]
fn keys_have_their_own_buckets() {
    let (l, _) = limiter(2, 1, 1000, 100);
    assert!(l.check("alice").allowed);
    assert!(l.check("alice").allowed);
    assert!(!l.check("alice").allowed);
    assert!(l.check("bob").allowed, "bob is not limited by alice");
    assert!(l.check("bob").allowed);
    assert!(!l.check("bob").allowed);
    assert_eq!(l.len(), 2);
}

#[test]
fn idle_buckets_are_evicted_once_full_again() {
    let (l, clock) = limiter(2, 1, 100, 1000);
    for i in 0..50 {
        l.check(&format!("k{i}"));
    }
    assert_eq!(l.len(), 50);
    // Time to full is 200 ms; sweeps run at most once a second per shard.
    clock.advance(1000 * MS);
    for i in 0..SHARDS * 20 {
        l.check(&format!("new{i}"));
    }
    let old_left = (0..50)
        .filter(|i| {
            let key = format!("k{i}");
            let idx = (l.hasher.hash_one(key.as_str()) as usize) & (SHARDS - 1);
            l.shards[idx]
                .lock()
                .unwrap()
                .buckets
                .contains_key(key.as_str())
        })
        .count();
    assert_eq!(old_left, 0, "full buckets are dropped by the sweep");
}

#[test]
fn eviction_does_not_change_answers() {
    // A bucket that is still filling is kept; a full one is dropped and comes back full.
    let (l, clock) = limiter(3, 1, 100, 1000);
    for _ in 0..3 {
        l.check("k");
    }
    clock.advance(1000 * MS);
    // k is full again (3 fills); the sweep drops it; it answers as a full bucket would.
    for i in 0..SHARDS * 8 {
        l.check(&format!("x{i}"));
    }
    let allowed = (0..5).filter(|_| l.check("k").allowed).count();
    assert_eq!(allowed, 3);
}

#[test]
fn memory_is_bounded_under_a_flood_of_keys() {
    let (l, _) = limiter(10, 1, 60_000, 160);
    for i in 0..10_000 {
        assert!(l.check(&format!("flood{i}")).allowed);
    }
    assert!(l.len() <= 160, "{} keys kept", l.len());
    assert!(
        l.len() >= 100,
        "eviction drops an eighth, not everything: {}",
        l.len()
    );
}

#[test]
fn concurrent_callers_get_exactly_the_budget() {
    let (l, _) = limiter(1000, 1, 60_000, 100);
    let l = Arc::new(l);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || (0..500).filter(|_| l.check("shared").allowed).count())
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 1000);
}
