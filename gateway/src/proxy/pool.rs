//! The terminal of an `inferencePool` backend: ask the pool's picker where the request goes,
//! send it there (walking the picker's list on retries), report the endpoint that served.
//!
//! What the client gets when the picker does not choose:
//! - the picker's own answer (`ImmediateResponse`: 503 when nothing is ready, 429 to shed
//!   load), relayed with its status, headers and body;
//! - the picker failed (down by its health check, unreachable, timed out, or an answer
//!   without an endpoint): `FailOpen` sends the request to a random endpoint of the pool
//!   (counted and logged), `FailClose` answers 503;
//! - with `destinationMode: validated`, endpoints the picker names outside the pool are
//!   dropped from its list (logged); none left is a 503.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use inference::epp::{Decision, EppError, Immediate, PickRequest, Session};
use netkit::InlineBody;
use tokio::time::Instant;

use super::access_log::AccessLog;
use super::error::ProxyError;
use super::exchange::{Exchange, RequestBody};
use super::forward::{self, AttemptBody, AttemptStats, Outbound};
use super::{headers, Proxy};
use crate::body::{full, Body, BoxError};
use crate::metrics::PoolLabel;
use crate::model::plan::PoolTerminal;
use crate::model::pool::{EppPicker, InferencePool, LoadPick, Picker, PickerFailureMode};
use crate::model::route::RouteBackend;
use crate::model::upstream::Upstream;
use inference::load::LoadPicker;

/// Where the picker sent a request.
struct Placement<'p> {
    /// The endpoints, in order.
    upstreams: Vec<Upstream>,
    /// The picker's stream, to report the response on (none after a fail-open).
    session: Option<Session>,
    /// The load picker that chose, which counts the request while it is in flight.
    load: Option<&'p LoadPicker>,
}

/// What a request to a pool came to.
pub(super) enum PoolSent {
    /// An endpoint answered (the picker's response headers applied).
    Response(Response<InlineBody>),
    /// The picker answered the request itself.
    Answer(Immediate),
}

/// The request as the picker is told about it, beyond what [`Outbound`] holds.
pub(super) struct PoolRequest<'a> {
    /// The route's key (retry metrics).
    pub route_key: &'a str,
    /// `:authority`.
    pub authority: &'a str,
    /// `:scheme` of the client's request.
    pub scheme: &'a str,
}

