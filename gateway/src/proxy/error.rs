//! Why the gateway answered a request itself, and how that maps to HTTP.

use std::time::Duration;

use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{full, Body};

/// A request the gateway could not or would not proxy. Each variant is one status with a short
/// plain-text body that says what happened, and one metric kind.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No listener of this port serves the host.
    #[error("no listener serves host {host:?} on this port")]
    NoListener {
        /// The requested host.
        host: String,
    },
    /// No route matched.
    #[error("no route matched {method} {path}")]
    NoRoute {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// No backend can take the request.
    #[error("no healthy backend for route {route}: {why}")]
    NoBackend {
        /// Route key.
        route: String,
        /// Why none can.
        why: &'static str,
    },
    /// The upstream refused or could not be reached.
    #[error("cannot connect to upstream {upstream}: {cause}")]
    Connect {
        /// Upstream address.
        upstream: String,
        /// Underlying error.
        cause: String,
    },
    /// The upstream closed the connection or sent a malformed response.
    #[error("upstream {upstream} failed: {cause}")]
    Upstream {
        /// Upstream address.
        upstream: String,
        /// Underlying error.
        cause: String,
    },
    /// One attempt took longer than `timeout.backendRequest`.
    #[error("upstream {upstream} did not answer within {after:?} (timeout.backendRequest)")]
    BackendTimeout {
        /// Upstream address.
        upstream: String,
        /// The limit.
        after: Duration,
    },
    /// The whole request took longer than `timeout.request`.
    #[error("request timed out after {after:?} (timeout.request)")]
    RequestTimeout {
        /// The limit.
        after: Duration,
    },
    /// The request body is over the limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The client did not send its request body within its bind's `bodyReadTimeout`.
    #[error("the client did not send the request body within {after:?} (limits.bodyReadTimeout)")]
    BodyReadTimeout {
        /// The limit.
        after: Duration,
    },
    /// The `backendAuth` credential could not be had (the OAuth2 token endpoint failed); the
    /// request was not sent.
    #[error("no credential for upstream {upstream}: {cause}")]
    BackendAuth {
        /// Upstream address.
        upstream: String,
        /// What the token endpoint said, or why it could not be asked.
        cause: String,
    },
    /// An `inferencePool` could not place the request: its picker failed (with `failureMode:
    /// FailClose`), or chose no endpoint the pool allows.
    #[error("inferencePool {pool}: {cause}")]
    Pool {
        /// The pool's backend name.
        pool: String,
        /// What went wrong.
        cause: String,
    },
    /// The request could not be read.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoListener { .. } | ProxyError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ProxyError::NoBackend { .. } | ProxyError::Pool { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Connect { .. }
            | ProxyError::Upstream { .. }
            | ProxyError::BackendAuth { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::BackendTimeout { .. } | ProxyError::RequestTimeout { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::BodyReadTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Label for `switchboard_upstream_errors_total{kind}`; `None` for client-side problems.
    pub fn metric_kind(&self) -> Option<&'static str> {
        match self {
            ProxyError::NoBackend { .. } => Some("no_backend"),
            ProxyError::Pool { .. } => Some("pool"),
            ProxyError::Connect { .. } => Some("connect"),
            ProxyError::Upstream { .. } => Some("reset"),
            ProxyError::BackendAuth { .. } => Some("backend_auth"),
            ProxyError::BackendTimeout { .. } | ProxyError::RequestTimeout { .. } => {
                Some("timeout")
            }
            _ => None,
        }
    }

    /// The response the client gets.
    pub fn to_response(&self) -> Response<Body> {
        text_response(self.status(), &self.to_string())
    }
}

/// The gateway's own answer with `status` and `message`: the error object of the client's LLM
/// API when it speaks one (`llm_api`, on routes to `ai` backends), else a short text.
pub(crate) fn refusal(
    llm_api: Option<llm::ClientApi>,
    status: StatusCode,
    message: &str,
) -> Response<Body> {
    let Some(api) = llm_api else {
        return text_response(status, message);
    };
    let (status, content_type, body) =
        llm::error_response(api, status, llm::ErrorKind::from_status(status), message);
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A short plain-text response from the gateway itself.
pub fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    let mut resp = Response::new(full(format!("{text}\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
