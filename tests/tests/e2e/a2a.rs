//! A2A relay (`policies.a2a`) in front of the official Python a2a-sdk 1.3.0 agent
//! (`tests/python/a2a_agent.py`), driven by the a2a-sdk client (`tests/python/a2a_client.py`)
//! and by raw JSON-RPC requests.
//!
//! Needs `python3 -m pip install -r tests/requirements.txt` (the tests fail without it).

use std::time::{Duration, Instant};

use e2e::a2a::{run_client, A2aAgent, AgentMode, ClientRun};
use e2e::{client, fill, free_port, routes_config, Gateway};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::STEP;

/// The route under test, plus a second route to the same agent with a 1 KiB body limit.
const ROUTES: &str = r#"
- name: echo
  matches: [{ path: { prefix: /agents/echo } }]
  policies:
    a2a: { callerHeader: x-caller }
    urlRewrite: { path: { prefix: / } }
  backends: [{ host: "{agent}" }]
- name: small
  matches: [{ path: { prefix: /agents/small } }]
  policies:
    a2a: { callerHeader: x-caller }
    urlRewrite: { path: { prefix: / } }
    maxRequestBody: 1KiB
  backends: [{ host: "{agent}" }]
"#;

/// The agent's JSON-RPC endpoint below its base (1.0 and 0.3 share it).
const JSONRPC: &str = "/a2a/jsonrpc";

/// A gateway whose routes point at `agent_host`.
async fn gateway_for(agent_host: &str) -> Gateway {
    let routes = fill(ROUTES, &[("agent".to_string(), agent_host.to_string())]);
    Gateway::start(&routes_config(&routes)).await
}

/// An agent in `mode` behind a gateway.
async fn setup(mode: AgentMode) -> (A2aAgent, Gateway) {
    let agent = A2aAgent::start(mode).await;
    let gw = gateway_for(&agent.host()).await;
    (agent, gw)
}

/// `http://127.0.0.1:GWPORT/agents/echo`: the base URL clients resolve the card from.
fn base(gw: &Gateway) -> String {
    gw.url("/agents/echo")
}

/// A JSON-RPC reply: HTTP status, headers and the JSON body (an SSE answer yields its first
/// event's data).
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn error_code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    fn error_message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON-RPC error code, panicking with the reply when there is none.
    fn expect_error(&self, what: &str) -> i64 {
        self.error_code().unwrap_or_else(|| {
            panic!(
                "{what}: expected a JSON-RPC error, got HTTP {} {}",
                self.status, self.text
            )
        })
    }

    /// The JSON-RPC result, panicking with the reply when there is none.
    fn result(&self, what: &str) -> &Value {
        let r = &self.body["result"];
        assert!(
            self.status == 200 && !r.is_null(),
            "{what}: expected a JSON-RPC result, got HTTP {} {}",
            self.status,
            self.text
        );
        r
    }
}

