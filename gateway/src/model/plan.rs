//! What a route does to a request, compiled once when the config is loaded: ordered phases,
//! held as data.
//!
//! A request on a route goes through, top to bottom:
//!
//! 1. the route's phases ([`RoutePlan::request`]), before a backend is chosen. Any of them may
//!    answer the request itself (a CORS preflight, a redirect, a body over the limit);
//! 2. the choice of a backend, by weight among those passive health has not ejected;
//! 3. that backend's request phases ([`BackendPlan::request`]), in order;
//! 4. the backend's [`Terminal`]: the reverse proxy to an upstream (with its time limits and
//!    retries), or the virtual MCP server;
//! 5. the backend's response phases ([`BackendPlan::response`]), in order.
//!
//! Route and backend policies are merged when the plan is compiled (see
//! `model::lower::plan`), never per request: a backend's `timeout` or `retry` replaces the
//! route's, header modifiers run route first on the way up and backend first on the way down.
//! A policy that cannot apply to a backend's kind is a load error, not a silent no-op.
//!
//! New policies (authentication, rate limits, LLM routing) are new phase variants placed in
//! this order; the loop in `proxy` and the other phases do not change.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backend_auth::BackendAuth;
use http::{HeaderValue, Request, Response};

use super::policy::{
    A2aRelay, Authorize, Cors, HeaderModifier, Mirror, PathRewrite, Redirect, Retry, Timeouts,
};
use super::upstream::Upstream;
use crate::body::Body;

/// The phases of a route that run before a backend is chosen.
#[derive(Debug)]
pub struct RoutePlan {
    /// In order; each may answer the request.
    pub request: Vec<RoutePhase>,
    /// How the gateway's own errors reach the client.
    pub errors: ErrorFormat,
}

/// A phase that runs before a backend is chosen.
#[derive(Debug)]
pub enum RoutePhase {
    /// `cors`: answers preflights; for other cross-origin requests, decides the headers the
    /// response gets (added by [`ResponsePhase::Cors`]) or refuses nothing and adds nothing.
    Cors(Cors),
    /// `jwtAuth`, `apiKeyAuth` or `basicAuth`: the caller's identity, put on the exchange, or
    /// a `401` with a challenge. CORS preflights and `/.well-known/` paths are never
    /// challenged.
    Authenticate(Arc<authn::Authenticator>),
    /// `localRateLimit` and `rateLimit` (`per: route` and `per: identity` entries): a token
    /// from each bucket, or `429` with `Retry-After`. After authentication, whose identity
    /// `per: identity` reads.
    RateLimit(Arc<super::ratelimit::Limits>),
    /// `authorization`: the route's rules over the caller and the request; a `403` when they
    /// deny (or fail). CORS preflights and `/.well-known/` paths pass, as they pass
    /// authentication.
    Authorize(Arc<Authorize>),
    /// `requestRedirect`: answers with a redirect; nothing goes upstream.
    Redirect(Redirect),
    /// `maxRequestBody` (or its default): a declared `Content-Length` over the limit is
    /// refused with 413; a body without one is cut off at the limit while it streams.
    BodyLimit(u64),
}

/// The format of the gateway's own error answers on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// A short `text/plain` body with the HTTP status.
    Text,
    /// On `a2a` routes: A2A calls get a JSON-RPC error body (other requests get text).
    A2a,
    /// On routes whose backends are all `ai` backends: a request to an LLM API path gets the
    /// error object of that API (OpenAI's or Anthropic's), which the client's SDK can read;
    /// other paths get text.
    Llm,
}

/// What happens to a request once its backend is chosen.
#[derive(Debug)]
pub struct BackendPlan {
    /// In order; each may answer the request.
    pub request: Vec<RequestPhase>,
    /// Where the request ends.
    pub terminal: Terminal,
    /// In order, on the terminal's response (not on the gateway's own error answers).
    pub response: Vec<ResponsePhase>,
}

