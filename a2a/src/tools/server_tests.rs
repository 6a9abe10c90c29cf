//! [`A2aToolsServer`] end to end inside the crate: an rmcp client over an in-memory pipe, and
//! a small fake A2A agent on loopback (axum) that speaks either dialect, blocking or streaming.
//! The Python a2a-sdk agent is exercised by the e2e tests; this fake covers what it cannot be
//! asked to do (a 0.3-only card, JSON-RPC errors, hanging, a card that disappears).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use futures_util::StreamExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ErrorCode};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ServiceExt as _};
use serde_json::{json, Value};

use super::*;

const STEP: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    V1Streaming,
    V03Blocking,
}

/// (A2A-Version header, x-key header, body) of one JSON-RPC request.
type Seen = (Option<String>, Option<String>, Value);

#[derive(Clone)]
struct Agent {
    flavor: Flavor,
    base: Arc<Mutex<String>>,
    card_up: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Agent {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn card(State(a): State<Agent>) -> Response {
    if !a.card_up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let base = a.base.lock().unwrap().clone();
    let skills = json!([
        {"id": "echo", "name": "Echo", "description": "Echoes", "tags": [], "examples": ["hi"]},
        {"id": "travel.plan", "name": "Plan", "description": "Plans trips", "tags": []}
    ]);
    Json(match a.flavor {
        Flavor::V1Streaming => json!({
            "name": "Fake", "description": "a fake agent",
            "supportedInterfaces": [
                {"url": format!("{base}/rpc"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": true}, "skills": skills
        }),
        Flavor::V03Blocking => json!({
            "name": "Fake03", "description": "an old agent", "protocolVersion": "0.3.0",
            "url": format!("{base}/rpc"), "preferredTransport": "JSONRPC",
            "capabilities": {"streaming": false}, "skills": skills
        }),
    })
    .into_response()
}

fn text_of(body: &Value) -> String {
    body.pointer("/params/message/parts/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A task object in the agent's dialect.
fn task(v1: bool, id: &str, state: &str, say: Option<&str>, artifact: Option<&str>) -> Value {
    let state = if v1 {
        format!("TASK_STATE_{}", state.to_uppercase().replace('-', "_"))
    } else {
        state.to_owned()
    };
    let part = |t: &str| {
        if v1 {
            json!({"text": t})
        } else {
            json!({"kind": "text", "text": t})
        }
    };
    let mut status = json!({ "state": state });
    if let Some(s) = say {
        status["message"] =
            json!({"role": if v1 {"ROLE_AGENT"} else {"agent"}, "parts": [part(s)]});
    }
    let mut t = json!({"id": id, "contextId": "ctx-1", "status": status});
    if let Some(a) = artifact {
        t["artifacts"] = json!([{"artifactId": "a1", "name": "out", "parts": [part(a)]}]);
    }
    if v1 {
        json!({ "task": t })
    } else {
        t["kind"] = json!("task");
        t
    }
}

async fn rpc(State(a): State<Agent>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    a.seen
        .lock()
        .unwrap()
        .push((h("a2a-version"), h("x-key"), body.clone()));
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let method = body.get("method").and_then(Value::as_str).unwrap_or("");
    let v1 = a.flavor == Flavor::V1Streaming;
    let ok =
        |result: Value| Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
    if method == "CancelTask" || method == "tasks/cancel" {
        return ok(task(v1, "t-hang", "canceled", None, None));
    }
    let text = text_of(&body);
    let continuing = body
        .pointer("/params/message/taskId")
        .and_then(Value::as_str);
    if text == "err" {
        return Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
            "message": "boom", "data": [{"reason": "INTERNAL"}]}}))
        .into_response();
    }
    let final_task = match (text.as_str(), continuing) {
        (_, Some("t-ask")) => task(
            v1,
            "t-ask",
            "completed",
            None,
            Some(&format!("thanks, {text}")),
        ),
        (_, Some(other)) => {
            return Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32001,
                "message": format!("Task {other} not found")}}))
            .into_response()
        }
        ("ask", None) => task(
            v1,
            "t-ask",
            "input-required",
            Some("What is your name?"),
            None,
        ),
        ("fail", None) => task(v1, "t-fail", "failed", Some("no seats left"), None),
        _ => task(v1, "t-1", "completed", None, Some(&format!("echo: {text}"))),
    };
    if method != "SendStreamingMessage" && method != "message/stream" {
        return ok(final_task);
    }
    // Streaming: task (working), a status with a note, then the final task.
    let frame = |result: Value| {
        Ok::<_, std::io::Error>(format!(
            "data: {}\r\n\r\n",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        ))
    };
    let tid = if text == "hang" { "t-hang" } else { "t-1" };
    let mut frames = vec![
        frame(task(v1, tid, "working", None, None)),
        frame(json!({"statusUpdate": {"taskId": tid, "contextId": "ctx-1",
            "status": {"state": "TASK_STATE_WORKING",
                "message": {"role": "ROLE_AGENT", "parts": [{"text": "thinking"}]}}}})),
    ];
    let body = if text == "hang" {
        Body::from_stream(futures_util::stream::iter(frames).chain(futures_util::stream::pending()))
    } else {
        frames.push(frame(final_task));
        Body::from_stream(futures_util::stream::iter(frames))
    };
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn start_agent(flavor: Flavor) -> Agent {
    let agent = Agent {
        flavor,
        base: Arc::default(),
        card_up: Arc::new(AtomicBool::new(true)),
        seen: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/.well-known/agent-card.json", get(card))
        .route("/rpc", post(rpc))
        .with_state(agent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *agent.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    agent
}

/// Records progress notifications.
#[derive(Clone, Default)]
struct Client {
    progress: Arc<Mutex<Vec<(f64, String)>>>,
}

impl ClientHandler for Client {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .unwrap()
            .push((params.progress, params.message.unwrap_or_default()));
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }
}

async fn connect(server: A2aToolsServer) -> (RunningService<RoleClient, Client>, Client) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(a).await {
            let _ = running.waiting().await;
        }
    });
    let handler = Client::default();
    let client = tokio::time::timeout(STEP, handler.clone().serve(b))
        .await
        .expect("initialize in time")
        .expect("initialize");
    (client, handler)
}

