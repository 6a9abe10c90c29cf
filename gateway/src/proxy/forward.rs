//! Sending a request upstream: attempts, per-attempt and whole-request timeouts, retries.

use std::time::Duration;

use backend_auth::{BackendAuth, Credential, Outgoing};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use netkit::InlineBody;
use tokio::time::Instant;
use tracing::Instrument;

use super::error::ProxyError;
use super::Proxy;
use crate::body::{full, is_body_too_large, Body};
use crate::model::policy::{Retry, Timeouts};
use crate::model::upstream::Upstream;

/// The request body as the attempts see it.
pub enum AttemptBody {
    /// Streamed once: no retry is possible after the first attempt started sending it.
    Stream(Body),
    /// Buffered, so every attempt can send it again.
    Buffered(Bytes),
}

/// An upstream request ready to send, possibly several times, with the limits it runs under.
pub struct Outbound<'a> {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path_and_query: String,
    /// Headers, already rewritten.
    pub headers: HeaderMap,
    /// Body.
    pub body: AttemptBody,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Retry policy.
    pub retry: Option<&'a Retry>,
    /// When the request arrived (the start of `timeout.request`).
    pub started: Instant,
    /// The `backendAuth` credential set in `headers`, with its source: a 401 to an OAuth2
    /// token gets the request sent once more with a new one, when the body can be sent again.
    pub auth: Option<(&'a BackendAuth, Credential)>,
    /// `backendAuth` that signs each attempt as it leaves (`aws`).
    pub sign: Option<&'a BackendAuth>,
    /// `backendTLS`: the TLS server name, when the upstream is reached over `https`.
    pub tls: Option<std::sync::Arc<str>>,
}

/// What happened across attempts, for the access log.
#[derive(Debug, Default, Clone, Copy)]
pub struct AttemptStats {
    /// Attempts made.
    pub attempts: u32,
    /// The index, in the upstreams given to [`send_to`], of the last attempt's upstream.
    pub upstream: usize,
}

/// Sends `out` to `upstream`, retrying as the policy says, within the timeouts.
pub async fn send(
    proxy: &Proxy,
    route_key: &str,
    upstream: &Upstream,
    out: Outbound<'_>,
    stats: &mut AttemptStats,
) -> Result<Response<InlineBody>, ProxyError> {
    send_to(proxy, route_key, std::slice::from_ref(upstream), out, stats).await
}