/// A request phase after the backend is chosen.
#[derive(Debug)]
pub enum RequestPhase {
    /// First, after authentication: the caller's credential headers are removed, so they
    /// never reach an upstream, a mirror or an MCP target (not with `backendAuth:
    /// passthrough`, which passes them on).
    StripCredentials(Vec<http::HeaderName>),
    /// `urlRewrite.path`: the path sent upstream.
    RewritePath(PathRewrite),
    /// `a2a`, request side: reads what the relay needs (the JSON-RPC call, the card fetch),
    /// checks push-notification URLs and task ownership; may answer in the A2A protocol.
    A2a {
        /// The policy and its state.
        relay: Arc<A2aRelay>,
        /// `http://upstream` plus the path the route's public prefix maps to, which agent
        /// cards are rewritten from.
        upstream_base: String,
        /// The route's body limit, for the bodies the relay reads whole.
        body_limit: u64,
    },
    /// Always before a reverse proxy: hop-by-hop headers out, `X-Forwarded-*` in, `Host`
    /// kept or replaced by `urlRewrite.hostname`.
    ForwardingHeaders {
        /// `urlRewrite.hostname`.
        host: Option<HeaderValue>,
    },
    /// `requestHeaderModifier` of the route, then of the backend.
    RequestHeaders(HeaderModifier),
    /// The body is read whole, so that `retry` can send it again.
    BufferBody,
    /// `requestMirror`: a copy of the request (after header changes, before the credential)
    /// goes to another upstream, fire-and-forget.
    Mirror(Mirror),
    /// `backendAuth`: the credential replaces the client's header of the same name.
    Credential {
        /// Where the credential comes from.
        auth: BackendAuth,
        /// The upstream, for error messages.
        upstream: Upstream,
    },
}

/// The virtual MCP server of an `mcp` backend, as the plan holds it. The model only names it:
/// the server (mcp-mux behind its Streamable HTTP front) lives in the `mcp` module, a layer
/// above, which builds it for the lowering through a [`BuildMcp`] and serves requests with it.
pub trait McpServer: Send + Sync + std::fmt::Debug {
    /// Serves one HTTP request of the MCP Streamable HTTP transport, answering errors in
    /// JSON-RPC.
    fn serve(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>>;
}

/// What the lowering asks of the `mcp` module to build one `mcp` backend.
#[derive(Debug, Clone, Copy)]
pub struct McpBackendSpec<'a> {
    /// The route's key (metrics carry it).
    pub route: &'a str,
    /// The backend's name.
    pub name: &'a str,
    /// Its `mcp` config.
    pub config: &'a mcp_mux::McpBackendConfig,
    /// The config file's directory, which relative paths in it are relative to.
    pub base_dir: &'a std::path::Path,
    /// `config.sessionKey`, which session ids are sealed with.
    pub session_key: Option<[u8; 32]>,
}

/// Why an `mcp` backend could not be built.
#[derive(Debug)]
pub struct McpBackendError {
    /// The key path under the backend's `mcp` that the problem is at
    /// (`targets[0].openapi.credentials.oauth`), when it is narrower than the whole backend.
    pub at: Option<String>,
    /// What is wrong, naming the target.
    pub message: String,
}

impl From<String> for McpBackendError {
    fn from(message: String) -> Self {
        McpBackendError { at: None, message }
    }
}

