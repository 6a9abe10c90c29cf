//! What each phase of a plan does to a request or a response. The order is the plan's (see
//! [`crate::model::plan`]); each phase here knows only its own job.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::BodyExt;

use super::access_log::AccessLog;
use super::error::{text_response, ProxyError};
use super::exchange::{Exchange, RequestBody};
use super::{a2a, cors, forward, headers, mirror, rewrite, upgrade, Proxy};
use crate::body::{self, Body, Limited};
use crate::model::plan::{RequestPhase, ResponsePhase, RoutePhase};

/// What a phase decided.
pub(crate) enum Flow {
    /// Go on with the next phase.
    Continue,
    /// Answer the client with this; no later phase runs and nothing goes upstream.
    Answer(Response<Body>),
}

/// Runs a phase of the route, before a backend is chosen.
pub(crate) async fn route_phase(
    phase: &RoutePhase,
    ex: &mut Exchange<'_>,
    log: &mut AccessLog,
    metrics: &crate::metrics::Metrics,
) -> Result<Flow, ProxyError> {
    match phase {
        RoutePhase::Cors(policy) => match cors::decide(policy, &ex.parts) {
            cors::CorsDecision::Pass => {}
            cors::CorsDecision::Allow(h) => ex.cors_headers = Some(h),
            cors::CorsDecision::Preflight(status, h) => {
                let mut resp = Response::new(body::empty());
                *resp.status_mut() = status;
                *resp.headers_mut() = h;
                return Ok(Flow::Answer(resp));
            }
        },
        RoutePhase::Authenticate(auth) => {
            return Ok(super::authn::authenticate(auth, ex, log, metrics).await);
        }
        RoutePhase::Authorize(policy) => {
            return Ok(super::authz::authorize(policy, ex, log, metrics));
        }
        RoutePhase::RateLimit(limits) => {
            return Ok(super::ratelimit::rate_limit(limits, ex, log).await);
        }
        RoutePhase::Redirect(redirect) => {
            let location = rewrite::redirect_location(redirect, &ex.parts, ex.conn.tls, ex.matched)
                .ok_or_else(|| {
                    ProxyError::BadRequest(
                        "cannot build the redirect location from this request".into(),
                    )
                })?;
            let mut resp = text_response(redirect.status, "redirecting");
            resp.headers_mut().insert(header::LOCATION, location);
            return Ok(Flow::Answer(resp));
        }
        RoutePhase::BodyLimit(limit) => {
            let limit = *limit;
            if content_length(&ex.parts.headers)?.is_some_and(|len| len > limit) {
                return Err(ProxyError::BodyTooLarge { limit });
            }
            ex.body = match ex.take_body() {
                RequestBody::Incoming(b) => RequestBody::Stream(Limited::new(b, limit).boxed()),
                RequestBody::Stream(b) => RequestBody::Stream(Limited::new(b, limit).boxed()),
                read @ RequestBody::Read(_) => read,
            };
        }
    }
    Ok(Flow::Continue)
}

impl Proxy {
    /// Runs a request phase of the chosen backend.
    pub(crate) async fn request_phase<'r>(
        self: &Arc<Self>,
        phase: &'r RequestPhase,
        ex: &mut Exchange<'r>,
        log: &mut AccessLog,
    ) -> Result<Flow, ProxyError> {
        match phase {
            RequestPhase::StripCredentials(names) => {
                for name in names {
                    ex.parts.headers.remove(name);
                }
            }
            RequestPhase::RewritePath(p) => {
                let path = rewrite::rewrite_path(ex.parts.uri.path(), p, ex.matched);
                ex.rewritten = Some(rewrite::with_query(&path, &ex.parts.uri));
            }
            RequestPhase::A2a {
                relay,
                upstream_base,
                body_limit,
            } => {
                let body = ex.take_body().into_stream();
                let target = a2a::Target {
                    route: ex.route,
                    matched: ex.matched,
                    upstream_base,
                    tls: ex.conn.tls,
                    identity: ex.identity.as_ref(),
                };
                let fields = a2a::SharedFields::default();
                log.a2a = Some(fields.clone());
                let prepared = a2a::prepare(
                    relay,
                    &target,
                    &mut ex.parts,
                    body,
                    *body_limit,
                    &self.metrics,
                    fields,
                )
                .await
                .map_err(|e| {
                    ProxyError::BadRequest(format!("cannot relay this A2A request: {e}"))
                })?;
                match prepared {
                    (a2a::Prepared::Answer(resp), _) => return Ok(Flow::Answer(resp)),
                    (a2a::Prepared::Forward(exchange, read), rest) => {
                        ex.a2a = Some(exchange);
                        ex.body = match read {
                            Some(bytes) => RequestBody::Read(bytes),
                            None => RequestBody::Stream(rest.unwrap_or_else(body::empty)),
                        };
                    }
                }
            }
            RequestPhase::ForwardingHeaders { host } => forwarding_headers(ex, host.as_ref()),
            RequestPhase::RequestHeaders(modifier) => modifier.apply(&mut ex.parts.headers),
            RequestPhase::BufferBody => {
                ex.body = match ex.take_body() {
                    read @ RequestBody::Read(_) => read,
                    stream => RequestBody::Read(collect_body(stream.into_stream()).await?),
                };
            }
            RequestPhase::Mirror(m) => {
                // An upgrade is a connection of its own: a copy would open a second one.
                if ex.upgrade.is_none() && mirror::chosen(m.percentage) {
                    let side = mirror_body(ex);
                    let copy = mirror::MirrorRequest {
                        method: ex.parts.method.clone(),
                        path_and_query: ex.path_and_query(),
                        headers: ex.parts.headers.clone(),
                    };
                    mirror::spawn(self.clone(), m, copy, side);
                }
            }
            RequestPhase::Credential { auth, upstream } => {
                let credential = forward::credential(auth, upstream).await?;
                credential.set(&mut ex.parts.headers);
                ex.credential = Some((auth, credential));
            }
        }
        Ok(Flow::Continue)
    }
}

