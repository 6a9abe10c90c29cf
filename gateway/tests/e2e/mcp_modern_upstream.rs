//! A target that speaks only the 2026-07-28 era (an rmcp server that refuses `initialize`):
//! with `era: auto` (the default) the gateway finds that out when `initialize` is refused,
//! speaks `server/discover` and per-request metadata to it, and serves it to a 2025-era
//! client like any other target; `era: legacy` fails it clearly, `era: modern` skips the try.
//! Its `input_required` answers are done with a 2025-era client as questions on the call's
//! stream, the answers going back in the call sent again.

#![allow(deprecated)] // A 2025-era client's `resources/subscribe`, on purpose.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, ElicitRequestParams, ElicitResult, ElicitationAction, ErrorCode, ErrorData,
    Implementation, InitializeRequestParams, InitializeResult, InputRequest, InputRequiredResult,
    ListResourcesResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, Resource, ResourceUpdatedNotificationParam, ServerCapabilities,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
};
use rmcp::service::{
    NotificationContext, RequestContext, RoleClient, RoleServer, SubscriptionContext,
    SubscriptionSink,
};
use rmcp::{ClientHandler, ServerHandler};
use serde_json::json;

use crate::mcp::{connect_as, demo_target, mcp_config, serve_mcp, step, wait_until};
use crate::mcp_upstream_interop::text;
use e2e::Gateway;

/// An MCP server of the 2026-07-28 era only: `initialize` is not part of it. Tools `hello`,
/// `confirm` (an input round), `grow` (announces a tool list change) and `touch` (announces
/// that `note://x` changed) on its `subscriptions/listen` streams.
#[derive(Clone, Default)]
struct ModernOnly {
    listeners: Arc<Mutex<Vec<SubscriptionSink>>>,
}

impl ServerHandler for ModernOnly {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(context.sink().clone());
        context.cancelled().await;
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "note://x", "x",
        )]))
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
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if request.name == "chatty" {
            // As the 2026-07-28 revision says: log messages only when the request asks, and
            // only at or above the level it names.
            if let Some(wanted) = context.meta.log_level() {
                let rank = |l: LoggingLevel| l as u8;
                for (level, text) in [
                    (LoggingLevel::Info, "chatty info"),
                    (LoggingLevel::Warning, "chatty warning"),
                ] {
                    if rank(level) >= rank(wanted) {
                        let message = LoggingMessageNotificationParam::new(level, json!(text));
                        let _ = context.peer.notify_logging_message(message).await;
                    }
                }
            }
            return Ok(CallToolResult::success(vec![ContentBlock::text("chatted")]).into());
        }
        if request.name == "grow" || request.name == "touch" {
            for sink in listeners {
                let _ = if request.name == "grow" {
                    sink.notify_tool_list_changed().await
                } else {
                    sink.notify_resource_updated("note://x").await
                };
            }
            return Ok(CallToolResult::success(vec![ContentBlock::text("done")]).into());
        }
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
    let url = serve_mcp(ModernOnly::default()).await;
    for era in [None, Some("modern")] {
        let gw = gateway(era, &url).await;
        let client = connect_as(&gw, ()).await;
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
        assert_eq!(text(&r), "hello from 2026-07-28", "{era:?}: {r:?}");
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
    let client = connect_as(&gw, ()).await;
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
    list_changes: Arc<Mutex<usize>>,
    updates: Arc<Mutex<Vec<String>>>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for SaysYes {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = params.data.as_str().unwrap_or_default().to_owned();
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        *self.list_changes.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(params.uri);
    }

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
    let url = serve_mcp(ModernOnly::default()).await;
    let gw = gateway(None, &url).await;
    let client = SaysYes::default();
    let c = connect_as(&gw, client.clone()).await;
    let r = step(
        "modern_confirm",
        c.call_tool(CallToolRequestParams::new("modern_confirm")),
    )
    .await
    .unwrap_or_else(|e| panic!("call: {e}\n{}", gw.stderr()));
    assert_eq!(text(&r), "confirmed: yes", "{r:?}\n{}", gw.stderr());
    let asked = client
        .asked
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(asked, ["proceed?"], "the client was asked once");
    let _ = c.cancel().await;
}

/// A modern target's list changes and resource updates come on the listen stream the gateway
/// keeps open with it, and reach a 2025-era client on its GET stream.
#[tokio::test]
async fn a_modern_targets_notifications_reach_a_legacy_client() {
    let url = serve_mcp(ModernOnly::default()).await;
    let gw = gateway(None, &url).await;
    let client = SaysYes::default();
    let c = connect_as(&gw, client.clone()).await;
    // Let the client open its GET stream and the gateway its listen stream.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    step(
        "modern_grow",
        c.call_tool(CallToolRequestParams::new("modern_grow")),
    )
    .await
    .unwrap_or_else(|e| panic!("grow: {e}\n{}", gw.stderr()));
    wait_until("the tool list change", || {
        *client
            .list_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            > 0
    })
    .await;

    let uri = "switchboard+modern:note://x";
    step(
        "subscribe",
        c.peer().subscribe(SubscribeRequestParams::new(uri)),
    )
    .await
    .unwrap_or_else(|e| panic!("subscribe: {e}\n{}", gw.stderr()));
    // The subscription replaces the gateway's listen stream with one naming the resource.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    step(
        "modern_touch",
        c.call_tool(CallToolRequestParams::new("modern_touch")),
    )
    .await
    .unwrap_or_else(|e| panic!("touch: {e}\n{}", gw.stderr()));
    wait_until("the resource update", || {
        client
            .updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|u| u == uri)
    })
    .await;
    let _ = c.cancel().await;
}

/// A 2025-era client's `logging/setLevel` reaches a 2026-07-28 target as the `logLevel` of each
/// request, so the target sends what the client asked for, and only that.
#[tokio::test]
async fn a_legacy_clients_log_level_goes_with_each_request_to_a_modern_target() {
    let url = serve_mcp(ModernOnly::default()).await;
    let gw = gateway(None, &url).await;
    let client = SaysYes::default();
    let c = connect_as(&gw, client.clone()).await;
    step(
        "set level",
        c.peer()
            .set_level(SetLevelRequestParams::new(LoggingLevel::Warning)),
    )
    .await
    .unwrap_or_else(|e| panic!("setLevel: {e}\n{}", gw.stderr()));
    step(
        "modern_chatty",
        c.call_tool(CallToolRequestParams::new("modern_chatty")),
    )
    .await
    .unwrap_or_else(|e| panic!("chatty: {e}\n{}", gw.stderr()));
    wait_until("the warning", || {
        !client
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = client
        .logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(logs, ["chatty warning"], "{}", gw.stderr());
    let _ = c.cancel().await;
}
