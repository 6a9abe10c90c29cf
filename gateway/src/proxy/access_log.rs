//! One access-log line per request, written when the response body ends (so duration and bytes
//! cover the whole exchange, streams included), plus the request metrics.
//!
//! The line is formatted by [`crate::telemetry::access_line`] (not a `tracing` event: that
//! cost more than the proxying) and handed to the log writer thread; with tracing on, the same
//! fields are added to the request's span as an OpenTelemetry event named `request`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::body::BodyObserver;
use crate::metrics::{Metrics, RouteMetrics};
use crate::model::route::Route;
use crate::telemetry::access_line::AccessLine;

/// What the access log line says about a request; filled in as the request is handled.
#[derive(Debug)]
pub struct AccessLog {
    /// When the request started.
    pub started: Instant,
    /// What the line says about the request; `None` when the access log is off, so a request
    /// pays for no strings it would not print.
    request: Option<Box<RequestLine>>,
    /// The route, once one matched.
    pub route: Option<Arc<Route>>,
    /// Backend name, once one was picked.
    pub backend: Option<Arc<str>>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Response status.
    pub status: u16,
    /// Why the gateway answered itself, if it did.
    pub error: Option<String>,
    /// A2A method, task, context and state, on A2A routes.
    pub a2a: Option<super::a2a::SharedFields>,
    /// MCP method, tool and target, on routes to an MCP backend.
    pub mcp: Option<mcp_mux::RecordSlot>,
    /// The caller, when the route authenticated one.
    pub identity: Option<authn::Identity>,
    /// Provider, model and usage, on routes to an `ai` backend.
    pub ai: Option<super::ai::AiSlot>,
    /// The endpoint (`ip:port`) that served, on routes to an `inferencePool`.
    pub endpoint: Option<String>,
}

/// The request as the client sent it (method and URI are reference-counted copies).
#[derive(Debug)]
struct RequestLine {
    method: http::Method,
    uri: http::Uri,
    host: Option<String>,
    remote: SocketAddr,
}

impl AccessLog {
    /// Starts a record for a request.
    pub fn new(parts: &http::request::Parts, remote: SocketAddr, started: Instant) -> Self {
        let request = tracing::enabled!(target: "access", tracing::Level::INFO).then(|| {
            Box::new(RequestLine {
                method: parts.method.clone(),
                uri: parts.uri.clone(),
                host: crate::model::host::request_host(parts).map(std::borrow::Cow::into_owned),
                remote,
            })
        });
        AccessLog {
            started,
            request,
            route: None,
            backend: None,
            attempts: 0,
            status: 0,
            error: None,
            a2a: None,
            mcp: None,
            identity: None,
            ai: None,
            endpoint: None,
        }
    }

    /// The route key, or `-` when none matched.
    pub fn route_key(&self) -> &str {
        self.route.as_ref().map_or("-", |r| &r.key)
    }

    /// The observer that writes the line when the response body is done.
    pub fn finisher(self, metrics: Arc<Metrics>, span: tracing::Span) -> Finisher {
        Finisher {
            log: self,
            metrics,
            span,
            abandoned: false,
        }
    }
}

/// The record of a request still being handled. If the client goes away before the response
/// begins, hyper drops the serving future, and with it this: the line is then still written
/// (status 499, as nginx logs it, `complete=false`) and counted, so an abandoned request is not
/// lost from the logs and metrics.
pub struct InFlight {
    log: Option<AccessLog>,
    metrics: Arc<Metrics>,
    span: tracing::Span,
}

/// The status logged for a request whose client left before the response began.
pub const CLIENT_CLOSED: u16 = 499;

impl InFlight {
    /// Starts tracking `log`.
    pub fn new(log: AccessLog, metrics: Arc<Metrics>, span: tracing::Span) -> Self {
        InFlight {
            log: Some(log),
            metrics,
            span,
        }
    }

    /// The record being filled in.
    pub fn log(&mut self) -> &mut AccessLog {
        // Only `finisher`, which consumes `self`, takes the record out.
        self.log
            .as_mut()
            .expect("the access log is present until finisher() consumes InFlight")
    }

