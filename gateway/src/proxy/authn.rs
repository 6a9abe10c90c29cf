//! The `Authenticate` route phase: the caller's identity on the exchange, or the gateway's
//! `401` with a challenge.

use http::{header, HeaderValue, Method, Response};

use super::access_log::AccessLog;
use super::error::text_response;
use super::exchange::Exchange;
use super::phases::Flow;
use crate::metrics::Metrics;

/// Runs the route's authentication policy on the request.
pub(crate) async fn authenticate(
    auth: &authn::Authenticator,
    ex: &mut Exchange<'_>,
    log: &mut AccessLog,
    metrics: &Metrics,
) -> Flow {
    if exempt(&ex.parts) {
        return Flow::Continue;
    }
    let route = &ex.route.key;
    match auth.authenticate(&ex.parts.headers).await {
        authn::Verdict::Authenticated(identity) => {
            log.identity = Some(identity.clone());
            ex.identity = Some(identity);
            Flow::Continue
        }
        authn::Verdict::Anonymous(None) => Flow::Continue,
        authn::Verdict::Anonymous(Some(failure)) => {
            metrics.authn_failure(route, auth.method(), failure.reason.as_str());
            tracing::info!(route = %route, method = auth.method(), reason = failure.reason.as_str(), cause = %failure.detail, "invalid credential let through as anonymous (permissive mode)");
            Flow::Continue
        }
        authn::Verdict::Rejected(failure) => {
            metrics.authn_failure(route, auth.method(), failure.reason.as_str());
            if failure.reason == authn::Reason::Missing {
                tracing::debug!(route = %route, method = auth.method(), "request without credentials refused");
            } else {
                tracing::info!(route = %route, method = auth.method(), reason = failure.reason.as_str(), cause = %failure.detail, "credential refused");
            }
            log.error = Some(format!("authentication: {}", failure.detail));
            let mut resp: Response<crate::body::Body> =
                text_response(failure.status, failure.body());
            if let Ok(v) = HeaderValue::from_str(&failure.challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            // A browser client must be able to read the 401 of a cross-origin call.
            if let Some(h) = &ex.cors_headers {
                for (name, value) in h {
                    resp.headers_mut().append(name.clone(), value.clone());
                }
            }
            Flow::Answer(resp)
        }
    }
}

/// Requests that are never challenged: CORS preflights (a browser sends them without
/// credentials, whatever the route needs) and discovery documents under `/.well-known/`
/// (RFC 8615; OAuth clients read them before they have a token). They go on anonymous.
pub(super) fn exempt(parts: &http::request::Parts) -> bool {
    let preflight = parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    preflight || parts.uri.path().contains("/.well-known/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, preflight: bool) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        if preflight {
            b = b.header("access-control-request-method", "POST");
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_preflights_and_well_known_are_exempt() {
        assert!(exempt(&parts("OPTIONS", "/api", true)));
        assert!(exempt(&parts(
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            false
        )));
        assert!(exempt(&parts(
            "GET",
            "/mcp/.well-known/openid-configuration",
            false
        )));
        assert!(!exempt(&parts("OPTIONS", "/api", false)));
        assert!(!exempt(&parts("GET", "/api/.well-knownx", false)));
        assert!(!exempt(&parts("GET", "/api?x=/.well-known/", false)));
        assert!(!exempt(&parts("POST", "/api", true)));
    }
}
