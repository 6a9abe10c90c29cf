//! The `RateLimit` route phase (`per: route` and `per: identity` buckets): a token from each,
//! or the gateway's `429`; and the `per: tool` buckets as the virtual MCP server's
//! [`mcp_mux::ToolLimiter`].
//!
//! Whose bucket: `per: route` is one bucket for the route; `per: identity` one per
//! authenticated caller (`jwt:<iss>:<sub>`, `apiKey:<name>`, `basic:<user>`), and for a caller
//! the route let through without an identity (no authentication policy, `optional` or
//! `permissive` mode) one per client IP address (`ip:<address>`), the address of the TCP peer
//! (behind a proxy, that proxy's).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::{header, HeaderValue, Response, StatusCode};
use ratelimit::{Decision, Per};

use super::access_log::AccessLog;
use super::error::refusal;
use super::exchange::Exchange;
use super::phases::Flow;
use crate::body::Body;
use crate::model::plan::ErrorFormat;
use crate::model::ratelimit::{retry_secs, Limits};

/// Runs the route's limits on the request.
pub(crate) async fn rate_limit(
    limits: &Limits,
    ex: &mut Exchange<'_>,
    log: &mut AccessLog,
) -> Flow {
    let identity = limits.needs_identity().then(|| identity_key(ex));
    let key = |per: Per| match per {
        Per::Identity => identity.clone().unwrap_or_default(),
        Per::Route | Per::Tool => String::new(),
    };
    let Some(decision) = limits.check(key).await else {
        return Flow::Continue;
    };
    if decision.allowed {
        ex.rate_limit = Some(decision);
        return Flow::Continue;
    }
    let retry = decision.retry_after.map_or(1, retry_secs);
    tracing::debug!(route = %limits.route, retry_after = retry, store_error = decision.store_error(), "rate limited");
    log.error = Some(if decision.store_error() {
        "rate limited: the rateLimit store failed (failClosed)".into()
    } else {
        "rate limited".into()
    });
    Flow::Answer(denied(&decision, ex))
}

/// The `429` of a denied request: text, or a JSON-RPC error on `a2a` routes; with
/// `Retry-After`, the `X-RateLimit-*` headers, and the route's CORS headers (a browser client
/// must be able to read it).
fn denied(decision: &Decision, ex: &Exchange<'_>) -> Response<Body> {
    let retry = decision.retry_after.map_or(1, retry_secs);
    let message = format!("rate limited: retry after {retry}s");
    let mut resp = match ex.route.plan.errors {
        ErrorFormat::A2a => super::a2a::gateway_error(StatusCode::TOO_MANY_REQUESTS, &message),
        ErrorFormat::Text | ErrorFormat::Llm => {
            refusal(ex.llm_api, StatusCode::TOO_MANY_REQUESTS, &message)
        }
    };
    add_headers(decision, resp.headers_mut());
    if !resp.headers().contains_key(header::RETRY_AFTER) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    }
    if let Some(h) = &ex.cors_headers {
        for (name, value) in h {
            resp.headers_mut().append(name.clone(), value.clone());
        }
    }
    resp
}

/// Adds the decision's `X-RateLimit-*` (and `Retry-After`) headers.
pub(crate) fn add_headers(decision: &Decision, headers: &mut http::HeaderMap) {
    for (name, value) in decision.headers() {
        headers.insert(name, value);
    }
}

/// Whose `per: identity` bucket the request takes from (see the module doc).
fn identity_key(ex: &Exchange<'_>) -> String {
    use ::authn::Method;
    match ex.identity.as_ref().map(|i| i.method()) {
        Some(Method::Jwt(j)) => format!(
            "jwt:{}:{}",
            j.issuer,
            j.subject.as_deref().unwrap_or_default()
        ),
        Some(Method::ApiKey(k)) => format!("apiKey:{}", k.name),
        Some(Method::Basic(b)) => format!("basic:{}", b.username),
        None => format!("ip:{}", ex.conn.remote.ip()),
    }
}

/// `per: tool` buckets: one per tool name as the client sees it, for every caller.
impl mcp_mux::ToolLimiter for Limits {
    fn check<'a>(
        &'a self,
        tool: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + 'a>> {
        Box::pin(async move {
            match Limits::check(self, |_| tool.to_owned()).await {
                Some(d) if !d.allowed => {
                    tracing::debug!(route = %self.route, tool, "MCP tool call rate limited");
                    Err(d.retry_after.unwrap_or(Duration::from_secs(1)))
                }
                _ => Ok(()),
            }
        })
    }
}
