//! Rate limits for the gateway: the `localRateLimit` policy (token buckets in this replica's
//! memory) and the `rateLimit` policy (token buckets shared by every replica through Redis).
//!
//! Both answer one question per (limit, key): may this request go on? The gateway picks the
//! key from the limit's `per` (the route's name, the caller's identity, the MCP tool) and turns
//! a [`Decision`] into `429` + `Retry-After` on HTTP or a JSON-RPC error on MCP. Both follow
//! the same bucket rule ([`bucket`]), so a limit means the same thing in either place.

pub mod amount;
pub mod bucket;
pub mod clock;
pub mod config;
pub mod decision;
pub mod local;
pub mod redis_store;

pub use amount::{AmountBucket, AmountDecision};
pub use bucket::Bucket;
pub use config::{FailureMode, LimitConfig, Per, RateLimitConfig, RedisConfig, StoreConfig};
pub use decision::{Decision, Outcome};
pub use local::LocalLimiter;
pub use redis_store::{GlobalLimiter, StoreStats};

/// Errors building a limiter.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The store's settings are unusable (the config check reports these first).
    #[error("rateLimit.store.redis.url: {0}")]
    Url(String),
    /// [`GlobalLimiter::new`] was called outside a Tokio runtime (a bug in the caller).
    #[error("rateLimit: the Redis limiter must be created inside a Tokio runtime")]
    NoRuntime,
}
