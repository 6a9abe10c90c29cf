//! A tiny stdio MCP server for tests and demos of mcp-mux: tools `echo`
//! (returns `message`), `pid` (its process id, so a test can kill it) and
//! `exit` (terminates the process mid-call, to exercise reconnects) and `count`
//! (sends `n` progress notifications `delayMs` apart, then returns), `ask`
//! (asks the client for an `answer` by elicitation) and `sample` (asks the
//! client's model for a completion of `prompt` by sampling).
//! Writes one line to stderr at start, which mcp-mux routes to `tracing`.

use std::sync::Arc;

#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, ContentBlock,
    CreateMessageRequestParams, ElicitRequestParams, ErrorData, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, Request, ServerCapabilities, ServerConfig,
    ServerRequest, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt};

#[derive(Clone)]
struct Demo;

fn schema(props: serde_json::Value) -> Arc<rmcp::model::JsonObject> {
    let v = serde_json::json!({"type": "object", "properties": props});
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Demo stdio server.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "echo",
                "Returns `message`.",
                schema(serde_json::json!({"message": {"type": "string"}})),
            ),
            Tool::new(
                "pid",
                "Returns the process id.",
                schema(serde_json::json!({})),
            ),
            Tool::new("exit", "Exits the process.", schema(serde_json::json!({}))),
            Tool::new(
                "ask",
                "Asks the user `question` (elicitation) and returns what they answered.",
                schema(serde_json::json!({"question": {"type": "string"}})),
            ),
            Tool::new(
                "sample",
                "Asks the client's model to complete `prompt` (sampling) and returns its text.",
                schema(serde_json::json!({"prompt": {"type": "string"}})),
            ),
            Tool::new(
                "count",
                "Sends `n` progress notifications `delayMs` apart, then returns `counted n`.",
                schema(serde_json::json!({
                    "n": {"type": "integer", "minimum": 0, "maximum": 100},
                    "delayMs": {"type": "integer", "minimum": 0, "maximum": 10000}
                })),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let int_arg = |name: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        };
        let str_arg = |name: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let text = match request.name.as_ref() {
            "echo" => str_arg("message"),
            "ask" => ask(&context, str_arg("question")).await?,
            "sample" => sample(&context, str_arg("prompt")).await?,
            "pid" => std::process::id().to_string(),
            "exit" => std::process::exit(3),
            "count" => {
                let n = int_arg("n").min(100);
                let delay = std::time::Duration::from_millis(int_arg("delayMs").min(10_000));
                let token = context.meta.get_progress_token();
                for i in 1..=n {
                    tokio::time::sleep(delay).await;
                    if let Some(token) = &token {
                        let p = ProgressNotificationParam::new(token.clone(), i as f64)
                            .with_total(n as f64)
                            .with_message(format!("step {i} of {n}"));
                        let _ = context.peer.notify_progress(p).await;
                    }
                }
                format!("counted {n}")
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {other}"),
                    None,
                ))
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// Elicits `{answer: string}`; returns `<action>: <answer>`.
async fn ask(context: &RequestContext<RoleServer>, question: String) -> Result<String, ErrorData> {
    let params: ElicitRequestParams = serde_json::from_value(serde_json::json!({
        "mode": "form",
        "message": question,
        "requestedSchema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"]
        }
    }))
    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let answer = context
        .peer
        .send_request(ServerRequest::ElicitRequest(Request::new(params)))
        .await
        .map_err(|e| ErrorData::internal_error(format!("elicitation failed: {e}"), None))?;
    let ClientResult::ElicitResult(answer) = answer else {
        return Err(ErrorData::internal_error("not an elicitation result", None));
    };
    let action = serde_json::to_value(&answer.action).unwrap_or_default();
    let text = answer
        .content
        .as_ref()
        .and_then(|c| c.get("answer"))
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    Ok(format!("{}: {text}", action.as_str().unwrap_or("?")))
}

/// Samples one completion of `prompt`; returns its text.
#[allow(deprecated)] // sampling: deprecated in 2026-07-28, still the 2025 era's way
async fn sample(context: &RequestContext<RoleServer>, prompt: String) -> Result<String, ErrorData> {
    let params: CreateMessageRequestParams = serde_json::from_value(serde_json::json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": 100
    }))
    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let answer = context
        .peer
        .send_request(ServerRequest::CreateMessageRequest(Request::new(params)))
        .await
        .map_err(|e| ErrorData::internal_error(format!("sampling failed: {e}"), None))?;
    let ClientResult::CreateMessageResult(answer) = answer else {
        return Err(ErrorData::internal_error("not a sampling result", None));
    };
    let content = serde_json::to_value(&answer.message.content).unwrap_or_default();
    // One content block, or a list of them.
    let text = content
        .get("text")
        .or_else(|| content.get(0).and_then(|c| c.get("text")));
    Ok(text.and_then(|t| t.as_str()).unwrap_or_default().to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    eprintln!("demo stdio server starting, pid {}", std::process::id());
    match Demo.serve((tokio::io::stdin(), tokio::io::stdout())).await {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(e) => eprintln!("demo stdio server: handshake failed: {e}"),
    }
}
