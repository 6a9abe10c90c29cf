//! The MCP upstreams: rmcp Streamable HTTP servers with one trivial `echo` tool, all served from
//! one dedicated thread with a single-threaded runtime.
//!
//! In-process for the same reasons as the HTTP upstream ([`crate::upstream`]): it costs the same
//! in the direct and the gateway runs, and needs no second binary. One shared thread rather than
//! one per server so that ten servers for the `tools/list` fan-out do not take ten cores on a
//! small machine; its CPU is measured per thread from `/proc`, hence the recorded thread id.

use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::serve::ListenerExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServerHandler;
use tokio::runtime::Handle;

/// How a server answers a POST: the two shapes Streamable HTTP servers come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ServerKind {
    /// rmcp's default: stateful (`initialize` opens a session with an `Mcp-Session-Id`), every
    /// answer an SSE stream (a priming event, then the response).
    Sse,
    /// Stateless and answering `application/json` (`legacy_session_mode: false`,
    /// `json_response: true`): no session id, one JSON body per request, as most stateless
    /// servers behind a load balancer run.
    Json,
}

impl ServerKind {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Sse => "sse",
            ServerKind::Json => "json",
        }
    }

    /// rmcp's server config for this kind.
    fn config(self) -> StreamableHttpServerConfig {
        match self {
            ServerKind::Sse => StreamableHttpServerConfig::default(),
            ServerKind::Json => StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true),
        }
    }
}

/// The tool every server offers: answers with its `text` argument.
pub const ECHO: &str = "echo";

/// A server with only [`ECHO`]; counts the calls it answers, so a run can check that every
/// measured call really reached an upstream.
#[derive(Clone)]
struct Echo {
    calls: Arc<AtomicU64>,
}

fn object_schema() -> Arc<rmcp::model::JsonObject> {
    let v = serde_json::json!({
        "type": "object",
        "properties": { "text": { "type": "string" } }
    });
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            ECHO,
            "Answers with its `text` argument.",
            object_schema(),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != ECHO {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Input from the client: a missing or non-string `text` echoes as empty, not a panic.
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// The server thread and its runtime; lives as long as the process, like the HTTP upstream.
pub struct McpServers {
    handle: Handle,
    calls: Arc<AtomicU64>,
    /// Linux thread id of the server thread, for `/proc/self/task/<tid>/stat`.
    tid: Arc<AtomicI64>,
}

impl McpServers {
    /// Starts the server thread (with no servers yet).
    pub fn start() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the MCP server runtime")?;
        let handle = rt.handle().clone();
        let tid = Arc::new(AtomicI64::new(0));
        let tid_c = tid.clone();
        std::thread::Builder::new()
            .name("mcp-upstream".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_c.store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                rt.block_on(std::future::pending::<()>());
            })?;
        Ok(Self {
            handle,
            calls: Arc::new(AtomicU64::new(0)),
            tid,
        })
    }

    /// Serves one more echo server of `kind` on a free loopback port; returns its `/mcp` URL.
    ///
    /// Bound here with std so that the port is known (and a bind error reported) before the
    /// gateway config naming it is written.
    pub fn add(&self, kind: ServerKind) -> Result<String> {
        let std_listener =
            StdTcpListener::bind("127.0.0.1:0").context("binding an MCP upstream")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let echo = Echo {
            calls: self.calls.clone(),
        };
        let svc = StreamableHttpService::new(
            move || Ok(echo.clone()),
            LocalSessionManager::default().into(),
            kind.config(),
        );
        let app = axum::Router::new().nest_service("/mcp", svc);
        self.handle.spawn(async move {
            match tokio::net::TcpListener::from_std(std_listener) {
                Ok(listener) => {
                    // TCP_NODELAY, as Python (uvicorn), Node and Go servers have by default:
                    // with Nagle on, the load generator's kept-alive connections would stall
                    // on delayed ACKs in the direct runs. (The gateway copes with Nagle-on
                    // targets itself: see mcp-mux's HTTP connector.)
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    if let Err(e) = axum::serve(listener, app).await {
                        eprintln!("MCP upstream {addr} stopped: {e}");
                    }
                }
                Err(e) => eprintln!("MCP upstream {addr}: {e}"),
            }
        });
        Ok(format!("http://{addr}/mcp"))
    }

    pub fn tid(&self) -> i64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// `echo` calls answered since start, over all servers.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}
