//! `mcp` backends: a virtual MCP server ([`mcp_mux::Multiplexer`]) served over Streamable HTTP.
//!
//! A backend is built per route entry, so metrics carry the route; it is cached across reloads
//! by its route and config, so an unchanged backend keeps its sessions and its stdio processes
//! when the file changes elsewhere. A changed or removed backend is shut down (its stdio
//! processes stopped and reaped) once the last request using it is done.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use http::{Request, Response};
use http_body_util::BodyExt;
use mcp_mux::config::{A2aTargetConfig, OpenApiTargetConfig, TargetConfig};
use mcp_mux::http::{HttpFront, HttpFrontConfig, SessionSealer};
use mcp_mux::{McpBackendConfig, Multiplexer, MuxError, MuxMetrics, Outcome, Target};

use crate::body::{Body, BoxError};
use crate::metrics::Metrics;
use crate::model::plan::{McpBackendError, McpBackendSpec, McpServer};

/// A virtual MCP server behind one route entry.
pub struct McpBackend {
    front: HttpFront,
}

impl std::fmt::Debug for McpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpBackend").finish_non_exhaustive()
    }
}

impl Drop for McpBackend {
    fn drop(&mut self) {
        let mux = self.front.multiplexer().clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { mux.shutdown().await });
        }
    }
}

impl McpServer for McpBackend {
    fn serve(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(self.serve(req))
    }
}

impl McpBackend {
    /// Serves one HTTP request of the MCP Streamable HTTP transport. The body is read first
    /// (it is one JSON-RPC message, bounded by the route's limit) so that an oversized or
    /// broken body gets a JSON-RPC error in the client's protocol.
    pub async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let too_large = crate::body::is_body_too_large(e.as_ref());
                let too_slow = crate::body::is_body_read_timeout(e.as_ref());
                return match too_large {
                    Some(limit) => jsonrpc_error(
                        http::StatusCode::PAYLOAD_TOO_LARGE,
                        -32600,
                        &format!("request body is larger than the limit of {limit} bytes"),
                    ),
                    None if too_slow.is_some() => {
                        jsonrpc_error(http::StatusCode::REQUEST_TIMEOUT, -32600, &e.to_string())
                    }
                    None => jsonrpc_error(
                        http::StatusCode::BAD_REQUEST,
                        -32600,
                        &format!("cannot read the request body: {e}"),
                    ),
                };
            }
        };
        self.front
            .serve(Request::from_parts(parts, bytes))
            .await
            .map(|b| b.map_err(|never| -> BoxError { match never {} }).boxed())
    }
}

/// A JSON-RPC error answered by the gateway itself.
pub(crate) fn jsonrpc_error(status: http::StatusCode, code: i64, message: &str) -> Response<Body> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    let mut resp = Response::new(crate::body::full(body.to_string()));
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
    /// This route's `switchboard_mcp_calls_in_flight`, looked up once: it moves twice per call.
    in_flight: prometheus_client::metrics::gauge::Gauge,
}

impl MuxMetrics for RouteMcpMetrics {
    fn request(&self, target: &str, method: &str, outcome: Outcome) {
        self.metrics
            .mcp_request(&self.route, target, method, outcome != Outcome::Ok);
    }

    fn target_up(&self, target: &str, up: bool) {
        self.metrics.mcp_target_up(&self.backend, target, up);
    }

    fn calls_in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    fn refused(&self, reason: &str) {
        self.metrics.mcp_refused(&self.route, reason);
    }

    fn authorization_denied(&self, _method: &str) {
        self.metrics.authz_denial(&self.route, "mcp");
    }

    fn authorization_rule_error(&self) {
        self.metrics.authz_rule_error(&self.route);
    }
}

type Cache = Mutex<HashMap<String, Weak<McpBackend>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The [`BuildMcp`](crate::model::plan::BuildMcp) that every caller of
/// [`crate::model::load`] passes: [`backend`] with the process's metrics.
pub fn build(spec: McpBackendSpec<'_>) -> Result<Arc<dyn McpServer>, McpBackendError> {
    let backend = backend(
        spec.route,
        spec.name,
        spec.config,
        spec.base_dir,
        spec.session_key,
        &Metrics::global(),
    )?;
    Ok(backend)
}