/// POSTs a raw body to `url` with `headers`; parses a JSON or SSE (first event) answer.
async fn post_raw(url: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Reply {
    let mut rb = client()
        .post(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = tokio::time::timeout(STEP, rb.body(body).send())
        .await
        .unwrap_or_else(|_| panic!("POST {url} timed out"))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = if sse {
        // Only the first event matters here; do not wait for the stream to end.
        let mut stream = r.bytes_stream();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(STEP, async {
            while let Some(Ok(c)) = stream.next().await {
                // sse-starlette ends lines with CRLF.
                buf.extend(c.iter().copied().filter(|&b| b != b'\r'));
                if buf.windows(2).any(|w| w == b"\n\n") {
                    break;
                }
            }
        })
        .await;
        String::from_utf8_lossy(&buf).into_owned()
    } else {
        tokio::time::timeout(STEP, r.text())
            .await
            .unwrap_or_else(|_| panic!("POST {url}: body timed out"))
            .unwrap_or_default()
    };
    let json_text = if sse {
        text.lines()
            .find_map(|l| l.strip_prefix("data:"))
            .unwrap_or("")
            .trim()
            .to_string()
    } else {
        text.clone()
    };
    let body = serde_json::from_str(&json_text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A JSON-RPC call through the gateway's `echo` route as `caller` (`A2A-Version: 1.0` for
/// 1.0 method names, no version header for 0.3 ones, as 0.3 clients do).
async fn rpc(gw: &Gateway, caller: &str, method: &str, params: Value) -> Reply {
    rpc_on(gw, "/agents/echo", caller, method, params).await
}

async fn rpc_on(gw: &Gateway, route: &str, caller: &str, method: &str, params: Value) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut headers = vec![("x-caller", caller)];
    if !method.contains('/') {
        headers.push(("a2a-version", "1.0"));
    }
    post_raw(
        &gw.url(&format!("{route}{JSONRPC}")),
        &headers,
        body.to_string(),
    )
    .await
}

fn msg_1_0(text: &str) -> Value {
    json!({"messageId": uuid(), "role": "ROLE_USER", "parts": [{"text": text}]})
}

fn msg_0_3(text: &str) -> Value {
    json!({"kind": "message", "messageId": uuid(), "role": "user",
           "parts": [{"kind": "text", "text": text}]})
}

/// A unique enough id for messages.
fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("m-{nanos}-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// `SendMessage` (1.0) as `caller`, non-blocking when `text` is "slow"; the task id.
async fn create_task(gw: &Gateway, caller: &str, text: &str) -> String {
    let mut params = json!({"message": msg_1_0(text)});
    if text == "slow" {
        params["configuration"] = json!({"returnImmediately": true});
    }
    let r = rpc(gw, caller, "SendMessage", params).await;
    r.result("SendMessage")["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id in {}", r.text))
        .to_string()
}

/// Every string in `v` (recursively).
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The card the relay should serve: the agent's card with its base URL replaced by `gw_base`
/// in every interface URL field.
fn expected_card(agent_card: &Value, agent_base: &str, gw_base: &str) -> Value {
    let mut c = agent_card.clone();
    let rewrite = |u: &mut Value| {
        let s = u.as_str().expect("interface url").to_string();
        let rest = s
            .strip_prefix(agent_base)
            .unwrap_or_else(|| panic!("the agent's url {s} is not below {agent_base}"));
        *u = Value::String(format!("{gw_base}{rest}"));
    };
    for key in ["supportedInterfaces", "additionalInterfaces"] {
        for i in c[key].as_array_mut().expect(key) {
            rewrite(&mut i["url"]);
        }
    }
    rewrite(&mut c["url"]);
    c
}

async fn assert_card_rewritten(agent: &A2aAgent, gw: &Gateway, path: &str) {
    let mine = agent.card(path).await;
    let r = client()
        .get(gw.url(&format!("/agents/echo{path}")))
        .send()
        .await
        .expect("GET card through the gateway");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "GET /agents/echo{path}: {text}");
    let got: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("card through the gateway is not JSON ({e}): {text}"));
    let gw_base = base(gw);
    let want = expected_card(&mine, &agent.base(), &gw_base);
    // Every interface URL points at the gateway, path below the agent's base kept.
    for key in ["supportedInterfaces", "additionalInterfaces"] {
        for (i, w) in want[key].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                got[key][i]["url"], w["url"],
                "{path}: {key}[{i}].url; card:\n{text}"
            );
        }
    }
    assert_eq!(got["url"], want["url"], "{path}: 0.3 `url`; card:\n{text}");
    // Everything else is as the agent served it (vendor fields included).
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "{path}: field {k} differs; card:\n{text}");
    }
    // No URL left pointing at the agent itself.
    let mut all = Vec::new();
    strings(&got, &mut all);
    let leak: Vec<&String> = all.iter().filter(|s| s.contains(&agent.host())).collect();
    assert!(
        leak.is_empty(),
        "{path}: agent URLs left in the card: {leak:?}"
    );
    // Every interface URL starts with the gateway route URL.
    for i in got["supportedInterfaces"].as_array().unwrap() {
        let u = i["url"].as_str().unwrap();
        assert!(u.starts_with(&format!("{gw_base}/")), "{path}: {u}");
    }
}

