//! "Agents as MCP tools": an MCP backend target `a2a: { url }` exposes an A2A agent's skills
//! as tools. The agent is the Python a2a-sdk 1.3.0 test agent (`tests/python/a2a_agent.py`,
//! card with `capabilities.streaming: true`, so calls use `SendStreamingMessage`); the clients
//! are the rmcp client and the official Python MCP SDK (`tests/python/mcp_client.py`).
//!
//! Needs `cargo build --workspace --bins` and `python3 -m pip install -r tests/requirements.txt`
//! (scripts/test.sh does both).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::a2a::run_python_script;
use e2e::mcp_py::require_mcp_sdk;
use e2e::{A2aAgent, AgentMode, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, ProgressNotificationParam, Tool,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{json, Value};

use crate::mcp::{demo_target, mcp_config, step};

/// The `_meta` key the adapter puts task id, context id and state under.
const META: &str = "switchboard/a2a";

/// The `a2a` target named `agent` for the agent at `base`.
fn agent_target(base: &str) -> String {
    format!("- {{ name: agent, a2a: {{ url: \"{base}\" }} }}")
}

/// A gateway whose MCP backend has the stdio `demo` target and the A2A agent at `base`.
async fn gateway_with_agent(failure_mode: &str, base: &str) -> Gateway {
    let targets = [demo_target(), agent_target(base)].join("\n");
    Gateway::start(&mcp_config(failure_mode, &targets)).await
}

/// A progress notification and when it arrived.
type Seen = (Instant, f64, String);

/// An rmcp client handler that records progress notifications.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<Seen>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let seen = (
            Instant::now(),
            params.progress,
            params.message.unwrap_or_default(),
        );
        self.progress.lock().unwrap().push(seen);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.progress.lock().unwrap().clone()
    }
}

type Client = RunningService<RoleClient, Recorder>;

async fn connect(gw: &Gateway) -> (Client, Recorder) {
    let recorder = Recorder::default();
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let client = step("initialize", recorder.clone().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()));
    (client, recorder)
}

async fn list(c: &Client, gw: &Gateway) -> Vec<Tool> {
    step("list tools", c.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}\nstderr:\n{}", gw.stderr()))
}

fn names(tools: &[Tool]) -> Vec<String> {
    let mut v: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    v.sort();
    v
}

