//! A target's questions to the user, relayed through the gateway: elicitation and sampling
//! from a stdio target (no transport tag, so "the one call in flight" routes it) and from a
//! Streamable HTTP target (asked on the call's own SSE stream, so rmcp tags it), answered by an
//! rmcp client over the gateway's Streamable HTTP endpoint.

#![allow(deprecated)] // sampling: deprecated by 2026-07-28, still the 2025 era's way

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ClientResult, ContentBlock, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ElicitationAction, ErrorData, Implementation,
    ListToolsResult, PaginatedRequestParams, Request, ServerCapabilities, ServerConfig,
    ServerRequest, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServerHandler, ServiceExt};
use serde_json::json;

use crate::mcp::{demo_target, mcp_config, serve_mcp, step};
use e2e::Gateway;

/// An HTTP MCP server whose one tool, `ask`, elicits `{answer}` from the user.
#[derive(Clone)]
struct Asking;

impl ServerHandler for Asking {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object", "properties": {"question": {"type": "string"}}});
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "ask",
            "Asks the user a question.",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let question = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("question"))
            .and_then(|q| q.as_str())
            .unwrap_or_default();
        let params: ElicitRequestParams = serde_json::from_value(json!({
            "mode": "form",
            "message": question,
            "requestedSchema": {"type": "object", "properties": {"answer": {"type": "string"}}}
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
        let text = answer
            .content
            .and_then(|c| c.get("answer").cloned())
            .and_then(|a| a.as_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("http heard: {text}"))]).into())
    }
}

async fn asking_server() -> String {
    serve_mcp(Asking).await
}

/// A client that answers every elicitation with `forty-two` and every sampling request with
/// `sampled: <prompt>`, and remembers the questions it saw.
#[derive(Clone, Default)]
struct Answering {
    questions: Arc<Mutex<Vec<String>>>,
    /// How long the "user" takes to answer.
    think: std::time::Duration,
}

impl Answering {
    fn seen(&self) -> Vec<String> {
        self.questions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ClientHandler for Answering {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.questions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.clone());
        }
        tokio::time::sleep(self.think).await;
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(json!({"answer": "forty-two"})))
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let prompt = serde_json::to_value(&params.messages).unwrap_or_default();
        let prompt = prompt[0]["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        serde_json::from_value(json!({
            "role": "assistant",
            "content": {"type": "text", "text": format!("sampled: {prompt}")},
            "model": "test-model"
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    fn get_info(&self) -> ClientConfig {
        let caps = ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(caps, Implementation::new("answering-test-client", "1.0.0"))
    }
}

async fn gateway() -> Gateway {
    let remote = asking_server().await;
    let targets = format!(
        "{}\n- {{ name: remote, mcp: {{ url: \"{remote}\" }}, timeout: 10s }}",
        demo_target()
    );
    Gateway::start(&mcp_config("failClosed", &targets)).await
}

fn call(name: &str, args: serde_json::Value) -> CallToolRequestParams {
    let p = CallToolRequestParams::new(name.to_string());
    match args.as_object() {
        Some(a) => p.with_arguments(a.clone()),
        None => p,
    }
}

fn text(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn elicitation_and_sampling_from_stdio_and_http_targets_reach_the_client() {
    let gw = gateway().await;
    let handler = Answering::default();
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", handler.clone().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));

    let from_stdio = step(
        "demo_ask",
        client.call_tool(call("demo_ask", json!({"question": "stdio asks?"}))),
    )
    .await
    .unwrap_or_else(|e| panic!("demo_ask: {e}\n{}", gw.stderr()));
    assert_eq!(text(&from_stdio), "accept: forty-two", "{from_stdio:?}");

    let from_http = step(
        "remote_ask",
        client.call_tool(call("remote_ask", json!({"question": "http asks?"}))),
    )
    .await
    .unwrap_or_else(|e| panic!("remote_ask: {e}\n{}", gw.stderr()));
    assert_eq!(text(&from_http), "http heard: forty-two", "{from_http:?}");

    let sampled = step(
        "demo_sample",
        client.call_tool(call("demo_sample", json!({"prompt": "say hi"}))),
    )
    .await
    .unwrap_or_else(|e| panic!("demo_sample: {e}\n{}", gw.stderr()));
    assert_eq!(text(&sampled), "sampled: say hi", "{sampled:?}");

    assert_eq!(
        handler.seen(),
        ["stdio asks?", "http asks?"],
        "the client saw each question once"
    );
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_client_that_cannot_answer_gets_a_clear_error_not_a_hang() {
    let gw = gateway().await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", gw.stderr()));
    for tool in ["demo_ask", "remote_ask"] {
        let outcome = step(tool, client.call_tool(call(tool, json!({"question": "?"})))).await;
        let message = match outcome {
            Ok(r) => text(&r),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains("did not declare elicitation support"),
            "{tool}: {message}"
        );
    }
    let _ = client.cancel().await;
}

/// Two clients whose calls overlap while each waits for its user.
async fn overlapping_asks(gw: &Gateway, tool: &str) -> [(Answering, Result<String, String>); 2] {
    let think = std::time::Duration::from_millis(600);
    let run = |who: &'static str, after: u64| {
        let handler = Answering {
            think,
            ..Answering::default()
        };
        let url = gw.url("/mcp");
        let tool = tool.to_owned();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(after)).await;
            let transport = StreamableHttpClientTransport::from_uri(url);
            let client = step("initialize", handler.clone().serve(transport))
                .await
                .expect("initialize");
            let outcome = step(
                &tool,
                client.call_tool(call(&tool, json!({"question": who}))),
            )
            .await
            .map(|r| {
                if r.is_error == Some(true) {
                    Err(text(&r))
                } else {
                    Ok(text(&r))
                }
            })
            .unwrap_or_else(|e| Err(e.to_string()));
            let _ = client.cancel().await;
            (handler, outcome)
        }
    };
    let (a, b) = tokio::join!(run("from a", 0), run("from b", 200));
    [a, b]
}

