//! The config file as users write it: typed, camelCase, unknown keys rejected.
//!
//! These structs are the single source of truth for the file format: `switchboard schema` prints
//! the JSON Schema generated from them, and the loader validates every file against that schema
//! before deserializing, so that all errors are reported together with their lines.
//! The data path never reads these types directly: [`crate::model`] lowers them into the runtime
//! model first.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{ByteSize, Duration};

/// The whole config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// Process settings, read at start (a change needs a restart, except `logging.level`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ProcessConfig>,
    /// Listening ports.
    #[serde(default)]
    pub binds: Vec<Bind>,
    /// Named backends that routes refer to with `backend: NAME`.
    #[serde(default)]
    pub backends: Vec<NamedBackend>,
}

/// Process-wide settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessConfig {
    /// Address of the admin endpoints (`/healthz`, `/readyz`, `/metrics`, `/config`).
    /// Default `127.0.0.1:15000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_addr: Option<String>,
    /// 32 random bytes, base64: seals MCP session ids. The same on all replicas. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    /// OpenTelemetry trace export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
    /// Log format and level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    /// How long in-flight requests may take to finish on shutdown. Default `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<Duration>,
    /// Worker threads serving traffic, each a single-threaded event loop. Default: one per core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub workers: Option<u16>,
    /// Request body size limit applied to every route without its own. Default `4MiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body: Option<ByteSize>,
}

/// OpenTelemetry OTLP trace export settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingConfig {
    /// OTLP/gRPC collector endpoint, e.g. `http://127.0.0.1:4317`.
    pub otlp_endpoint: String,
    /// Fraction of traces sampled, 0.0 to 1.0. Default 1.0. A sampled `traceparent` from the
    /// client is always honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_ratio: Option<f64>,
}

/// Log settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggingConfig {
    /// `text` (default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    /// A `tracing` filter such as `info` or `info,gateway=debug`. `RUST_LOG` wins when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One listening port.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bind {
    /// TCP port. `0` picks a free port (useful in tests; the chosen port is logged).
    pub port: u16,
    /// Address to listen on. Default `0.0.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// How the port accepts traffic. All listeners on one bind share its protocol family.
    pub listeners: Vec<Listener>,
    /// Limits that protect the port from slow, greedy or oversized clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BindLimits>,
}

/// Connection and request limits of one bind. Every key has a safe default; `0` turns a
/// count or a timeout off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindLimits {
    /// Largest request head (request line and headers; HTTP/2: the decoded header list).
    /// Larger gets `431`. Default `64KiB`, at least `8KiB`, at most `16MiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header_size: Option<ByteSize>,
    /// Time a client gets to send its request headers (HTTP/1.1). Default `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_read_timeout: Option<Duration>,
    /// Time a client gets to send a whole request body, from the end of its headers; a slower
    /// one gets `408` and the connection is closed. Default `60s`; `0s` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_read_timeout: Option<Duration>,
    /// Streams one HTTP/2 connection may have open at once. Default `100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_concurrent_streams: Option<u32>,
    /// Open connections on this bind; more are closed as they arrive. Default `10000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Open connections from one client IP address; more are closed as they arrive.
    /// Default `1024`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_client: Option<u32>,
}

/// How a bind accepts traffic.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    /// Unique within the bind; used in logs, metrics and route keys (`listener/route`).
    pub name: String,
    /// `HTTP` (default) or `HTTPS`. `TCP` and `TLS` are not supported yet.
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// Host name this listener serves: exact (`api.example.com`) or wildcard
    /// (`*.example.com`, `*`). Default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Certificate and key for `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Routes, matched by precedence (see the docs), not by order.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// Listener protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListenerProtocol {
    /// Plain HTTP/1.1 and HTTP/2 (h2c, prior knowledge).
    #[default]
    Http,
    /// HTTP/1.1 and HTTP/2 over TLS (ALPN).
    Https,
    /// Raw TCP proxying. Not supported yet.
    Tcp,
    /// TLS passthrough. Not supported yet.
    Tls,
}

/// PEM files for a TLS listener.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM; path relative to the config file (or the PEM text itself,
    /// starting `-----BEGIN`, as the Kubernetes source writes it).
    pub cert: String,
    /// Private key, PEM; path relative to the config file (or the PEM text itself, as for
    /// `cert`; then redacted in `/config`).
    pub key: String,
}

/// A route: matches, policies and weighted backends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Unique within the listener.
    pub name: String,
    /// Host names this route serves (exact or `*.` wildcard). Default: all the listener serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// Any one match selects the route. Default: one match of path prefix `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RouteMatch>,
    /// Policies for every request on this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
    /// Where requests go, chosen by weight. May be empty only when a policy answers the request
    /// itself (`requestRedirect`).
    #[serde(default)]
    pub backends: Vec<RouteBackend>,
}

/// One way a request can match a route; all present conditions must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    /// Path condition. Default prefix `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    /// HTTP method, e.g. `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Header conditions; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatch>,
    /// Query parameter conditions; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<ValueMatch>,
}

