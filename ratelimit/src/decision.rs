//! The answer to "may this request go on?", with what the gateway needs to say why:
//! `429` + `Retry-After`, and `X-RateLimit-*` headers on every answer.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};

/// How a decision was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The bucket was asked (in memory, or in the store).
    Checked,
    /// The store could not be asked in time; `failOpen` allowed the request.
    StoreErrorAllowed,
    /// The store could not be asked in time; `failClosed` denied the request.
    StoreErrorDenied,
}

/// One rate-limit decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket's size (`maxTokens`).
    pub limit: u64,
    /// Tokens left after this request.
    pub remaining: u64,
    /// When denied: how long until a retry can succeed (the next fill).
    pub retry_after: Option<Duration>,
    /// Time until the next fill adds tokens (zero when the bucket is full).
    pub reset_after: Duration,
    /// How it was reached (a store error is counted by the limiter as well).
    pub outcome: Outcome,
}

impl Decision {
    /// Whether the store failed (for a gateway metric label or an access-log field).
    pub fn store_error(&self) -> bool {
        self.outcome != Outcome::Checked
    }

    /// The strictest of several decisions (a request must pass every bucket of its route):
    /// a denial wins, the longest `retry_after` among denials; otherwise the fewest tokens
    /// left. `None` for no decisions.
    pub fn strictest(decisions: impl IntoIterator<Item = Decision>) -> Option<Decision> {
        decisions.into_iter().reduce(|a, b| {
            let key = |d: &Decision| (d.allowed, std::cmp::Reverse(d.retry_after), d.remaining);
            if key(&b) < key(&a) {
                b
            } else {
                a
            }
        })
    }

    /// Response headers: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
    /// (whole seconds until the next fill, rounded up) and, when denied, `Retry-After` (whole
    /// seconds, rounded up, at least 1, as RFC 9110 allows no fractions). After a store error
    /// the bucket's state is unknown, so only `Retry-After` (when denied) is sent.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = Vec::with_capacity(4);
        if !self.store_error() {
            h.extend([
                (
                    HeaderName::from_static("x-ratelimit-limit"),
                    HeaderValue::from(self.limit),
                ),
                (
                    HeaderName::from_static("x-ratelimit-remaining"),
                    HeaderValue::from(self.remaining),
                ),
                (
                    HeaderName::from_static("x-ratelimit-reset"),
                    HeaderValue::from(ceil_secs(self.reset_after)),
                ),
            ]);
        }
        if let Some(retry) = self.retry_after.filter(|_| !self.allowed) {
            h.push((RETRY_AFTER, HeaderValue::from(ceil_secs(retry).max(1))));
        }
        h
    }
}

/// Whole seconds, rounded up (a client told `0` would retry at once and be denied again).
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(allowed: bool, remaining: u64, retry_ms: Option<u64>) -> Decision {
        Decision {
            allowed,
            limit: 10,
            remaining,
            retry_after: retry_ms.map(Duration::from_millis),
            reset_after: Duration::from_millis(1500),
            outcome: Outcome::Checked,
        }
    }

    #[test]
    fn headers_round_up() {
        let h = d(false, 0, Some(200)).headers();
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("x-ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(get("x-ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(get("x-ratelimit-reset").as_deref(), Some("2"));
        assert_eq!(get("retry-after").as_deref(), Some("1"));
        assert!(d(true, 3, None)
            .headers()
            .iter()
            .all(|(k, _)| k != RETRY_AFTER));
        let mut failed = d(false, 0, Some(30_000));
        failed.outcome = Outcome::StoreErrorDenied;
        let h = failed.headers();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0], (RETRY_AFTER, HeaderValue::from(30u64)));
        failed.allowed = true;
        failed.outcome = Outcome::StoreErrorAllowed;
        assert!(failed.headers().is_empty());
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }

    #[test]
    fn strictest_prefers_denial_then_longest_wait_then_fewest_tokens() {
        let s = Decision::strictest([d(true, 5, None), d(false, 0, Some(100)), d(true, 1, None)]);
        assert_eq!(s.unwrap().retry_after, Some(Duration::from_millis(100)));
        let s = Decision::strictest([d(false, 0, Some(100)), d(false, 0, Some(900))]);
        assert_eq!(s.unwrap().retry_after, Some(Duration::from_millis(900)));
        let s = Decision::strictest([d(true, 5, None), d(true, 1, None)]);
        assert_eq!(s.unwrap().remaining, 1);
        assert!(Decision::strictest([]).is_none());
    }
}
