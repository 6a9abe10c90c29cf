//! One attempt at one provider: the request as the provider wants it (headers, credential,
//! path), sent with the route's time limits, and its outcome sorted into what the client gets
//! now and what makes the terminal move to the next provider.

use std::time::Duration;

use backend_auth::BackendAuth;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use netkit::InlineBody;
use tokio::time::Instant;

use super::super::access_log::AccessLog;
use super::super::error::ProxyError;
use super::super::forward::{self, AttemptBody, AttemptStats, Outbound};
use super::super::pool::{PoolRequest, PoolSent};
use super::super::Proxy;
use crate::model::ai::{Failure, Provider, ProviderKind};
use crate::model::plan::AiTerminal;
use crate::model::policy::UpstreamAuth;

/// The Anthropic API version sent when the client did not choose one (an OpenAI client).
pub(super) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The largest error body read from a provider (the client gets its message).
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// Client headers never sent to a provider: connection-level ones, the body's framing (the
/// body is rewritten), compression (the gateway reads the response), the client's own
/// credentials (unless `backendAuth: passthrough`), and what identifies the client's network.
const DROPPED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
    "cookie",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// The headers that carry an LLM API key, which pass only with `backendAuth: passthrough`.
const CLIENT_KEYS: &[&str] = &["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/// The headers for a request to `provider` built from the client's.
pub(super) fn provider_headers(
    client: &HeaderMap,
    provider: &Provider,
    json_body: bool,
    stream: bool,
) -> HeaderMap {
    let passthrough = matches!(provider.auth, Some(UpstreamAuth::Passthrough));
    let mut out = HeaderMap::with_capacity(client.len() + 3);
    for (name, value) in client {
        let n = name.as_str();
        let dropped = DROPPED.contains(&n)
            || (!passthrough && CLIENT_KEYS.contains(&n))
            || (!provider.kind.speaks_anthropic() && n.starts_with("anthropic-"));
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    if json_body {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        out.insert(
            header::ACCEPT,
            HeaderValue::from_static(match (stream, provider.kind) {
                (true, ProviderKind::Bedrock) => llm::AWS_EVENT_STREAM,
                (true, _) => llm::EVENT_STREAM,
                (false, _) => "application/json",
            }),
        );
    }
    if provider.kind == ProviderKind::Anthropic {
        // (Vertex AI takes the version in the body instead.)
        out.entry(HeaderName::from_static("anthropic-version"))
            .or_insert(HeaderValue::from_static(ANTHROPIC_VERSION));
    }
    out
}

/// What one attempt came to.
pub(super) enum Outcome {
    /// The provider answered 2xx: its response, still unread.
    Answered(Response<InlineBody>),
    /// The provider refused the request itself (a 4xx other than 429): the client gets it.
    Refused {
        /// Its status.
        status: StatusCode,
        /// Its body (up to a limit).
        body: Bytes,
    },
    /// The provider failed: the next one is tried.
    Failed(Failed),
    /// The whole request ran out of time: nothing more is tried.
    Expired(ProxyError),
}

/// A provider that failed, and what the client gets when no other provider is left.
pub(super) struct Failed {
    /// The metric's `result`: `rate_limited`, `unavailable`, `connect`, `timeout`,
    /// `credential`, `stream_failed`.
    pub result: &'static str,
    /// Set aside for this long, and why (`None`: not set aside).
    pub set_aside: Option<(Duration, Failure)>,
    /// The status the client gets.
    pub status: StatusCode,
    /// The provider's error body, when it sent one.
    pub body: Option<Bytes>,
    /// What went wrong, for logs.
    pub message: String,
    /// The provider's `Retry-After`, passed on.
    pub retry_after: Option<Duration>,
}

/// Sends one attempt: `body` to `path` of `provider` with `headers`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send(
    proxy: &Proxy,
    route_key: &str,
    plan: &AiTerminal,
    provider: &Provider,
    method: Method,
    path: String,
    mut headers: HeaderMap,
    body: AttemptBody,
    started: Instant,
    log: &mut AccessLog,
) -> Outcome {
    let attempts = &mut log.attempts;
    let policy = plan.backend.set_aside;
    let mut auth: Option<(&BackendAuth, backend_auth::Credential)> = None;
    let mut sign = None;
    if let Some(UpstreamAuth::Credential(source)) = &provider.auth {
        if source.signs_requests() {
            sign = Some(source);
        } else {
            match forward::credential(source, &provider.upstream).await {
                Ok(c) => {
                    c.set(&mut headers);
                    auth = Some((source, c));
                }
                Err(e) => {
                    return Outcome::Failed(Failed {
                        result: "credential",
                        set_aside: None,
                        status: StatusCode::BAD_GATEWAY,
                        body: None,
                        message: e.to_string(),
                        retry_after: None,
                    })
                }
            }
        }
    }
    let out = Outbound {
        method,
        path_and_query: path,
        headers,
        body,
        timeouts: plan.timeouts,
        retry: None,
        started,
        auth,
        sign,
        tls: provider.tls.clone(),
    };
    let mut stats = AttemptStats::default();
    let result = match &provider.pool {
        None => forward::send(proxy, route_key, &provider.upstream, out, &mut stats).await,
        Some(pool) => {
            let authority = provider.upstream.to_string();
            let req = PoolRequest {
                route_key,
                authority: &authority,
                scheme: "http",
            };
            match proxy
                .send_to_pool(pool, &req, out, &mut stats, &mut log.endpoint)
                .await
            {
                Ok(PoolSent::Response(resp)) => Ok(resp),
                Ok(PoolSent::Answer(answer)) => {
                    *attempts += stats.attempts;
                    return picker_answer(answer);
                }
                Err(ProxyError::Pool { pool, cause }) => {
                    *attempts += stats.attempts;
                    return Outcome::Failed(Failed {
                        result: "unavailable",
                        set_aside: None,
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        body: None,
                        message: format!("inferencePool {pool}: {cause}"),
                        retry_after: None,
                    });
                }
                Err(e) => Err(e),
            }
        }
    };
    *attempts += stats.attempts;
    let resp = match result {
        Ok(resp) => resp,
        Err(e @ ProxyError::RequestTimeout { .. }) => return Outcome::Expired(e),
        Err(e) => {
            let (result, status) = match &e {
                ProxyError::Connect { .. } => ("connect", StatusCode::BAD_GATEWAY),
                ProxyError::BackendTimeout { .. } => ("timeout", StatusCode::GATEWAY_TIMEOUT),
                ProxyError::BackendAuth { .. } => ("credential", StatusCode::BAD_GATEWAY),
                _ => ("unavailable", StatusCode::BAD_GATEWAY),
            };
            let set_aside =
                (result != "credential").then_some((policy.default, Failure::Unavailable));
            return Outcome::Failed(Failed {
                result,
                set_aside,
                status,
                body: None,
                message: e.to_string(),
                retry_after: None,
            });
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Outcome::Answered(resp);
    }
    let retry_after = retry_after(resp.headers());
    let failure = match status.as_u16() {
        429 => Some(Failure::RateLimited),
        408 | 500..=599 => Some(Failure::Unavailable),
        _ => None,
    };
    let body = read_limited(resp.into_body(), ERROR_BODY_LIMIT).await;
    match failure {
        None => Outcome::Refused { status, body },
        Some(why) => {
            let rest = retry_after.unwrap_or(policy.default).min(policy.max);
            Outcome::Failed(Failed {
                result: match why {
                    Failure::RateLimited => "rate_limited",
                    Failure::Unavailable => "unavailable",
                },
                set_aside: Some((rest, why)),
                status,
                message: format!(
                    "provider answered {status}: {}",
                    llm::read_error_body(status, &body).1
                ),
                body: Some(body),
                retry_after,
            })
        }
    }
}

/// An `inferencePool` picker's own answer: a 429 (shedding) or 5xx (nothing ready) moves on
/// to the next provider without setting the pool aside (its picker decides per request);
/// anything else reaches the client.
fn picker_answer(answer: inference::epp::Immediate) -> Outcome {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Bytes::from(answer.body);
    let result = match status.as_u16() {
        429 => "rate_limited",
        408 | 500..=599 => "unavailable",
        _ => return Outcome::Refused { status, body },
    };
    Outcome::Failed(Failed {
        result,
        set_aside: None,
        status,
        message: format!(
            "the inferencePool's picker answered {status}: {}",
            String::from_utf8_lossy(&body)
        ),
        body: Some(body),
        retry_after: None,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and read as absent), or
/// OpenAI's `retry-after-ms`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = read("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let secs = read("retry-after")?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Up to `limit` bytes of a body; a read error or the limit ends it (what was read is kept).
pub(super) async fn read_limited(mut body: InlineBody, limit: usize) -> Bytes {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after", HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after", HeaderValue::from_static("-3"));
        h.remove("retry-after-ms");
        assert_eq!(retry_after(&h), None);
    }
}