fn options() -> A2aToolsOptions {
    A2aToolsOptions {
        headers: vec![("x-key".into(), "secret".into())],
        ..A2aToolsOptions::default()
    }
}

fn params(name: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned()).with_arguments(args.as_object().cloned().unwrap())
}

async fn call(c: &RunningService<RoleClient, Client>, name: &str, args: Value) -> CallToolResult {
    tokio::time::timeout(STEP, c.call_tool(params(name, args)))
        .await
        .expect("call in time")
        .expect("call")
}

fn texts(r: &CallToolResult) -> Vec<String> {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn v1_streaming_agent_lists_calls_and_reports_progress() {
    let agent = start_agent(Flavor::V1Streaming).await;
    let base = agent.base.lock().unwrap().clone();
    let server = A2aToolsServer::connect(&base, options()).await.unwrap();
    assert_eq!(server.card().unwrap().dialect, Dialect::V1);
    let (c, handler) = connect(server).await;
    let tools = c.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo", "travel_plan"]);

    let r = call(&c, "travel_plan", json!({"message": "hello"})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert_eq!(texts(&r)[0], "echo: hello");
    // Notifications are handled on their own tasks: the last may trail the result a little.
    let counted = async {
        while handler.progress.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(STEP, counted)
        .await
        .expect("3 progress notifications");
    let progress = handler.progress.lock().unwrap().clone();
    let messages: Vec<&str> = progress.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        messages,
        ["task working", "working: thinking", "task completed"]
    );
    assert_eq!(
        progress.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [1.0, 2.0, 3.0]
    );

    let seen = agent.seen();
    let (version, key, body) = &seen[0];
    assert_eq!(version.as_deref(), Some("1.0"));
    assert_eq!(
        key.as_deref(),
        Some("secret"),
        "extra headers on every request"
    );
    assert_eq!(body["method"], "SendStreamingMessage");
    assert_eq!(body["params"]["message"]["role"], "ROLE_USER");
    assert_eq!(
        body["params"]["message"]["metadata"]["skillId"],
        "travel.plan"
    );
}

#[tokio::test]
async fn v03_blocking_agent_and_input_required_round_trip() {
    let agent = start_agent(Flavor::V03Blocking).await;
    let base = agent.base.lock().unwrap().clone();
    let (c, handler) = connect(A2aToolsServer::new(&base, options()).unwrap()).await;

    let r = call(&c, "echo", json!({"message": "hi"})).await;
    assert_eq!(texts(&r)[0], "echo: hi");
    let (version, _, body) = &agent.seen()[0];
    assert_eq!(version, &None, "a 0.3 client sends no A2A-Version");
    assert_eq!(body["method"], "message/send");
    assert_eq!(body["params"]["message"]["kind"], "message");

    let r = call(&c, "echo", json!({"message": "ask"})).await;
    assert_eq!(
        r.is_error,
        Some(false),
        "input-required is not an error: {r:?}"
    );
    let t = texts(&r);
    assert_eq!(t[0], "What is your name?");
    assert!(
        t[1].contains("taskId=\"t-ask\"") && t[1].contains("contextId=\"ctx-1\""),
        "{t:?}"
    );
    let s = r.structured_content.clone().unwrap();
    assert_eq!(
        (s["state"].as_str(), s["taskId"].as_str()),
        (Some("input-required"), Some("t-ask"))
    );

    let r = call(
        &c,
        "echo",
        json!({"message": "Ada", "taskId": "t-ask", "contextId": "ctx-1"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false));
    assert_eq!(texts(&r)[0], "thanks, Ada");
    let (_, _, body) = agent.seen().last().cloned().unwrap();
    assert_eq!(body["params"]["message"]["taskId"], "t-ask");
    assert_eq!(body["params"]["message"]["contextId"], "ctx-1");

    let r = call(&c, "echo", json!({"message": "fail"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(texts(&r)[0].contains("no seats left"));
    let r = call(&c, "echo", json!({"message": "err"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        texts(&r)[0].contains("JSON-RPC error -32603 (INTERNAL): boom"),
        "{r:?}"
    );
    let r = call(&c, "echo", json!({"message": "x", "taskId": "gone"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(texts(&r)[0].contains("-32001"));
    // One event per successful blocking call (hi, ask, Ada, fail); errors send none.
    // Notifications are handled on their own tasks: give the last one a moment.
    let counted = async {
        while handler.progress.lock().unwrap().len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(STEP, counted)
        .await
        .expect("4 progress notifications");
    let progress = handler.progress.lock().unwrap().clone();
    assert_eq!(progress.len(), 4, "{progress:?}");
    assert_eq!(progress[1].1, "task input-required: What is your name?");
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_are_invalid_params() {
    let agent = start_agent(Flavor::V03Blocking).await;
    let base = agent.base.lock().unwrap().clone();
    let (c, _) = connect(A2aToolsServer::new(&base, options()).unwrap()).await;
    for (name, args, needle) in [
        ("echo", json!({}), "missing required argument `message`"),
        ("echo", json!({"message": 1}), "must be a string"),
        ("nope", json!({"message": "x"}), "unknown tool \"nope\""),
    ] {
        let e = c.call_tool(params(name, args)).await.unwrap_err();
        let rmcp::ServiceError::McpError(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
        assert!(e.message.contains(needle), "{}", e.message);
    }
    assert!(agent.seen().is_empty(), "nothing reached the agent");
}

#[tokio::test]
async fn cancelled_and_timed_out_calls_cancel_the_task() {
    let agent = start_agent(Flavor::V1Streaming).await;
    let base = agent.base.lock().unwrap().clone();
    let (c, _) = connect(A2aToolsServer::new(&base, options()).unwrap()).await;
    // Dropping `call_tool_once` sends notifications/cancelled.
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        c.peer()
            .call_tool_once(params("echo", json!({"message": "hang"}))),
    )
    .await;
    assert!(r.is_err(), "the call hangs until cancelled");
    let cancelled = async {
        loop {
            if agent
                .seen()
                .iter()
                .any(|(_, _, b)| b["method"] == "CancelTask")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(STEP, cancelled)
        .await
        .expect("CancelTask reached the agent");
    let (_, _, cancel) = agent
        .seen()
        .into_iter()
        .find(|(_, _, b)| b["method"] == "CancelTask")
        .unwrap();
    assert_eq!(cancel["params"]["id"], "t-hang");

    let short = A2aToolsOptions {
        call_timeout: Duration::from_millis(300),
        ..options()
    };
    let (c, _) = connect(A2aToolsServer::new(&base, short).unwrap()).await;
    let r = call(&c, "echo", json!({"message": "hang"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        texts(&r)[0].contains("did not answer within 300 ms"),
        "{r:?}"
    );
}

#[tokio::test]
async fn agent_down_fails_list_and_call_clearly_and_card_is_kept() {
    let dead = format!("http://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let err = A2aToolsServer::connect(&dead, options()).await.unwrap_err();
    assert!(matches!(err, A2aToolsError::CardFetch { .. }), "{err}");
    let (c, _) = connect(A2aToolsServer::new(&dead, options()).unwrap()).await;
    let e = c.list_all_tools().await.unwrap_err();
    assert!(e.to_string().contains("unavailable"), "{e}");
    let r = call(&c, "echo", json!({"message": "x"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(texts(&r)[0].contains("is unavailable"), "{r:?}");

    // A card that goes away after the first read: the last good copy stays.
    let agent = start_agent(Flavor::V1Streaming).await;
    let base = agent.base.lock().unwrap().clone();
    let refresh_always = A2aToolsOptions {
        card_refresh: Duration::ZERO,
        ..options()
    };
    let (c, _) = connect(
        A2aToolsServer::connect(&base, refresh_always)
            .await
            .unwrap(),
    )
    .await;
    agent.card_up.store(false, Ordering::SeqCst);
    let tools = c.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);

    assert!(A2aToolsServer::new("ftp://x", options()).is_err());
    assert!(A2aToolsServer::new(
        "http://x",
        A2aToolsOptions {
            headers: vec![("bad header".into(), "v".into())],
            ..options()
        }
    )
    .is_err());
}