/// The mirror's copy of the body: the bytes when they were read, else a tee of the stream.
fn mirror_body(ex: &mut Exchange<'_>) -> mirror::MirrorBody {
    if ex.body_is_empty() {
        return mirror::MirrorBody::Bytes(None);
    }
    match ex.take_body() {
        RequestBody::Read(bytes) => {
            ex.body = RequestBody::Read(bytes.clone());
            mirror::MirrorBody::Bytes(Some(bytes))
        }
        stream => {
            let (tee, side) = mirror::Tee::new(stream.into_stream());
            ex.body = RequestBody::Stream(tee.boxed());
            side
        }
    }
}

/// Runs a response phase on the terminal's response.
pub(crate) async fn response_phase(
    phase: &ResponsePhase,
    ex: &mut Exchange<'_>,
    mut resp: Response<Body>,
) -> Response<Body> {
    match phase {
        ResponsePhase::ResponseHeaders(modifier) => modifier.apply(resp.headers_mut()),
        ResponsePhase::Cors => {
            if let Some(h) = ex.cors_headers.take() {
                for (name, value) in h.iter() {
                    resp.headers_mut().append(name.clone(), value.clone());
                }
            }
        }
        ResponsePhase::RateLimitHeaders => {
            if let Some(d) = &ex.rate_limit {
                super::ratelimit::add_headers(d, resp.headers_mut());
            }
        }
        ResponsePhase::A2a => {
            if let Some(exchange) = ex.a2a.take() {
                let (parts, body) = resp.into_parts();
                return a2a::respond(exchange, parts, body).await;
            }
        }
    }
    resp
}

/// Hop-by-hop headers out, `X-Forwarded-*` in, `Host` kept or replaced. A WebSocket upgrade
/// (not on `a2a` routes, whose relay reads the body) is taken out first, so the terminal can
/// send its `Connection` and `Upgrade` on and tunnel a 101.
fn forwarding_headers(ex: &mut Exchange<'_>, host: Option<&HeaderValue>) {
    if ex.a2a.is_none() {
        ex.upgrade = upgrade::take(&mut ex.parts);
    }
    let parts = &mut ex.parts;
    let original_authority = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| parts.headers.get(header::HOST).cloned());
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::set_forwarded(
        &mut parts.headers,
        ex.conn.remote.ip(),
        ex.conn.tls,
        original_authority.as_ref(),
    );
    match host.cloned().or(original_authority) {
        Some(h) => {
            parts.headers.insert(header::HOST, h);
        }
        None => {
            parts.headers.remove(header::HOST);
        }
    }
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

/// Reads a body whole, within the limit the body carries.
pub(crate) async fn collect_body(body: Body) -> Result<Bytes, ProxyError> {
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => match body::is_body_too_large(e.as_ref()) {
            Some(limit) => Err(ProxyError::BodyTooLarge { limit }),
            None => match body::is_body_read_timeout(e.as_ref()) {
                Some(after) => Err(ProxyError::BodyReadTimeout { after }),
                None => Err(ProxyError::BadRequest(format!(
                    "cannot read the request body: {e}"
                ))),
            },
        },
    }
}