// -------------------------------------------------------------------------------------------
// (a) cards
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn card_interface_urls_point_at_the_gateway() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    assert_card_rewritten(&agent, &gw, "/.well-known/agent-card.json").await;
}

#[tokio::test]
async fn legacy_agent_json_card_is_rewritten_too() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    assert_card_rewritten(&agent, &gw, "/.well-known/agent.json").await;
}

// -------------------------------------------------------------------------------------------
// (b) the a2a-sdk client through the gateway: send, get, cancel, stream, both versions
// -------------------------------------------------------------------------------------------

/// The client resolved the card through the gateway and kept only gateway URLs.
fn assert_gateway_interfaces(run: &ClientRun, gw: &Gateway) {
    let urls = run.interfaces();
    assert!(!urls.is_empty(), "no interface kept: {}", run.stdout);
    for u in &urls {
        assert!(
            u.starts_with(&format!("{}/", base(gw))),
            "the client would call {u}, not the gateway"
        );
    }
}

fn argv<'a>(common: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    common.iter().chain(rest).copied().collect()
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap_or_default()
}

async fn send_get_cancel(version: &str) {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let b = base(&gw);
    let common = ["--version", version, "--header", "x-caller=alice"];
    let args = |rest: &[&'static str]| argv(&common, rest);

    let sent = run_client(&b, &args(&["send", "hello"])).await.ok();
    assert_gateway_interfaces(&sent, &gw);
    let task = sent.last();
    assert_eq!(task["kind"], "task", "{}", sent.stdout);
    assert_eq!(state(&task), "TASK_STATE_COMPLETED", "{}", sent.stdout);
    assert_eq!(task["text"], "echo: hello", "{}", sent.stdout);
    let id = task["taskId"].as_str().unwrap().to_string();

    let mut get_args = args(&["get"]);
    get_args.push(&id);
    let got = run_client(&b, &get_args).await.ok();
    assert_eq!(got.last()["taskId"], id.as_str());
    assert_eq!(state(&got.last()), "TASK_STATE_COMPLETED", "{}", got.stdout);
    assert_eq!(got.last()["text"], "echo: hello");

    // A long task (~10 s at the agent) is cancelled through the gateway.
    let slow = run_client(&b, &args(&["send", "slow", "--no-wait"]))
        .await
        .ok();
    let slow_id = slow.last()["taskId"].as_str().unwrap().to_string();
    assert!(
        !state(&slow.last()).contains("COMPLETED"),
        "{}",
        slow.stdout
    );
    let started = Instant::now();
    let mut cancel_args = args(&["cancel"]);
    cancel_args.push(&slow_id);
    let cancelled = run_client(&b, &cancel_args).await.ok();
    assert_eq!(
        state(&cancelled.last()),
        "TASK_STATE_CANCELED",
        "{}",
        cancelled.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cancel waited for the task to finish"
    );
    let mut get_args = args(&["get"]);
    get_args.push(&slow_id);
    let after = run_client(&b, &get_args).await.ok();
    assert_eq!(
        state(&after.last()),
        "TASK_STATE_CANCELED",
        "{}",
        after.stdout
    );

    // Every call reached the agent through the gateway with the client's A2A-Version.
    let seen = agent.requests().await;
    let posts: Vec<&Value> = seen.iter().filter(|r| r["method"] == "POST").collect();
    assert_eq!(posts.len(), 5, "the agent saw {seen:#?}");
    for r in posts {
        assert_eq!(r["path"], JSONRPC, "{r:#}");
        assert_eq!(r["headers"]["a2a-version"], version, "{r:#}");
    }
}

#[tokio::test]
async fn sdk_client_1_0_send_get_cancel_through_the_gateway() {
    send_get_cancel("1.0").await;
}

#[tokio::test]
async fn sdk_client_0_3_send_get_cancel_through_the_gateway() {
    send_get_cancel("0.3").await;
}

/// Stream events as the a2a-sdk client saw them arrive, with spacing checks.
async fn stream_spacing(version: &str, binding: &str) {
    let (_agent, gw) = setup(AgentMode::Stream).await;
    let run = run_client(
        &base(&gw),
        &[
            "--version",
            version,
            "--binding",
            binding,
            "--header",
            "x-caller=alice",
            "stream",
            "hello",
        ],
    )
    .await
    .ok();
    assert_gateway_interfaces(&run, &gw);
    let events = run.events();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"task"), "{}", run.stdout);
    let artifacts: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "artifactUpdate")
        .collect();
    assert_eq!(artifacts.len(), 5, "{kinds:?}");
    for (i, a) in artifacts.iter().enumerate() {
        assert_eq!(a["text"], format!("chunk {i}: hello"));
    }
    let last = events.last().unwrap();
    assert_eq!(state(last), "TASK_STATE_COMPLETED", "{}", run.stdout);
    let t = |e: &Value| e["t"].as_f64().unwrap();
    let (first, end) = (t(&events[0]), t(last));
    assert!(
        first < 1.0,
        "first event after {first} s: the stream was buffered ({kinds:?})"
    );
    assert!(
        end - first >= 0.9,
        "events spaced {first}..{end} s; the agent spaces them 300 ms apart: buffered"
    );
    assert!(
        t(artifacts[4]) - t(artifacts[0]) >= 0.9,
        "artifact chunks arrived together: {:?}",
        artifacts.iter().map(|a| t(a)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn sdk_client_1_0_stream_arrives_event_by_event() {
    stream_spacing("1.0", "JSONRPC").await;
}

#[tokio::test]
async fn sdk_client_0_3_stream_arrives_event_by_event() {
    stream_spacing("0.3", "JSONRPC").await;
}

/// Beyond the JSON-RPC contract: the HTTP+JSON binding (DESIGN: "JSON-RPC and HTTP+JSON
/// bindings are relayed").
#[tokio::test]
async fn sdk_client_1_0_rest_binding_send_and_stream() {
    stream_spacing("1.0", "HTTP+JSON").await;
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let run = run_client(
        &base(&gw),
        &[
            "--binding",
            "HTTP+JSON",
            "--header",
            "x-caller=alice",
            "send",
            "rest",
        ],
    )
    .await
    .ok();
    assert_gateway_interfaces(&run, &gw);
    assert_eq!(run.last()["text"], "echo: rest", "{}", run.stdout);
}

// -------------------------------------------------------------------------------------------
// (b), (c) raw relaying: headers both ways, SSE frame by frame
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn a2a_version_and_extensions_headers_pass_both_ways() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                      "params": {"message": msg_1_0("hdr")}});
    let r = post_raw(
        &gw.url(&format!("/agents/echo{JSONRPC}")),
        &[
            ("x-caller", "alice"),
            ("a2a-version", "1.0"),
            ("a2a-extensions", "urn:switchboard:test-ext"),
        ],
        body.to_string(),
    )
    .await;
    let res = r.result("SendMessage");
    assert_eq!(res["task"]["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(
        r.headers
            .get("a2a-extensions")
            .and_then(|v| v.to_str().ok()),
        Some("urn:switchboard:test-ext"),
        "the agent's A2A-Extensions response header was not relayed: {:?}",
        r.headers
    );
    let seen = agent.requests().await;
    let last = seen.last().expect("the agent saw nothing");
    assert_eq!(last["headers"]["a2a-version"], "1.0", "{last:#}");
    assert_eq!(
        last["headers"]["a2a-extensions"], "urn:switchboard:test-ext",
        "{last:#}"
    );

    // 0.3: no version header, 0.3 shapes both ways.
    let r = rpc(
        &gw,
        "alice",
        "message/send",
        json!({"message": msg_0_3("old")}),
    )
    .await;
    let res = r.result("message/send");
    assert_eq!(res["kind"], "task", "{}", r.text);
    assert_eq!(res["status"]["state"], "completed", "{}", r.text);
}