/// Sends `out` as [`send`] does, attempt N to the N-th of `upstreams` (the last one for every
/// attempt past the list): an `inferencePool` walks its picker's list on retries.
pub async fn send_to(
    proxy: &Proxy,
    route_key: &str,
    upstreams: &[Upstream],
    out: Outbound<'_>,
    stats: &mut AttemptStats,
) -> Result<Response<InlineBody>, ProxyError> {
    if upstreams.is_empty() {
        return Err(ProxyError::BadRequest(
            "no upstream to send the request to".into(),
        ));
    }
    let Outbound {
        timeouts,
        retry,
        started,
        mut auth,
        sign,
        ..
    } = out;
    let deadline = timeouts.request.map(|d| started + d);
    let uris = upstreams
        .iter()
        .map(|upstream| {
            Uri::builder()
                .scheme(if out.tls.is_some() { "https" } else { "http" })
                .authority(upstream.authority.clone())
                .path_and_query(out.path_and_query.as_str())
                .build()
                .map_err(|e| ProxyError::BadRequest(format!("cannot build upstream URI: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let max_retries = match (&out.body, retry) {
        (AttemptBody::Buffered(_), Some(r)) => r.attempts,
        // A streamed body can be sent only once; lowering buffers bodies on routes with retries,
        // so this only happens when no retry is configured.
        _ => 0,
    };
    let (mut stream_body, buffered) = match out.body {
        AttemptBody::Stream(b) => (Some(b), None),
        AttemptBody::Buffered(b) => (None, Some(b)),
    };
    let mut headers = out.headers;
    let method = out.method;
    let mut attempt = 0u32;
    // Whether a refused OAuth2 token may still be replaced and the request sent again.
    let mut may_reauth = buffered.is_some() && auth.is_some();
    loop {
        attempt += 1;
        stats.attempts = attempt;
        let index = usize::try_from(attempt - 1)
            .unwrap_or(usize::MAX)
            .min(upstreams.len() - 1);
        stats.upstream = index;
        let (upstream, uri) = (&upstreams[index], &uris[index]);
        let body = match (&buffered, stream_body.take()) {
            (Some(b), _) => full(b.clone()),
            (None, Some(b)) => b,
            (None, None) => return Err(ProxyError::BadRequest("request body already sent".into())),
        };
        let mut req = Request::new(body);
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.clone();
        *req.version_mut() = Version::HTTP_11;
        // The last possible attempt takes the headers; earlier ones copy them.
        *req.headers_mut() = if attempt > max_retries && !may_reauth {
            std::mem::take(&mut headers)
        } else {
            headers.clone()
        };

        let span = tracing::info_span!("upstream", upstream = %upstream, attempt, status = tracing::field::Empty);
        crate::telemetry::inject_context(&span, req.headers_mut());
        if let Some(signer) = sign {
            sign_attempt(signer, &mut req, buffered.as_deref(), upstream).await?;
        }
        let client = proxy.client(out.tls.as_ref());
        let call = client.request(req).instrument(span.clone());
        let per_try = timeouts.backend_request;
        let outcome = with_limits(call, per_try, deadline).await;
        let retryable = attempt <= max_retries;
        let error = match outcome {
            Limited::Done(Ok(resp)) => {
                span.record("status", resp.status().as_u16());
                let code = resp.status().as_u16();
                if code == 401
                    && resend_with_new_token(&mut auth, &mut may_reauth, &mut headers, upstream)
                        .await?
                {
                    drop(resp);
                    // Not one of the retry policy's attempts: the same one, with a new token.
                    attempt -= 1;
                    continue;
                }
                if retryable && retry.is_some_and(|r| r.codes.contains(&code)) {
                    tracing::debug!(upstream = %upstream, status = code, attempt, "retrying on status");
                    drop(resp);
                    None
                } else {
                    return Ok(resp);
                }
            }
            Limited::Done(Err(e)) => {
                if let Some(limit) = is_body_too_large(&e) {
                    return Err(ProxyError::BodyTooLarge { limit });
                }
                if let Some(after) = crate::body::is_body_read_timeout(&e) {
                    return Err(ProxyError::BodyReadTimeout { after });
                }
                let cause = error_chain(&e);
                Some(if e.is_connect() {
                    ProxyError::Connect {
                        upstream: upstream.to_string(),
                        cause,
                    }
                } else {
                    ProxyError::Upstream {
                        upstream: upstream.to_string(),
                        cause,
                    }
                })
            }
            Limited::AttemptTimeout => Some(ProxyError::BackendTimeout {
                upstream: upstream.to_string(),
                after: per_try.unwrap_or_default(),
            }),
            Limited::RequestTimeout => {
                return Err(ProxyError::RequestTimeout {
                    after: timeouts.request.unwrap_or_default(),
                });
            }
        };
        if let Some(err) = &error {
            if !retryable {
                return Err(error.unwrap_or(ProxyError::BadRequest(String::new())));
            }
            tracing::debug!(upstream = %upstream, error = %err, attempt, "retrying on error");
        }
        proxy
            .metrics
            .retries
            .get_or_create(&crate::metrics::RouteLabel {
                route: route_key.to_string(),
            })
            .inc();
        let backoff = retry.map_or(Duration::ZERO, |r| r.backoff);
        if !backoff.is_zero() {
            let wake = Instant::now() + backoff;
            if deadline.is_some_and(|d| d <= wake) {
                return Err(ProxyError::RequestTimeout {
                    after: timeouts.request.unwrap_or_default(),
                });
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// The credential `source` gives for a request to `upstream` now; none to be had (the token
/// endpoint failed) fails the request before it is sent.
pub async fn credential(
    source: &BackendAuth,
    upstream: &Upstream,
) -> Result<Credential, ProxyError> {
    source
        .credential()
        .await
        .map_err(|e| ProxyError::BackendAuth {
            upstream: upstream.to_string(),
            cause: e.to_string(),
        })
}

/// Signs an attempt as it leaves (`aws`): the signature covers its method, URL, headers and
/// `body` (`None` when it streams), and the time.
async fn sign_attempt(
    signer: &BackendAuth,
    req: &mut Request<Body>,
    body: Option<&[u8]>,
    upstream: &Upstream,
) -> Result<(), ProxyError> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    signer
        .authorize(Outgoing {
            method: &method,
            uri: &uri,
            headers: req.headers_mut(),
            body,
        })
        .await
        .map(drop)
        .map_err(|e| ProxyError::BackendAuth {
            upstream: upstream.to_string(),
            cause: e.to_string(),
        })
}

/// After a 401: tells the credential's source that its credential was refused (an OAuth2 token
/// is then replaced for every later request) and, when this request may still be sent again
/// (once), sets a new credential in `headers` and `auth` and returns true.
async fn resend_with_new_token(
    auth: &mut Option<(&BackendAuth, Credential)>,
    may_reauth: &mut bool,
    headers: &mut HeaderMap,
    upstream: &Upstream,
) -> Result<bool, ProxyError> {
    let Some((source, used)) = auth.as_ref() else {
        return Ok(false);
    };
    let source = *source;
    if !(source.rejected(used) && std::mem::take(may_reauth)) {
        return Ok(false);
    }
    let fresh = credential(source, upstream).await?;
    tracing::info!(upstream = %upstream, "upstream refused the backendAuth OAuth2 token; sending once more with a new one");
    fresh.set(headers);
    *auth = Some((source, fresh));
    Ok(true)
}

enum Limited<T> {
    Done(T),
    AttemptTimeout,
    RequestTimeout,
}

async fn with_limits<F: std::future::Future>(
    fut: F,
    per_try: Option<Duration>,
    deadline: Option<Instant>,
) -> Limited<F::Output> {
    let try_deadline = per_try.map(|d| Instant::now() + d);
    let (limit, whole) = match (try_deadline, deadline) {
        (Some(t), Some(d)) if d <= t => (Some(d), true),
        (Some(t), _) => (Some(t), false),
        (None, Some(d)) => (Some(d), true),
        (None, None) => (None, false),
    };
    match limit {
        None => Limited::Done(fut.await),
        Some(at) => match tokio::time::timeout_at(at, fut).await {
            Ok(v) => Limited::Done(v),
            Err(_) if whole => Limited::RequestTimeout,
            Err(_) => Limited::AttemptTimeout,
        },
    }
}

/// An error and its sources, joined, for messages that say the real cause (netkit's).
pub use netkit::error_chain;
