//! Compiling a route's lowered policies into its plan: the merges of route and backend
//! policies resolved once, the phases placed in their order (see [`crate::model::plan`]).
//!
//! Both functions destructure the policy structs exhaustively, so a new policy field does not
//! compile until someone decides which phase it becomes (or that it belongs to the other
//! function).

use std::sync::Arc;

use crate::model::ai::AiBackend;
use crate::model::plan::{
    AiTerminal, BackendKind, BackendPlan, ErrorFormat, Forward, McpServer, PoolTerminal,
    RequestPhase, ResponsePhase, RoutePhase, RoutePlan, Terminal,
};
use crate::model::policy::{BackendPolicies, PathRewrite, RoutePolicies, UpstreamAuth};
use crate::model::pool::InferencePool;
use crate::model::upstream::Upstream;

/// What a route's backend entry is, before its plan is compiled.
pub(super) enum BackendTarget {
    /// Reverse proxy to a `host:port`.
    Host(Upstream),
    /// A virtual MCP server.
    Mcp(Arc<dyn McpServer>),
    /// LLM providers.
    Ai(Arc<AiBackend>),
    /// An `inferencePool`: reverse proxy to the endpoint its picker chooses. Its policies are
    /// those of a `host` backend (`backendTLS` is refused by the route's lowering).
    Pool(Arc<InferencePool>),
    /// A fixed answer (`status:`), with no upstream.
    Status(http::StatusCode),
}

impl BackendTarget {
    /// The kind of backend, which decides the policies that apply to it.
    pub(super) fn kind(&self) -> BackendKind {
        match self {
            BackendTarget::Host(_) => BackendKind::Host,
            BackendTarget::Mcp(_) => BackendKind::Mcp,
            BackendTarget::Ai(_) => BackendKind::Ai,
            BackendTarget::Pool(_) => BackendKind::Host,
            BackendTarget::Status(_) => BackendKind::Host,
        }
    }
}

/// The phases of a route that run before a backend is chosen; `llm_route`: every backend
/// of the route is an `ai` backend.
pub(super) fn route_plan(route: &RoutePolicies, llm_route: bool) -> RoutePlan {
    let RoutePolicies {
        cors,
        authn,
        authorization,
        redirect,
        max_request_body,
        a2a,
        rate_limits,
        // Placed in each backend's plan.
        tool_limits: _,
        token_budgets: _,
        prompt_guard: _,
        request_headers: _,
        response_headers: _,
        rewrite: _,
        mirror: _,
        timeouts: _,
        retry: _,
        backend_auth: _,
        backend_tls: _,
        mcp: _,
    } = route;
    let mut request = Vec::new();
    if let Some(cors) = cors {
        request.push(RoutePhase::Cors(cors.clone()));
    }
    if let Some(authn) = authn {
        request.push(RoutePhase::Authenticate(authn.clone()));
    }
    if let Some(authorization) = authorization {
        request.push(RoutePhase::Authorize(authorization.clone()));
    }
    if let Some(limits) = rate_limits {
        request.push(RoutePhase::RateLimit(limits.clone()));
    }
    if let Some(redirect) = redirect {
        request.push(RoutePhase::Redirect(redirect.clone()));
    }
    request.push(RoutePhase::BodyLimit(*max_request_body));
    RoutePlan {
        request,
        errors: if a2a.is_some() {
            ErrorFormat::A2a
        } else if llm_route {
            ErrorFormat::Llm
        } else {
            ErrorFormat::Text
        },
    }
}

