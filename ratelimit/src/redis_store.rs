//! `rateLimit`: token buckets shared by every replica, kept in Redis.
//!
//! One decision is one `EVALSHA` of `bucket.lua` (EVAL when Redis answers `NOSCRIPT`, e.g.
//! after a restart or `SCRIPT FLUSH`: `redis::Script` does that): refill, take and expiry
//! happen atomically on Redis's clock, so replicas never race or disagree about time. Every
//! key gets a TTL of its time-to-full, after which it equals an absent key, so idle callers
//! cost no memory.
//!
//! The `redis` crate (pinned) over `fred`: it is the most used Rust client, its
//! `ConnectionManager` reconnects by itself after Redis restarts, and its `Script` type does
//! the EVALSHA/NOSCRIPT fallback; `fred` would bring a larger API and its own pool for a
//! single script call.
//!
//! Every call is bounded by the configured timeout; when it fails `failureMode` decides, the
//! failure is counted in [`StoreStats`], and a warning is logged at most every ten seconds
//! (a dead Redis under load must not flood the log).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::bucket::Bucket;
use crate::config::{redact_url, FailureMode, RedisConfig};
use crate::decision::{Decision, Outcome};
use crate::RateLimitError;

const SCRIPT: &str = include_str!("bucket.lua");

/// How often a failing store is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Checks a `store.redis.url` (for config validation and [`GlobalLimiter::new`]).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("rediss://") {
        return Err("rediss:// (TLS) is not supported yet: use redis://".into());
    }
    if !url.starts_with("redis://") {
        return Err(format!("{}: write redis://host:port", redact_url(url)));
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", redact_url(url)))
}

/// Store failures, for the gateway's metrics (counters only ever grow).
#[derive(Debug, Default)]
pub struct StoreStats {
    errors: AtomicU64,
    allowed_on_error: AtomicU64,
    denied_on_error: AtomicU64,
}

impl StoreStats {
    /// Decisions the store could not make (error or timeout).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Of those, requests `failOpen` allowed.
    pub fn allowed_on_error(&self) -> u64 {
        self.allowed_on_error.load(Ordering::Relaxed)
    }
    /// Of those, requests `failClosed` denied.
    pub fn denied_on_error(&self) -> u64 {
        self.denied_on_error.load(Ordering::Relaxed)
    }
}

/// Token buckets in Redis for one `rateLimit` policy (one connection, any number of limits).
pub struct GlobalLimiter {
    conn: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    prefix: String,
    failure_mode: FailureMode,
    stats: Arc<StoreStats>,
    warn: WarnGate,
    url: String,
}

impl std::fmt::Debug for GlobalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalLimiter")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .field("failure_mode", &self.failure_mode)
            .finish_non_exhaustive()
    }
}

impl GlobalLimiter {
    /// A limiter on the Redis `cfg` names. Does not connect: the first decision does, so a
    /// gateway starts (and answers per `failureMode`) while Redis is down. Call within a
    /// Tokio runtime.
    pub fn new(cfg: &RedisConfig, failure_mode: FailureMode) -> Result<Self, RateLimitError> {
        check_url(&cfg.url).map_err(RateLimitError::Url)?;
        // The connection manager spawns its reconnect task here; outside a runtime that
        // would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RateLimitError::NoRuntime);
        }
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| RateLimitError::Url(format!("{}: {e}", redact_url(&cfg.url))))?;
        let timeout = cfg.timeout();
        // Few, quick reconnect attempts: a request never waits for them longer than
        // `timeout`, and a failed attempt is started again by the next request.
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_cfg)
            .map_err(|e| RateLimitError::Url(format!("{}: {e}", redact_url(&cfg.url))))?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            timeout,
            prefix: cfg.key_prefix().to_owned(),
            failure_mode,
            stats: Arc::default(),
            warn: WarnGate::new(),
            url: redact_url(&cfg.url),
        })
    }

    /// A handle on the connection (cheap: the manager is shared).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The time a call may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Counts and (at most every ten seconds) logs a failed call, answered per `failure_mode`.
    pub(crate) fn store_failed(&self, error: &str, failure_mode: FailureMode) {
        let bucket = Bucket::new(1, 1, Duration::from_secs(1));
        if let Some(bucket) = bucket {
            let _ = self.on_error(&bucket, error, failure_mode);
        }
    }

    /// The failure counters (shared: register them with the gateway's metrics).
    pub fn stats(&self) -> Arc<StoreStats> {
        self.stats.clone()
    }

    /// The Redis key of (`policy`, `key`): see [`redis_key`].
    pub fn key_for(&self, policy: &str, key: &str) -> String {
        redis_key(&self.prefix, policy, key)
    }

    /// Takes one token from the bucket of (`policy`, `key`). `policy` names the limit (e.g.
    /// route name and index) so that two limits never share a bucket; `key` is the caller's
    /// identity, the tool, or empty for a per-route limit.
    pub async fn check(&self, policy: &str, bucket: &Bucket, key: &str) -> Decision {
        self.check_with(policy, bucket, key, self.failure_mode)
            .await
    }

    /// [`check`](Self::check) with the `failureMode` of the policy asking: one limiter (one
    /// connection) serves every policy that names the same Redis, whatever its failure mode.
    pub async fn check_with(
        &self,
        policy: &str,
        bucket: &Bucket,
        key: &str,
        failure_mode: FailureMode,
    ) -> Decision {
        let redis_key = self.key_for(policy, key);
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(&redis_key);
        let call = invocation
            .arg(bucket.max_tokens)
            .arg(bucket.tokens_per_fill)
            .arg(u64::try_from(bucket.fill_interval.as_micros()).unwrap_or(u64::MAX));
        let call = call.invoke_async::<(u8, u64, u64)>(&mut conn);
        let error = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, remaining, next_fill_us))) => {
                let next_fill = Duration::from_micros(next_fill_us);
                let allowed = allowed == 1;
                return Decision {
                    allowed,
                    limit: bucket.max_tokens,
                    remaining,
                    retry_after: (!allowed).then_some(next_fill),
                    reset_after: next_fill,
                    outcome: Outcome::Checked,
                };
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        self.on_error(bucket, &error, failure_mode)
    }

    /// The decision `failureMode` gives when the store failed; counted and logged.
    fn on_error(&self, bucket: &Bucket, error: &str, failure_mode: FailureMode) -> Decision {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let allowed = failure_mode == FailureMode::FailOpen;
        if allowed {
            self.stats.allowed_on_error.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.denied_on_error.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(suppressed) = self.warn.pass() {
            tracing::warn!(
                redis = %self.url,
                error,
                failure_mode = ?failure_mode,
                suppressed,
                "rateLimit: Redis failed; requests are {} (further failures logged every {}s)",
                if allowed { "allowed" } else { "denied" },
                WARN_EVERY.as_secs()
            );
        }
        Decision {
            allowed,
            limit: bucket.max_tokens,
            remaining: 0,
            retry_after: (!allowed).then_some(bucket.fill_interval),
            reset_after: bucket.fill_interval,
            outcome: if allowed {
                Outcome::StoreErrorAllowed
            } else {
                Outcome::StoreErrorDenied
            },
        }
    }
}