    /// The response began: its body's end writes the line from now on.
    pub fn finisher(mut self) -> Option<Finisher> {
        let log = self.log.take()?;
        Some(log.finisher(self.metrics.clone(), self.span.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(mut log) = self.log.take() {
            log.status = CLIENT_CLOSED;
            log.error
                .get_or_insert_with(|| "the client went away before the response began".into());
            let mut finisher = log.finisher(self.metrics.clone(), self.span.clone());
            finisher.abandoned = true;
            Box::new(finisher).finished(0, None, false);
        }
    }
}

/// Writes the access log line and records metrics when the response body ends.
pub struct Finisher {
    log: AccessLog,
    metrics: Arc<Metrics>,
    span: tracing::Span,
    /// The client left before the response began (the span never got its status).
    abandoned: bool,
}

impl BodyObserver for Finisher {
    fn finished(self: Box<Self>, bytes: u64, error: Option<String>, complete: bool) {
        let Finisher {
            log,
            metrics,
            span,
            abandoned,
        } = *self;
        let elapsed = log.started.elapsed();
        let route_metrics = match &log.route {
            Some(r) => r
                .metrics
                .get_or_init(|| RouteMetrics::new(&metrics, &r.key)),
            None => metrics
                .unrouted
                .get_or_init(|| RouteMetrics::new(&metrics, "-")),
        };
        route_metrics.record(&metrics, log.status, elapsed.as_secs_f64());
        let error = log.error.as_deref().or(error.as_deref());
        let Some(req) = &log.request else {
            return;
        };
        // Held while the line is written (borrowed, not cloned): nothing else uses it now.
        let a2a_guard = log.a2a.as_ref().and_then(|f| f.lock().ok());
        let no_a2a = super::a2a::A2aFields::default();
        let a2a = a2a_guard.as_deref().unwrap_or(&no_a2a);
        let mcp = log.mcp.as_ref().and_then(mcp_mux::RecordSlot::get);
        let ai_guard = log.ai.as_ref().and_then(|slot| slot.lock().ok());
        let ai = ai_guard.as_deref().and_then(super::ai::AiRecord::fields);
        let line = AccessLine {
            time: Some(SystemTime::now()),
            method: req.method.as_str(),
            path: req.uri.path(),
            host: req.host.as_deref(),
            client: Some(req.remote),
            route: log.route.as_ref().map(|r| &*r.key),
            backend: log.backend.as_deref(),
            status: log.status,
            span_shown: !span.is_disabled(),
            // The status is recorded on the span when the response begins; a record that
            // never got a finisher (the client left first) has a span without it.
            span_status: !abandoned,
            attempts: log.attempts,
            bytes,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            complete,
            error,
            subject: log.identity.as_ref().map_or("", authn::Identity::subject),
            a2a: [
                a2a.method.unwrap_or(""),
                a2a.task_id.as_deref().unwrap_or(""),
                a2a.context_id.as_deref().unwrap_or(""),
                a2a.state.as_deref().unwrap_or(""),
            ],
            mcp: [
                mcp.map_or("", |m| m.method.as_str()),
                mcp.and_then(|m| m.name.as_deref()).unwrap_or(""),
                mcp.and_then(|m| m.target()).unwrap_or(""),
            ],
            ai,
            endpoint: log.endpoint.as_deref(),
        };
        crate::telemetry::write_access_line(&line);
        if crate::telemetry::otel_on() {
            span_event(&span, &line);
        }
    }
}

/// The access line's fields as an OpenTelemetry event on the request's span (what the
/// `tracing` event gave the trace before the line was formatted by hand).
fn span_event(span: &tracing::Span, l: &AccessLine<'_>) {
    use opentelemetry::KeyValue;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let s = |k: &'static str, v: &str| KeyValue::new(k, v.to_string());
    let mut attrs = vec![
        s("level", "INFO"),
        s("target", "access"),
        s("method", l.method),
        s("path", l.path),
        s("host", l.host.unwrap_or("-")),
        KeyValue::new(
            "client",
            l.client.map(|c| c.to_string()).unwrap_or_default(),
        ),
        s("route", l.route.unwrap_or("-")),
        s("backend", l.backend.unwrap_or("-")),
        KeyValue::new("status", i64::from(l.status)),
        KeyValue::new("attempts", i64::from(l.attempts)),
        KeyValue::new("bytes", i64::try_from(l.bytes).unwrap_or(i64::MAX)),
        KeyValue::new("duration_ms", l.duration_ms),
        KeyValue::new("complete", l.complete),
        s("error", l.error.unwrap_or("")),
        s("subject", l.subject),
    ];
    let names = [
        "a2a.method",
        "a2a.task_id",
        "a2a.context_id",
        "a2a.state",
        "mcp.method",
        "mcp.tool",
        "mcp.target",
    ];
    for (k, v) in names.into_iter().zip(l.a2a.iter().chain(l.mcp.iter())) {
        attrs.push(s(k, v));
    }
    if let Some(endpoint) = l.endpoint {
        attrs.push(s("endpoint", endpoint));
    }
    if let Some(ai) = &l.ai {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        attrs.push(s("gen_ai.provider", ai.provider));
        attrs.push(s("gen_ai.request.model", ai.model));
        attrs.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            count(ai.input_tokens),
        ));
        attrs.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            count(ai.output_tokens),
        ));
        attrs.push(KeyValue::new("ai.failovers", i64::from(ai.failovers)));
    }
    span.add_event_with_timestamp("request", l.time.unwrap_or_else(SystemTime::now), attrs);
}