#[tokio::test]
async fn overlapping_questions_go_to_their_own_client_or_are_refused_when_ambiguous() {
    let gw = gateway().await;

    // HTTP: each question travels on its own call's stream, so each client gets its own.
    let [(a, a_out), (b, b_out)] = overlapping_asks(&gw, "remote_ask").await;
    assert_eq!(a_out, Ok("http heard: forty-two".to_owned()));
    assert_eq!(b_out, Ok("http heard: forty-two".to_owned()));
    assert_eq!(a.seen(), ["from a"]);
    assert_eq!(b.seen(), ["from b"]);

    // stdio: the second question comes while two calls are in flight and nothing says whose
    // it is; the gateway refuses it rather than ask the wrong user.
    let [(a, a_out), (b, b_out)] = overlapping_asks(&gw, "demo_ask").await;
    assert_eq!(a_out, Ok("accept: forty-two".to_owned()));
    assert_eq!(a.seen(), ["from a"]);
    let refusal = b_out.expect_err("an ambiguous question is refused");
    assert!(refusal.contains("several client calls"), "{refusal}");
    assert!(b.seen().is_empty(), "b was never asked: {:?}", b.seen());
}

/// One 2026-07-28 `tools/call` of `tool` (with `extra` params merged in), as raw HTTP; the
/// JSON-RPC response (the last message when the answer is an SSE stream).
async fn modern_call(
    gw: &Gateway,
    id: u64,
    tool: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut params = json!({
        "name": tool,
        "arguments": {"question": format!("{tool} asks?")},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "0"}
        }
    });
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    let r = step(
        "modern tools/call",
        e2e::client()
            .post(gw.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .json(&body)
            .send(),
    )
    .await
    .expect("POST");
    let text = r.text().await.expect("body");
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap_or(&text)
        .to_owned();
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// 2026-07-28 clients cannot be sent requests: a target's question parks the call and comes
/// back as `input_required`; the retry with the answer finishes the same upstream call.
#[tokio::test]
async fn a_modern_client_answers_questions_by_mrtr_round_trips() {
    let gw = gateway().await;
    for (tool, expected) in [
        ("demo_ask", "accept: forty-two"),
        ("remote_ask", "http heard: forty-two"),
    ] {
        let first = modern_call(&gw, 1, tool, json!({})).await;
        assert_eq!(first["id"], 1, "{first}");
        let result = &first["result"];
        assert_eq!(result["resultType"], "input_required", "{tool}: {first}");
        let question = &result["inputRequests"]["1"];
        assert_eq!(question["method"], "elicitation/create", "{first}");
        assert_eq!(
            question["params"]["message"],
            format!("{tool} asks?"),
            "{first}"
        );
        let state = result["requestState"]
            .as_str()
            .unwrap_or_else(|| panic!("no requestState: {first}"))
            .to_owned();

        let answer = json!({
            "inputResponses": {"1": {"action": "accept", "content": {"answer": "forty-two"}}},
            "requestState": state,
        });
        let done = modern_call(&gw, 2, tool, answer.clone()).await;
        assert_eq!(done["id"], 2, "the result answers the retry: {done}");
        assert_eq!(done["result"]["resultType"], "complete", "{done}");
        assert_eq!(
            done["result"]["content"][0]["text"], expected,
            "{tool}: {done}"
        );

        // The call is over: the same state again is refused, clearly.
        let again = modern_call(&gw, 3, tool, answer).await;
        assert_eq!(again["error"]["code"], -32602, "{again}");
    }
}
