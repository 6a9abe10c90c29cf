//! The HTTP data path: listener and route selection, policies, and the reverse proxy.
//!
//! [`Proxy::serve`] handles one request against one snapshot of the model, so a reload never
//! changes the config under a request in flight.

mod a2a;
mod access_log;
pub mod body;
mod cors;
pub mod error;
pub(crate) mod forward;
mod headers;
mod mirror;
mod normalize;
mod rewrite;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backend_auth::{BackendAuth, Credential};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
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
use crate::model::policy::UpstreamAuth;
use crate::model::route::{BackendTarget, NoBackend, Route, RouteBackend};
use crate::model::Bind;
use access_log::{AccessLog, InFlight};
use body::{Body, BoxError, Limited};
use error::{text_response, ProxyError};
use forward::{AttemptBody, AttemptStats, Outbound};

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
                match &log.a2a {
                    // A2A callers get the failure in their protocol.
                    Some(fields) if a2a::is_call(fields) => a2a::gateway_error(e.status(), &e.to_string()),
                    _ => e.to_response(),
                }
            });
        span.record("status", resp.status().as_u16());
        log.status = resp.status().as_u16();
        match inflight.finisher() {
            Some(finisher) => resp.map(|b| body::Observed::new(b, Box::new(finisher)).boxed()),
            None => resp,
        }
    }

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
        let policies = &route.policies;

        let mut cors_headers = None;
        if let Some(cors) = &policies.cors {
            match cors::decide(cors, &parts) {
                cors::CorsDecision::Pass => {}
                cors::CorsDecision::Allow(h) => cors_headers = Some(h),
                cors::CorsDecision::Preflight(status, h) => {
                    let mut resp = Response::new(body::empty());
                    *resp.status_mut() = status;
                    *resp.headers_mut() = h;
                    return Ok(resp);
                }
            }
        }
        if let Some(redirect) = &policies.redirect {
            let location = rewrite::redirect_location(redirect, &parts, conn.tls, matched)
                .ok_or_else(|| {
                    ProxyError::BadRequest(
                        "cannot build the redirect location from this request".into(),
                    )
                })?;
            let mut resp = text_response(redirect.status, "redirecting");
            resp.headers_mut().insert(header::LOCATION, location);
            return Ok(resp);
        }

        let limit = policies.max_request_body;
        if let Some(len) = content_length(&parts.headers)? {
            if len > limit {
                if policies.a2a.is_some() {
                    // A2A callers get the error in their protocol.
                    return Ok(a2a::body_too_large(limit));
                }
                return Err(ProxyError::BodyTooLarge { limit });
            }
        }
        let backend = pick_backend(route)?;
        log.backend = Some(backend.name.clone());
        tracing::Span::current().record("backend", &*backend.name);
        let upstream = match &backend.target {
            BackendTarget::Host(upstream) => upstream,
            BackendTarget::Mcp(mcp) => {
                // The virtual MCP server answers itself; route and backend header policies apply.
                for m in [&policies.request_headers, &backend.policies.request_headers]
                    .into_iter()
                    .flatten()
                {
                    m.apply(&mut parts.headers);
                }
                let slot = mcp_mux::RecordSlot::default();
                parts.extensions.insert(slot.clone());
                log.mcp = Some(slot);
                let req = Request::from_parts(parts, Limited::new(body, limit).boxed());
                let (mut rparts, rbody) = mcp.serve(req).await.into_parts();
                finish_response_headers(&mut rparts, client_version, route, backend, cors_headers);
                return Ok(Response::from_parts(rparts, rbody));
            }
        };

        // The upstream request: rewrite, header changes, forwarding headers.
        let rewrite = backend
            .policies
            .rewrite
            .as_ref()
            .or(policies.rewrite.as_ref());
        let path = match rewrite.and_then(|r| r.path.as_ref()) {
            Some(p) => rewrite::rewrite_path(parts.uri.path(), p, matched),
            None => parts.uri.path().to_string(),
        };
        let path_and_query = rewrite::with_query(&path, &parts.uri);

        // The A2A policy reads what it needs of the request and may answer it itself.
        let mut body: Body = Limited::new(body, limit).boxed();
        let mut read_body = None;
        let mut a2a_exchange = None;
        if let Some(relay) = &policies.a2a {
            let upstream_base = match rewrite.and_then(|r| r.path.as_ref()) {
                Some(crate::model::policy::PathRewrite::Prefix(p)) => {
                    format!("http://{upstream}{p}")
                }
                _ => format!("http://{upstream}/"),
            };
            let target = a2a::Target {
                route,
                matched,
                upstream_base,
                tls: conn.tls,
            };
            let fields = a2a::SharedFields::default();
            log.a2a = Some(fields.clone());
            let prepared = a2a::prepare(
                relay,
                &target,
                &mut parts,
                body,
                limit,
                &self.metrics,
                fields,
            )
            .await;
            match prepared {
                Ok((a2a::Prepared::Answer(resp), _)) => return Ok(resp),
                Ok((a2a::Prepared::Forward(ex, bytes), rest)) => {
                    a2a_exchange = Some(ex);
                    read_body = bytes;
                    body = rest.unwrap_or_else(body::empty);
                }
                Err(e) => {
                    return Err(ProxyError::BadRequest(format!(
                        "cannot relay this A2A request: {e}"
                    )))
                }
            }
        }
        // upgrade (call site 1 of 4): a WebSocket upgrade request (not on `a2a` routes, whose
        // relay reads the body) is taken before hop-by-hop removal.
        let client_upgrade = match policies.a2a {
            None => upgrade::take(&mut parts),
            Some(_) => None,
        };
        upstream_headers(
            &mut parts,
            conn,
            rewrite,
            &policies.request_headers,
            &backend.policies.request_headers,
        );
        // upgrade (call site 2 of 4): it keeps its `Connection` and `Upgrade` upstream.
        if let Some(u) = &client_upgrade {
            u.restore_request_headers(&mut parts.headers);
        }

        let timeouts = backend.policies.timeouts.or(policies.timeouts);
        let retry = backend.policies.retry.as_ref().or(policies.retry.as_ref());
        let mirror = backend
            .policies
            .mirror
            .as_ref()
            .or(policies.mirror.as_ref())
            .filter(|m| mirror::chosen(m.percentage));
        // upgrade (call site 3 of 4): an upgrade request is sent once and never mirrored.
        let (retry, mirror) = match client_upgrade {
            Some(_) => (None, None),
            None => (retry, mirror),
        };

        let (attempt_body, mirror_body) = request_body(
            body,
            read_body,
            &parts.headers,
            retry.is_some(),
            mirror.is_some(),
        )
        .await?;
        if let Some(m) = mirror {
            let copy = mirror::MirrorRequest {
                method: parts.method.clone(),
                path_and_query: path_and_query.clone(),
                headers: parts.headers.clone(),
            };
            mirror::spawn(self.clone(), m.upstream.clone(), copy, mirror_body);
        }
        // After the mirror's copy: a credential is for this backend only.
        let auth = backend
            .policies
            .backend_auth
            .as_ref()
            .or(policies.backend_auth.as_ref());
        let auth = add_credential(auth, &mut parts.headers, upstream).await?;

        let out = Outbound {
            method: parts.method,
            path_and_query,
            headers: parts.headers,
            body: attempt_body,
            timeouts,
            retry,
            started: log.started,
            auth,
        };
        let mut stats = AttemptStats::default();
        let result = forward::send(self, &route.key, upstream, out, &mut stats).await;
        log.attempts = stats.attempts;
        match &result {
            Ok(_) => backend.health.record_success(),
            Err(ProxyError::Connect { .. }) => {
                if backend.health.record_connect_failure() {
                    tracing::warn!(
                        route = %route.key,
                        backend = %backend.name,
                        "backend ejected after {} connect failures in a row; retrying it in {:?}",
                        crate::model::health::EJECT_AFTER,
                        crate::model::health::EJECT_FOR
                    );
                }
            }
            Err(_) => {}
        }
        let upstream_resp = result?;
        // upgrade (call site 4 of 4): a 101 starts the tunnel; other answers are ordinary.
        if let Some(u) = client_upgrade {
            let finish = |rparts: &mut http::response::Parts| {
                finish_response_headers(rparts, client_version, route, backend, cors_headers)
            };
            return u
                .respond(upstream_resp, &route.key, upstream, &self.metrics, finish)
                .await;
        }

        let (mut rparts, rbody) = upstream_resp.into_parts();
        finish_response_headers(&mut rparts, client_version, route, backend, cors_headers);
        let body = rbody.map_err(|e| -> BoxError { Box::new(e) }).boxed();
        match a2a_exchange {
            Some(ex) => Ok(a2a::respond(ex, rparts, body).await),
            None => Ok(Response::from_parts(rparts, body)),
        }
    }
}

