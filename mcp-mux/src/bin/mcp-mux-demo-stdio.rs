//! A tiny stdio MCP server for tests and demos of mcp-mux: tools `echo`
//! (returns `message`), `pid` (its process id, so a test can kill it) and
//! `exit` (terminates the process mid-call, to exercise reconnects) and `count`
//! (sends `n` progress notifications `delayMs` apart, then returns).
//! Writes one line to stderr at start, which mcp-mux routes to `tracing`.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
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
        let text = match request.name.as_ref() {
            "echo" => request
                .arguments
                .as_ref()
                .and_then(|a| a.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
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