impl Proxy {
    /// Serves a request to an `inferencePool`: pick, forward, report.
    pub(crate) async fn serve_pool(
        &self,
        plan: &PoolTerminal,
        backend: &RouteBackend,
        ex: &mut Exchange<'_>,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let body = match ex.take_body() {
            RequestBody::Read(bytes) => bytes,
            // The plan reads the body whole before this terminal; this is a fallback.
            stream => super::phases::collect_body(stream.into_stream()).await?,
        };
        let headers = std::mem::take(&mut ex.parts.headers);
        let authority = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| ex.parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let out = Outbound {
            method: ex.parts.method.clone(),
            path_and_query: ex.path_and_query(),
            headers,
            body: AttemptBody::Buffered(body),
            timeouts: plan.timeouts,
            retry: plan.retry.as_ref(),
            started: log.started,
            auth: ex.credential.take(),
            sign: plan.sign.as_ref(),
            tls: None,
        };
        let req = PoolRequest {
            route_key: &ex.route.key,
            authority: &authority,
            scheme: ex.parts.uri.scheme_str().unwrap_or("http"),
        };
        let mut stats = AttemptStats::default();
        let result = self
            .send_to_pool(&plan.pool, &req, out, &mut stats, &mut log.endpoint)
            .await;
        log.attempts = stats.attempts;
        // The pool as a whole is one route backend: one endpoint refusing connections is not
        // the pool being down, so passive health hears only of successes.
        let resp = match result? {
            PoolSent::Answer(answer) => return Ok(immediate_response(answer)),
            PoolSent::Response(resp) => resp,
        };
        backend.health.record_success();
        let mut resp = resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed());
        headers::remove_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }

    /// Sends `out` to the endpoints `pool`'s picker chooses (attempts walk its list), reports
    /// the response to the picker and applies the headers it sets. `endpoint` gets the
    /// endpoint of the last attempt. The body must be buffered (the picker is sent it).
    pub(super) async fn send_to_pool(
        &self,
        pool: &InferencePool,
        req: &PoolRequest<'_>,
        mut out: Outbound<'_>,
        stats: &mut AttemptStats,
        endpoint: &mut Option<String>,
    ) -> Result<PoolSent, ProxyError> {
        let mut body = match std::mem::replace(&mut out.body, AttemptBody::Buffered(Bytes::new())) {
            AttemptBody::Buffered(b) => b,
            // The picker is sent the body: read it whole (within the route's body limit,
            // which the stream enforces).
            AttemptBody::Stream(stream) => super::phases::collect_body(stream).await?,
        };
        let placement = match self.place(pool, &mut out, req, &mut body).await? {
            Ok(p) => p,
            Err(answer) => return Ok(PoolSent::Answer(answer)),
        };
        out.body = AttemptBody::Buffered(body);
        let first = placement.upstreams.first().and_then(Upstream::socket_addr);
        let mut in_flight = placement.load.zip(first).map(|(p, at)| p.begin(at));
        let result = forward::send_to(self, req.route_key, &placement.upstreams, out, stats).await;
        let served = placement
            .upstreams
            .get(stats.upstream)
            .map(Upstream::to_string)
            .unwrap_or_default();
        *endpoint = Some(served.clone());
        let mut resp = result?;
        if let Some(load) = placement.load {
            // Counted against the endpoint that answered, until its answer ends.
            if stats.upstream != 0 {
                let at = placement.upstreams.get(stats.upstream);
                in_flight = at.and_then(Upstream::socket_addr).map(|a| load.begin(a));
            }
            if let Some(guard) = in_flight {
                resp.body_mut().keep_until_end(Box::new(guard));
            }
        }
        if let Some(session) = placement.session {
            match session
                .served(&served, resp.status().as_u16(), resp.headers())
                .await
            {
                Ok(set) => set_headers(resp.headers_mut(), &set),
                Err(e) => {
                    tracing::debug!(pool = %pool.name, error = %e, "the picker did not take the response report")
                }
            }
        }
        Ok(PoolSent::Response(resp))
    }

    /// Asks the pool's picker about `out` (whose headers it may change) and `body` (which it
    /// may replace); `Ok(Err(answer))` is the picker's answer to relay.
    async fn place<'p>(
        &self,
        pool: &'p InferencePool,
        out: &mut Outbound<'_>,
        req: &PoolRequest<'_>,
        body: &mut Bytes,
    ) -> Result<Result<Placement<'p>, Immediate>, ProxyError> {
        match &pool.picker {
            Picker::Epp(epp) => self.place_by_epp(pool, epp, out, req, body).await,
            Picker::Load(load) => self.place_by_load(pool, load).map(Ok),
        }
    }

    /// The built-in picker's order of the pool's endpoints, least loaded first.
    fn place_by_load<'p>(
        &self,
        pool: &InferencePool,
        load: &'p LoadPick,
    ) -> Result<Placement<'p>, ProxyError> {
        let failed = |cause: String| {
            self.metrics.pools.pick(&pool.name, "failed");
            ProxyError::Pool {
                pool: pool.name.to_string(),
                cause,
            }
        };
        let picker = load.picker().map_err(|e| failed(e.to_string()))?;
        let order = picker.pick(None).map_err(|e| failed(e.to_string()))?;
        self.metrics.pools.pick(&pool.name, "picked");
        Ok(Placement {
            upstreams: order.into_iter().map(upstream_of).collect(),
            session: None,
            load: Some(picker),
        })
    }

    /// The endpoint picker's choice (or its own answer).
    async fn place_by_epp<'p>(
        &self,
        pool: &InferencePool,
        epp: &EppPicker,
        out: &mut Outbound<'_>,
        req: &PoolRequest<'_>,
        body: &mut Bytes,
    ) -> Result<Result<Placement<'p>, Immediate>, ProxyError> {
        let metrics = &self.metrics.pools;
        let label = PoolLabel {
            pool: pool.name.to_string(),
        };
        let subset = (!pool.endpoint_strings.is_empty()).then_some(&pool.endpoint_strings[..]);
        // The `backendAuth` credential is for the model servers, not for the picker.
        let without_credential;
        let headers = match &out.auth {
            Some((_, credential)) => {
                let mut h = out.headers.clone();
                h.remove(&credential.name);
                without_credential = h;
                &without_credential
            }
            None => &out.headers,
        };
        let asked = Instant::now();
        let decision = epp
            .client
            .pick(PickRequest {
                method: out.method.as_str(),
                path: &out.path_and_query,
                authority: req.authority,
                scheme: req.scheme,
                headers,
                body,
                subset,
            })
            .await;
        metrics
            .picker_seconds
            .get_or_create(&label)
            .observe(asked.elapsed().as_secs_f64());
        let pick = match decision {
            Ok(Decision::Route(pick)) => pick,
            Ok(Decision::Answer(answer)) => {
                metrics.pick(&pool.name, "answered");
                tracing::debug!(pool = %pool.name, status = answer.status, "the picker answered the request itself");
                return Ok(Err(answer));
            }
            Err(e) => return self.picker_failed(pool, epp.failure_mode, &e).map(Ok),
        };
        let pick = *pick;
        let mut upstreams = Vec::new();
        for e in &pick.endpoints {
            match allowed(pool, e) {
                Ok(u) => upstreams.push(u),
                Err(why) => {
                    tracing::warn!(pool = %pool.name, endpoint = %e, "refusing the picker's endpoint: {why}")
                }
            }
        }
        if upstreams.is_empty() {
            metrics.pick(&pool.name, "refused");
            return Err(ProxyError::Pool {
                pool: pool.name.to_string(),
                cause: format!(
                    "the picker chose {} outside the pool (destinationMode: validated)",
                    pick.endpoints.join(",")
                ),
            });
        }
        metrics.pick(&pool.name, "picked");
        for name in &pick.remove_headers {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                out.headers.remove(n);
            }
        }
        set_headers(&mut out.headers, &pick.set_headers);
        if let Some(new_body) = pick.body {
            if new_body.as_slice() != body.as_ref() {
                out.headers.insert(
                    http::header::CONTENT_LENGTH,
                    HeaderValue::from(new_body.len()),
                );
                *body = Bytes::from(new_body);
            }
        }
        Ok(Ok(Placement {
            upstreams,
            session: Some(pick.session),
            load: None,
        }))
    }

    /// The picker failed: a random endpoint with `FailOpen`, else 503.
    fn picker_failed(
        &self,
        pool: &InferencePool,
        mode: PickerFailureMode,
        e: &EppError,
    ) -> Result<Placement<'static>, ProxyError> {
        let metrics = &self.metrics.pools;
        let random = (mode == PickerFailureMode::FailOpen)
            .then(|| pool.random_endpoint())
            .flatten();
        match random {
            Some(endpoint) => {
                metrics.pick(&pool.name, "fail_open");
                metrics
                    .fail_open
                    .get_or_create(&PoolLabel {
                        pool: pool.name.to_string(),
                    })
                    .inc();
                tracing::warn!(pool = %pool.name, error = %e, %endpoint, "endpoint picker failed; FailOpen sends the request to a random endpoint");
                Ok(Placement {
                    upstreams: vec![upstream_of(endpoint)],
                    session: None,
                    load: None,
                })
            }
            None => {
                metrics.pick(&pool.name, "failed");
                Err(ProxyError::Pool {
                    pool: pool.name.to_string(),
                    cause: e.to_string(),
                })
            }
        }
    }
}

