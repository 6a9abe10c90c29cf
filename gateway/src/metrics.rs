//! Prometheus metrics. Names are part of the contract (DESIGN.md, "Admin endpoints").
//!
//! `prometheus-client` appends `_total` to counters, so counters are registered without it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

mod genai;
mod kubernetes;
mod pool;
pub use genai::{AttemptLabels, GenAiLabels, GenAiMetrics, GuardLabels, TokenLabels};
pub use kubernetes::KubernetesMetrics;
pub use pool::{PoolLabel, PoolMetrics, PoolOutcome};

/// Labels `{route, status}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    /// `listener/route`, or `-` when no route matched.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels `{route}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// `listener/route`.
    pub route: String,
}

/// Labels `{route, kind}` for upstream failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamError {
    /// `listener/route`.
    pub route: String,
    /// `connect`, `timeout`, `reset`, `body_too_large`, `no_backend`.
    pub kind: String,
}

/// Labels `{result}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `error` (reloads); `ok`, `error`, `dropped` (mirrors).
    pub result: String,
}

/// Labels `{route, result}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteResult {
    /// `listener/route`.
    pub route: String,
    /// `ok` or `error`.
    pub result: String,
}

/// One route's request metrics, resolved once instead of looked up (and their labels built) on
/// every request.
#[derive(Debug)]
pub struct RouteMetrics {
    route: String,
    duration: Histogram,
    by_status: std::sync::RwLock<Vec<(u16, Counter)>>,
}

impl RouteMetrics {
    /// Resolves the handles of `route` (`listener/route`, or `-`).
    pub fn new(metrics: &Metrics, route: &str) -> Self {
        RouteMetrics {
            route: route.to_string(),
            duration: metrics
                .request_duration
                .get_or_create(&RouteLabel {
                    route: route.to_string(),
                })
                .clone(),
            by_status: std::sync::RwLock::new(Vec::new()),
        }
    }

    /// Counts one response and its duration.
    pub fn record(&self, metrics: &Metrics, status: u16, seconds: f64) {
        self.duration.observe(seconds);
        if let Ok(known) = self.by_status.read() {
            if let Some((_, c)) = known.iter().find(|(s, _)| *s == status) {
                c.inc();
                return;
            }
        }
        let counter = metrics
            .requests
            .get_or_create(&RouteStatus {
                route: self.route.clone(),
                status,
            })
            .clone();
        counter.inc();
        if let Ok(mut known) = self.by_status.write() {
            if !known.iter().any(|(s, _)| *s == status) {
                known.push((status, counter));
            }
        }
    }
}

/// Labels `{route, method}` for A2A calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteMethod {
    /// `listener/route`.
    pub route: String,
    /// The A2A operation's 1.0 name, whichever spelling arrived.
    pub method: String,
}

/// Labels `{route, method, reason}` for refused credentials.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthnFailure {
    /// `listener/route`.
    pub route: String,
    /// `jwt`, `apiKey` or `basic`.
    pub method: String,
    /// Why: `missing`, `expired`, `signature`, ... (see `authn::Reason`).
    pub reason: String,
}

/// Labels `{route, policy, result}` for rate-limit decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitDecision {
    /// `listener/route`.
    pub route: String,
    /// `local` (`localRateLimit`) or `global` (`rateLimit`).
    pub policy: String,
    /// `allowed` or `denied`.
    pub result: String,
}

/// Labels `{store}`: a `rateLimit` Redis, its URL without the password.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabel {
    /// `redis://host:port/db`.
    pub store: String,
}

/// Labels `{store, result}` for decisions a `rateLimit` store could not make.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreError {
    /// `redis://host:port/db`.
    pub store: String,
    /// What `failureMode` made of it: `allowed` (failOpen) or `denied` (failClosed).
    pub result: String,
}

/// Labels `{bind, reason}` for refused connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BindReason {
    /// The bind's address.
    pub bind: String,
    /// Which limit: `max_connections`, `max_connections_per_client`, `header_too_large`, ...
    pub reason: String,
}

/// Labels `{route, reason}` for MCP requests refused before they reach the server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteReason {
    /// `listener/route`.
    pub route: String,
    /// `host` or `origin`.
    pub reason: String,
}

/// Labels `{route, phase}` for requests denied by authorization rules.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthzDenial {
    /// `listener/route`.
    pub route: String,
    /// `http` or `a2a` (`authorization`), `mcp` (`mcpAuthorization`).
    pub phase: String,
}

/// Labels `{route, target, method}` for MCP requests to targets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct McpRequest {
    /// `listener/route`.
    pub route: String,
    /// Target name.
    pub target: String,
    /// MCP method, e.g. `tools/call`.
    pub method: String,
}

/// Labels `{backend, target}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendTarget {
    /// Backend name.
    pub backend: String,
    /// Target name.
    pub target: String,
}

