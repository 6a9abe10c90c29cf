//! The HTTP data path: listener and route selection, policies, and the reverse proxy.
//!
//! [`Proxy::serve`] handles one request against one snapshot of the model, so a reload never
//! changes the config under a request in flight.

mod a2a;
mod access_log;
mod ai;
mod authn;
mod authz;
mod cors;
mod discovery;
mod early;
pub mod error;
mod exchange;
pub(crate) mod forward;
mod headers;
mod mirror;
mod normalize;
mod phases;
mod pool;
mod ratelimit;
mod rewrite;
mod terminal;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;
use tracing::Instrument;

use crate::body::{self, Body};
use crate::metrics::Metrics;
use crate::model::host::request_host;
use crate::model::matcher::Selected;
use crate::model::plan::{ErrorFormat, Terminal};
use crate::model::route::{NoBackend, Route, RouteBackend};
use crate::model::Bind;
use access_log::{AccessLog, InFlight};
use error::ProxyError;
use exchange::{Exchange, RequestBody};
use phases::Flow;

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// Client address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The address its bind listens on (as configured: `0.0.0.0` stays unspecified), which
    /// decides whether MCP's DNS-rebinding check applies by default.
    pub bind: SocketAddr,
}

/// Shared state of the data path: the metrics. Upstream connection pools are per thread.
pub struct Proxy {
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The upstream HTTP client: netkit's inline pool on its connector, so `backendTLS` backends
/// are reached over TLS trusting the built-in roots plus `SSL_CERT_FILE`, and a request is
/// written and its response read by the task serving the client (no connection task, channel
/// or thread hop per request).
pub(crate) type UpstreamClient = netkit::InlineClient<Body>;

/// This thread's clients: the default one (plain HTTP, and TLS named by the URI's host) and
/// one per `backendTLS.hostname`, since hyper pools by authority and a connection made with
/// one server name must not serve a backend that asked for another.
#[derive(Default)]
struct Clients {
    default: Option<UpstreamClient>,
    by_name: std::collections::HashMap<Arc<str>, UpstreamClient>,
}

thread_local! {
    /// One pool per worker thread, so their locks are not contended (a connection is driven
    /// by the request's own task wherever it runs: see `netkit::inline`).
    static CLIENTS: std::cell::RefCell<Clients> = std::cell::RefCell::default();
}

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Connect timeout for upstreams.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Proxy {
    /// Creates the data path.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Proxy { metrics }
    }

    /// This thread's upstream client (cheap to clone) for an upstream whose TLS server name
    /// is `server_name` (`None`: plain HTTP, or TLS named by the URI's host).
    pub(crate) fn client(&self, server_name: Option<&Arc<str>>) -> UpstreamClient {
        CLIENTS.with(|c| {
            let mut c = c.borrow_mut();
            match server_name {
                None => c.default.get_or_insert_with(|| new_client(None)).clone(),
                Some(name) => c
                    .by_name
                    .entry(name.clone())
                    .or_insert_with(|| new_client(Some(name.clone())))
                    .clone(),
            }
        })
    }

    /// Serves one request on `bind`.
    pub async fn serve(
        self: Arc<Self>,
        bind: Arc<Bind>,
        conn: Conn,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let span = tracing::info_span!(
            "request",
            http.method = %parts.method,
            http.path = parts.uri.path(),
            route = tracing::field::Empty,
            backend = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        crate::telemetry::set_parent(&span, &parts.headers);
        let mut inflight = InFlight::new(
            AccessLog::new(&parts, conn.remote, started),
            self.metrics.clone(),
            span.clone(),
        );
        let log = inflight.log();
        let mut unfinished = Unfinished::default();
        // Boxed: the handling future is a few KiB, and hyper moves the outer one around.
        let resp = Box::pin(self.handle(&bind, conn, parts, body, log, &mut unfinished))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|e| {
                log.error = Some(e.to_string());
                if let Some(kind) = e.metric_kind() {
                    self.metrics.upstream_error(log.route_key(), kind);
                }
                if e.status().is_server_error() {
                    tracing::warn!(parent: &span, route = log.route_key(), error = %e, "request failed");
                }
                error_response(&e, log, unfinished.llm_api)
            });
        let resp = match unfinished.unread {
            Some(unread) => early::settle(resp, unread).await,
            None => resp,
        };
        span.record("status", resp.status().as_u16());
        log.status = resp.status().as_u16();
        match inflight.finisher() {
            Some(finisher) => resp.map(|b| body::Observed::new(b, Box::new(finisher)).boxed()),
            None => resp,
        }
    }

    /// Handles a request: the route's phases, the choice of a backend, the backend's request
    /// phases, its terminal, its response phases. The plan says which phases run, in which
    /// order (see [`crate::model::plan`]); this loop only walks it. What the answer leaves
    /// to finish is handed back in `unfinished`.
    async fn handle(
        self: &Arc<Self>,
        bind: &Bind,
        conn: Conn,
        mut parts: http::request::Parts,
        body: Incoming,
        log: &mut AccessLog,
        unfinished: &mut Unfinished,
    ) -> Result<Response<Body>, ProxyError> {
        let Selected { route, matched } = match select_route(bind, &mut parts) {
            Routing::Route(selected) => selected,
            Routing::Answer(answer) => {
                unfinished.unread = early::Unread::of(RequestBody::Incoming(body), &parts);
                return answer;
            }
        };
        log.route = Some(route.clone());
        tracing::Span::current().record("route", &*route.key);
        let mut ex = Exchange::new(conn, parts, body, route, matched);
        if let Some(budget) = bind.limits.body_read_timeout {
            ex.limit_body_read_time(budget);
        }
        let answer = self.run_plan(route, &mut ex, log).await;
        unfinished.unread = early::Unread::of(ex.take_body(), &ex.parts);
        unfinished.llm_api = ex.llm_api;
        answer
    }

