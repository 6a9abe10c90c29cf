//! Token and spend budgets (`tokenRateLimit`): buckets whose unit is an LLM token or a
//! millionth of a US dollar, checked before a request with an estimate and charged after it
//! with what the provider reported.
//!
//! A request is let through when each bucket it draws from holds at least its estimate (or
//! the bucket's size, for an estimate larger than the bucket could ever hold); the estimate is
//! taken at once, so requests in flight together cannot all spend the same balance. When the
//! response ends, the difference between the estimate and the real usage is charged or given
//! back. A balance may go below zero (the response cost more than the estimate): later
//! requests then wait until the fills have paid the debt. Kept in this replica's memory, or
//! in Redis (`store`) for every replica, by the same rule (`ratelimit/src/amount.lua`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ratelimit::{AmountBucket, AmountDecision, FailureMode};

use crate::model::ratelimit::Store;

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Tokens, input and output.
    Tokens,
    /// Millionths of a US dollar, from the backend's `pricing`.
    MicroUsd,
}

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPer {
    /// One for the route.
    Route,
    /// One per caller (authenticated subject, else client address).
    Identity,
    /// One per model name the client asked for.
    Model,
}

/// One `tokenRateLimit` entry.
#[derive(Debug)]
pub struct BudgetLimit {
    /// Its unit.
    pub unit: Unit,
    /// The bucket's size.
    pub max: i64,
    /// Added at each fill.
    pub per_fill: i64,
    /// Between fills.
    pub interval: Duration,
    /// Whose bucket.
    pub per: BudgetPer,
    /// `listener/route/index`: the bucket's name in a shared store.
    pub id: String,
    balances: Mutex<HashMap<String, Balance>>,
}

/// The most keys one limit keeps; full buckets are dropped first when it is reached.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Balance {
    amount: i64,
    last_fill: Instant,
}

impl BudgetLimit {
    /// A limit; `None` when a number is zero.
    pub fn new(
        unit: Unit,
        max: u64,
        per_fill: u64,
        interval: Duration,
        per: BudgetPer,
        id: String,
    ) -> Option<Self> {
        if max == 0 || per_fill == 0 || interval.is_zero() {
            return None;
        }
        Some(BudgetLimit {
            unit,
            max: i64::try_from(max).unwrap_or(i64::MAX),
            per_fill: i64::try_from(per_fill).unwrap_or(i64::MAX),
            interval,
            per,
            id,
            balances: Mutex::new(HashMap::new()),
        })
    }

    fn refill(&self, b: &mut Balance, now: Instant) {
        if b.amount < self.max {
            let elapsed = now.saturating_duration_since(b.last_fill);
            let fills = elapsed.as_nanos() / self.interval.as_nanos().max(1);
            if fills > 0 {
                let fills = i64::try_from(fills).unwrap_or(i64::MAX);
                b.amount = b
                    .amount
                    .saturating_add(fills.saturating_mul(self.per_fill))
                    .min(self.max);
                b.last_fill += self.interval * u32::try_from(fills).unwrap_or(u32::MAX);
            }
        }
        if b.amount >= self.max {
            b.amount = self.max;
            b.last_fill = now;
        }
    }

    /// Takes `estimate` from `key`'s bucket when it holds that much (or is full, for an
    /// estimate above its size); else the time until it will.
    pub fn take(&self, key: &str, estimate: u64, now: Instant) -> Result<(), Duration> {
        let estimate = i64::try_from(estimate).unwrap_or(i64::MAX);
        let need = estimate.min(self.max);
        let mut map = self.balances.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(key) && map.len() >= MAX_KEYS {
            self.make_room(&mut map, now);
        }
        let b = map.entry(key.to_string()).or_insert(Balance {
            amount: self.max,
            last_fill: now,
        });
        self.refill(b, now);
        if b.amount >= need {
            b.amount = b.amount.saturating_sub(estimate);
            return Ok(());
        }
        let deficit = need - b.amount;
        let fills = deficit.saturating_add(self.per_fill - 1) / self.per_fill;
        let wait = (b.last_fill + self.interval * u32::try_from(fills).unwrap_or(u32::MAX))
            .saturating_duration_since(now);
        Err(wait.max(Duration::from_millis(1)))
    }

