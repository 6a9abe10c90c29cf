//! List changes through the rmcp-served multiplexer (the embedder's path): a target that
//! announces `tools/list_changed` reaches the client as the merged list's change.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, connect_with, schema, text, Fixture};
use mcp_mux::{Multiplexer, Target};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer};
use rmcp::{ClientHandler, ServerHandler};

/// A target whose `grow` tool adds a tool and announces the change.
#[derive(Clone, Default)]
struct Growing {
    extra: Arc<AtomicUsize>,
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
        for i in 0..self.extra.load(Ordering::SeqCst) {
            tools.push(Tool::new(format!("extra{i}"), "Grown.", schema()));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.extra.fetch_add(1, Ordering::SeqCst);
        let _ = context.peer.notify_tool_list_changed().await;
        Ok(CallToolResult::success(vec![ContentBlock::text("grown")]).into())
    }
}

/// Counts the tool list changes it hears.
#[derive(Clone, Default)]
struct Listener {
    tool_changes: Arc<AtomicUsize>,
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tool_changes.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_targets_list_change_reaches_an_rmcp_client() {
    let mux = Multiplexer::builder()
        .target(Target::in_process("growing", Growing::default()).expect("growing"))
        .target(Target::in_process("plain", Fixture::new("plain", &["echo"])).expect("plain"))
        .build()
        .expect("build");
    let listener = Listener::default();
    let heard = listener.tool_changes.clone();
    let client = connect_with(&mux, listener).await;
    let before = bounded(client.list_all_tools()).await.expect("list");
    assert!(!before.iter().any(|t| t.name == "growing_extra0"));

    let r = bounded(client.call_tool(CallToolRequestParams::new("growing_grow")))
        .await
        .expect("grow");
    assert_eq!(text(&r), "grown");
    bounded(async {
        while heard.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let after = bounded(client.list_all_tools()).await.expect("list again");
    assert!(
        after.iter().any(|t| t.name == "growing_extra0"),
        "the new tool is listed: {after:?}"
    );
    let _ = client.cancel().await;
    bounded(mux.shutdown()).await;
}