/// Reads an SSE response, returning each event's data with its arrival time since `start`.
async fn sse_events(r: reqwest::Response, start: Instant) -> Vec<(Duration, Value)> {
    let mut stream = r.bytes_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    tokio::time::timeout(STEP, async {
        while let Some(chunk) = stream.next().await {
            // sse-starlette ends lines with CRLF.
            let chunk = chunk.expect("stream chunk");
            buf.extend(chunk.iter().copied().filter(|&b| b != b'\r'));
            while let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = buf.drain(..i + 2).collect();
                let frame = String::from_utf8_lossy(&frame);
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if !data.is_empty() {
                    let v = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {data}"));
                    out.push((start.elapsed(), v));
                }
            }
        }
    })
    .await
    .expect("the stream did not end");
    out
}

async fn raw_stream(method: &str, message: Value, version: Option<&str>) {
    let (_agent, gw) = setup(AgentMode::Stream).await;
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": method,
                      "params": {"message": message}});
    let mut rb = client()
        .post(gw.url(&format!("/agents/echo{JSONRPC}")))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .header("x-caller", "alice");
    if let Some(v) = version {
        rb = rb.header("a2a-version", v);
    }
    let start = Instant::now();
    let r = rb.body(body.to_string()).send().await.expect("POST stream");
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/event-stream"), "content-type {ct}");
    let events = sse_events(r, start).await;
    // task, working, 5 artifact chunks, completed
    assert!(events.len() >= 7, "{events:#?}");
    for (_, e) in &events {
        assert_eq!(e["jsonrpc"], "2.0", "{e}");
        assert_eq!(e["id"], 9, "{e}");
        assert!(e["result"].is_object(), "{e}");
    }
    let first = events[0].0;
    let last = events.last().unwrap().0;
    assert!(
        first < Duration::from_secs(1),
        "first event after {first:?}: buffered"
    );
    assert!(
        last - first >= Duration::from_millis(900),
        "events arrived within {:?}: buffered; times {:?}",
        last - first,
        events.iter().map(|(t, _)| *t).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn raw_1_0_sse_is_relayed_frame_by_frame() {
    raw_stream("SendStreamingMessage", msg_1_0("raw"), Some("1.0")).await;
}

#[tokio::test]
async fn raw_0_3_sse_is_relayed_frame_by_frame() {
    raw_stream("message/stream", msg_0_3("raw"), None).await;
}

// -------------------------------------------------------------------------------------------
// (d) bad input
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_json_rpc_gets_json_rpc_errors() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let url = gw.url(&format!("/agents/echo{JSONRPC}"));
    let h = [("x-caller", "alice"), ("a2a-version", "1.0")];

    let r = post_raw(&url, &h, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").await;
    assert_eq!(r.status, 200, "malformed JSON: {}", r.text);
    assert_eq!(r.expect_error("malformed JSON"), -32700, "{}", r.text);
    assert_eq!(r.body["jsonrpc"], "2.0", "{}", r.text);

    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "NoSuchMethod", "params": {}});
    let r = post_raw(&url, &h, body.to_string()).await;
    assert_eq!(r.status, 200, "unknown method: {}", r.text);
    assert_eq!(r.expect_error("unknown method"), -32601, "{}", r.text);
    assert_eq!(r.body["id"], 7, "{}", r.text);

    let one = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                     "params": {"message": msg_1_0("batched")}});
    let r = post_raw(&url, &h, json!([one]).to_string()).await;
    assert_eq!(r.status, 200, "batch: {}", r.text);
    assert_eq!(r.expect_error("batch"), -32600, "{}", r.text);

    // Over the route's 1 KiB maxRequestBody.
    let big = "x".repeat(4096);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "SendMessage",
                      "params": {"message": msg_1_0(&big)}});
    let small = gw.url(&format!("/agents/small{JSONRPC}"));
    let r = post_raw(&small, &h, body.to_string()).await;
    assert_eq!(r.status, 413, "oversized body: {}", r.text);
    r.expect_error("oversized body");
    assert_eq!(r.body["jsonrpc"], "2.0", "{}", r.text);
    let seen = agent.requests().await;
    assert!(
        !seen
            .iter()
            .any(|s| s["body"].as_str().unwrap_or("").contains("xxxxxxxx")),
        "the agent saw the oversized request"
    );
}