/// Path condition: exactly one of `exact`, `prefix` (segment-aware) or `regex` (whole path).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum PathMatch {
    /// The path equals this.
    Exact(String),
    /// The path starts with these whole segments: `/api` matches `/api` and `/api/x`, not `/apix`.
    Prefix(String),
    /// The whole path matches this regular expression.
    Regex(String),
}

/// A header or query parameter condition: `name` and exactly one of `value` or `regex`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueMatch {
    /// Header name (case-insensitive) or query parameter name (case-sensitive).
    pub name: String,
    /// Exact value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// A route's backend entry: a reference to a named backend or an inline `host`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteBackend {
    /// Name of a backend in the top-level `backends` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Inline upstream `host:port` (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Answer this HTTP status (400 to 599) instead of proxying, for this entry's share of
    /// the requests: what the Kubernetes source writes for a `backendRef` that does not
    /// resolve (the Gateway API's `500`). Instead of `backend` or `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 400, max = 599))]
    pub status: Option<u16>,
    /// Relative weight, default 1. `0` keeps the entry but sends it nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Policies applied when this entry is chosen; they override the route's of the same kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
}

/// A named backend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedBackend {
    /// Unique name that routes refer to.
    pub name: String,
    /// Static upstream `host:port` (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Virtual MCP server aggregating `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<mcp_mux::McpBackendConfig>,
    /// LLM providers behind one endpoint: OpenAI and Anthropic APIs served, translated and
    /// failed over (see [`super::ai`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<super::ai::AiBackendConfig>,
    /// A Gateway API Inference Extension pool of model servers, one chosen per request by
    /// its picker (see [`super::pool`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_pool: Option<super::pool::InferencePoolConfig>,
    /// Policies applied to every request sent to this backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
}

/// Policies; each attaches to a route, a route's backend entry, or a named backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policies {
    /// Add, set or remove request headers before the request goes upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HeaderModifier>,
    /// Add, set or remove response headers before the response goes to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_header_modifier: Option<HeaderModifier>,
    /// Answer with a redirect instead of proxying. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_redirect: Option<RequestRedirect>,
    /// Rewrite the host and path sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_rewrite: Option<UrlRewrite>,
    /// Copy a share of requests to another backend, fire-and-forget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mirror: Option<RequestMirror>,
    /// CORS: preflights answered by the gateway, headers added to actual responses. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Total and per-attempt time limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    /// Retries of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Largest request body accepted, e.g. `4MiB` or a number of bytes; 413 beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body: Option<ByteSize>,

    /// A2A relay: agent cards rewritten to point at the gateway, JSON-RPC and HTTP+JSON calls
    /// checked and relayed, streams passed through. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aPolicy>,
    /// Credentials added to upstream requests: `key` (a bearer token, or `{header, value}`),
    /// `oauth2` (client credentials) or `passthrough` (nothing added). On a backend it
    /// replaces the route's. Not on routes to `mcp` backends: set it on their targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_auth: Option<backend_auth::BackendAuthConfig>,
    /// Reach the backend over TLS (`https`), like the Gateway API's BackendTLSPolicy: the
    /// certificate must chain to the built-in roots or to one in `SSL_CERT_FILE` and name
    /// `hostname` (default: the host of `host:`), which is also sent as SNI. On a backend it
    /// replaces the route's. Not on routes to `mcp` backends: use an https URL on the target.
    #[serde(
        default,
        rename = "backendTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_tls: Option<BackendTls>,
    /// JWT authentication: bearer tokens from one or several issuers, verified against their
    /// JWKS (file or URL). Route level only; one of `jwtAuth`, `apiKeyAuth`, `basicAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_auth: Option<authn::JwtAuthConfig>,
    /// API key authentication: keys in a header (default `x-api-key`) or as a bearer token.
    /// Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_auth: Option<authn::ApiKeyAuthConfig>,
    /// HTTP basic authentication against an htpasswd file. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<authn::BasicAuthConfig>,
    /// MCP authorization discovery (MCP spec 2025-11-25): the route is an OAuth 2.1 protected
    /// resource. RFC 9728 metadata served at `/.well-known/oauth-protected-resource` + the
    /// resource's path, `401`/`403` discovery challenges, JWTs whose audience is `resource`.
    /// Route level only; instead of `jwtAuth`, `apiKeyAuth` or `basicAuth`, not with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_authentication: Option<authn::McpAuthenticationConfig>,
    /// CEL rules deciding which tools, prompts and resources a caller sees and uses, on routes
    /// to `mcp` backends: a denied item is left out of lists and answered as unknown. Route
    /// level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_authorization: Option<authz::RuleSet>,
    /// CEL rules deciding whether a request may pass, before it goes anywhere: `403` when
    /// denied. Route level only; on a route to an `mcp` backend it gates the HTTP requests
    /// (use `mcpAuthorization` for tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<authz::RuleSet>,
    /// Token buckets kept in this replica's memory: `{maxTokens, tokensPerFill, fillInterval,
    /// per}` each, `per` one of `route` (default), `identity` or `tool` (MCP). A request needs
    /// a token from each; `429` with `Retry-After` (a JSON-RPC error for an MCP tool call)
    /// when one is empty. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_rate_limit: Option<Vec<ratelimit::LimitConfig>>,
    /// Token buckets shared by every replica through Redis: `store.redis.url`, `failureMode`
    /// (`failOpen` default, `failClosed`) and `limits`, the buckets. Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<ratelimit::RateLimitConfig>,
    /// Token and spend budgets on routes to `ai` backends: `limits`, buckets of tokens
    /// (`maxTokens`, `tokensPerFill`) or US dollars (`maxCost`, `costPerFill`, priced by the
    /// backend's `pricing`) per route, caller or model. A request needs its estimated input in
    /// each bucket (`429` with `Retry-After` in the client's format otherwise); the real usage
    /// is charged when the response ends. In memory, or shared through Redis (`store`,
    /// `failureMode`). Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_rate_limit: Option<super::ai::TokenRateLimitConfig>,
    /// Guards on the text of LLM calls, on routes to `ai` backends: regex guards (built-in
    /// detectors `email`, `creditCard`, `usSsn`, `phoneNumber` and custom patterns; `reject`
    /// or `mask`) on requests and responses (streams included), and a webhook on requests.
    /// Route level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_guard: Option<super::guard::PromptGuardConfig>,
}