/// Bytes of a policy name kept as they are in a key; everything else is percent-escaped, so
/// the name contains no `:` and the key's parts cannot run into each other.
const POLICY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `<prefix>:<policy, escaped>:<SHA-256 of key, hex>`. The key part is hashed because it is
/// caller-controlled (an identity, a tool name): any string, however long, with spaces,
/// colons or any Unicode, becomes 64 hex digits, so keys cannot collide, grow without
/// bound, or smuggle a separator.
pub fn redis_key(prefix: &str, policy: &str, key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = String::with_capacity(prefix.len() + policy.len() + 66);
    out.push_str(prefix);
    out.push(':');
    out.extend(utf8_percent_encode(policy, POLICY_ESCAPE));
    out.push(':');
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Lets one warning through per [`WARN_EVERY`], counting those held back.
struct WarnGate {
    start: Instant,
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnGate {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(warnings held back since the last one)` when this one may be logged.
    fn pass(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let until = now.saturating_add(u64::try_from(WARN_EVERY.as_millis()).unwrap_or(0));
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, until, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_escaped_and_hashed() {
        let k = redis_key("sb", "route:a", "alice");
        assert!(k.starts_with("sb:route%3Aa:"), "{k}");
        assert_eq!(k.len(), "sb:route%3Aa:".len() + 64);
        // A separator moved between policy and key does not give the same key.
        assert_ne!(redis_key("sb", "a:b", "c"), redis_key("sb", "a", "b:c"));
        assert_ne!(redis_key("sb", "a", ""), redis_key("sb", "a", " "));
        let long = "x".repeat(100_000);
        assert_eq!(redis_key("sb", "p", &long).len(), "sb:p:".len() + 64);
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let cfg = RedisConfig {
            url: "redis://127.0.0.1:1".into(),
            timeout: None,
            key_prefix: None,
        };
        let e = GlobalLimiter::new(&cfg, FailureMode::FailOpen).unwrap_err();
        assert!(matches!(e, RateLimitError::NoRuntime), "{e}");
    }

    #[test]
    fn urls_are_checked_without_showing_passwords() {
        assert!(check_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_url("redis://:pw@127.0.0.1:6379/2").is_ok());
        let e = check_url("http://user:hunter2@h").unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("redis://"), "{e}");
        assert!(check_url("rediss://h")
            .unwrap_err()
            .contains("not supported yet"));
    }

    #[test]
    fn warnings_are_rate_limited() {
        let g = WarnGate::new();
        assert_eq!(g.pass(), Some(0));
        assert_eq!(g.pass(), None);
        assert_eq!(g.pass(), None);
        g.next_ms.store(0, Ordering::Relaxed);
        assert_eq!(
            g.pass(),
            Some(2),
            "the next warning says how many were held back"
        );
    }
}