// -------------------------------------------------------------------------------------------
// (e) task ownership keyed on x-caller
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn tasks_of_one_caller_are_invisible_to_another() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let id = create_task(&gw, "alice", "slow").await;

    for (method, params) in [
        ("GetTask", json!({"id": id})),
        ("CancelTask", json!({"id": id})),
        ("tasks/get", json!({"id": id})),
        ("tasks/cancel", json!({"id": id})),
    ] {
        let r = rpc(&gw, "bob", method, params).await;
        assert_eq!(
            r.expect_error(&format!("bob {method}")),
            -32001,
            "bob {method}: {}",
            r.text
        );
    }

    let r = rpc(&gw, "alice", "GetTask", json!({"id": id})).await;
    let t = r.result("alice GetTask");
    assert_eq!(t["id"], id.as_str());
    assert_ne!(
        t["status"]["state"], "TASK_STATE_CANCELED",
        "bob's cancel reached the agent"
    );
    let r = rpc(&gw, "alice", "tasks/get", json!({"id": id})).await;
    assert_eq!(r.result("alice tasks/get")["kind"], "task");

    // The a2a-sdk client as bob gets TaskNotFound; as alice it cancels.
    let b = base(&gw);
    let bob = run_client(&b, &["--header", "x-caller=bob", "get", &id]).await;
    assert!(!bob.success, "bob read alice's task: {}", bob.stdout);
    let err = bob.error().unwrap_or_else(|| panic!("{}", bob.stderr));
    assert_eq!(err["code"], -32001, "{err}");
    let bob = run_client(
        &b,
        &[
            "--version",
            "0.3",
            "--header",
            "x-caller=bob",
            "cancel",
            &id,
        ],
    )
    .await;
    assert!(!bob.success, "bob cancelled alice's task: {}", bob.stdout);
    assert_eq!(bob.error().map(|e| e["code"].clone()), Some(json!(-32001)));
    let alice = run_client(&b, &["--header", "x-caller=alice", "cancel", &id])
        .await
        .ok();
    assert_eq!(state(&alice.last()), "TASK_STATE_CANCELED");
}