/// The backend for `route` and `config`: the live one if nothing changed, else a new one.
/// Targets connect lazily, so building one starts no process and opens no connection.
fn backend(
    route: &str,
    name: &str,
    config: &McpBackendConfig,
    base_dir: &Path,
    session_key: Option<[u8; 32]>,
    metrics: &Arc<Metrics>,
) -> Result<Arc<McpBackend>, McpBackendError> {
    let key = format!(
        "{route}\u{0}{name}\u{0}{}\u{0}{}\u{0}{:?}",
        base_dir.display(),
        serde_json::to_string(config).unwrap_or_default(),
        session_key.map(|k| fingerprint(&k)),
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
        in_flight: metrics.mcp_calls_in_flight_gauge(route),
    });
    let mux = multiplexer(config, base_dir, mux_metrics)?;
    let no_rng = |e: mcp_mux::http::RngError| {
        format!("cannot serve MCP sessions: {e} (session ids need secure randomness)")
    };
    let session_key = match session_key {
        Some(k) => k,
        None => process_session_key().map_err(no_rng)?,
    };
    let front = HttpFront::new(
        mux,
        HttpFrontConfig {
            allowed_origins: config.allowed_origins.clone(),
            allowed_hosts: config.allowed_hosts.clone(),
            session_key: Some(session_key),
            session_max_age: config
                .session_max_age
                .map_or(HttpFrontConfig::default().session_max_age, |d| d.0),
            scope: format!("{route}\u{0}{name}"),
        },
    )
    .map_err(no_rng)?;
    let backend = Arc::new(McpBackend { front });
    cache.insert(key, Arc::downgrade(&backend));
    Ok(backend)
}

fn multiplexer(
    config: &McpBackendConfig,
    base_dir: &Path,
    metrics: Arc<dyn MuxMetrics>,
) -> Result<Multiplexer, McpBackendError> {
    config.validate().map_err(|e| e.to_string())?;
    let mut builder = Multiplexer::builder()
        .failure_mode(config.failure_mode)
        .metrics(metrics)
        .list_cache_ttl(
            config
                .list_cache_ttl
                .map_or(mcp_mux::DEFAULT_LIST_CACHE_TTL, |d| d.0),
        );
    for (i, t) in config.targets.iter().enumerate() {
        if let Some(a) = &t.a2a {
            builder = builder.target(a2a_target(t, a)?);
            continue;
        }
        let target = match &t.openapi {
            Some(o) => openapi_target(t, o, base_dir).map_err(|e| McpBackendError {
                at: e.at.map(|at| format!("targets[{i}].{at}")),
                message: e.message,
            })?,
            None => match &t.stdio {
                // A relative command path (`./bin/server`, `tools/server`) is relative to the
                // config file, like every other path in it; a bare name is looked up in PATH.
                Some(stdio) if stdio.cmd.contains('/') && Path::new(&stdio.cmd).is_relative() => {
                    let mut resolved = t.clone();
                    if let Some(s) = resolved.stdio.as_mut() {
                        s.cmd = base_dir.join(&stdio.cmd).display().to_string();
                    }
                    Target::from_config(&resolved).map_err(|e| e.to_string())?
                }
                _ => Target::from_config(t).map_err(|e| e.to_string())?,
            },
        };
        builder = builder.target(target);
    }
    builder.build().map_err(|e| e.to_string().into())
}