async fn call(c: &Client, gw: &Gateway, name: &str, args: Value) -> CallToolResult {
    let p = CallToolRequestParams::new(name.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    step(&format!("call {name}"), c.call_tool(p))
        .await
        .unwrap_or_else(|e| panic!("call {name}: {e}\nstderr:\n{}", gw.stderr()))
}

fn texts(r: &CallToolResult) -> Vec<String> {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The adapter's `_meta` entry of a result (`{taskId, contextId, state}`).
fn meta(r: &CallToolResult) -> Value {
    r.meta
        .as_ref()
        .and_then(|m| m.0.get(META).cloned())
        .unwrap_or_else(|| panic!("no _meta.{META} in {r:?}"))
}

/// The JSON-RPC bodies the agent received, parsed.
async fn agent_bodies(agent: &A2aAgent) -> Vec<(Value, Value)> {
    step("GET /_test/requests", agent.requests())
        .await
        .into_iter()
        .map(|r| {
            let body =
                serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or_default();
            (r["headers"].clone(), body)
        })
        .collect()
}

#[tokio::test]
async fn agent_skills_are_tools_next_to_another_target_and_calls_reach_the_agent() {
    let agent = A2aAgent::start(AgentMode::Echo).await;
    let gw = gateway_with_agent("failOpen", &agent.base()).await;
    let (c, _) = connect(&gw).await;

    let tools = list(&c, &gw).await;
    let all = names(&tools);
    assert!(all.contains(&"agent_echo".to_string()), "{all:?}");
    assert!(
        all.contains(&"demo_echo".to_string()),
        "the other target is still there: {all:?}"
    );
    let agent_tools: Vec<&String> = all.iter().filter(|n| n.starts_with("agent_")).collect();
    assert_eq!(
        agent_tools,
        ["agent_echo"],
        "one tool per skill of the card"
    );
    let tool = tools.iter().find(|t| t.name == "agent_echo").unwrap();
    let description = tool.description.as_deref().unwrap_or_default();
    assert!(description.starts_with("echo: echo skill"), "{description}");
    assert_eq!(tool.input_schema["required"], json!(["message"]));
    let annotations = tool.annotations.as_ref().expect("annotations");
    assert_eq!(
        (annotations.read_only_hint, annotations.open_world_hint),
        (Some(false), Some(true))
    );

    let r = call(
        &c,
        &gw,
        "agent_echo",
        json!({"message": "hello through MCP"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let t = texts(&r);
    assert_eq!(t[0], "echo: hello through MCP", "{t:?}");
    let m = meta(&r);
    assert_eq!(m["state"], "completed", "{m}");
    let context = m["contextId"].as_str().expect("a contextId").to_string();
    assert!(
        t.last().unwrap().contains(&context),
        "the trailer names the context: {t:?}"
    );

    // The other target still works through the same backend.
    let r = call(&c, &gw, "demo_echo", json!({"message": "demo"})).await;
    assert_eq!(texts(&r)[0], "demo");

    // Continuing the conversation carries the contextId to the agent.
    let r = call(
        &c,
        &gw,
        "agent_echo",
        json!({"message": "again", "contextId": context}),
    )
    .await;
    assert_eq!(texts(&r)[0], "echo: again");
    assert_eq!(meta(&r)["contextId"], context.as_str());

    let bodies = agent_bodies(&agent).await;
    let sends: Vec<&(Value, Value)> = bodies
        .iter()
        .filter(|(_, b)| b["method"] == "SendStreamingMessage")
        .collect();
    assert_eq!(
        sends.len(),
        2,
        "the streaming card makes calls stream: {bodies:?}"
    );
    let (headers, first) = sends[0];
    assert_eq!(headers["a2a-version"], "1.0", "{headers}");
    let message = &first["params"]["message"];
    assert_eq!(message["role"], "ROLE_USER");
    assert_eq!(message["parts"], json!([{"text": "hello through MCP"}]));
    assert_eq!(message["metadata"]["skillId"], "echo");
    assert_eq!(
        sends[1].1["params"]["message"]["contextId"],
        context.as_str()
    );
}

#[tokio::test]
async fn streaming_agent_reports_progress_before_the_result() {
    let agent = A2aAgent::start(AgentMode::Stream).await;
    let gw = gateway_with_agent("failOpen", &agent.base()).await;
    let (c, recorder) = connect(&gw).await;
    assert!(names(&list(&c, &gw).await).contains(&"agent_stream".to_string()));

    let r = call(&c, &gw, "agent_stream", json!({"message": "hi"})).await;
    let returned = Instant::now();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let t = texts(&r);
    let chunks: Vec<String> = (0..5).map(|i| format!("chunk {i}: hi")).collect();
    assert_eq!(
        t[..5],
        chunks[..],
        "the appended artifact chunks, in order: {t:?}"
    );

    let seen = recorder.seen();
    let before: Vec<&Seen> = seen.iter().filter(|(at, _, _)| *at < returned).collect();
    // Submitted task, working, 5 artifact chunks, completed: the agent's stream spans 1.5 s,
    // so all but possibly the last arrive well before the result.
    assert!(before.len() >= 2, "progress before the result: {seen:?}");
    let messages: Vec<&str> = before.iter().map(|(_, _, m)| m.as_str()).collect();
    assert!(
        messages.contains(&"working"),
        "a status update: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("artifact stream: chunk 0: hi")),
        "an artifact update: {messages:?}"
    );
    let values: Vec<f64> = seen.iter().map(|(_, p, _)| *p).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "increasing: {values:?}"
    );
}

#[tokio::test]
async fn python_sdk_client_lists_calls_and_sees_progress() {
    require_mcp_sdk();
    let agent = A2aAgent::start(AgentMode::Stream).await;
    let gw = gateway_with_agent("failOpen", &agent.base()).await;
    let argv: Vec<String> = [
        gw.url("/mcp"),
        "--timeout".into(),
        "30".into(),
        "--progress".into(),
        "--meta".into(),
        "--call".into(),
        "agent_stream".into(),
        json!({"message": "from python"}).to_string(),
    ]
    .into();
    let out = run_python_script("mcp_client.py", &argv, Duration::from_secs(40)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp_client.py failed:\nstderr:\n{}\nstdout:\n{stdout}\ngateway:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let tools = lines
        .iter()
        .find(|l| l["kind"] == "tools")
        .expect("tools line");
    let tool_names: Vec<&str> = tools["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tool_names.contains(&"agent_stream"), "{tool_names:?}");
    assert!(tool_names.contains(&"demo_echo"), "{tool_names:?}");

    let call = lines
        .iter()
        .find(|l| l["kind"] == "call")
        .expect("call line");
    assert_eq!(call["isError"], false, "{call}");
    let text: Vec<&str> = call["text"]
        .as_array()
        .expect("text")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(text[0], "chunk 0: from python", "{call}");
    assert_eq!(text[4], "chunk 4: from python", "{call}");
    assert_eq!(call["meta"][META]["state"], "completed", "{call}");
    // The SDK hands progress to the callback before it returns the result.
    let progress = call["progress"].as_array().expect("progress list");
    assert!(progress.len() >= 2, "{call}");
    let messages: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["message"].as_str())
        .collect();
    assert!(messages.contains(&"working"), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("artifact stream: chunk")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn input_required_asks_the_model_and_the_answer_completes_the_task() {
    let agent = A2aAgent::start(AgentMode::Echo).await;
    let gw = gateway_with_agent("failOpen", &agent.base()).await;
    let (c, _) = connect(&gw).await;

    let r = call(&c, &gw, "agent_echo", json!({"message": "ask"})).await;
    assert_eq!(
        r.is_error,
        Some(false),
        "input-required is not an error: {r:?}"
    );
    let t = texts(&r);
    assert_eq!(t[0], "What is your name?", "{t:?}");
    let s = r.structured_content.clone().expect("structured info");
    assert_eq!(s["state"], "input-required", "{s}");
    let task = s["taskId"].as_str().expect("taskId").to_string();
    let context = s["contextId"].as_str().expect("contextId").to_string();
    assert!(!task.is_empty() && !context.is_empty(), "{s}");
    assert_eq!(
        t[1],
        format!(
            "The agent needs more input: call this tool again with taskId=\"{task}\" and \
             contextId=\"{context}\" and your answer as message."
        )
    );

    let r = call(
        &c,
        &gw,
        "agent_echo",
        json!({"message": "Ada", "taskId": task, "contextId": context}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert_eq!(texts(&r)[0], "hello, Ada");
    let m = meta(&r);
    assert_eq!(
        (m["state"].as_str(), m["taskId"].as_str()),
        (Some("completed"), Some(task.as_str()))
    );

    // A finished task cannot take more input: a clear tool error, not a hang.
    let r = call(
        &c,
        &gw,
        "agent_echo",
        json!({"message": "more", "taskId": task}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(texts(&r)[0].contains("JSON-RPC error"), "{r:?}");
}

#[tokio::test]
async fn an_agent_that_is_down_is_a_target_that_is_down_never_a_hang() {
    let (dead_port, _dead_socket) = e2e::refused_port();
    let dead = format!("http://127.0.0.1:{dead_port}");
    let started = Instant::now();

    // failOpen: the other target's tools are listed; a call to the agent is a clear tool error.
    let gw = gateway_with_agent("failOpen", &dead).await;
    let (c, _) = connect(&gw).await;
    let all = names(&list(&c, &gw).await);
    assert!(all.contains(&"demo_echo".to_string()), "{all:?}");
    assert!(!all.iter().any(|n| n.starts_with("agent_")), "{all:?}");
    let p = CallToolRequestParams::new("agent_echo")
        .with_arguments(json!({"message": "x"}).as_object().cloned().unwrap());
    let r = step("call the dead agent", c.call_tool(p))
        .await
        .unwrap_or_else(|e| panic!("a tool error, not a JSON-RPC error: {e}"));
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let t = texts(&r).join("\n");
    assert!(t.contains("unavailable") && t.contains(&dead), "{t}");
    assert!(t.contains("Connection refused"), "the cause: {t}");

    // failClosed: the list fails, naming the agent target.
    let gw = gateway_with_agent("failClosed", &dead).await;
    let (c, _) = connect(&gw).await;
    let e = step("list with a dead agent", c.list_all_tools())
        .await
        .expect_err("failClosed fails the list");
    let msg = e.to_string();
    assert!(msg.contains("agent"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded");
}
