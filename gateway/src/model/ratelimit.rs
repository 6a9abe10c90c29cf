//! `localRateLimit` and `rateLimit` compiled for the data path: the route's buckets with their
//! limiters, the Redis store they share, and the metric handles they count in.
//!
//! State outlives a config reload where it should. A reload lowers the whole file again, so
//! without care every bucket would start full again at each edit anywhere in the file. Two
//! process-wide caches of weak references, like the one `mcp` backends use, prevent that:
//!
//! * a local bucket is keyed by its route (`listener/route`), its place in the list and its
//!   settings: while a live model holds it, a new model with the same route and the same
//!   entry at the same place gets the same limiter, with its counts;
//! * a Redis store is keyed by its URL, timeout and key prefix: every route naming the same
//!   store shares one connection (the buckets themselves live in Redis, so they never reset).
//!
//! A changed entry (or a renamed route) gets a fresh, full bucket; the old one is dropped with
//! the last model using it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use ratelimit::{Bucket, Decision, FailureMode, GlobalLimiter, LocalLimiter, Per, RedisConfig};

use crate::metrics::Metrics;

/// One route's limits of one scope: those its route phase checks (`per: route|identity`), or
/// those its MCP tool calls check (`per: tool`).
#[derive(Debug)]
pub struct Limits {
    /// `listener/route`.
    pub route: Arc<str>,
    /// `localRateLimit` entries.
    pub local: Vec<LocalLimit>,
    /// `rateLimit.limits` entries, with the store they are kept in.
    pub global: Option<GlobalLimits>,
    /// `switchboard_ratelimit_decisions_total{route,policy="local"}`: allowed, denied.
    pub local_counts: (Counter, Counter),
    /// `switchboard_ratelimit_decisions_total{route,policy="global"}`: allowed, denied.
    pub global_counts: (Counter, Counter),
}

/// One `localRateLimit` entry.
#[derive(Debug)]
pub struct LocalLimit {
    /// Whose bucket a request takes from.
    pub per: Per,
    /// The buckets (kept across reloads, see the module doc).
    pub limiter: Arc<LocalLimiter>,
}

/// A route's `rateLimit`.
#[derive(Debug)]
pub struct GlobalLimits {
    /// The Redis store, shared by every route naming the same one.
    pub store: Arc<Store>,
    /// `failureMode`.
    pub failure_mode: FailureMode,
    /// The buckets.
    pub limits: Vec<GlobalLimit>,
}

/// One `rateLimit.limits` entry.
#[derive(Debug)]
pub struct GlobalLimit {
    /// Whose bucket a request takes from.
    pub per: Per,
    /// The limit's name in Redis keys: `listener/route/<index>` (the same in every replica
    /// with the same config, which is what makes the budget shared).
    pub id: String,
    /// Its parameters.
    pub bucket: Bucket,
}

impl Limits {
    /// Whether any limit needs the caller's identity (so it is worked out only then).
    pub fn needs_identity(&self) -> bool {
        self.local.iter().any(|l| l.per == Per::Identity)
            || self
                .global
                .as_ref()
                .is_some_and(|g| g.limits.iter().any(|l| l.per == Per::Identity))
    }

    /// Takes a token from every bucket (`key(per)` names the bucket within a limit) and
    /// returns the strictest answer, counted in the decision metrics; `None` without limits.
    pub async fn check(&self, key: impl Fn(Per) -> String) -> Option<Decision> {
        let local = Decision::strictest(self.local.iter().map(|l| l.limiter.check(&key(l.per))));
        count(local, &self.local_counts);
        let mut global = None;
        if let Some(g) = &self.global {
            let mut decisions = Vec::with_capacity(g.limits.len());
            for l in &g.limits {
                let d = g
                    .store
                    .check(&l.id, &l.bucket, &key(l.per), g.failure_mode)
                    .await;
                decisions.push(d);
            }
            global = Decision::strictest(decisions);
            count(global, &self.global_counts);
        }
        Decision::strictest(local.into_iter().chain(global))
    }
}

fn count(d: Option<Decision>, (allowed, denied): &(Counter, Counter)) {
    match d {
        Some(d) if d.allowed => allowed.inc(),
        Some(_) => denied.inc(),
        None => 0,
    };
}

