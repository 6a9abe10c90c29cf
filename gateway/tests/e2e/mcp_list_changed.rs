//! List changes reach clients: a target that adds a tool and says so
//! (`notifications/tools/list_changed`) makes the gateway announce the change on every legacy
//! session's GET stream, read here raw and by rmcp's client (which opens the GET stream itself).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, GetMeta as _,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    ServerNotification, SubscriptionFilter, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RequestContext, RoleClient,
    RoleServer,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServerHandler, ServiceExt};
use serde_json::json;

use crate::mcp::{demo_target, mcp_config, serve_mcp, serve_mcp_on, step};
use e2e::Gateway;

/// An MCP server whose tool `grow` adds a tool `extra_N` and announces the change.
#[derive(Clone)]
struct Growing {
    extra: Arc<AtomicUsize>,
}

fn schema() -> Arc<rmcp::model::JsonObject> {
    Arc::new(
        json!({"type": "object"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

impl ServerHandler for Growing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = vec![Tool::new("grow", "Adds a tool.", schema())];
        for i in 1..=self.extra.load(Ordering::SeqCst) {
            tools.push(Tool::new(format!("extra_{i}"), "Added later.", schema()));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "grow" {
            return Ok(CallToolResult::success(vec![ContentBlock::text("extra")]).into());
        }
        let n = self.extra.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = context.peer.notify_tool_list_changed().await;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("now {n} extra"))]).into())
    }
}

async fn growing_server() -> String {
    serve_mcp(Growing {
        extra: Arc::new(AtomicUsize::new(0)),
    })
    .await
}

async fn gateway() -> Gateway {
    let url = growing_server().await;
    let targets = format!(
        "{}\n- {{ name: growing, mcp: {{ url: \"{url}\" }}, timeout: 10s }}",
        demo_target()
    );
    Gateway::start(&mcp_config("failOpen", &targets)).await
}

async fn post(gw: &Gateway, session: Option<&str>, body: serde_json::Value) -> reqwest::Response {
    let mut req = e2e::client()
        .post(gw.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body);
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    step("POST /mcp", req.send()).await.expect("POST /mcp")
}

/// Initializes a legacy session with raw HTTP: its id and the `initialize` response.
async fn initialize(gw: &Gateway) -> (String, serde_json::Value) {
    let init = post(
        gw,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
    )
    .await;
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_owned();
    let init = init.json().await.expect("initialize result");
    (session, init)
}

#[tokio::test]
async fn a_targets_list_change_is_announced_on_the_get_stream() {
    let gw = gateway().await;
    let (session, init) = initialize(&gw).await;
    assert_eq!(
        init["result"]["capabilities"]["tools"]["listChanged"], true,
        "{init}"
    );

    let stream = step(
        "GET /mcp",
        e2e::client()
            .get(gw.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send(),
    )
    .await
    .expect("GET /mcp");
    assert_eq!(stream.status().as_u16(), 200);
    assert_eq!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = stream.bytes_stream();

    let grown = post(
        &gw,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "growing_grow", "arguments": {}}}),
    )
    .await;
    assert_eq!(grown.status().as_u16(), 200);

    let mut seen = String::new();
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            if seen.contains("notifications/tools/list_changed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(announced, Ok(true), "GET stream so far: {seen:?}");

    let list = post(
        &gw,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    )
    .await
    .text()
    .await
    .expect("tools/list");
    assert!(list.contains("growing_extra_1"), "{list}");
}

/// Counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watching {
    changes: Arc<AtomicUsize>,
    notify: Arc<tokio::sync::Notify>,
}

