//! The HTTP data path: listener and route selection, policies, and the reverse proxy.
//!
//! [`Proxy::serve`] handles one request against one snapshot of the model, so a reload never
//! changes the config under a request in flight.

mod a2a;
mod access_log;
pub mod body;
mod cors;
pub mod error;
mod exchange;
pub(crate) mod forward;
mod headers;
mod mirror;
mod normalize;
mod phases;
mod rewrite;
mod terminal;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::model::host::request_host;
use crate::model::matcher::Selected;
use crate::model::plan::{ErrorFormat, Terminal};
use crate::model::route::{NoBackend, Route, RouteBackend};
use crate::model::Bind;
use access_log::{AccessLog, InFlight};
use body::Body;
use error::ProxyError;
use exchange::Exchange;
use phases::Flow;

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// Client address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Shared state of the data path: the metrics. Upstream connection pools are per thread.
pub struct Proxy {
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The upstream HTTP client.
pub(crate) type UpstreamClient = Client<HttpConnector, Body>;

thread_local! {
    /// One pool per worker thread, so a request and its upstream connection share a thread.
    static CLIENT: std::cell::OnceCell<UpstreamClient> = const { std::cell::OnceCell::new() };
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

    /// This thread's upstream client (cheap to clone).
    pub(crate) fn client(&self) -> UpstreamClient {
        CLIENT.with(|c| c.get_or_init(new_client).clone())
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
        // Boxed: the handling future is a few KiB, and hyper moves the outer one around.
        let resp = Box::pin(self.handle(&bind, conn, parts, body, log))
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
                error_response(&e, log)
            });
        span.record("status", resp.status().as_u16());
        log.status = resp.status().as_u16();
        match inflight.finisher() {
            Some(finisher) => resp.map(|b| body::Observed::new(b, Box::new(finisher)).boxed()),
            None => resp,
        }
    }

    /// Handles a request: the route's phases, the choice of a backend, the backend's request
    /// phases, its terminal, its response phases. The plan says which phases run, in which
    /// order (see [`crate::model::plan`]); this loop only walks it.
    async fn handle(
        self: &Arc<Self>,
        bind: &Bind,
        conn: Conn,
        mut parts: http::request::Parts,
        body: Incoming,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let client_version = parts.version;
        if !parts.uri.path().starts_with('/') {
            // Asterisk-form (`OPTIONS *`) and other non-path targets name no route.
            return Err(ProxyError::BadRequest(format!(
                "request target {:?} is not a path",
                parts.uri.path()
            )));
        }
        if let Some(uri) = normalize::normalize_uri(&parts.uri) {
            parts.uri = uri;
        }
        let host = request_host(&parts);
        let listener =
            bind.listener_for(host.as_deref())
                .ok_or_else(|| ProxyError::NoListener {
                    host: host.clone().unwrap_or_default(),
                })?;
        let Selected { route, matched } = listener
            .routes
            .select(host.as_deref(), &parts)
            .ok_or_else(|| ProxyError::NoRoute {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
            })?;
        log.route = Some(route.clone());
        tracing::Span::current().record("route", &*route.key);
        let mut ex = Exchange::new(conn, parts, body, route, matched);

        for phase in &route.plan.request {
            if let Flow::Answer(resp) = phases::route_phase(phase, &mut ex)? {
                return Ok(resp);
            }
        }

        let backend = pick_backend(route)?;
        log.backend = Some(backend.name.clone());
        tracing::Span::current().record("backend", &*backend.name);
        let plan = &backend.plan;
        for phase in &plan.request {
            if let Flow::Answer(resp) = self.request_phase(phase, &mut ex, log).await? {
                return Ok(resp);
            }
        }

        let mut resp = match &plan.terminal {
            Terminal::Forward(forward) => self.forward(forward, backend, &mut ex, log).await?,
            Terminal::Mcp { server, timeout } => {
                terminal::serve_mcp(server, *timeout, &mut ex, log).await?
            }
        };

        // The response as the client's connection frames it, then the response phases.
        *resp.version_mut() = client_version;
        for phase in &plan.response {
            resp = phases::response_phase(phase, &mut ex, resp).await;
        }
        Ok(resp)
    }
}

/// The gateway's own answer to a request it could not serve, in the caller's protocol: A2A
/// calls get a JSON-RPC error, and so do MCP requests; everything else a short text.
fn error_response(e: &ProxyError, log: &AccessLog) -> Response<Body> {
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
        _ => e.to_response(),
    }
}

fn new_client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
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