/// A Redis store of `rateLimit`: one connection for every route that names it.
pub struct Store {
    config: RedisConfig,
    /// `store.redis.url` without its password: logs and the metric label.
    label: String,
    /// Made on the first decision, on the runtime serving it: the config is loaded before any
    /// runtime exists (and `switchboard validate` has none), and the limiter needs one.
    limiter: OnceLock<Result<GlobalLimiter, String>>,
    errors_allowed: Counter,
    errors_denied: Counter,
    latency: Histogram,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.label)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The store of `config`: the live one when another route (or the model being replaced)
    /// names the same URL, timeout and key prefix, else a new one (not connected yet).
    pub fn shared(config: &RedisConfig, metrics: &Metrics) -> Arc<Store> {
        static CACHE: LiveCache<Store> = OnceLock::new();
        let key = format!(
            "{}\u{0}{:?}\u{0}{}",
            config.url,
            config.timeout(),
            config.key_prefix()
        );
        live_or_new(&CACHE, key, || {
            let label = ratelimit::config::redact_url(&config.url);
            let (errors_allowed, errors_denied, latency) = metrics.ratelimit_store(&label);
            Arc::new(Store {
                config: config.clone(),
                label,
                limiter: OnceLock::new(),
                errors_allowed,
                errors_denied,
                latency,
            })
        })
    }

    /// Takes a token from (`id`, `key`)'s bucket in Redis; `failure_mode` decides when Redis
    /// cannot answer in time (counted, and logged at most every ten seconds by the limiter).
    pub async fn check(
        &self,
        id: &str,
        bucket: &Bucket,
        key: &str,
        failure_mode: FailureMode,
    ) -> Decision {
        let limiter = self.limiter.get_or_init(|| {
            GlobalLimiter::new(&self.config, failure_mode).map_err(|e| e.to_string())
        });
        let started = std::time::Instant::now();
        let d = match limiter {
            Ok(l) => l.check_with(id, bucket, key, failure_mode).await,
            // Not reachable once validated (the URL was checked, and requests run inside a
            // runtime); answered as a store failure rather than a panic all the same.
            Err(e) => {
                tracing::error!(redis = %self.label, error = %e, "rateLimit: no Redis client");
                failed(bucket, failure_mode)
            }
        };
        self.latency.observe(started.elapsed().as_secs_f64());
        match d.outcome {
            ratelimit::Outcome::Checked => {}
            ratelimit::Outcome::StoreErrorAllowed => {
                self.errors_allowed.inc();
            }
            ratelimit::Outcome::StoreErrorDenied => {
                self.errors_denied.inc();
            }
        }
        d
    }
}

impl Store {
    /// Takes `amount` from (`id`, `key`)'s bucket of amounts (a token or spend budget).
    pub async fn take_amount(
        &self,
        id: &str,
        key: &str,
        bucket: &ratelimit::AmountBucket,
        amount: u64,
        failure_mode: FailureMode,
    ) -> ratelimit::AmountDecision {
        let Some(limiter) = self.limiter(failure_mode) else {
            return match failure_mode {
                FailureMode::FailOpen => ratelimit::AmountDecision::StoreErrorAllowed,
                FailureMode::FailClosed => ratelimit::AmountDecision::StoreErrorDenied,
            };
        };
        let started = std::time::Instant::now();
        let d = limiter
            .take_amount(id, key, bucket, amount, failure_mode)
            .await;
        self.latency.observe(started.elapsed().as_secs_f64());
        match d {
            ratelimit::AmountDecision::StoreErrorAllowed => self.errors_allowed.inc(),
            ratelimit::AmountDecision::StoreErrorDenied => self.errors_denied.inc(),
            _ => 0,
        };
        d
    }

    /// Charges `delta` to (`id`, `key`)'s bucket of amounts.
    pub async fn charge_amount(
        &self,
        id: &str,
        key: &str,
        bucket: &ratelimit::AmountBucket,
        delta: i64,
    ) {
        if let Some(limiter) = self.limiter(FailureMode::FailOpen) {
            let started = std::time::Instant::now();
            limiter.charge_amount(id, key, bucket, delta).await;
            self.latency.observe(started.elapsed().as_secs_f64());
        }
    }

    fn limiter(&self, failure_mode: FailureMode) -> Option<&GlobalLimiter> {
        let limiter = self.limiter.get_or_init(|| {
            GlobalLimiter::new(&self.config, failure_mode).map_err(|e| e.to_string())
        });
        match limiter {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(redis = %self.label, error = %e, "tokenRateLimit: no Redis client");
                None
            }
        }
    }
}

/// The answer `failureMode` gives without a store.
fn failed(bucket: &Bucket, failure_mode: FailureMode) -> Decision {
    let allowed = failure_mode == FailureMode::FailOpen;
    Decision {
        allowed,
        limit: bucket.max_tokens(),
        remaining: 0,
        retry_after: (!allowed).then_some(bucket.fill_interval()),
        reset_after: bucket.fill_interval(),
        outcome: if allowed {
            ratelimit::Outcome::StoreErrorAllowed
        } else {
            ratelimit::Outcome::StoreErrorDenied
        },
    }
}

/// The in-memory limiter of one `localRateLimit` entry: the live one when a model still holds
/// the same route, place and settings (see the module doc), else a new one.
pub fn local_limiter(route: &str, index: usize, bucket: Bucket, per: Per) -> Arc<LocalLimiter> {
    static CACHE: LiveCache<LocalLimiter> = OnceLock::new();
    let key = format!(
        "{route}\u{0}{index}\u{0}{}/{}/{:?}/{per:?}",
        bucket.max_tokens(),
        bucket.tokens_per_fill(),
        bucket.fill_interval()
    );
    live_or_new(&CACHE, key, || Arc::new(LocalLimiter::new(bucket)))
}

/// Values shared by key while something holds them: the state a reload keeps.
pub type LiveCache<T> = OnceLock<Mutex<HashMap<String, Weak<T>>>>;

/// The value cached under `key` while a model still holds it, else `make()`'s, cached. So a
/// reload that keeps a limit's place and settings keeps its state (buckets, connections).
pub fn live_or_new<T>(cache: &LiveCache<T>, key: String, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
    let mut cache = cache
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    cache.retain(|_, w| w.strong_count() > 0);
    if let Some(live) = cache.get(&key).and_then(Weak::upgrade) {
        return live;
    }
    let value = make();
    cache.insert(key, Arc::downgrade(&value));
    value
}

/// Whole seconds of a wait, rounded up, at least one (as `Retry-After` says it).
pub fn retry_secs(d: Duration) -> u64 {
    ratelimit::decision::ceil_secs(d).max(1)
}