/// The upstream of an endpoint the pool allows, or why it does not.
fn allowed(pool: &InferencePool, endpoint: &str) -> Result<Upstream, String> {
    match endpoint.parse::<SocketAddr>() {
        Ok(addr) if pool.allows(&addr) => Ok(upstream_of(addr)),
        Ok(_) => Err("not an endpoint of the pool (destinationMode: validated)".into()),
        Err(_) if pool.destination_mode == crate::model::pool::DestinationMode::Passthrough => {
            Upstream::parse(endpoint)
        }
        Err(_) => Err("not an ip:port".into()),
    }
}

fn upstream_of(addr: SocketAddr) -> Upstream {
    Upstream {
        authority: addr
            .to_string()
            .parse()
            .unwrap_or_else(|_| http::uri::Authority::from_static("0.0.0.0:0")),
    }
}

/// Sets each `(name, value)` that is a valid header, replacing any of the same name.
fn set_headers(headers: &mut HeaderMap, set: &[(String, String)]) {
    for (k, v) in set {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => tracing::debug!(header = %k, "ignoring an invalid header from the picker"),
        }
    }
}

/// The picker's own answer, as the client gets it.
fn immediate_response(answer: Immediate) -> Response<Body> {
    let mut resp = Response::new(full(answer.body));
    *resp.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_headers(resp.headers_mut(), &answer.headers);
    resp
}
