//! Test fixtures: configurable in-process MCP servers, a Streamable HTTP
//! server on 127.0.0.1:0, and a client connected to a `Multiplexer`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_mux::Multiplexer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    Prompt, PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ServerHandler, ServiceExt};
use tokio::sync::mpsc;

/// Upper bound for every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long `progress_brief` runs after its progress notification.
pub const BRIEF: Duration = Duration::from_millis(700);

/// A server whose tools answer `"{server}:{tool}"`; `progress` sends two
/// progress notifications first; `sleep` waits until cancelled and records it;
/// `progress_sleep` sends one progress notification, then does as `sleep`;
/// `progress_brief` sends one, then answers after [`BRIEF`].
#[derive(Clone)]
pub struct Fixture {
    pub server: &'static str,
    pub tools: Vec<String>,
    pub page_size: Option<usize>,
    pub cancelled: Arc<AtomicBool>,
    /// Calls that started to wait in `sleep` or `progress_sleep`.
    pub sleeping: Arc<AtomicUsize>,
}

impl Fixture {
    pub fn new(server: &'static str, tools: &[&str]) -> Self {
        Self {
            server,
            tools: tools.iter().map(|t| t.to_string()).collect(),
            page_size: None,
            cancelled: Arc::new(AtomicBool::new(false)),
            sleeping: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn paged(mut self, page_size: usize) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

/// The input schema of a tool without arguments.
pub fn schema() -> Arc<rmcp::model::JsonObject> {
    let v = serde_json::json!({"type": "object"});
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl Fixture {
    /// Waits until the call is cancelled (and records it), or for [`WAIT`].
    async fn sleep(&self, context: &RequestContext<RoleServer>) {
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            () = context.ct.cancelled() => self.cancelled.store(true, Ordering::SeqCst),
            () = tokio::time::sleep(WAIT) => {}
        }
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_instructions(format!("Use {} wisely.", self.server))
        .with_server_info(rmcp::model::Implementation::new(self.server, "9.9.9"))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let all: Vec<Tool> = self
            .tools
            .iter()
            .map(|t| Tool::new(t.clone(), "fixture tool", schema()))
            .collect();
        let Some(size) = self.page_size else {
            return Ok(ListToolsResult::with_all_items(all));
        };
        let start: usize = match request.and_then(|r| r.cursor) {
            Some(c) => c
                .strip_prefix('p')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| ErrorData::invalid_params("bad cursor", None))?,
            None => 0,
        };
        let end = (start + size).min(all.len());
        let mut r = ListToolsResult::with_all_items(all[start.min(end)..end].to_vec());
        if end < all.len() {
            r.next_cursor = Some(format!("p{end}"));
        }
        Ok(r)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tools.iter().any(|t| *t == request.name) {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        }
        match request.name.as_ref() {
            "progress" => {
                if let Some(token) = context.meta.get_progress_token() {
                    for i in 1..=2 {
                        let p = ProgressNotificationParam::new(token.clone(), f64::from(i))
                            .with_total(2.0);
                        let _ = context.peer.notify_progress(p).await;
                    }
                }
            }
            "sleep" => self.sleep(&context).await,
            "progress_sleep" | "progress_brief" => {
                if let Some(token) = context.meta.get_progress_token() {
                    let p = ProgressNotificationParam::new(token, 1.0);
                    let _ = context.peer.notify_progress(p).await;
                }
                if request.name == "progress_brief" {
                    tokio::time::sleep(BRIEF).await;
                } else {
                    self.sleep(&context).await;
                }
            }
            _ => {}
        }
        let text = format!("{}:{}", self.server, request.name);
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("fixture prompt"),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params("no such prompt", None));
        }
        let msg = PromptMessage::new_text(Role::User, format!("hello from {}", self.server));
        Ok(GetPromptResponse::Complete(GetPromptResult::new(vec![msg])))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "memo://notes/today",
            "notes",
        )]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != "memo://notes/today" {
            return Err(ErrorData::resource_not_found("no such resource", None));
        }
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![ResourceContents::text(
                format!("notes of {}", self.server),
                request.uri,
            )],
        )))
    }
}

/// Serves `fixture` over Streamable HTTP on 127.0.0.1:0; returns the `/mcp` URL.
pub async fn http_server(fixture: Fixture) -> String {
    let svc = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", svc);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

/// A loopback URL nothing listens on.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}/mcp")
}

/// Records progress notifications the downstream client receives.
#[derive(Clone)]
pub struct Recorder {
    pub progress: mpsc::UnboundedSender<ProgressNotificationParam>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.progress.send(params);
    }
}

pub type TestClient = RunningService<RoleClient, Recorder>;

/// An rmcp client connected to `mux` over an in-memory pipe.
pub async fn connect(
    mux: &Multiplexer,
) -> (
    TestClient,
    mpsc::UnboundedReceiver<ProgressNotificationParam>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (connect_with(mux, Recorder { progress: tx }).await, rx)
}

/// Serves `mux` with rmcp on one end of an in-memory pipe; returns the other end.
fn serve_on_pipe(mux: &Multiplexer) -> tokio::io::DuplexStream {
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let server = mux.clone();
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    client_io
}

/// A client with `handler`, connected to `mux` (served by rmcp) over an in-memory pipe.
pub async fn connect_with<H: rmcp::ClientHandler>(
    mux: &Multiplexer,
    handler: H,
) -> RunningService<RoleClient, H> {
    tokio::time::timeout(WAIT, handler.serve(serve_on_pipe(mux)))
        .await
        .expect("handshake in time")
        .expect("handshake")
}

/// The text of a tool result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Runs `fut` with the test-wide timeout.
pub async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("finished in time")
}
