//! One access-log line per request, written when the response body ends (so duration and bytes
//! cover the whole exchange, streams included), plus the request metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;

use super::body::BodyObserver;
use crate::metrics::{Metrics, RouteLabel, RouteStatus};

/// What the access log line says about a request; filled in as the request is handled.
#[derive(Debug)]
pub struct AccessLog {
    /// When the request started.
    pub started: Instant,
    method: String,
    path: String,
    host: Option<String>,
    remote: SocketAddr,
    /// `listener/route`, once a route matched.
    pub route: Option<Arc<str>>,
    /// Backend name, once one was picked.
    pub backend: Option<Arc<str>>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Response status.
    pub status: u16,
    /// Why the gateway answered itself, if it did.
    pub error: Option<String>,
}

impl AccessLog {
    /// Starts a record for a request.
    pub fn new(parts: &http::request::Parts, remote: SocketAddr, started: Instant) -> Self {
        AccessLog {
            started,
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            host: crate::model::host::request_host(parts),
            remote,
            route: None,
            backend: None,
            attempts: 0,
            status: 0,
            error: None,
        }
    }

    /// The route key, or `-` when none matched.
    pub fn route_key(&self) -> &str {
        self.route.as_deref().unwrap_or("-")
    }

    /// The observer that writes the line when the response body is done.
    pub fn finisher(self, metrics: Arc<Metrics>, span: tracing::Span) -> Finisher {
        Finisher {
            log: self,
            metrics,
            span,
        }
    }
}

/// Writes the access log line and records metrics when the response body ends.
pub struct Finisher {
    log: AccessLog,
    metrics: Arc<Metrics>,
    span: tracing::Span,
}

impl BodyObserver for Finisher {
    fn finished(self: Box<Self>, bytes: u64, error: Option<String>, complete: bool) {
        let Finisher { log, metrics, span } = *self;
        let elapsed = log.started.elapsed();
        let route = log.route_key().to_string();
        metrics
            .requests
            .get_or_create(&RouteStatus {
                route: route.clone(),
                status: log.status,
            })
            .inc();
        metrics
            .request_duration
            .get_or_create(&RouteLabel {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        let error = log.error.as_deref().or(error.as_deref());
        tracing::info!(
            target: "access",
            parent: &span,
            method = %log.method,
            path = %log.path,
            host = log.host.as_deref().unwrap_or("-"),
            client = %log.remote,
            route = %route,
            backend = log.backend.as_deref().unwrap_or("-"),
            status = log.status,
            attempts = log.attempts,
            bytes = bytes,
            duration_ms = (elapsed.as_secs_f64() * 1000.0),
            complete,
            error = error.unwrap_or(""),
            "request"
        );
    }
}
