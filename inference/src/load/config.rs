//! `loadPicker`: the settings of the built-in least-loaded picker of an `inferencePool`, as
//! written in the config file (camelCase keys, unknown keys rejected, JSON Schema derived).
//!
//! ```yaml
//! inferencePool:
//!   endpoints: [10.0.0.5:8000, 10.0.0.6:8000]
//!   loadPicker:
//!     path: /metrics        # default
//!     interval: 1s          # default
//!     staleAfter: 3s        # default: 3 × interval
//!     timeout: 1s           # default: the interval
//!     port: 9090            # default: each endpoint's own port
//! ```

use std::time::Duration;

use netkit::Duration as ConfigDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `loadPicker: { path, interval, staleAfter, timeout, port }`; every key is optional
/// (`loadPicker: {}` scrapes `GET http://ENDPOINT/metrics` every second).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadPickerConfig {
    /// Path (and query) of each model server's Prometheus metrics (default `/metrics`, where
    /// vLLM and `llama-server --metrics` serve them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Time between two scrapes of the pool (default `1s`; at least `10ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<ConfigDuration>,
    /// Age past which an endpoint's last good scrape no longer counts (default three
    /// intervals; at least one interval). Such an endpoint ranks after every endpoint with
    /// fresh metrics, but is still used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<ConfigDuration>,
    /// Bound of one scrape, connect included (default: the interval, so that a round never
    /// outlasts its tick; at least `1ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    /// Port of the metrics when it is not the serving port (default: each endpoint's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// Default of `path`.
pub const DEFAULT_PATH: &str = "/metrics";

/// Default of `interval`. LLM requests last seconds, so queues change on that scale; the
/// gateway's own requests between two scrapes are counted as they start and end (see
/// [`super::LoadPicker::begin`]), so the scrapes only need to catch load from elsewhere (other
/// replicas, other clients). One second keeps the cost low on the model server (vLLM renders
/// its metrics on the serving process's event loop) even with many gateway replicas each
/// scraping every endpoint. The reference endpoint picker scrapes every 50ms, but it is one
/// process per pool; set `interval` lower when one replica serves a pool alone.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest `interval` accepted: below it scraping becomes a busy loop.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// `staleAfter` is this many intervals by default: two scrapes may fail or be late (a busy
/// server answers its metrics late) before an endpoint loses its rank.
pub const DEFAULT_STALE_INTERVALS: u32 = 3;

/// A config mistake, with the key path below `loadPicker` (`interval`, `path`); the gateway
/// prefixes the key's own path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Key path relative to `loadPicker`.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl LoadPickerConfig {
    /// The metrics path in force.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_PATH)
    }

    /// The scrape interval in force (never below [`MIN_INTERVAL`], even unvalidated).
    pub fn interval(&self) -> Duration {
        self.interval
            .map(Duration::from)
            .unwrap_or(DEFAULT_INTERVAL)
            .max(MIN_INTERVAL)
    }

    /// The staleness bound in force.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
            .map(Duration::from)
            .unwrap_or_else(|| self.interval().saturating_mul(DEFAULT_STALE_INTERVALS))
    }

    /// The scrape timeout in force (never zero).
    pub fn timeout(&self) -> Duration {
        self.timeout
            .map(Duration::from)
            .unwrap_or_else(|| self.interval())
            .max(Duration::from_millis(1))
    }

    /// Mistakes in these settings, with key paths relative to `loadPicker`.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            out.push(Invalid {
                path: key.to_owned(),
                message,
            })
        };
        if let Some(path) = &self.path {
            if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
                bad(
                    "path",
                    format!(
                        "invalid metrics path {path:?}: write an absolute path such as /metrics"
                    ),
                );
            }
        }
        if let Some(interval) = self.interval {
            if interval.0 < MIN_INTERVAL {
                bad("interval", "must be at least 10ms".to_owned());
            }
        }
        if let Some(stale) = self.stale_after {
            if stale.0 < self.interval() {
                bad(
                    "staleAfter",
                    format!(
                        "must be at least the interval ({}): otherwise every endpoint's metrics \
                         go stale between two scrapes",
                        ConfigDuration(self.interval())
                    ),
                );
            }
        }
        if let Some(timeout) = self.timeout {
            if timeout.0 < Duration::from_millis(1) {
                bad("timeout", "must be at least 1ms".to_owned());
            }
        }
        if self.port == Some(0) {
            bad("port", "must be a port number from 1 to 65535".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LoadPickerConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn an_empty_object_takes_every_default() {
        let c = parse("{}").unwrap();
        assert_eq!(c.path(), "/metrics");
        assert_eq!(c.interval(), Duration::from_secs(1));
        assert_eq!(c.stale_after(), Duration::from_secs(3));
        assert_eq!(c.timeout(), Duration::from_secs(1));
        assert_eq!(c.port, None);
        assert!(c.validate().is_empty());
    }

    #[test]
    fn stale_after_and_timeout_follow_the_interval() {
        let c = parse(r#"{"interval": "200ms"}"#).unwrap();
        assert_eq!(c.stale_after(), Duration::from_millis(600));
        assert_eq!(c.timeout(), Duration::from_millis(200));
    }

    #[test]
    fn every_key_reads_in_camel_case() {
        let c = parse(
            r#"{"path": "/stats?format=prom", "interval": "500ms", "staleAfter": "5s",
                "timeout": "250ms", "port": 9090}"#,
        )
        .unwrap();
        assert_eq!(c.path(), "/stats?format=prom");
        assert_eq!(c.interval(), Duration::from_millis(500));
        assert_eq!(c.stale_after(), Duration::from_secs(5));
        assert_eq!(c.timeout(), Duration::from_millis(250));
        assert_eq!(c.port, Some(9090));
        assert!(c.validate().is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        let err = parse(r#"{"stale_after": "5s"}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        let err = parse(r#"{"interval": "1 sec"}"#).unwrap_err().to_string();
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn mistakes_are_named_by_key() {
        let c = parse(
            r#"{"path": "metrics", "interval": "5ms", "staleAfter": "1ms", "timeout": "0ms",
                "port": 0}"#,
        )
        .unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|i| i.path).collect();
        assert_eq!(keys, ["path", "interval", "staleAfter", "timeout", "port"]);
        // Unvalidated values are still safe to run with.
        assert_eq!(c.interval(), MIN_INTERVAL);
        assert!(c.timeout() > Duration::ZERO);
    }

    #[test]
    fn a_stale_bound_below_the_interval_is_refused() {
        let c = parse(r#"{"interval": "2s", "staleAfter": "1s"}"#).unwrap();
        let v = c.validate();
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("at least the interval (2s)"), "{v:?}");
    }

    #[test]
    fn the_schema_names_the_keys() {
        let schema = serde_json::to_value(schemars::schema_for!(LoadPickerConfig)).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for key in ["path", "interval", "staleAfter", "timeout", "port"] {
            assert!(props.contains_key(key), "{key}");
        }
        assert_eq!(schema["additionalProperties"], false);
    }
}