#[tokio::test]
async fn tasks_created_by_a_stream_are_owned_too() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let b = base(&gw);
    for version in ["1.0", "0.3"] {
        let run = run_client(
            &b,
            &[
                "--version",
                version,
                "--header",
                "x-caller=alice",
                "stream",
                "s",
            ],
        )
        .await
        .ok();
        let id = run.last()["taskId"].as_str().unwrap().to_string();
        let r = rpc(&gw, "bob", "GetTask", json!({"id": id})).await;
        assert_eq!(
            r.expect_error("bob GetTask"),
            -32001,
            "{version}: {}",
            r.text
        );
        let r = rpc(&gw, "alice", "GetTask", json!({"id": id})).await;
        assert_eq!(r.result("alice GetTask")["id"], id.as_str());
    }
}

/// Beyond (e): every other task-scoped operation of bob's on alice's task is refused too, and
/// ListTasks is scoped (reference a2a.md §9 item 5).
#[tokio::test]
async fn other_task_operations_are_scoped_to_the_owner() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let id = create_task(&gw, "alice", "slow").await;
    let mut failures = Vec::new();
    for (method, params) in [
        (
            "SendMessage",
            json!({"message": {"messageId": uuid(), "taskId": id, "role": "ROLE_USER",
                               "parts": [{"text": "hijack"}]},
                   "configuration": {"returnImmediately": true}}),
        ),
        (
            "message/send",
            json!({"message": {"kind": "message", "messageId": uuid(), "taskId": id,
                               "role": "user", "parts": [{"kind": "text", "text": "hijack"}]},
                   "configuration": {"blocking": false}}),
        ),
        ("SubscribeToTask", json!({"id": id})),
        ("ListTaskPushNotificationConfigs", json!({"taskId": id})),
        (
            "CreateTaskPushNotificationConfig",
            json!({"taskId": id, "url": "https://93.184.215.14/bob"}),
        ),
    ] {
        let r = rpc(&gw, "bob", method, params).await;
        if r.error_code() != Some(-32001) {
            failures.push(format!(
                "bob {method} on alice's task: HTTP {} {}",
                r.status,
                r.text.chars().take(300).collect::<String>()
            ));
        }
    }
    let r = rpc(&gw, "bob", "ListTasks", json!({})).await;
    let listed = r.result("bob ListTasks")["tasks"].clone();
    if listed.as_array().is_some_and(|t| !t.is_empty()) {
        failures.push(format!("bob ListTasks lists alice's tasks: {listed}"));
    }
    let r = rpc(&gw, "alice", "ListTasks", json!({})).await;
    let ids: Vec<&str> = r.result("alice ListTasks")["tasks"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    if !ids.contains(&id.as_str()) {
        failures.push(format!("alice ListTasks misses her task: {}", r.text));
    }
    let hijacks = agent
        .requests()
        .await
        .iter()
        .filter(|s| s["body"].as_str().unwrap_or("").contains("hijack"))
        .count();
    if hijacks > 0 {
        failures.push(format!(
            "{hijacks} of bob's messages into alice's task reached the agent"
        ));
    }
    let _ = rpc(&gw, "alice", "CancelTask", json!({"id": id})).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// -------------------------------------------------------------------------------------------
// (f) push-notification URLs are checked against SSRF rules
// -------------------------------------------------------------------------------------------

const BAD_PUSH_URLS: [(&str, &str); 5] = [
    ("https://127.0.0.1/x", "loopback"),
    ("https://10.1.2.3/x", "private"),
    ("https://169.254.169.254/x", "link-local"),
    ("https://localhost/x", "localhost"),
    ("http://93.184.215.14/x", "plain http"),
];

/// Words one of which a refusal's message should contain for each reason.
fn reason_words(reason: &str) -> &'static [&'static str] {
    match reason {
        "plain http" => &["https", "http", "scheme", "insecure"],
        _ => &[
            "loopback",
            "private",
            "link-local",
            "link local",
            "localhost",
            "internal",
            "reserved",
            "not allowed",
            "forbidden",
            "blocked",
            "ssrf",
            "address",
            "not public",
        ],
    }
}

