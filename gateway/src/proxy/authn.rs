//! The `Authenticate` route phase: the caller's identity on the exchange, or the gateway's
//! `401` with a challenge.

use http::{header, HeaderValue, Method, Response};

use super::access_log::AccessLog;
use super::error::refusal;
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
    if exempt(auth, &ex.parts) {
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
                refusal(ex.llm_api, failure.status, failure.body());
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
/// credentials, whatever the route needs) and `GET`/`HEAD` of discovery documents, read by
/// clients before they have a credential: anything under the root `/.well-known/` (RFC 8615;
/// OAuth metadata) and A2A agent cards (`<route>/.well-known/agent-card.json`, legacy
/// `agent.json`), which A2A serves under each agent's path. They go on anonymous.
///
/// Only those: a `/.well-known/` segment deeper in the path is the route's own content
/// (`/api/.well-known/x` goes upstream as it is), so exempting it would let any path with that
/// segment skip authentication.
///
/// Not the `/.well-known/` paths of an `mcpAuthentication` route: its discovery document is
/// answered by the listener before any route is chosen (`crate::model::discovery`), so such a
/// path reaching the route is a request to the MCP server like any other (`/mcp/.well-known/x`
/// must not reach it unauthenticated).
fn exempt(auth: &authn::Authenticator, parts: &http::request::Parts) -> bool {
    is_preflight(parts) || (!matches!(auth, authn::Authenticator::Mcp(_)) && is_discovery(parts))
}

/// The requests [`exempt`] lets through on routes without `mcpAuthentication`; authorization
/// rules let them through too, so a rule cannot hide what authentication leaves public.
pub(super) fn is_public(parts: &http::request::Parts) -> bool {
    is_preflight(parts) || is_discovery(parts)
}

fn is_preflight(parts: &http::request::Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn is_discovery(parts: &http::request::Parts) -> bool {
    let path = parts.uri.path();
    matches!(parts.method, Method::GET | Method::HEAD)
        && (path.starts_with("/.well-known/")
            || path.ends_with("/.well-known/agent-card.json")
            || path.ends_with("/.well-known/agent.json"))
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

    fn key_auth() -> authn::Authenticator {
        authn::Authenticator::api_key(&authn::ApiKeyAuthConfig {
            keys: vec![authn::config::ApiKeyConfig {
                name: "ci".into(),
                key: "0123456789abcdef0123".into(),
                metadata: Default::default(),
            }],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn only_preflights_and_well_known_are_exempt() {
        let a = key_auth();
        let exempt = |p: &http::request::Parts| exempt(&a, p);
        assert!(exempt(&parts("OPTIONS", "/api", true)));
        assert!(exempt(&parts(
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            false
        )));
        assert!(exempt(&parts(
            "GET",
            "/agents/travel/.well-known/agent-card.json",
            false
        )));
        // A `/.well-known/` segment below the root is the route's own content.
        assert!(!exempt(&parts(
            "GET",
            "/mcp/.well-known/openid-configuration",
            false
        )));
        assert!(!exempt(&parts("GET", "/api/.well-known/secret", false)));
        // Discovery documents are read, not written.
        assert!(!exempt(&parts(
            "POST",
            "/.well-known/oauth-protected-resource",
            false
        )));
        assert!(!exempt(&parts("OPTIONS", "/api", false)));
        assert!(!exempt(&parts("GET", "/api/.well-knownx", false)));
        assert!(!exempt(&parts("GET", "/api?x=/.well-known/", false)));
        assert!(!exempt(&parts("POST", "/api", true)));
    }

    #[test]
    fn mcp_authentication_exempts_only_preflights() {
        let dir = tempfile::tempdir().unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
            "../../../authn/testdata/rsa1.pem"
        ))
        .unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256)
            .unwrap();
        let set = jsonwebtoken::jwk::JwkSet { keys: vec![jwk] };
        std::fs::write(
            dir.path().join("jwks.json"),
            serde_json::to_string(&set).unwrap(),
        )
        .unwrap();
        let a = authn::Authenticator::mcp(
            &authn::McpAuthenticationConfig {
                resource: "https://gw.test/mcp".into(),
                authorization_servers: vec!["https://idp.test".into()],
                jwks: authn::config::JwksConfig {
                    file: Some("jwks.json".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            dir.path(),
        )
        .unwrap();
        assert!(exempt(&a, &parts("OPTIONS", "/mcp", true)));
        assert!(!exempt(&a, &parts("POST", "/mcp/.well-known/x", false)));
        assert!(!exempt(
            &a,
            &parts("GET", "/.well-known/oauth-protected-resource/mcp", false)
        ));
    }
}
