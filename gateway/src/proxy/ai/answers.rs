//! The answers the `ai` terminal writes itself, each in the client's format: the model
//! list, refusals, errors; and provider responses passed on.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use llm::ClientApi;
use netkit::InlineBody;

use crate::body::{full, Body, BoxError};
use crate::model::ai::{AiBackend, Failure, NoCandidate};
use crate::proxy::access_log::AccessLog;

/// `GET /v1/models`: the names clients may ask for.
pub(super) fn models_body(backend: &AiBackend) -> Bytes {
    let mut names: Vec<&str> = if backend.models.is_empty() {
        backend
            .groups
            .iter()
            .flatten()
            .filter(|p| p.weight > 0)
            .filter_map(|p| p.model.as_deref())
            .collect()
    } else {
        backend
            .models
            .iter()
            .map(|m| m.pattern.as_str())
            .filter(|p| !p.contains('*'))
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(*n));
    llm::models_list_body(names, "switchboard")
}

/// The client's answer when no provider can serve the request.
pub(super) fn no_candidate(
    client: ClientApi,
    no: &NoCandidate,
    log: &mut AccessLog,
) -> Response<Body> {
    match no {
        NoCandidate::UnknownModel { model } => gateway_error(
            client,
            StatusCode::NOT_FOUND,
            &format!("model {model:?} is not served here (GET /v1/models lists the names)"),
            log,
        ),
        NoCandidate::NoApi { client: api } => gateway_error(
            client,
            StatusCode::NOT_FOUND,
            &format!("no provider of this route serves {} requests", api.name()),
            log,
        ),
        NoCandidate::SetAside {
            retry_after,
            failure,
        } => {
            let (status, why) = match failure {
                Failure::RateLimited => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "every provider that serves this model is rate limited",
                ),
                Failure::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "every provider that serves this model failed and is set aside",
                ),
            };
            let mut resp = gateway_error(
                client,
                status,
                &format!("{why}; retry in {}s", retry_after.as_secs().max(1)),
                log,
            );
            set_retry_after(resp.headers_mut(), *retry_after);
            resp
        }
    }
}

/// An error written by the gateway, in the client's format.
pub(super) fn gateway_error(
    client: ClientApi,
    status: StatusCode,
    message: &str,
    log: &mut AccessLog,
) -> Response<Body> {
    log.error = Some(message.to_string());
    crate::proxy::error::refusal(Some(client), status, message)
}
pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(llm::JSON));
    resp
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub(super) fn set_retry_after(headers: &mut HeaderMap, after: Duration) {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// Provider response headers that describe the response itself (request ids, rate-limit
/// state), without those about its framing or connection, which the gateway sets.
pub(super) fn copy_provider_headers(from: &HeaderMap, to: &mut HeaderMap) {
    const SKIP: &[&str] = &[
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "set-cookie",
        "alt-svc",
        "server",
        "date",
    ];
    for (name, value) in from {
        if !SKIP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// A provider's response passed through (not an API call).
pub(super) fn pass_response(resp: Response<InlineBody>) -> Response<Body> {
    let mut resp = resp.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed());
    crate::proxy::headers::remove_hop_by_hop(resp.headers_mut());
    resp
}
