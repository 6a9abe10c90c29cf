//! A2A relay (`policies.a2a`) in front of the official Python a2a-sdk 1.3.0 agent
//! (`tests/python/a2a_agent.py`), driven by the a2a-sdk client (`tests/python/a2a_client.py`)
//! and by raw JSON-RPC requests: card rewriting, send/get/cancel, metrics and an agent that is
//! down. Also the helpers the other `a2a_*` test files share; streaming is tested in
//! `a2a_streaming.rs`, bad input, task ownership and push-notification URLs in
//! `a2a_security.rs`.
//!
//! Needs `python3 -m pip install -r tests/requirements.txt` (the tests fail without it).

use std::time::{Duration, Instant};

use e2e::a2a::{run_client, A2aAgent, AgentMode, ClientRun};
use e2e::{client, fill, routes_config, Gateway};
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
pub(crate) const JSONRPC: &str = "/a2a/jsonrpc";

/// A gateway whose routes point at `agent_host`.
async fn gateway_for(agent_host: &str) -> Gateway {
    let routes = fill(ROUTES, &[("agent".to_string(), agent_host.to_string())]);
    Gateway::start(&routes_config(&routes)).await
}

/// An agent in `mode` behind a gateway.
pub(crate) async fn setup(mode: AgentMode) -> (A2aAgent, Gateway) {
    let agent = A2aAgent::start(mode).await;
    let gw = gateway_for(&agent.host()).await;
    (agent, gw)
}

/// `http://127.0.0.1:GWPORT/agents/echo`: the base URL clients resolve the card from.
pub(crate) fn base(gw: &Gateway) -> String {
    gw.url("/agents/echo")
}

/// A JSON-RPC reply: HTTP status, headers and the JSON body (an SSE answer yields its first
/// event's data).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn error_code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    pub(crate) fn error_message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON-RPC error code, panicking with the reply when there is none.
    pub(crate) fn expect_error(&self, what: &str) -> i64 {
        self.error_code().unwrap_or_else(|| {
            panic!(
                "{what}: expected a JSON-RPC error, got HTTP {} {}",
                self.status, self.text
            )
        })
    }

    /// The JSON-RPC result, panicking with the reply when there is none.
    pub(crate) fn result(&self, what: &str) -> &Value {
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
pub(crate) async fn post_raw(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
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
pub(crate) async fn rpc(gw: &Gateway, caller: &str, method: &str, params: Value) -> Reply {
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

pub(crate) fn msg_1_0(text: &str) -> Value {
    json!({"messageId": uuid(), "role": "ROLE_USER", "parts": [{"text": text}]})
}

pub(crate) fn msg_0_3(text: &str) -> Value {
    json!({"kind": "message", "messageId": uuid(), "role": "user",
           "parts": [{"kind": "text", "text": text}]})
}

/// A unique enough id for messages.
pub(crate) fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("m-{nanos}-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// `SendMessage` (1.0) as `caller`, non-blocking when `text` is "slow"; the task id.
pub(crate) async fn create_task(gw: &Gateway, caller: &str, text: &str) -> String {
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
// (b) the a2a-sdk client through the gateway: send, get, cancel, both versions
// -------------------------------------------------------------------------------------------

/// The client resolved the card through the gateway and kept only gateway URLs.
pub(crate) fn assert_gateway_interfaces(run: &ClientRun, gw: &Gateway) {
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

pub(crate) fn state(v: &Value) -> &str {
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

    // A long task (~60 s at the agent) is cancelled through the gateway.
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
    let (dead_port, _dead_socket) = e2e::refused_port();
    let dead = format!("127.0.0.1:{dead_port}");
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
