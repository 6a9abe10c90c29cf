//! The token-bucket rule, in one place, that the local limiter runs in memory and
//! `redis_script.lua` runs inside Redis (keep the two the same).
//!
//! A bucket holds at most `max` tokens and starts full. Each decision first adds
//! `per_fill` tokens for every whole `interval` since the last fill (capped at `max`), then
//! takes one token if there is one. A full bucket has no fill phase: its clock restarts at the
//! first take, so "absent" and "full" are the same state (an idle bucket can be dropped
//! without changing any later answer). A denied request can retry at the next fill, which
//! always adds at least one token: that is the exact `Retry-After`.

use std::time::Duration;

use crate::config::LimitConfig;

/// A bucket's validated parameters (built only through [`Bucket::new`] or
/// [`Bucket::from_config`], so a zero interval can never reach a division).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub(crate) max_tokens: u64,
    pub(crate) tokens_per_fill: u64,
    pub(crate) fill_interval: Duration,
}

impl Bucket {
    /// A bucket, or `None` unless `max_tokens` and `tokens_per_fill` are at least 1 and
    /// `fill_interval` at least 1 ms (the rules [`LimitConfig::validate`] reports).
    pub fn new(max_tokens: u64, tokens_per_fill: u64, fill_interval: Duration) -> Option<Self> {
        (max_tokens >= 1 && tokens_per_fill >= 1 && fill_interval >= Duration::from_millis(1))
            .then_some(Self {
                max_tokens,
                tokens_per_fill,
                fill_interval,
            })
    }

    /// The bucket a config entry describes, or `None` when it is invalid.
    pub fn from_config(c: &LimitConfig) -> Option<Self> {
        Self::new(c.max_tokens, c.tokens_per_fill, c.fill_interval.0)
    }

    /// Largest burst.
    pub fn max_tokens(&self) -> u64 {
        self.max_tokens
    }

    /// Tokens added per fill.
    pub fn tokens_per_fill(&self) -> u64 {
        self.tokens_per_fill
    }

    /// Time between fills.
    pub fn fill_interval(&self) -> Duration {
        self.fill_interval
    }

    /// Time for an empty bucket to become full again (how long state must be kept).
    pub fn time_to_full(&self) -> Duration {
        let fills = self.max_tokens.div_ceil(self.tokens_per_fill);
        self.fill_interval
            .saturating_mul(u32::try_from(fills).unwrap_or(u32::MAX))
    }
}

/// A bucket's state: tokens left and when the last fill happened (on the limiter's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub tokens: u64,
    pub last_fill: Duration,
}

/// What one take did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    pub allowed: bool,
    pub remaining: u64,
    /// Time until the next fill (0 when the bucket is full).
    pub next_fill: Duration,
}

impl State {
    /// A full bucket at `now`.
    pub fn full(b: &Bucket, now: Duration) -> Self {
        Self {
            tokens: b.max_tokens,
            last_fill: now,
        }
    }

    /// Adds the fills due by `now`.
    pub fn refill(&mut self, b: &Bucket, now: Duration) {
        if self.tokens < b.max_tokens {
            let interval = b.fill_interval.as_nanos();
            let fills = now.saturating_sub(self.last_fill).as_nanos() / interval;
            if fills > 0 {
                let added = u64::try_from(fills)
                    .unwrap_or(u64::MAX)
                    .saturating_mul(b.tokens_per_fill);
                self.tokens = self.tokens.saturating_add(added).min(b.max_tokens);
                // fills * interval <= now - last_fill, so it fits a Duration.
                let step = fills * interval;
                self.last_fill += Duration::new(
                    u64::try_from(step / 1_000_000_000).unwrap_or(u64::MAX),
                    (step % 1_000_000_000) as u32,
                );
            }
        }
        if self.tokens >= b.max_tokens {
            self.tokens = b.max_tokens;
            self.last_fill = now;
        }
    }

    /// Whether the bucket is full at `now` (then it may be forgotten).
    pub fn is_full_at(&self, b: &Bucket, now: Duration) -> bool {
        let mut s = *self;
        s.refill(b, now);
        s.tokens >= b.max_tokens
    }

    /// Refills, then takes one token if there is one.
    pub fn take(&mut self, b: &Bucket, now: Duration) -> Taken {
        self.refill(b, now);
        let allowed = self.tokens >= 1;
        if allowed {
            self.tokens -= 1;
        }
        let next_fill = if self.tokens >= b.max_tokens {
            Duration::ZERO
        } else {
            (self.last_fill + b.fill_interval).saturating_sub(now)
        };
        Taken {
            allowed,
            remaining: self.tokens,
            next_fill,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(max: u64, per: u64, ms: u64) -> Bucket {
        Bucket {
            max_tokens: max,
            tokens_per_fill: per,
            fill_interval: Duration::from_millis(ms),
        }
    }
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fills_are_whole_steps_and_capped() {
        let b = b(10, 3, 100);
        let mut s = State::full(&b, Duration::ZERO);
        for _ in 0..10 {
            assert!(s.take(&b, Duration::ZERO).allowed);
        }
        let t = s.take(&b, 99 * MS);
        assert!(!t.allowed);
        assert_eq!(t.next_fill, MS, "fill phase started at the first take");
        let t = s.take(&b, 100 * MS);
        assert!(t.allowed);
        assert_eq!(t.remaining, 2);
        // 10 fills later: capped at 10, and the phase restarts at the first take.
        let t = s.take(&b, 1250 * MS);
        assert_eq!(t.remaining, 9);
        assert_eq!(t.next_fill, 100 * MS);
    }

    #[test]
    fn absent_and_full_are_the_same() {
        let b = b(2, 1, 1000);
        let mut s = State::full(&b, Duration::ZERO);
        s.take(&b, Duration::ZERO);
        assert!(!s.is_full_at(&b, 999 * MS));
        assert!(s.is_full_at(&b, 1000 * MS));
    }

    #[test]
    fn from_config_refuses_what_validate_refuses() {
        let c = |max, per, ms| LimitConfig {
            max_tokens: max,
            tokens_per_fill: per,
            fill_interval: netkit::Duration(Duration::from_millis(ms)),
            per: Default::default(),
        };
        assert!(Bucket::from_config(&c(1, 1, 1)).is_some());
        assert!(Bucket::from_config(&c(0, 1, 1)).is_none());
        assert!(Bucket::from_config(&c(1, 0, 1)).is_none());
        assert!(Bucket::from_config(&c(1, 1, 0)).is_none());
        assert!(Bucket::new(1, 1, Duration::from_micros(999)).is_none());
        assert_eq!(b(10, 3, 100).time_to_full(), 400 * MS);
    }
}