#[tokio::test]
async fn push_configs_to_internal_or_plain_http_urls_are_refused() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let task = create_task(&gw, "alice", "hello").await;
    let mut failures = Vec::new();
    for (url, reason) in BAD_PUSH_URLS {
        let shapes = [
            (
                "SendMessage",
                json!({"message": msg_1_0("p"),
                       "configuration": {"taskPushNotificationConfig": {"url": url}}}),
            ),
            (
                "SendStreamingMessage",
                json!({"message": msg_1_0("p"),
                       "configuration": {"taskPushNotificationConfig": {"url": url}}}),
            ),
            (
                "message/send",
                json!({"message": msg_0_3("p"),
                       "configuration": {"pushNotificationConfig": {"url": url}}}),
            ),
            (
                "CreateTaskPushNotificationConfig",
                json!({"taskId": task, "url": url}),
            ),
            (
                "tasks/pushNotificationConfig/set",
                json!({"taskId": task, "pushNotificationConfig": {"url": url}}),
            ),
        ];
        for (method, params) in shapes {
            let r = rpc(&gw, "alice", method, params).await;
            let msg = r.error_message().to_ascii_lowercase();
            let ok = r.error_code() == Some(-32602)
                && reason_words(reason).iter().any(|w| msg.contains(w));
            if !ok {
                failures.push(format!(
                    "{method} with {url} ({reason}): HTTP {} {}",
                    r.status,
                    r.text.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    let seen = agent.requests().await;
    let leaked: Vec<String> = seen
        .iter()
        .filter_map(|s| s["body"].as_str())
        .filter(|b| BAD_PUSH_URLS.iter().any(|(u, _)| b.contains(u)))
        .map(|b| b.chars().take(200).collect())
        .collect();
    assert!(
        failures.is_empty() && leaked.is_empty(),
        "not refused with -32602 and a reason:\n{}\nreached the agent:\n{}",
        failures.join("\n"),
        leaked.join("\n")
    );
}

#[tokio::test]
async fn push_config_to_a_public_https_url_is_relayed() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let task = create_task(&gw, "alice", "hello").await;
    // The agent stores push configs but has no sender: nothing leaves loopback.
    let url = "https://93.184.215.14/hook";
    let r = rpc(
        &gw,
        "alice",
        "CreateTaskPushNotificationConfig",
        json!({"taskId": task, "url": url}),
    )
    .await;
    assert_eq!(r.result("CreateTaskPushNotificationConfig")["url"], url);
    let seen = agent.requests().await;
    assert!(seen
        .iter()
        .any(|s| s["body"].as_str().unwrap_or("").contains(url)));
}

// -------------------------------------------------------------------------------------------
// (g) metrics, (h) agent down
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn a2a_requests_are_counted_by_1_0_method_name() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let id = create_task(&gw, "alice", "one").await;
    let r = rpc(
        &gw,
        "alice",
        "message/send",
        json!({"message": msg_0_3("two")}),
    )
    .await;
    r.result("message/send");
    let r = rpc(&gw, "alice", "tasks/get", json!({"id": id})).await;
    r.result("tasks/get");
    let labels = [("route", "main/echo"), ("method", "SendMessage")];
    let n = gw
        .wait_metric("switchboard_a2a_requests_total", &labels, 2.0, STEP)
        .await;
    let m = gw.metrics().await;
    let a2a: Vec<&str> = m.lines().filter(|l| l.contains("a2a")).collect();
    assert_eq!(
        n,
        2.0,
        "SendMessage count; a2a metrics:\n{}",
        a2a.join("\n")
    );
    let get = e2e::metric_value(
        &m,
        "switchboard_a2a_requests_total",
        &[("route", "main/echo"), ("method", "GetTask")],
    );
    assert_eq!(
        get,
        Some(1.0),
        "GetTask count; a2a metrics:\n{}",
        a2a.join("\n")
    );
}

#[tokio::test]
async fn agent_down_is_a_clear_502_or_503() {
    let dead = format!("127.0.0.1:{}", free_port());
    let gw = gateway_for(&dead).await;
    let r = rpc(
        &gw,
        "alice",
        "SendMessage",
        json!({"message": msg_1_0("anyone?")}),
    )
    .await;
    assert!(
        r.status == 502 || r.status == 503,
        "SendMessage to a dead agent: HTTP {} {}",
        r.status,
        r.text
    );
    assert!(!r.text.trim().is_empty(), "empty body");
    // In the caller's protocol: a JSON-RPC error that says what happened.
    let err: Value = serde_json::from_str(&r.text)
        .unwrap_or_else(|e| panic!("not a JSON-RPC error body ({e}): {}", r.text));
    assert_eq!(err["jsonrpc"], "2.0", "{err}");
    assert_eq!(err["error"]["code"], -32603, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot connect")),
        "{err}"
    );
    let c = client()
        .get(gw.url("/agents/echo/.well-known/agent-card.json"))
        .send()
        .await
        .expect("GET card");
    let status = c.status().as_u16();
    let text = c.text().await.unwrap_or_default();
    assert!(
        status == 502 || status == 503,
        "card of a dead agent: HTTP {status} {text}"
    );
    assert!(!text.trim().is_empty(), "empty body");
}
