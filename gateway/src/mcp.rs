//! `mcp` backends: a virtual MCP server ([`mcp_mux::Multiplexer`]) served over Streamable HTTP.
//!
//! A backend is built per route entry, so metrics carry the route; it is cached across reloads
//! by its route and config, so an unchanged backend keeps its sessions and its stdio processes
//! when the file changes elsewhere. A changed or removed backend is shut down (its stdio
//! processes stopped and reaped) once the last request using it is done.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use http::{Request, Response};
use http_body_util::BodyExt;
use mcp_mux::{McpBackendConfig, Multiplexer, MuxMetrics, Outcome, Target};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower_service::Service;

use crate::metrics::Metrics;
use crate::proxy::body::{Body, BoxError};

/// A virtual MCP server behind one route entry.
pub struct McpBackend {
    mux: Multiplexer,
    service: StreamableHttpService<Multiplexer, LocalSessionManager>,
}

impl std::fmt::Debug for McpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpBackend").finish_non_exhaustive()
    }
}

impl Drop for McpBackend {
    fn drop(&mut self) {
        let mux = self.mux.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { mux.shutdown().await });
        }
    }
}

impl McpBackend {
    /// Serves one HTTP request of the MCP Streamable HTTP transport. A POST body is read first
    /// (it is one JSON-RPC message, bounded by the route's limit) so that malformed input gets
    /// a JSON-RPC error in the client's protocol rather than a transport-level text answer.
    pub async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let req = if req.method() == http::Method::POST {
            let (parts, body) = req.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    let too_large = crate::proxy::body::is_body_too_large(e.as_ref());
                    return match too_large {
                        Some(limit) => jsonrpc_error(
                            http::StatusCode::PAYLOAD_TOO_LARGE,
                            -32600,
                            &format!("request body is larger than the limit of {limit} bytes"),
                        ),
                        None => jsonrpc_error(
                            http::StatusCode::BAD_REQUEST,
                            -32600,
                            &format!("cannot read the request body: {e}"),
                        ),
                    };
                }
            };
            if let Some(rejection) = check_message(&bytes) {
                return rejection;
            }
            Request::from_parts(parts, crate::proxy::body::full(bytes))
        } else {
            req
        };
        let is_delete = req.method() == http::Method::DELETE;
        let mut service = self.service.clone();
        let mut resp = match service.call(req).await {
            Ok(resp) => resp.map(|b| b.map_err(|never| -> BoxError { match never {} }).boxed()),
            Err(never) => match never {},
        };
        // rmcp answers a session DELETE with 202; clients (the Python SDK among them) take
        // only 200/204 as a terminated session. The session is gone either way.
        if is_delete && resp.status() == http::StatusCode::ACCEPTED {
            *resp.status_mut() = http::StatusCode::OK;
        }
        resp
    }
}

/// Checks that a POST body is one JSON-RPC 2.0 message (or a batch of them, which the
/// transport answers itself per its protocol revision); the rejection when it is not.
fn check_message(bytes: &[u8]) -> Option<Response<Body>> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("Parse error: {e}");
            return Some(jsonrpc_error(http::StatusCode::BAD_REQUEST, -32700, &msg));
        }
    };
    let is_message = |v: &serde_json::Value| {
        v.get("jsonrpc").and_then(|j| j.as_str()) == Some("2.0")
            && (v.get("method").is_some_and(|m| m.is_string())
                || v.get("result").is_some()
                || v.get("error").is_some())
    };
    let ok = match &value {
        serde_json::Value::Array(items) => !items.is_empty() && items.iter().all(is_message),
        other => is_message(other),
    };
    (!ok).then(|| {
        jsonrpc_error(
            http::StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: expected a JSON-RPC 2.0 message with \"jsonrpc\": \"2.0\" and a method",
        )
    })
}

