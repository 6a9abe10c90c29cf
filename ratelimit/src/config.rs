//! The `localRateLimit` and `rateLimit` policies as written in the config file (camelCase keys,
//! unknown keys rejected, JSON Schema derived).
//!
//! ```yaml
//! localRateLimit:                       # per replica, in memory
//!   - { maxTokens: 10, tokensPerFill: 10, fillInterval: 1s, per: identity }
//! rateLimit:                            # shared by every replica through Redis
//!   store: { redis: { url: "redis://127.0.0.1:6379", timeout: 100ms } }
//!   failureMode: failOpen               # failOpen (default) | failClosed
//!   limits:
//!     - { maxTokens: 100, tokensPerFill: 100, fillInterval: 1m, per: route }
//! ```

use std::fmt;
use std::time::Duration;

use netkit::Duration as ConfigDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One token bucket: `maxTokens` at most, `tokensPerFill` added every `fillInterval`, one
/// token per request. The same shape in `localRateLimit` and in `rateLimit.limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitConfig {
    /// The bucket's size: the largest burst allowed (at least 1). A new or idle bucket is full.
    pub max_tokens: u64,
    /// Tokens added at each fill, up to `maxTokens` (at least 1).
    pub tokens_per_fill: u64,
    /// Time between fills (`1s`, `500ms`; at least `1ms`).
    pub fill_interval: ConfigDuration,
    /// Whose bucket a request takes from (default `route`: one bucket for the whole route).
    #[serde(default)]
    pub per: Per,
}

/// `per`: what a bucket is kept for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Per {
    /// One bucket for the route, shared by every caller.
    #[default]
    Route,
    /// One bucket per authenticated caller (the identity the auth policies produce).
    Identity,
    /// One bucket per MCP tool (`tools/call` of each tool counts separately).
    Tool,
}

/// `rateLimit`: limits shared by every replica through a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Where the buckets are kept.
    pub store: StoreConfig,
    /// What a request gets when the store cannot be asked in time (default `failOpen`).
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// The buckets; a request must get a token from each.
    pub limits: Vec<LimitConfig>,
}

/// `store`: exactly one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum StoreConfig {
    /// A Redis server (or anything that speaks its protocol with Lua scripting, e.g. Valkey).
    Redis(RedisConfig),
}

/// `redis: { url, timeout, keyPrefix }`.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[[user]:password@]host[:port][/db]`. TLS (`rediss://`) is not supported yet.
    pub url: String,
    /// How long one decision may wait for Redis, connecting included (default `100ms`); past
    /// it `failureMode` decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    /// Prefix of every key the limiter writes (default `switchboard:ratelimit`), so that
    /// gateways that must not share budgets can share one Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

/// Default of `redis.timeout`: long enough for a Redis on the same network (well under a
/// millisecond per call), short enough that a stalled Redis adds little to each request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// Default of `redis.keyPrefix`.
pub const DEFAULT_KEY_PREFIX: &str = "switchboard:ratelimit";

impl RedisConfig {
    /// The timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout.map(Duration::from).unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The key prefix in force.
    pub fn key_prefix(&self) -> &str {
        self.key_prefix.as_deref().unwrap_or(DEFAULT_KEY_PREFIX)
    }
}

impl fmt::Debug for RedisConfig {
    /// The URL may carry a password: only its scheme and host are printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `redis://user:secret@host:6379/0` → `redis://***@host:6379/0`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// `failureMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailureMode {
    /// Allow the request (default): a rate limit protects capacity, it does not decide who
    /// may call what, so an outage of the limiter's store should not become an outage of
    /// every route behind it. Add a `localRateLimit` as a per-replica ceiling for that time.
    #[default]
    FailOpen,
    /// Deny the request with `429` and a `Retry-After` of one fill interval.
    FailClosed,
}

/// A config mistake, with the key path below the policy (`[0].maxTokens`,
/// `limits[1].fillInterval`, `store.redis.url`); the gateway prefixes the policy's own path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Key path relative to the policy.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl LimitConfig {
    /// Mistakes in this bucket; `path` is its own key path (`[0]`).
    pub fn validate(&self, path: &str) -> Vec<Invalid> {
        let Self {
            max_tokens,
            tokens_per_fill,
            fill_interval,
            per: _,
        } = self;
        let mut out = Vec::new();
        let mut bad = |key: &str, message: &str| {
            out.push(Invalid {
                path: format!("{path}.{key}"),
                message: message.to_owned(),
            })
        };
        if *max_tokens == 0 {
            bad("maxTokens", "must be at least 1");
        }
        if *tokens_per_fill == 0 {
            bad("tokensPerFill", "must be at least 1");
        }
        if fill_interval.0 < Duration::from_millis(1) {
            bad("fillInterval", "must be at least 1ms");
        }
        out
    }
}

/// Mistakes in a `localRateLimit` list.
pub fn validate_local(limits: &[LimitConfig]) -> Vec<Invalid> {
    limits
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.validate(&format!("[{i}]")))
        .collect()
}