/// Builds the server of an `mcp` backend while the config is lowered (so a broken backend is a
/// load error at its line). Passed in by the caller of [`crate::model::load`], which knows the
/// `mcp` module; the model does not.
pub type BuildMcp = fn(McpBackendSpec<'_>) -> Result<Arc<dyn McpServer>, McpBackendError>;

/// Where a request ends.
#[derive(Debug)]
pub enum Terminal {
    /// The reverse proxy.
    Forward(Forward),
    /// The virtual MCP server, which answers itself and calls its targets.
    Mcp {
        /// The server.
        server: Arc<dyn McpServer>,
        /// `timeout.request`: until the response headers.
        timeout: Option<Duration>,
        /// The route's `per: tool` rate limits, checked on each `tools/call`.
        tool_limit: Option<mcp_mux::ToolLimit>,
        /// The route's `mcpAuthorization`, handed to the server with each request (so a reload
        /// that changes only the rules keeps the server and its sessions).
        policy: Option<Arc<mcp_mux::McpPolicy>>,
    },
    /// LLM providers: the client's API call translated for the chosen provider, failed over
    /// between providers, metered.
    Ai(AiTerminal),
    /// An `inferencePool`: the picker chooses the endpoints, the reverse proxy sends the
    /// request to the first and walks the rest on retries.
    Pool(PoolTerminal),
    /// A fixed answer with this status and a short text body: a route backend entry with
    /// `status:` (the Kubernetes source's share of a `backendRef` that does not resolve).
    Status(http::StatusCode),
}

/// The terminal of an `inferencePool` backend: the request (its body read whole) goes to the
/// pool's picker, then to the endpoint it chose, with the time limits and retries of a
/// `host` backend (attempt N goes to the N-th endpoint of the picker's list, the last one
/// repeated); the response is reported to the picker, whose response headers are applied.
#[derive(Debug)]
pub struct PoolTerminal {
    /// The pool and its picker.
    pub pool: Arc<super::pool::InferencePool>,
    /// `timeout`, merged.
    pub timeouts: Timeouts,
    /// `retry`, merged.
    pub retry: Option<Retry>,
    /// `backendAuth` that signs each request as it leaves (`aws`), once per attempt.
    pub sign: Option<BackendAuth>,
}

/// The terminal of an `ai` backend. Its own steps, in order: the client's API call read
/// whole; `promptGuard`'s request guards (regex, then webhook), which may refuse it in the
/// client's format or mask its text; the providers, tried in order; `promptGuard`'s response
/// guard on the answer in the client's format (a complete body, or a stream event by
/// event); then the backend's response phases.
#[derive(Debug)]
pub struct AiTerminal {
    /// The providers and their state.
    pub backend: Arc<super::ai::AiBackend>,
    /// `timeout`, merged: `request` for the whole exchange until the response starts,
    /// `backendRequest` for each provider attempt.
    pub timeouts: Timeouts,
    /// The route's `tokenRateLimit`: checked with an estimate before a provider is called,
    /// charged the real usage when the response ends.
    pub budgets: Option<Arc<super::ai::TokenBudgets>>,
    /// `promptGuard` of the route.
    pub guard: Option<Arc<super::guard::PromptGuard>>,
}

/// The reverse proxy to one upstream.
#[derive(Debug)]
pub struct Forward {
    /// `host:port`.
    pub upstream: Upstream,
    /// `timeout`, merged.
    pub timeouts: Timeouts,
    /// `retry`, merged.
    pub retry: Option<Retry>,
    /// `backendTLS`, merged: the TLS server name (SNI and certificate name) when the upstream
    /// is reached over TLS; `None` for plain HTTP.
    pub tls: Option<std::sync::Arc<str>>,
    /// `backendAuth` that signs each request as it leaves (`aws`), once per attempt.
    pub sign: Option<BackendAuth>,
}

/// A response phase, on the terminal's response.
#[derive(Debug)]
pub enum ResponsePhase {
    /// `responseHeaderModifier` of the backend, then of the route.
    ResponseHeaders(HeaderModifier),
    /// The CORS headers decided by [`RoutePhase::Cors`].
    Cors,
    /// `a2a`, response side: agent cards rewritten to point at the gateway, results and
    /// stream events read for task ids and states.
    A2a,
    /// The `X-RateLimit-*` headers of the decision [`RoutePhase::RateLimit`] made.
    RateLimitHeaders,
}

/// The kinds of backend a policy may apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `host`: the reverse proxy.
    Host,
    /// `mcp`: the virtual MCP server.
    Mcp,
    /// `ai`: LLM providers.
    Ai,
}

impl BackendKind {
    /// The name users write in the config.
    pub fn key(self) -> &'static str {
        match self {
            BackendKind::Host => "host",
            BackendKind::Mcp => "mcp",
            BackendKind::Ai => "ai",
        }
    }
}
