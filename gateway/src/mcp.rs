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
    /// Serves one HTTP request of the MCP Streamable HTTP transport.
    pub async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let mut service = self.service.clone();
        match service.call(req).await {
            Ok(resp) => resp.map(|b| b.map_err(|never| -> BoxError { match never {} }).boxed()),
            Err(never) => match never {},
        }
    }
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
