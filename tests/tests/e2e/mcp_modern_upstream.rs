//! A target that speaks only the 2026-07-28 era (an rmcp server that refuses `initialize`):
//! with `era: auto` (the default) the gateway finds that out when `initialize` is refused,
//! speaks `server/discover` and per-request metadata to it, and serves it to a 2025-era
//! client like any other target; `era: legacy` fails it clearly, `era: modern` skips the try.
//! Its `input_required` answers are done with a 2025-era client as questions on the call's
//! stream, the answers going back in the call sent again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, ElicitRequestParams, ElicitResult, ElicitationAction, ErrorCode, ErrorData,
    Implementation, InitializeRequestParams, InitializeResult, InputRequest, InputRequiredResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServerHandler, ServiceExt};
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
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == "confirm" {
            // Round 1 asks; round 2 (the answer and our state echoed) completes.
            if request.request_state.as_deref() == Some("asked-once") {
                let answer = request
                    .input_responses
                    .as_ref()
                    .and_then(|r| r.get("q"))
                    .and_then(|a| a["content"]["answer"].as_str())
                    .unwrap_or("no answer")
                    .to_owned();
                return Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "confirmed: {answer}"
                ))])
                .into());
            }
            let question: InputRequest = serde_json::from_value(json!({
                "method": "elicitation/create",
                "params": {"mode": "form", "message": "proceed?", "requestedSchema": {
                    "type": "object", "properties": {"answer": {"type": "string"}},
                    "required": ["answer"]}}}))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            return Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
                Some(BTreeMap::from([("q".to_owned(), question)])),
                Some("asked-once".to_owned()),
            )));
        }
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

/// A 2025-era client that answers every form elicitation with `{answer: yes}`.
#[derive(Clone, Default)]
struct SaysYes {
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for SaysYes {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.clone());
        }
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({"answer": "yes"})))
    }

    fn get_info(&self) -> ClientConfig {
        let caps = ClientCapabilities::builder().enable_elicitation().build();
        ClientConfig::new(caps, Implementation::new("says-yes", "1.0.0"))
    }
}

#[tokio::test]
async fn a_modern_targets_input_rounds_are_asked_of_a_legacy_client() {
    let url = serve_mcp(ModernOnly).await;
    let gw = gateway(None, &url).await;
    let client = SaysYes::default();
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let c = step("initialize", client.clone().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    let r = step(
        "modern_confirm",
        c.call_tool(CallToolRequestParams::new("modern_confirm")),
    )
    .await
    .unwrap_or_else(|e| panic!("call: {e}\n{}", gw.stderr()));
    let text = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone());
    assert_eq!(
        text.as_deref(),
        Some("confirmed: yes"),
        "{r:?}\n{}",
        gw.stderr()
    );
    let asked = client
        .asked
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(asked, ["proceed?"], "the client was asked once");
    let _ = c.cancel().await;
}
