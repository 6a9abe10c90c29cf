//! Buckets of amounts in Redis: LLM token and spend budgets, where a request takes an
//! estimate up front and is charged the difference when its response ends (`amount.lua`).
//! Same connection, key scheme, timeout and failure handling as the one-token buckets.

use std::time::Duration;

use crate::config::FailureMode;
use crate::redis_store::GlobalLimiter;

const SCRIPT: &str = include_str!("amount.lua");

/// A bucket of amounts: `max` at most, `per_fill` added every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountBucket {
    /// Its size.
    pub max: u64,
    /// Added at each fill.
    pub per_fill: u64,
    /// Between fills.
    pub interval: Duration,
}

/// What a take came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountDecision {
    /// Taken.
    Taken,
    /// Not enough: the time until there would be.
    Wait(Duration),
    /// Redis could not answer in time; `failureMode` let the request through (nothing taken).
    StoreErrorAllowed,
    /// Redis could not answer in time; `failureMode` refused the request.
    StoreErrorDenied,
}

impl GlobalLimiter {
    /// Takes `amount` from (`policy`, `key`)'s bucket when it holds `min(amount, max)`.
    pub async fn take_amount(
        &self,
        policy: &str,
        key: &str,
        bucket: &AmountBucket,
        amount: u64,
        failure_mode: FailureMode,
    ) -> AmountDecision {
        match self.run_amount(policy, key, bucket, 0, amount as f64).await {
            Ok((1, _)) => AmountDecision::Taken,
            Ok((_, wait_us)) => AmountDecision::Wait(Duration::from_micros(wait_us)),
            Err(error) => {
                self.store_failed(&error, failure_mode);
                if failure_mode == FailureMode::FailOpen {
                    AmountDecision::StoreErrorAllowed
                } else {
                    AmountDecision::StoreErrorDenied
                }
            }
        }
    }

    /// Charges `delta` more (negative: gives back) to (`policy`, `key`)'s bucket. A failure
    /// is counted and logged; the charge is lost.
    pub async fn charge_amount(&self, policy: &str, key: &str, bucket: &AmountBucket, delta: i64) {
        if let Err(error) = self.run_amount(policy, key, bucket, 1, delta as f64).await {
            self.store_failed(&error, FailureMode::FailOpen);
        }
    }

    async fn run_amount(
        &self,
        policy: &str,
        key: &str,
        bucket: &AmountBucket,
        mode: u8,
        amount: f64,
    ) -> Result<(u8, u64), String> {
        static AMOUNT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = AMOUNT.get_or_init(|| redis::Script::new(SCRIPT));
        let redis_key = self.key_for(policy, key);
        let mut conn = self.connection();
        let mut invocation = script.key(&redis_key);
        let call = invocation
            .arg(bucket.max)
            .arg(bucket.per_fill)
            .arg(u64::try_from(bucket.interval.as_micros()).unwrap_or(u64::MAX))
            .arg(mode)
            .arg(format!("{amount:.0}"))
            .invoke_async::<(u8, u64)>(&mut conn);
        match tokio::time::timeout(self.timeout(), call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout())),
        }
    }
}