/// A JSON-RPC error answered by the gateway itself.
fn jsonrpc_error(status: http::StatusCode, code: i64, message: &str) -> Response<Body> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    let mut resp = Response::new(crate::proxy::body::full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Metrics of one route's MCP backend.
struct RouteMcpMetrics {
    metrics: Arc<Metrics>,
    route: String,
    backend: String,
}

impl MuxMetrics for RouteMcpMetrics {
    fn request(&self, target: &str, method: &str, outcome: Outcome) {
        self.metrics
            .mcp_request(&self.route, target, method, outcome != Outcome::Ok);
    }

    fn target_up(&self, target: &str, up: bool) {
        self.metrics.mcp_target_up(&self.backend, target, up);
    }
}

type Cache = Mutex<HashMap<String, Weak<McpBackend>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The backend for `route` and `config`: the live one if nothing changed, else a new one.
/// Targets connect lazily, so building one starts no process and opens no connection.
pub fn backend(
    route: &str,
    name: &str,
    config: &McpBackendConfig,
    base_dir: &Path,
    metrics: &Arc<Metrics>,
) -> Result<Arc<McpBackend>, String> {
    let key = format!(
        "{route}\u{0}{name}\u{0}{}\u{0}{}",
        base_dir.display(),
        serde_json::to_string(config).unwrap_or_default()
    );
    let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|_, w| w.strong_count() > 0);
    if let Some(live) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(live);
    }
    let mux_metrics = Arc::new(RouteMcpMetrics {
        metrics: metrics.clone(),
        route: route.to_string(),
        backend: name.to_string(),
    });
    let mux = build(config, base_dir, mux_metrics)?;
    let factory_mux = mux.clone();
    // The gateway routes by host itself and enforces its own body limit before this point.
    let http = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let http = if config.allowed_origins.iter().any(|o| o == "*") {
        http.disable_allowed_origins()
    } else {
        http.with_allowed_origins(config.allowed_origins.clone())
            .enforce_origin_validation()
    };
    let service = StreamableHttpService::new(
        move || Ok(factory_mux.clone()),
        Arc::new(LocalSessionManager::default()),
        http,
    );
    let backend = Arc::new(McpBackend { mux, service });
    cache.insert(key, Arc::downgrade(&backend));
    Ok(backend)
}

fn build(
    config: &McpBackendConfig,
    base_dir: &Path,
    metrics: Arc<dyn MuxMetrics>,
) -> Result<Multiplexer, String> {
    config.validate().map_err(|e| e.to_string())?;
    let mut builder = Multiplexer::builder()
        .failure_mode(config.failure_mode)
        .metrics(metrics);
    for t in &config.targets {
        let target = match &t.openapi {
            Some(o) => {
                let mut oc = openapi_tools::config::OpenApiConfig::new(base_dir.join(&o.spec));
                oc.base_url.clone_from(&o.base_url);
                let tools = openapi_tools::toolset::OpenApiTools::load(oc).map_err(|e| {
                    format!(
                        "target {}: cannot load the OpenAPI document {}: {e}",
                        t.name, o.spec
                    )
                })?;
                Target::in_process_from_config(
                    t,
                    openapi_tools::server::OpenApiServer::new(Arc::new(tools)),
                )
            }
            None => match &t.stdio {
                // A relative command path (`./bin/server`, `tools/server`) is relative to the
                // config file, like every other path in it; a bare name is looked up in PATH.
                Some(stdio) if stdio.cmd.contains('/') && Path::new(&stdio.cmd).is_relative() => {
                    let mut resolved = t.clone();
                    if let Some(s) = resolved.stdio.as_mut() {
                        s.cmd = base_dir.join(&stdio.cmd).display().to_string();
                    }
                    Target::from_config(&resolved)
                }
                _ => Target::from_config(t),
            },
        }
        .map_err(|e| e.to_string())?;
        builder = builder.target(target);
    }
    builder.build().map_err(|e| e.to_string())
}