/// An `openapi` target. A file `spec` is loaded (relative to the config file) and converted
/// now, so a broken document is a config error rather than a target that fails at the first
/// list. A URL `spec` is not fetched here (this also runs for `switchboard validate` and on
/// every reload): the document is fetched on the first list or call and again every `refresh`,
/// so a spec host that is down at start is a target that is down — the backend's
/// `failureMode` decides — until a fetch succeeds. A credential that fits no scheme of a file
/// `spec` is reported at its own key (`openapi.credentials.<name>`, relative to the target).
fn openapi_target(
    t: &TargetConfig,
    config: &OpenApiTargetConfig,
    base_dir: &Path,
) -> Result<Target, McpBackendError> {
    let auth = mcp_mux::backend_auth(t).map_err(|e| e.to_string())?;
    let t = &without_policies(t);
    let mut config = config.clone();
    if config.timeout.is_none() {
        // The target's `timeout` bounds each call; the REST request gets the same bound.
        config.timeout = t.timeout.map(|d| format!("{}ms", d.0.as_millis()));
    }
    if config.spec_url().is_some() {
        let server = openapi_tools::remote::RemoteOpenApiServer::new(config)
            .map_err(|e| {
                MuxError::InvalidTarget {
                    target: t.name.clone(),
                    message: e.to_string(),
                }
                .to_string()
            })?
            .with_backend_auth(auth);
        return Target::in_process_from_config(t, server).map_err(|e| e.to_string().into());
    }
    config.spec = base_dir.join(&config.spec);
    let tools = match openapi_tools::toolset::OpenApiTools::load(config) {
        Ok(tools) => tools.with_backend_auth(auth),
        Err(openapi_tools::Error::Credential { name, message }) => {
            return Err(McpBackendError {
                at: Some(crate::config::Source::child_key(
                    "openapi.credentials",
                    &name,
                )),
                message: format!("target {:?}: {message}", t.name),
            })
        }
        Err(e) => {
            return Err(MuxError::InvalidTarget {
                target: t.name.clone(),
                message: format!("cannot load the OpenAPI document: {e}"),
            }
            .to_string()
            .into())
        }
    };
    Target::in_process_from_config(
        t,
        openapi_tools::server::OpenApiServer::new(Arc::new(tools)),
    )
    .map_err(|e| e.to_string().into())
}

/// `t` without its `policies`, for an in-process target whose server applies them itself
/// (mcp-mux refuses a `backendAuth` it would not send).
fn without_policies(t: &TargetConfig) -> TargetConfig {
    TargetConfig {
        policies: None,
        ..t.clone()
    }
}

/// The key used when the config has no `sessionKey`: random, made once per process so that
/// sessions survive reloads but not restarts, and are not shared with other replicas. An error
/// when the system's random generator fails (then the config is refused: no weaker key).
fn process_session_key() -> Result<[u8; 32], mcp_mux::http::RngError> {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    if let Some(key) = KEY.get() {
        return Ok(*key);
    }
    let key = SessionSealer::random_key()?;
    Ok(*KEY.get_or_init(|| {
        tracing::warn!(
            "config.sessionKey is not set: MCP session ids are sealed with a random key, so they \
             end when this process does and other replicas cannot serve them \
             (set it to 32 random bytes, base64: openssl rand -base64 32)"
        );
        key
    }))
}

/// A short identity of a key, so a changed key rebuilds the backend (kept in memory only).
fn fingerprint(key: &[u8; 32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// An `a2a` target ("agents as MCP tools"): the agent's skills as tools, served in-process by
/// the `a2a` crate. Nothing is fetched here (this also runs for `switchboard validate` and on
/// every reload): the card is read on the first list or call, so an agent that is down at start
/// is a target that is down — the backend's `failureMode` decides — and comes up on its own.
fn a2a_target(t: &TargetConfig, cfg: &A2aTargetConfig) -> Result<Target, String> {
    let mut options = a2a::A2aToolsOptions {
        backend_auth: mcp_mux::backend_auth(t).map_err(|e| e.to_string())?,
        ..a2a::A2aToolsOptions::default()
    };
    let t = &without_policies(t);
    if let Some(limit) = t.timeout.map(|d| d.0) {
        // mcp-mux bounds each request to the target by `timeout`; the A2A call ends a little
        // earlier, so a slow agent is reported as a tool result the model can read rather than
        // as a gateway timeout.
        let margin = std::time::Duration::from_millis(500);
        options.call_timeout = limit.saturating_sub(margin).max(limit / 2);
        options.card_timeout = options.card_timeout.min(limit);
    }
    let server = a2a::A2aToolsServer::new(&cfg.url, options).map_err(|e| {
        MuxError::InvalidTarget {
            target: t.name.clone(),
            message: e.to_string(),
        }
        .to_string()
    })?;
    Target::in_process_from_config(t, server).map_err(|e| e.to_string())
}