    /// The route's plan for `ex`, from its first phase to its response phases.
    async fn run_plan<'r>(
        self: &Arc<Self>,
        route: &'r Route,
        ex: &mut Exchange<'r>,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let client_version = ex.parts.version;
        for phase in &route.plan.request {
            if let Flow::Answer(resp) = phases::route_phase(phase, ex, log, &self.metrics).await? {
                return Ok(resp);
            }
        }

        let backend = pick_backend(route)?;
        log.backend = Some(backend.name.clone());
        tracing::Span::current().record("backend", &*backend.name);
        let plan = &backend.plan;
        for phase in &plan.request {
            if let Flow::Answer(resp) = self.request_phase(phase, ex, log).await? {
                return Ok(resp);
            }
        }

        let mut resp = match &plan.terminal {
            Terminal::Forward(forward) => self.forward(forward, backend, ex, log).await?,
            Terminal::Mcp {
                server,
                timeout,
                tool_limit,
                policy,
            } => {
                terminal::serve_mcp(
                    server,
                    *timeout,
                    tool_limit.as_ref(),
                    policy.as_ref(),
                    ex,
                    log,
                )
                .await?
            }
            // Boxed: these futures are several KiB, and inline they would make every
            // request's future (copied once per request) as large, the plain proxy's too.
            Terminal::Ai(ai) => Box::pin(self.serve_ai(ai, ex, log)).await?,
            Terminal::Pool(pool) => Box::pin(self.serve_pool(pool, backend, ex, log)).await?,
            Terminal::Status(status) => error::text_response(
                *status,
                "this backend is not available (its reference does not resolve)",
            ),
        };

        // The response as the client's connection frames it, then the response phases.
        *resp.version_mut() = client_version;
        for phase in &plan.response {
            resp = phases::response_phase(phase, ex, resp).await;
        }
        Ok(resp)
    }
}

/// What [`Proxy::serve`] needs from [`Proxy::handle`] to finish its answer.
#[derive(Default)]
struct Unfinished {
    /// The request body, when the answer left (some of) it unread.
    unread: Option<early::Unread>,
    /// The LLM API the client speaks, on a route to `ai` backends: the format of the
    /// gateway's own errors.
    llm_api: Option<llm::ClientApi>,
}

/// Where a request goes, decided before any route policy runs.
enum Routing<'b> {
    /// To this route.
    Route(Selected<'b>),
    /// Nowhere: the gateway answers itself (the RFC 9728 metadata), or refuses.
    Answer(Result<Response<Body>, ProxyError>),
}

/// The route of the request `parts` on `bind` (the URI normalized on the way), or the
/// answer to give when no route is to serve it.
fn select_route<'b>(bind: &'b Bind, parts: &mut http::request::Parts) -> Routing<'b> {
    if !parts.uri.path().starts_with('/') {
        // Asterisk-form (`OPTIONS *`) and other non-path targets name no route.
        return Routing::Answer(Err(ProxyError::BadRequest(format!(
            "request target {:?} is not a path",
            parts.uri.path()
        ))));
    }
    if let Some(uri) = normalize::normalize_uri(&parts.uri) {
        parts.uri = uri;
    }
    let host = request_host(parts);
    let Some(listener) = bind.listener_for(host.as_deref()) else {
        return Routing::Answer(Err(ProxyError::NoListener {
            host: host.map(std::borrow::Cow::into_owned).unwrap_or_default(),
        }));
    };
    if let Some(resp) = discovery::answer(&listener.discovery, parts) {
        return Routing::Answer(Ok(resp));
    }
    match listener.routes.select(host.as_deref(), parts) {
        Some(selected) => Routing::Route(selected),
        None => Routing::Answer(Err(ProxyError::NoRoute {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
        })),
    }
}

/// The gateway's own answer to a request it could not serve, in the caller's protocol: A2A
/// calls get a JSON-RPC error, and so do MCP requests; LLM clients their API's error object;
/// everything else a short text.
fn error_response(
    e: &ProxyError,
    log: &AccessLog,
    llm_api: Option<llm::ClientApi>,
) -> Response<Body> {
    if let Some(fields) = &log.a2a {
        if a2a::is_call(fields) {
            return a2a::gateway_error(e.status(), &e.to_string());
        }
    }
    let a2a_route = log
        .route
        .as_ref()
        .is_some_and(|r| r.plan.errors == ErrorFormat::A2a);
    match e {
        ProxyError::BodyTooLarge { limit } if a2a_route => a2a::body_too_large(*limit),
        _ if log.mcp.is_some() => crate::mcp::jsonrpc_error(e.status(), -32603, &e.to_string()),
        _ => error::refusal(llm_api, e.status(), &e.to_string()),
    }
}

fn new_client(server_name: Option<Arc<str>>) -> UpstreamClient {
    netkit::InlineClient::new(netkit::HyperOptions {
        connect_timeout: CONNECT_TIMEOUT,
        pool_idle_timeout: POOL_IDLE,
        server_name,
        // Route backends are HTTP servers that answer without waiting on our ACKs; a
        // `setsockopt` per read would be the proxy's largest syscall cost for nothing.
        quick_ack: false,
        ..netkit::HyperOptions::default()
    })
}

fn pick_backend(route: &Route) -> Result<&RouteBackend, ProxyError> {
    route
        .pick_backend(|n| rand::random_range(0..n))
        .map_err(|why| ProxyError::NoBackend {
            route: route.key.to_string(),
            why: match why {
                NoBackend::NoWeight => "every backend has weight 0",
                NoBackend::AllEjected => {
                    "every backend refused connections and is ejected for a while"
                }
            },
        })
}