impl RateLimitConfig {
    /// Mistakes in this policy.
    pub fn validate(&self) -> Vec<Invalid> {
        let Self {
            store: StoreConfig::Redis(redis),
            failure_mode: _,
            limits,
        } = self;
        let mut out: Vec<Invalid> = limits
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.validate(&format!("limits[{i}]")))
            .collect();
        if limits.is_empty() {
            out.push(Invalid {
                path: "limits".into(),
                message: "must name at least one bucket".into(),
            });
        }
        if let Err(message) = crate::redis_store::check_url(&redis.url) {
            out.push(Invalid {
                path: "store.redis.url".into(),
                message,
            });
        }
        if redis.timeout.is_some_and(|t| t.0.is_zero()) {
            out.push(Invalid {
                path: "store.redis.timeout".into(),
                message: "must be more than 0ms".into(),
            });
        }
        if redis.key_prefix.as_deref() == Some("") {
            out.push(Invalid {
                path: "store.redis.keyPrefix".into(),
                message: "must not be empty".into(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn design_md_shapes_parse() {
        let local: Vec<LimitConfig> = serde_json::from_value(json!([
            { "maxTokens": 10, "tokensPerFill": 10, "fillInterval": "1s", "per": "identity" },
            { "maxTokens": 5, "tokensPerFill": 1, "fillInterval": "500ms" }
        ]))
        .unwrap();
        assert_eq!(local[0].per, Per::Identity);
        assert_eq!(local[1].per, Per::Route);
        assert_eq!(local[1].fill_interval.0, Duration::from_millis(500));
        assert!(validate_local(&local).is_empty());

        let global: RateLimitConfig = serde_json::from_value(json!({
            "store": { "redis": { "url": "redis://127.0.0.1:6379" } },
            "limits": [{ "maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1m", "per": "tool" }]
        }))
        .unwrap();
        assert_eq!(global.failure_mode, FailureMode::FailOpen);
        let StoreConfig::Redis(r) = &global.store;
        assert_eq!(r.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(r.key_prefix(), DEFAULT_KEY_PREFIX);
        assert!(global.validate().is_empty());
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        let e = serde_json::from_value::<LimitConfig>(json!(
            { "maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1s", "burst": 3 }
        ))
        .unwrap_err();
        assert!(e.to_string().contains("burst"), "{e}");
        let e = serde_json::from_value::<LimitConfig>(json!(
            { "maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1s", "per": "user" }
        ))
        .unwrap_err();
        assert!(e.to_string().contains("user"), "{e}");
        let e = serde_json::from_value::<LimitConfig>(json!(
            { "maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1 second" }
        ))
        .unwrap_err();
        assert!(e.to_string().contains("invalid duration"), "{e}");
        let e = serde_json::from_value::<RateLimitConfig>(json!({
            "store": { "memcached": {} }, "limits": []
        }))
        .unwrap_err();
        assert!(e.to_string().contains("memcached"), "{e}");
        let e = serde_json::from_value::<RateLimitConfig>(json!({
            "store": { "redis": { "url": "redis://x" } }, "failureMode": "deny", "limits": []
        }))
        .unwrap_err();
        assert!(e.to_string().contains("deny"), "{e}");
    }

    #[test]
    fn mistakes_name_their_key_path() {
        let local: Vec<LimitConfig> = serde_json::from_value(json!([
            { "maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1s" },
            { "maxTokens": 0, "tokensPerFill": 0, "fillInterval": "0ms" }
        ]))
        .unwrap();
        let paths: Vec<_> = validate_local(&local).into_iter().map(|i| i.path).collect();
        assert_eq!(
            paths,
            ["[1].maxTokens", "[1].tokensPerFill", "[1].fillInterval"]
        );

        let global: RateLimitConfig = serde_json::from_value(json!({
            "store": { "redis": { "url": "rediss://h:6380", "timeout": "0ms", "keyPrefix": "" } },
            "limits": []
        }))
        .unwrap();
        let errs = global.validate();
        let paths: Vec<_> = errs.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "limits",
                "store.redis.url",
                "store.redis.timeout",
                "store.redis.keyPrefix"
            ]
        );
        assert!(errs[1].message.contains("not supported yet"), "{errs:?}");
    }

    #[test]
    fn the_schema_describes_both_policies() {
        let local = serde_json::to_string(&schemars::schema_for!(Vec<LimitConfig>)).unwrap();
        for word in [
            "maxTokens",
            "tokensPerFill",
            "fillInterval",
            "identity",
            "tool",
        ] {
            assert!(local.contains(word), "{word}: {local}");
        }
        assert!(local.contains(&netkit::DURATION_PATTERN.replace('\\', "\\\\")));
        let global = serde_json::to_string(&schemars::schema_for!(RateLimitConfig)).unwrap();
        for word in [
            "store",
            "redis",
            "keyPrefix",
            "failOpen",
            "failClosed",
            "limits",
        ] {
            assert!(global.contains(word), "{word}: {global}");
        }
        assert!(
            global.contains("\"additionalProperties\":false"),
            "{global}"
        );
    }

    #[test]
    fn passwords_are_not_printed() {
        let r = RedisConfig {
            url: "redis://user:hunter2@h:6379/0".into(),
            timeout: None,
            key_prefix: None,
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://***@h:6379/0"), "{shown}");
    }
}