    /// Charges `delta` more to `key`'s bucket (negative: gives it back), never above its size.
    pub fn charge(&self, key: &str, delta: i64, now: Instant) {
        let mut map = self.balances.lock().unwrap_or_else(PoisonError::into_inner);
        let b = map.entry(key.to_string()).or_insert(Balance {
            amount: self.max,
            last_fill: now,
        });
        self.refill(b, now);
        b.amount = b.amount.saturating_sub(delta).min(self.max);
    }

    /// Drops the buckets that are full again, then, if still at capacity, an eighth of them.
    fn make_room(&self, map: &mut HashMap<String, Balance>, now: Instant) {
        map.retain(|_, b| {
            let mut b = *b;
            self.refill(&mut b, now);
            b.amount < self.max
        });
        if map.len() >= MAX_KEYS {
            let drop: Vec<String> = map.keys().take(MAX_KEYS / 8).cloned().collect();
            for k in drop {
                map.remove(&k);
            }
        }
    }

    /// The balance of `key` now (tests, and the `X-RateLimit` headers one day).
    pub fn balance(&self, key: &str, now: Instant) -> i64 {
        let mut map = self.balances.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(key) {
            Some(b) => {
                self.refill(b, now);
                b.amount
            }
            None => self.max,
        }
    }
}

impl BudgetLimit {
    fn amount_bucket(&self) -> AmountBucket {
        AmountBucket {
            max: u64::try_from(self.max).unwrap_or(0),
            per_fill: u64::try_from(self.per_fill).unwrap_or(0),
            interval: self.interval,
        }
    }
}

/// A route's `tokenRateLimit`.
#[derive(Debug, Default)]
pub struct TokenBudgets {
    /// The entries, in order (shared with the model a reload replaced, so balances stay).
    pub limits: Vec<Arc<BudgetLimit>>,
    /// `store`: the Redis every replica shares, with `failureMode`; `None`: memory.
    pub global: Option<(Arc<Store>, FailureMode)>,
}

/// What a request was charged up front, to settle when its response ends.
#[derive(Debug, Default)]
pub struct Reservation {
    /// (limit index, key, amount taken).
    taken: Vec<(usize, String, u64)>,
}

/// A request's estimate and, after it, its real cost, in both units.
#[derive(Debug, Clone, Copy, Default)]
pub struct Amounts {
    /// Tokens.
    pub tokens: u64,
    /// Millionths of a dollar (0 without a price).
    pub micro_usd: u64,
}

impl Amounts {
    fn of(&self, unit: Unit) -> u64 {
        match unit {
            Unit::Tokens => self.tokens,
            Unit::MicroUsd => self.micro_usd,
        }
    }
}

impl TokenBudgets {
    /// Takes `estimate` from every bucket the request draws from (`key_for` names it), or
    /// takes nothing and says how long until the strictest would let it through.
    pub async fn take(
        &self,
        key_for: impl Fn(BudgetPer) -> String,
        estimate: Amounts,
        now: Instant,
    ) -> Result<Reservation, Duration> {
        let mut reservation = Reservation::default();
        for (i, limit) in self.limits.iter().enumerate() {
            let key = key_for(limit.per);
            let amount = estimate.of(limit.unit);
            let taken = match &self.global {
                None => limit.take(&key, amount, now),
                Some((store, failure_mode)) => {
                    let bucket = limit.amount_bucket();
                    match store
                        .take_amount(&limit.id, &key, &bucket, amount, *failure_mode)
                        .await
                    {
                        AmountDecision::Taken => Ok(()),
                        AmountDecision::Wait(wait) => Err(wait),
                        // Nothing was taken: nothing to settle for this bucket.
                        AmountDecision::StoreErrorAllowed => continue,
                        AmountDecision::StoreErrorDenied => Err(limit.interval),
                    }
                }
            };
            match taken {
                Ok(()) => reservation.taken.push((i, key, amount)),
                Err(wait) => {
                    // Give back what the earlier buckets gave.
                    self.settle_now(reservation, Amounts::default(), now).await;
                    return Err(wait);
                }
            }
        }
        Ok(reservation)
    }

