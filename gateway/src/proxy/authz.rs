//! The `Authorize` route phase: the route's `authorization` rules over the caller (from
//! `Authenticate`) and the request, or the gateway's `403`.

use http::{Method, Response, StatusCode};

use super::access_log::AccessLog;
use super::error::refusal;
use super::exchange::Exchange;
use super::phases::Flow;
use crate::body::Body;
use crate::metrics::Metrics;
use crate::model::plan::ErrorFormat;
use crate::model::policy::Authorize;

/// The body of the `403`: short, and the same whichever rule denied (the log says which).
const DENIED: &str = "Forbidden: the route's authorization rules deny this request";

/// Runs the route's rules on the request.
pub(crate) fn authorize(
    policy: &Authorize,
    ex: &mut Exchange<'_>,
    log: &mut AccessLog,
    metrics: &Metrics,
) -> Flow {
    // What authentication never challenges, rules never refuse: a browser's preflight and
    // the discovery documents a client reads before it has a credential.
    if super::authn::is_public(&ex.parts) {
        return Flow::Continue;
    }
    let Authorize { rules, phase } = policy;
    let route = &*ex.route.key;
    let input = authz::Input {
        identity: ex
            .identity
            .as_ref()
            .map(mcp_mux::policy::identity_view)
            .unwrap_or_default(),
        request: authz::RequestView {
            method: ex.parts.method.as_str(),
            path: ex.parts.uri.path(),
            headers: &ex.parts.headers,
            source_address: Some(ex.conn.remote.ip()),
        },
        mcp: None,
    };
    let outcome = rules.evaluate(&input);
    for e in &outcome.errors {
        metrics.authz_rule_error(route);
        tracing::warn!(route = %route, rule = e.rule, kind = %e.kind, error = %e.message,
            "authorization rule failed to evaluate (it grants nothing)");
    }
    if outcome.allowed {
        return Flow::Continue;
    }
    let label = phase_label(*phase);
    metrics.authz_denial(route, label);
    let caller = ex.identity.as_ref().map_or("", |i| i.subject());
    tracing::info!(route = %route, caller, reason = ?outcome.reason, "request denied by authorization rules");
    log.error = Some(format!("authorization: denied ({:?})", outcome.reason));
    let mut resp = denied(ex);
    // A browser client must be able to read the 403 of a cross-origin call.
    if let Some(h) = &ex.cors_headers {
        for (name, value) in h {
            resp.headers_mut().append(name.clone(), value.clone());
        }
    }
    Flow::Answer(resp)
}

/// The `phase` label of `switchboard_authz_denials_total`.
pub(crate) fn phase_label(phase: authz::Phase) -> &'static str {
    match phase {
        authz::Phase::Http => "http",
        authz::Phase::A2a => "a2a",
        authz::Phase::Mcp => "mcp",
    }
}

/// The `403`, in the route's error format: on an A2A route a call (a `POST`) gets a JSON-RPC
/// error body, an LLM client its API's error object; everything else a short text.
fn denied(ex: &Exchange<'_>) -> Response<Body> {
    match ex.route.plan.errors {
        ErrorFormat::A2a if ex.parts.method == Method::POST => {
            super::a2a::forbidden(StatusCode::FORBIDDEN, DENIED)
        }
        _ => refusal(ex.llm_api, StatusCode::FORBIDDEN, DENIED),
    }
}