/// The `backendTLS` policy: connect to the backend with TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendTls {
    /// The name sent as SNI and checked against the backend's certificate. Default: the host
    /// of the backend's `host:` (an IP address is checked against the certificate's IP names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Header changes, applied in the order remove, set, add.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderModifier {
    /// Appended to any existing values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Replace any existing values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Header names removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Redirect response, Gateway API `RequestRedirect` semantics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestRedirect {
    /// `http` or `https`. Default: the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Default: the request's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Default: the request's port, or the scheme's well-known port when the scheme changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Path change. Default: the request's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
    /// 301, 302 (default), 303, 307 or 308.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
}

/// URL rewrite before the request goes upstream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrlRewrite {
    /// `Host` header sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Path change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
}

/// Path change: exactly one of `full` or `prefix`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum PathRewrite {
    /// Replace the whole path.
    Full(String),
    /// Replace the matched path prefix (needs a `prefix` path match on the route).
    Prefix(String),
}

/// Mirror a share of requests to another backend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestMirror {
    /// Where copies go: `{host: ...}` or `{backend: NAME}`.
    pub backend: MirrorBackend,
    /// Share of requests mirrored, 0 to 100. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
}

/// The backend of a mirror: exactly one of `host` or `backend`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MirrorBackend {
    /// Inline `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Name of a `host` backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// CORS policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    /// Allowed origins: exact (`https://app.example.com`), wildcard host (`https://*.example.com`)
    /// or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<String>,
    /// Allowed methods, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Allowed request headers, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// Preflight cache lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// Time limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeout {
    /// Whole request, all retries included, until the response headers arrive. 504 beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Duration>,
    /// One upstream attempt, until its response headers arrive. 504 beyond it (or a retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_request: Option<Duration>,
}

/// Retry policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    /// Retries after the first attempt. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Fixed wait between attempts. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
    /// Response statuses that are retried. Connect failures, resets and per-attempt timeouts are
    /// always retried. Default `[503]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u16>,
}

/// The `a2a` route policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct A2aPolicy {
    /// The route's public base URL, e.g. `https://gw.example.com/agents/travel`. Default: the
    /// request's scheme and host and the route's path prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Signed cards: `strip` the signatures (default; a rewritten card no longer matches them)
    /// or `passUnmodified` (the card is not rewritten at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_cards: Option<SignedCardsMode>,
    /// Request header naming the caller, for task ownership: a task is visible only to the
    /// caller that created it. On a route with an authentication policy the authenticated
    /// caller owns its tasks instead; this header then tells anonymous callers apart only.
    /// Without it or authentication, ownership is not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_header: Option<String>,
    /// Push-notification webhook checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_notifications: Option<PushNotificationPolicy>,
    /// A stream from the agent that sends nothing (not even a keep-alive comment) for this
    /// long is closed. Default `60s`, well above the 15 s keep-alives agents send. Streams
    /// have no total time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<Duration>,
}

/// What to do with signed agent cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SignedCardsMode {
    /// Drop `signatures` and rewrite the card (logged).
    Strip,
    /// Pass the card as the agent sent it.
    PassUnmodified,
}

/// Rules for push-notification webhook URLs in A2A requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushNotificationPolicy {
    /// Refuse plain `http://` webhooks. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_https: Option<bool>,
    /// Hosts exempt from the address checks: exact names or `*.suffix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_hosts: Vec<String>,
    /// Address ranges exempt from the checks, e.g. `10.20.0.0/16`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_cidrs: Vec<String>,
}