    /// Charges the difference between what was taken and `actual`: at once in memory, in
    /// the background for a shared store (the response is already on its way).
    pub fn settle(self: &Arc<Self>, reservation: Reservation, actual: Amounts) {
        let now = Instant::now();
        if self.global.is_none() {
            for (limit, key, delta) in self.deltas(reservation, actual) {
                limit.charge(&key, delta, now);
            }
            return;
        }
        let budgets = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { budgets.settle_now(reservation, actual, now).await });
        }
    }

    async fn settle_now(&self, reservation: Reservation, actual: Amounts, now: Instant) {
        for (limit, key, delta) in self.deltas(reservation, actual) {
            match &self.global {
                None => limit.charge(&key, delta, now),
                Some((store, _)) => {
                    store
                        .charge_amount(&limit.id, &key, &limit.amount_bucket(), delta)
                        .await
                }
            }
        }
    }

    /// Each bucket's charge: the real amount minus what was taken.
    fn deltas(
        &self,
        reservation: Reservation,
        actual: Amounts,
    ) -> impl Iterator<Item = (&BudgetLimit, String, i64)> {
        reservation
            .taken
            .into_iter()
            .filter_map(move |(i, key, taken)| {
                let limit: &BudgetLimit = self.limits.get(i)?;
                let real = i64::try_from(actual.of(limit.unit)).unwrap_or(i64::MAX);
                let delta = real.saturating_sub(i64::try_from(taken).unwrap_or(i64::MAX));
                (delta != 0).then_some((limit, key, delta))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u64) -> Amounts {
        Amounts {
            tokens: n,
            micro_usd: 0,
        }
    }

    #[tokio::test]
    async fn estimate_taken_then_trued_up() {
        let b = TokenBudgets {
            limits: vec![Arc::new(
                BudgetLimit::new(
                    Unit::Tokens,
                    1000,
                    100,
                    Duration::from_secs(1),
                    BudgetPer::Identity,
                    "r/0".into(),
                )
                .unwrap(),
            )],
            global: None,
        };
        let t0 = Instant::now();
        let key = |_| "alice".to_string();
        let r = b.take(key, tokens(300), t0).await.unwrap();
        assert_eq!(b.limits[0].balance("alice", t0), 700);
        // The response used 900 in all: 600 more charged.
        b.settle_now(r, tokens(900), t0).await;
        assert_eq!(b.limits[0].balance("alice", t0), 100);
        // 150 estimated: not enough; 1s gives one fill of 100 (200 >= 150).
        let wait = b.take(key, tokens(150), t0).await.unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(b.limits[0].balance("alice", t0), 100, "nothing taken");
        let t1 = t0 + Duration::from_secs(1);
        let r = b.take(key, tokens(150), t1).await.unwrap();
        // Used less than estimated: the rest comes back.
        b.settle_now(r, tokens(50), t1).await;
        assert_eq!(b.limits[0].balance("alice", t1), 150);
        // Another caller has a full bucket.
        assert_eq!(b.limits[0].balance("bob", t1), 1000);
    }

    #[test]
    fn debt_is_paid_by_fills_and_big_estimates_need_a_full_bucket() {
        let limit = BudgetLimit::new(
            Unit::Tokens,
            100,
            10,
            Duration::from_secs(1),
            BudgetPer::Route,
            "r/0".into(),
        )
        .unwrap();
        let t0 = Instant::now();
        // Above the size: allowed when full, and the balance goes negative.
        limit.take("", 250, t0).unwrap();
        assert_eq!(limit.balance("", t0), -150);
        // 1 token needs 151 more: 16 fills.
        assert_eq!(limit.take("", 1, t0).unwrap_err(), Duration::from_secs(16));
        let t = t0 + Duration::from_secs(16);
        assert_eq!(limit.balance("", t), 10);
        limit.take("", 1, t).unwrap();
    }

    #[tokio::test]
    async fn a_refused_request_takes_from_no_bucket() {
        let b = TokenBudgets {
            limits: vec![
                Arc::new(
                    BudgetLimit::new(
                        Unit::Tokens,
                        1000,
                        1,
                        Duration::from_secs(1),
                        BudgetPer::Route,
                        "r/0".into(),
                    )
                    .unwrap(),
                ),
                Arc::new(
                    BudgetLimit::new(
                        Unit::MicroUsd,
                        10,
                        1,
                        Duration::from_secs(1),
                        BudgetPer::Route,
                        "r/1".into(),
                    )
                    .unwrap(),
                ),
            ],
            global: None,
        };
        let t0 = Instant::now();
        let est = Amounts {
            tokens: 100,
            micro_usd: 20,
        };
        b.take(|_| String::new(), est, t0).await.unwrap();
        assert_eq!(b.limits[1].balance("", t0), -10);
        assert!(b.take(|_| String::new(), est, t0).await.is_err());
        assert_eq!(
            b.limits[0].balance("", t0),
            900,
            "the first bucket got its 100 back"
        );
    }
}