/// Every metric the gateway core exports.
pub struct Metrics {
    registry: Registry,
    /// `switchboard_requests_total{route,status}`.
    pub requests: Family<RouteStatus, Counter>,
    /// `switchboard_request_duration_seconds{route}`: until the response body ends.
    pub request_duration: Family<RouteLabel, Histogram>,
    /// `switchboard_upstream_errors_total{route,kind}`.
    pub upstream_errors: Family<UpstreamError, Counter>,
    /// `switchboard_retries_total{route}`.
    pub retries: Family<RouteLabel, Counter>,
    /// `switchboard_mirror_requests_total{result}`.
    pub mirrors: Family<ResultLabel, Counter>,
    /// `switchboard_config_reloads_total{result}`.
    pub config_reloads: Family<ResultLabel, Counter>,
    /// `switchboard_active_connections`: upgraded (WebSocket) connections included until their
    /// tunnel closes.
    pub active_connections: Gauge,
    /// `switchboard_upgrades_total{route,result}`: upgrade tunnels (WebSocket) when they end.
    pub upgrades: Family<RouteResult, Counter>,
    /// `switchboard_a2a_requests_total{route,method}`.
    pub a2a_requests: Family<RouteMethod, Counter>,
    /// `switchboard_mcp_requests_total{route,target,method}`.
    pub mcp_requests: Family<McpRequest, Counter>,
    /// `switchboard_mcp_request_errors_total{route,target,method}`.
    pub mcp_request_errors: Family<McpRequest, Counter>,
    /// `switchboard_mcp_targets_up{backend,target}`: 1 reachable, 0 not.
    pub mcp_targets_up: Family<BackendTarget, Gauge>,
    /// `switchboard_mcp_calls_in_flight{route}`: calls a client can cancel, running now.
    pub mcp_calls_in_flight: Family<RouteLabel, Gauge>,
    /// `switchboard_authn_failures_total{route,method,reason}`: credentials missing or refused
    /// (refused ones let through by `permissive` mode included).
    pub authn_failures: Family<AuthnFailure, Counter>,
    /// `switchboard_ratelimit_decisions_total{route,policy,result}`: one per request (or MCP
    /// tool call) and policy, the strictest of its buckets.
    pub ratelimit_decisions: Family<RateLimitDecision, Counter>,
    /// `switchboard_ratelimit_store_errors_total{store,result}`: decisions Redis could not make
    /// in time, by what `failureMode` answered.
    pub ratelimit_store_errors: Family<StoreError, Counter>,
    /// `switchboard_ratelimit_store_seconds{store}`: one decision's round trip to Redis
    /// (failed ones included, bounded by the store's timeout).
    pub ratelimit_store_seconds: Family<StoreLabel, Histogram>,
    /// `switchboard_connections_refused_total{bind,reason}`: connections closed, or requests
    /// refused, by a bind's limits.
    pub connections_refused: Family<BindReason, Counter>,
    /// `switchboard_mcp_refused_total{route,reason}`: MCP requests refused for their `Host`
    /// or `Origin`.
    pub mcp_refused: Family<RouteReason, Counter>,
    /// `switchboard_authz_denials_total{route,phase}`.
    pub authz_denials: Family<AuthzDenial, Counter>,
    /// `switchboard_authz_rule_errors_total{route}`.
    pub authz_rule_errors: Family<RouteLabel, Counter>,
    /// Requests that matched no route (`route="-"`).
    /// The metrics of `ai` backends.
    pub genai: GenAiMetrics,
    /// The metrics of `inferencePool` backends.
    pub pools: PoolMetrics,
    /// The metrics of the Kubernetes config source.
    pub kubernetes: KubernetesMetrics,
    pub unrouted: std::sync::OnceLock<RouteMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "switchboard_requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        let request_duration: Family<RouteLabel, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register(
            "switchboard_request_duration_seconds",
            "Time from request start to the end of the response body",
            request_duration.clone(),
        );
        let upstream_errors = Family::<UpstreamError, Counter>::default();
        registry.register(
            "switchboard_upstream_errors",
            "Upstream failures, by route and kind",
            upstream_errors.clone(),
        );
        let retries = Family::<RouteLabel, Counter>::default();
        registry.register(
            "switchboard_retries",
            "Upstream attempts retried",
            retries.clone(),
        );
        let mirrors = Family::<ResultLabel, Counter>::default();
        registry.register(
            "switchboard_mirror_requests",
            "Mirrored requests, by result",
            mirrors.clone(),
        );
        let config_reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "switchboard_config_reloads",
            "Config reloads, by result",
            config_reloads.clone(),
        );
        let active_connections = Gauge::default();
        registry.register(
            "switchboard_active_connections",
            "Open downstream connections",
            active_connections.clone(),
        );
        let upgrades = Family::<RouteResult, Counter>::default();
        registry.register(
            "switchboard_upgrades",
            "Upgraded (WebSocket) connections tunnelled to an upstream, by route and how they ended",
            upgrades.clone(),
        );
        let a2a_requests = Family::<RouteMethod, Counter>::default();
        registry.register(
            "switchboard_a2a_requests",
            "A2A calls relayed or answered, by route and operation",
            a2a_requests.clone(),
        );
        let mcp_requests = Family::<McpRequest, Counter>::default();
        registry.register(
            "switchboard_mcp_requests",
            "MCP requests sent to targets, by route, target and method",
            mcp_requests.clone(),
        );
        let mcp_request_errors = Family::<McpRequest, Counter>::default();
        registry.register(
            "switchboard_mcp_request_errors",
            "MCP requests to targets that failed or timed out",
            mcp_request_errors.clone(),
        );
        let mcp_targets_up = Family::<BackendTarget, Gauge>::default();
        registry.register(
            "switchboard_mcp_targets_up",
            "Whether an MCP target was reachable at last contact",
            mcp_targets_up.clone(),
        );
        let mcp_calls_in_flight = Family::<RouteLabel, Gauge>::default();
        registry.register(
            "switchboard_mcp_calls_in_flight",
            "MCP calls of sessions running on targets now (returns to zero when idle)",
            mcp_calls_in_flight.clone(),
        );
        let authn_failures = Family::<AuthnFailure, Counter>::default();
        registry.register(
            "switchboard_authn_failures",
            "Requests whose credential was missing or refused, by route, method and reason",
            authn_failures.clone(),
        );
        let ratelimit_decisions = Family::<RateLimitDecision, Counter>::default();
        registry.register(
            "switchboard_ratelimit_decisions",
            "Rate-limit decisions, by route, policy (local or global) and result",
            ratelimit_decisions.clone(),
        );
        let ratelimit_store_errors = Family::<StoreError, Counter>::default();
        registry.register(
            "switchboard_ratelimit_store_errors",
            "Rate-limit decisions the Redis store could not make, by what failureMode answered",
            ratelimit_store_errors.clone(),
        );
        let ratelimit_store_seconds: Family<StoreLabel, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 14)));
        registry.register(
            "switchboard_ratelimit_store_seconds",
            "Round trip of one rate-limit decision to the Redis store",
            ratelimit_store_seconds.clone(),
        );
        let connections_refused = Family::<BindReason, Counter>::default();
        registry.register(
            "switchboard_connections_refused",
            "Connections closed or requests refused by a bind's limits, by bind and reason",
            connections_refused.clone(),
        );
        let mcp_refused = Family::<RouteReason, Counter>::default();
        registry.register(
            "switchboard_mcp_refused",
            "MCP requests refused for their Host (DNS rebinding) or Origin, by route and reason",
            mcp_refused.clone(),
        );
        let authz_denials = Family::<AuthzDenial, Counter>::default();
        registry.register(
            "switchboard_authz_denials",
            "Requests (MCP: calls, gets and reads) denied by authorization rules, by route and phase",
            authz_denials.clone(),
        );
        let authz_rule_errors = Family::<RouteLabel, Counter>::default();
        registry.register(
            "switchboard_authz_rule_errors",
            "Authorization rules that failed to evaluate (and so granted nothing), by route",
            authz_rule_errors.clone(),
        );
        let genai = GenAiMetrics::register(&mut registry);
        let pools = PoolMetrics::register(&mut registry);
        let kubernetes = KubernetesMetrics::register(&mut registry);
        Metrics {
            pools,
            kubernetes,
            registry,
            ratelimit_decisions,
            ratelimit_store_errors,
            ratelimit_store_seconds,
            requests,
            request_duration,
            upstream_errors,
            retries,
            mirrors,
            config_reloads,
            active_connections,
            upgrades,
            a2a_requests,
            mcp_requests,
            mcp_request_errors,
            mcp_targets_up,
            mcp_calls_in_flight,
            authn_failures,
            connections_refused,
            mcp_refused,
            authz_denials,
            authz_rule_errors,
            genai,
            unrouted: std::sync::OnceLock::new(),
        }
    }

    /// The process's metrics, shared by the data path, config lowering and the admin endpoint.
    pub fn global() -> std::sync::Arc<Metrics> {
        static GLOBAL: std::sync::OnceLock<std::sync::Arc<Metrics>> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| std::sync::Arc::new(Metrics::new()))
            .clone()
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        self.pools.endpoints.refresh();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, route: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamError {
                route: route.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts an upgrade tunnel that ended: `ok` when both sides closed, `error` when the
    /// upgrade could not be completed or the copy failed.
    pub fn upgrade(&self, route: &str, ok: bool) {
        self.upgrades
            .get_or_create(&RouteResult {
                route: route.to_string(),
                result: if ok { "ok" } else { "error" }.to_string(),
            })
            .inc();
    }

    /// Counts an A2A call.
    pub fn a2a_request(&self, route: &str, method: &str) {
        self.a2a_requests
            .get_or_create(&RouteMethod {
                route: route.to_string(),
                method: method.to_string(),
            })
            .inc();
    }

    /// Counts an MCP request to a target.
    pub fn mcp_request(&self, route: &str, target: &str, method: &str, failed: bool) {
        let labels = McpRequest {
            route: route.to_string(),
            target: target.to_string(),
            method: method.to_string(),
        };
        self.mcp_requests.get_or_create(&labels).inc();
        if failed {
            self.mcp_request_errors.get_or_create(&labels).inc();
        }
    }

    /// Records whether a target is reachable.
    pub fn mcp_target_up(&self, backend: &str, target: &str, up: bool) {
        self.mcp_targets_up
            .get_or_create(&BackendTarget {
                backend: backend.to_string(),
                target: target.to_string(),
            })
            .set(i64::from(up));
    }

    /// The gauge of the MCP calls in flight on `route`, to keep and move without a lookup.
    pub fn mcp_calls_in_flight_gauge(&self, route: &str) -> Gauge {
        self.mcp_calls_in_flight
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .clone()
    }

    /// Counts a missing or refused credential.
    pub fn authn_failure(&self, route: &str, method: &str, reason: &str) {
        self.authn_failures
            .get_or_create(&AuthnFailure {
                route: route.to_string(),
                method: method.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The decision counters of `route`: `(allowed, denied)` of `local`, then of `global`.
    #[allow(clippy::type_complexity)]
    pub fn ratelimit_decisions(&self, route: &str) -> ((Counter, Counter), (Counter, Counter)) {
        let get = |policy: &str, result: &str| {
            self.ratelimit_decisions
                .get_or_create(&RateLimitDecision {
                    route: route.to_string(),
                    policy: policy.to_string(),
                    result: result.to_string(),
                })
                .clone()
        };
        (
            (get("local", "allowed"), get("local", "denied")),
            (get("global", "allowed"), get("global", "denied")),
        )
    }

    /// The handles of a `rateLimit` store: errors allowed, errors denied, round trips.
    pub fn ratelimit_store(&self, store: &str) -> (Counter, Counter, Histogram) {
        let err = |result: &str| {
            self.ratelimit_store_errors
                .get_or_create(&StoreError {
                    store: store.to_string(),
                    result: result.to_string(),
                })
                .clone()
        };
        let latency = self
            .ratelimit_store_seconds
            .get_or_create(&StoreLabel {
                store: store.to_string(),
            })
            .clone();
        (err("allowed"), err("denied"), latency)
    }

    /// Counts a connection (or request head) refused by a bind's limits.
    pub fn connection_refused(&self, bind: &str, reason: &str) {
        self.connections_refused
            .get_or_create(&BindReason {
                bind: bind.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts an MCP request refused for its `Host` or `Origin`.
    pub fn mcp_refused(&self, route: &str, reason: &str) {
        self.mcp_refused
            .get_or_create(&RouteReason {
                route: route.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a request denied by authorization rules (`phase`: `http`, `a2a` or `mcp`).
    pub fn authz_denial(&self, route: &str, phase: &str) {
        self.authz_denials
            .get_or_create(&AuthzDenial {
                route: route.to_string(),
                phase: phase.to_string(),
            })
            .inc();
    }

    /// Counts an authorization rule that failed to evaluate.
    pub fn authz_rule_error(&self, route: &str) {
        self.authz_rule_errors
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .inc();
    }

    /// Counts a config reload.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.config_reloads
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let m = Metrics::new();
        m.requests
            .get_or_create(&RouteStatus {
                route: "main/api".into(),
                status: 200,
            })
            .inc();
        m.reload(false);
        m.authn_failure("main/api", "jwt", "expired");
        m.authz_denial("main/api", "http");
        m.authz_rule_error("main/mcp");
        let in_flight = m.mcp_calls_in_flight_gauge("main/mcp");
        in_flight.inc_by(2);
        m.mcp_calls_in_flight_gauge("main/mcp").dec();
        m.request_duration
            .get_or_create(&RouteLabel {
                route: "main/api".into(),
            })
            .observe(0.01);
        let text = m.encode();
        assert!(
            text.contains("switchboard_requests_total{route=\"main/api\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_config_reloads_total{result=\"error\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "switchboard_authn_failures_total{route=\"main/api\",method=\"jwt\",reason=\"expired\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("switchboard_authz_denials_total{route=\"main/api\",phase=\"http\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_authz_rule_errors_total{route=\"main/mcp\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_mcp_calls_in_flight{route=\"main/mcp\"} 1"),
            "{text}"
        );
    }
}
