//! A target that speaks only the 2026-07-28 era (an rmcp server that refuses `initialize`):
//! with `era: auto` (the default) the gateway finds that out when `initialize` is refused,
//! speaks `server/discover` and per-request metadata to it, and serves it to a 2025-era
//! client like any other target; `era: legacy` fails it clearly, `era: modern` skips the try.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, ErrorData,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

use crate::mcp::{demo_target, mcp_config, serve_mcp, step};
use e2e::Gateway;

/// An MCP server of the 2026-07-28 era only: `initialize` is not part of it.
#[derive(Clone)]
struct ModernOnly;

impl ServerHandler for ModernOnly {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn initialize(
        &self,
        _request: InitializeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            "Method not found: initialize (this server speaks MCP 2026-07-28 only)",
            None,
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(
            json!({"type": "object"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "hello",
            "Says hello from 2026.",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let version = context
            .protocol_version()
            .map(|v| v.to_string())
            .unwrap_or_default();
        Ok(
            CallToolResult::success(vec![ContentBlock::text(format!("hello from {version}"))])
                .into(),
        )
    }
}

async fn gateway(era: Option<&str>, url: &str) -> Gateway {
    let era = era.map(|e| format!(", era: {e}")).unwrap_or_default();
    let targets = format!(
        "{}\n- {{ name: modern, mcp: {{ url: \"{url}\" }}{era}, timeout: 10s }}",
        demo_target()
    );
    Gateway::start(&mcp_config("failClosed", &targets)).await
}

#[tokio::test]
async fn a_modern_only_target_is_found_out_and_served_to_legacy_clients() {
    let url = serve_mcp(ModernOnly).await;
    for era in [None, Some("modern")] {
        let gw = gateway(era, &url).await;
        let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
        let client = step("initialize", ().serve(transport))
            .await
            .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
        let tools = step("tools/list", client.list_all_tools())
            .await
            .unwrap_or_else(|e| panic!("{era:?}: list: {e}\n{}", gw.stderr()));
        assert!(
            tools.iter().any(|t| t.name == "modern_hello"),
            "{era:?}: {tools:?}"
        );
        let r = step(
            "modern_hello",
            client.call_tool(CallToolRequestParams::new("modern_hello")),
        )
        .await
        .unwrap_or_else(|e| panic!("{era:?}: call: {e}\n{}", gw.stderr()));
        let text = r
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone());
        assert_eq!(
            text.as_deref(),
            Some("hello from 2026-07-28"),
            "{era:?}: {r:?}"
        );
        if era.is_none() {
            assert!(
                gw.stderr()
                    .contains("speaks the 2026-07-28 (server/discover) era"),
                "auto says what it found:\n{}",
                gw.stderr()
            );
        }
        let _ = client.cancel().await;
    }

    // Told it is legacy, the gateway does not try the other era: the target fails, clearly.
    let gw = gateway(Some("legacy"), &url).await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    let err = step("tools/list", client.list_all_tools())
        .await
        .expect_err("failClosed: a legacy-only view of a modern server fails the list");
    assert!(
        err.to_string().contains("modern"),
        "names the target: {err}"
    );
    let _ = client.cancel().await;
}