/// The plan of one backend of a route: the route's policies merged with the backend's
/// (whose `urlRewrite`, `requestMirror`, `timeout` fields, `retry` and `backendAuth` replace
/// the route's; whose header modifiers run after the route's on the request and before them
/// on the response).
pub(super) fn backend_plan(
    route: &RoutePolicies,
    backend: BackendPolicies,
    target: BackendTarget,
) -> BackendPlan {
    let RoutePolicies {
        request_headers: route_request_headers,
        response_headers: route_response_headers,
        rewrite: route_rewrite,
        mirror: route_mirror,
        timeouts: route_timeouts,
        retry: route_retry,
        backend_auth: route_backend_auth,
        backend_tls: route_backend_tls,
        a2a,
        cors,
        max_request_body,
        authn,
        rate_limits,
        tool_limits,
        token_budgets,
        mcp,
        prompt_guard,
        // Placed in the route's plan.
        redirect: _,
        authorization: _,
    } = route;
    let BackendPolicies {
        request_headers,
        response_headers,
        rewrite,
        mirror,
        timeouts,
        retry,
        backend_auth,
        backend_tls,
    } = backend;

    let mut request = Vec::new();
    let mut response = Vec::new();
    let backend_auth = backend_auth.or_else(|| route_backend_auth.clone());
    // The caller's credential stops here unless `passthrough` says to pass it on (refused on
    // mcp backends at load: their targets get their own `backendAuth`).
    if let Some(authn) = authn {
        if !matches!(backend_auth, Some(UpstreamAuth::Passthrough)) {
            request.push(RequestPhase::StripCredentials(authn.credential_headers()));
        }
    }
    if let Some(m) = response_headers {
        response.push(ResponsePhase::ResponseHeaders(m));
    }
    if let Some(m) = route_response_headers {
        response.push(ResponsePhase::ResponseHeaders(m.clone()));
    }
    if cors.is_some() {
        response.push(ResponsePhase::Cors);
    }
    if rate_limits.is_some() {
        response.push(ResponsePhase::RateLimitHeaders);
    }
    let request_modifiers = [route_request_headers.clone(), request_headers]
        .into_iter()
        .flatten()
        .map(RequestPhase::RequestHeaders);

    // A pool's requests go where its picker says; `upstream` then only names the pool in the
    // places a fixed upstream appears (A2A card rewriting, credential errors).
    let (upstream, pool) = match target {
        BackendTarget::Mcp(server) => {
            // The virtual MCP server answers itself: the header modifiers apply, and the
            // whole-request time limit. Everything else was refused at load.
            request.extend(request_modifiers);
            let timeout = timeouts.request.or(route_timeouts.request);
            let tool_limit = tool_limits
                .clone()
                .map(|l| mcp_mux::ToolLimit(l as Arc<dyn mcp_mux::ToolLimiter>));
            return BackendPlan {
                request,
                terminal: Terminal::Mcp {
                    server,
                    timeout,
                    tool_limit,
                    policy: mcp.clone(),
                },
                response,
            };
        }
        BackendTarget::Ai(backend) => {
            // The providers are called by the terminal, each with its own credential and
            // TLS settings: the header modifiers apply, and the time limits.
            request.extend(request_modifiers);
            return BackendPlan {
                request,
                terminal: Terminal::Ai(AiTerminal {
                    backend,
                    timeouts: timeouts.or(*route_timeouts),
                    budgets: token_budgets.clone(),
                    guard: prompt_guard.clone(),
                }),
                response,
            };
        }
        BackendTarget::Status(status) => {
            // Nothing goes upstream: the response phases still apply (CORS, headers).
            return BackendPlan {
                request,
                terminal: Terminal::Status(status),
                response,
            };
        }
        BackendTarget::Host(upstream) => (upstream, None),
        BackendTarget::Pool(pool) => (pool_label(&pool), Some(pool)),
    };
    // The TLS server name: `hostname`, else the backend's host (`[::1]` without brackets).
    let tls: Option<Arc<str>> = backend_tls
        .or_else(|| route_backend_tls.clone())
        .map(|t| t.server_name(&upstream));
    let scheme = if tls.is_some() { "https" } else { "http" };

    let rewrite = rewrite.or_else(|| route_rewrite.clone());
    let (path_rewrite, host_rewrite) = match rewrite {
        Some(r) => (r.path, r.hostname),
        None => (None, None),
    };
    // The A2A relay rewrites agent cards from where the route's public prefix lands upstream.
    let a2a = a2a.as_ref().map(|relay| {
        let upstream_base = match &path_rewrite {
            Some(PathRewrite::Prefix(p)) => format!("{scheme}://{upstream}{p}"),
            _ => format!("{scheme}://{upstream}/"),
        };
        RequestPhase::A2a {
            relay: relay.clone(),
            upstream_base,
            body_limit: *max_request_body,
        }
    });
    if let Some(p) = path_rewrite {
        request.push(RequestPhase::RewritePath(p));
    }
    if let Some(phase) = a2a {
        request.push(phase);
        response.push(ResponsePhase::A2a);
    }
    request.push(RequestPhase::ForwardingHeaders { host: host_rewrite });
    request.extend(request_modifiers);
    let retry = retry.or_else(|| route_retry.clone());
    let auth = match backend_auth.or_else(|| route_backend_auth.clone()) {
        Some(UpstreamAuth::Credential(auth)) => Some(auth),
        Some(UpstreamAuth::Passthrough) | None => None,
    };
    // A signature over the body (`aws`) needs the body whole, as retries do, and so does a
    // pool's picker, which is sent the body.
    if retry.is_some() || pool.is_some() || auth.as_ref().is_some_and(|a| a.signs_body()) {
        request.push(RequestPhase::BufferBody);
    }
    if let Some(m) = mirror.or_else(|| route_mirror.clone()) {
        request.push(RequestPhase::Mirror(m));
    }
    // After the mirror took its copy: a credential is for this backend only. A signature
    // covers the request as it leaves, so the terminal makes it, per attempt.
    let (auth, sign) = match auth {
        Some(a) if a.signs_requests() => (None, Some(a)),
        other => (other, None),
    };
    if let Some(auth) = auth {
        request.push(RequestPhase::Credential {
            auth,
            upstream: upstream.clone(),
        });
    }
    let timeouts = timeouts.or(*route_timeouts);
    let terminal = match pool {
        Some(pool) => Terminal::Pool(PoolTerminal {
            pool,
            timeouts,
            retry,
            sign,
        }),
        None => Terminal::Forward(Forward {
            upstream,
            timeouts,
            retry,
            tls,
            sign,
        }),
    };
    BackendPlan {
        request,
        terminal,
        response,
    }
}

/// The address that stands for a pool where a fixed upstream is named: its first endpoint,
/// or `inference-pool.invalid:0` when it lists none.
fn pool_label(pool: &InferencePool) -> Upstream {
    pool.endpoint_strings
        .first()
        .and_then(|e| Upstream::parse(e).ok())
        .unwrap_or_else(|| Upstream {
            authority: http::uri::Authority::from_static("inference-pool.invalid:0"),
        })
}