impl ClientHandler for Watching {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

#[tokio::test]
async fn rmcps_client_hears_list_changes_through_the_gateway() {
    let gw = gateway().await;
    let watching = Watching::default();
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", watching.clone().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    // Give the client a moment to open its GET stream before the change happens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let notified = watching.notify.notified();
    let mut params = CallToolRequestParams::new("growing_grow");
    params = params.with_arguments(serde_json::Map::new());
    step("call growing_grow", client.call_tool(params))
        .await
        .expect("growing_grow");
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        if watching.changes.load(Ordering::SeqCst) == 0 {
            notified.await;
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "no tools/list_changed reached the rmcp client\n{}",
        gw.stderr()
    );
    let _ = client.cancel().await;
}

/// Lists are served from each target's cached first page for `listCacheTtl`, and a target's
/// `list_changed` drops its page at once: the next list asks it again and sees the change.
#[tokio::test]
async fn lists_are_cached_until_the_target_says_they_changed() {
    let gw = gateway().await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    let names = |tools: Vec<rmcp::model::Tool>| -> Vec<String> {
        tools.into_iter().map(|t| t.name.to_string()).collect()
    };
    let lists_asked = |m: &str| {
        e2e::metric_value(
            m,
            "switchboard_mcp_requests_total",
            &[
                ("route", crate::mcp::ROUTE),
                ("target", "growing"),
                ("method", "tools/list"),
            ],
        )
    };
    for _ in 0..3 {
        let tools = step("tools/list", client.list_all_tools())
            .await
            .expect("list");
        assert!(!names(tools).contains(&"growing_extra_1".to_owned()));
    }
    let m = gw.metrics().await;
    assert_eq!(
        lists_asked(&m),
        Some(1.0),
        "three lists, one upstream request:\n{m}"
    );

    let mut grow = CallToolRequestParams::new("growing_grow");
    grow = grow.with_arguments(serde_json::Map::new());
    step("grow", client.call_tool(grow)).await.expect("grow");
    // The target's notice reaches the gateway on its own; wait for the fresh list, for less
    // than the cache's 5 s, so that only the dropped page can explain it.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let tools = step("tools/list", client.list_all_tools())
            .await
            .expect("list");
        if names(tools).contains(&"growing_extra_1".to_owned()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new tool never appeared (the cache was not dropped)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = client.cancel().await;
}

/// A 2026-07-28 client has no GET stream: it hears list changes on a `subscriptions/listen`
/// stream, each tagged with that stream's id.
#[tokio::test]
async fn a_modern_client_hears_list_changes_on_its_listen_stream() {
    let gw = gateway().await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let mode = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let client = step("discover", ().serve_with_lifecycle(transport, mode))
        .await
        .unwrap_or_else(|e| panic!("discover: {e}\n{}", gw.stderr()));
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .build();
    let mut subscription = step("listen", client.peer().listen(filter))
        .await
        .unwrap_or_else(|e| panic!("listen: {e}\n{}", gw.stderr()));
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    let grow = CallToolRequestParams::new("growing_grow").with_arguments(serde_json::Map::new());
    step("grow", client.call_tool(grow)).await.expect("grow");
    let heard = step("the list change", subscription.next())
        .await
        .unwrap_or_else(|e| panic!("next: {e}\n{}", gw.stderr()))
        .unwrap_or_else(|| panic!("the stream ended\n{}", gw.stderr()));
    assert!(
        matches!(heard, ServerNotification::ToolListChangedNotification(_)),
        "{heard:?}"
    );
    assert_eq!(
        heard.get_meta().subscription_id().as_ref(),
        Some(subscription.id())
    );
    let _ = subscription.cancel().await;
    let _ = client.cancel().await;
}

/// Reads `body` until `count` events have arrived; returns their text.
async fn read_events(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    count: usize,
) -> String {
    let mut seen = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while seen.matches("\n\n").count() < count {
            match body.next().await {
                Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk"))),
                None => return,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "stream so far: {seen:?}");
    seen
}

/// A session's GET stream resumes with `Last-Event-ID`: a list change announced while the
/// client was away arrives when it comes back.
#[tokio::test]
async fn a_get_stream_resumes_after_its_last_event() {
    let gw = gateway().await;
    let (session, _) = initialize(&gw).await;
    let open = |last: Option<String>| {
        let mut req = e2e::client()
            .get(gw.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session);
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        req.send()
    };
    let grow = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "growing_grow", "arguments": {}}})
    };
    let stream = step("GET /mcp", open(None)).await.expect("GET /mcp");
    let mut body = stream.bytes_stream();
    post(&gw, Some(&session), grow(2)).await;
    let first = read_events(&mut body, 1).await;
    assert!(
        first.contains("notifications/tools/list_changed"),
        "{first}"
    );
    let last = first
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no event id: {first}"))
        .to_owned();
    drop(body);

    post(&gw, Some(&session), grow(3)).await;
    let resumed = step("GET /mcp again", open(Some(last.clone())))
        .await
        .expect("GET /mcp");
    assert_eq!(resumed.status().as_u16(), 200);
    let mut body = resumed.bytes_stream();
    let missed = read_events(&mut body, 1).await;
    assert!(
        missed.contains("notifications/tools/list_changed"),
        "{missed}"
    );
    assert!(
        !missed.contains(&format!("id: {last}\n")),
        "not replayed twice: {missed}"
    );
}

/// A target that is down when first used is probed in the background: once it listens, the
/// gateway connects on its own, tells clients the lists changed, and lists its tools.
#[tokio::test]
async fn a_target_that_comes_up_later_is_announced() {
    let port = e2e::free_port();
    let targets = format!(
        "{}\n- {{ name: growing, mcp: {{ url: \"http://127.0.0.1:{port}/mcp\" }}, timeout: 10s }}",
        demo_target()
    );
    let gw = Gateway::start(&mcp_config("failOpen", &targets)).await;
    let watching = Watching::default();
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", watching.clone().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    let names = |tools: Vec<rmcp::model::Tool>| -> Vec<String> {
        tools.into_iter().map(|t| t.name.to_string()).collect()
    };
    let before = step("tools/list", client.list_all_tools())
        .await
        .expect("list");
    assert!(!names(before).iter().any(|n| n.starts_with("growing_")));
    assert_eq!(watching.changes.load(Ordering::SeqCst), 0);

    let notified = watching.notify.notified();
    serve_mcp_on(
        Growing {
            extra: Arc::new(AtomicUsize::new(0)),
        },
        &format!("127.0.0.1:{port}"),
    )
    .await;
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        if watching.changes.load(Ordering::SeqCst) == 0 {
            notified.await;
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "no list change announced when the target came up\n{}",
        gw.stderr()
    );
    let after = step("tools/list", client.list_all_tools())
        .await
        .expect("list");
    assert!(
        names(after).contains(&"growing_grow".to_owned()),
        "{}",
        gw.stderr()
    );
    let _ = client.cancel().await;
}