/// Sets the `backendAuth` credential, if the policy adds one, in the upstream request's
/// headers; returns it with its source, for [`forward::send`] to report a 401 to. No
/// credential to be had (the token endpoint failed) fails the request before it is sent.
async fn add_credential<'a>(
    auth: Option<&'a UpstreamAuth>,
    headers: &mut http::HeaderMap,
    upstream: &crate::model::upstream::Upstream,
) -> Result<Option<(&'a BackendAuth, Credential)>, ProxyError> {
    let Some(UpstreamAuth::Credential(auth)) = auth else {
        return Ok(None);
    };
    let credential = forward::credential(auth, upstream).await?;
    credential.set(headers);
    Ok(Some((auth, credential)))
}

/// The response's headers as the client gets them: framed for the client's HTTP version,
/// hop-by-hop headers out, then the backend's and the route's modifiers and CORS headers.
fn finish_response_headers(
    rparts: &mut http::response::Parts,
    client_version: http::Version,
    route: &Route,
    backend: &RouteBackend,
    cors_headers: Option<http::HeaderMap>,
) {
    rparts.version = client_version;
    headers::remove_hop_by_hop(&mut rparts.headers);
    for m in [
        &backend.policies.response_headers,
        &route.policies.response_headers,
    ]
    .into_iter()
    .flatten()
    {
        m.apply(&mut rparts.headers);
    }
    if let Some(h) = cors_headers {
        for (name, value) in h.iter() {
            rparts.headers.append(name.clone(), value.clone());
        }
    }
}

/// Prepares the request headers for the upstream: hop-by-hop headers out, `X-Forwarded-*` in,
/// `Host` kept or rewritten, then the route's and the backend's header modifiers.
fn upstream_headers(
    parts: &mut http::request::Parts,
    conn: Conn,
    rewrite: Option<&crate::model::policy::UrlRewrite>,
    route_modifier: &Option<crate::model::policy::HeaderModifier>,
    backend_modifier: &Option<crate::model::policy::HeaderModifier>,
) {
    let original_authority = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| parts.headers.get(header::HOST).cloned());
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::set_forwarded(
        &mut parts.headers,
        conn.remote.ip(),
        conn.tls,
        original_authority.as_ref().and_then(|h| h.to_str().ok()),
    );
    match rewrite
        .and_then(|r| r.hostname.clone())
        .or(original_authority)
    {
        Some(h) => {
            parts.headers.insert(header::HOST, h);
        }
        None => {
            parts.headers.remove(header::HOST);
        }
    }
    for m in [route_modifier, backend_modifier].into_iter().flatten() {
        m.apply(&mut parts.headers);
    }
}

/// How the request body travels: already read (A2A), empty, buffered so a retry can send it
/// again (bounded by the limit), teed to a mirror, or streamed as it arrives.
async fn request_body(
    body: Body,
    read: Option<Bytes>,
    headers: &http::HeaderMap,
    retry: bool,
    mirror: bool,
) -> Result<(AttemptBody, mirror::MirrorBody), ProxyError> {
    if let Some(bytes) = read {
        return Ok((
            AttemptBody::Buffered(bytes.clone()),
            mirror::MirrorBody::Bytes(Some(bytes)),
        ));
    }
    if body_is_empty(headers, &body) {
        return Ok((
            AttemptBody::Buffered(Bytes::new()),
            mirror::MirrorBody::Bytes(None),
        ));
    }
    if retry {
        let bytes = collect_body(body).await?;
        return Ok((
            AttemptBody::Buffered(bytes.clone()),
            mirror::MirrorBody::Bytes(Some(bytes)),
        ));
    }
    if mirror {
        let (tee, side) = mirror::Tee::new(body);
        return Ok((AttemptBody::Stream(tee.boxed()), side));
    }
    Ok((AttemptBody::Stream(body), mirror::MirrorBody::Bytes(None)))
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

fn content_length(headers: &http::HeaderMap) -> Result<Option<u64>, ProxyError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ProxyError::BadRequest("invalid Content-Length".into())),
    }
}

fn body_is_empty(headers: &http::HeaderMap, body: &impl http_body::Body) -> bool {
    body.is_end_stream()
        || (headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0")
            && !headers.contains_key(header::TRANSFER_ENCODING))
}

async fn collect_body<B>(body: B) -> Result<Bytes, ProxyError>
where
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => match body::is_body_too_large(e.as_ref()) {
            Some(limit) => Err(ProxyError::BodyTooLarge { limit }),
            None => Err(ProxyError::BadRequest(format!(
                "cannot read the request body: {e}"
            ))),
        },
    }
}
