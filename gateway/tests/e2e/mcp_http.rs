//! The MCP endpoint's HTTP contract: sealed sessions served by any replica with the same
//! `sessionKey`, the modern (2026-07-28) stateless era and its header rules, and progress
//! relayed on an SSE response before the result. Raw HTTP where the wire matters, the rmcp
//! client in both lifecycle modes where behaviour does.

use std::sync::{Arc, Mutex};

use e2e::{client, with_settings, Gateway};
use rmcp::model::{CallToolRequestParams, ProgressNotificationParam, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ClientHandler;
use serde_json::{json, Value};

use crate::mcp::{demo_target, mcp_config, step};
use crate::mcp_transport::raw_post;

pub(crate) const KEY_A: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const KEY_B: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const MODERN: &str = "2026-07-28";

/// A gateway serving the stdio demo target at `/mcp`, sealing sessions with `key`.
pub(crate) async fn demo_with_key(key: &str) -> Gateway {
    let config = mcp_config("failOpen", &demo_target());
    Gateway::start(&with_settings(&format!("sessionKey: \"{key}\"\n"), &config)).await
}

/// POSTs `body` to `/mcp` as JSON accepting JSON or SSE, plus `headers`; returns (status,
/// headers, body).
async fn post(
    gw: &Gateway,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, http::HeaderMap, String) {
    let mut all = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    raw_post(gw, &all, &body.to_string()).await
}

/// Every JSON-RPC message of a JSON or SSE body, in order.
pub(crate) fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .collect()
}

/// The last message of a body (the response).
fn response(body: &str) -> Value {
    messages(body)
        .pop()
        .unwrap_or_else(|| panic!("no JSON-RPC message in {body:?}"))
}

/// Opens a legacy session on `gw`; returns its id.
pub(crate) async fn initialize(gw: &Gateway) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"}}});
    let (status, headers, body) = post(gw, &[], &init).await;
    assert_eq!(status, 200, "initialize: {body}");
    headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no session id: {headers:?}"))
        .to_owned()
}

fn echo_call(id: u64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"message": message}}})
}

async fn legacy_call(gw: &Gateway, session: &str, body: &Value) -> (u16, String) {
    let h = [
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let (status, _, body) = post(gw, &h, body).await;
    (status, body)
}

/// Two gateway processes with the same `sessionKey` serve each other's sessions (as replicas
/// behind a round-robin balancer do); one with another key refuses them, and a DELETE ends the
/// session on the replica that got it.
#[tokio::test]
async fn a_session_made_on_one_replica_is_served_by_another() {
    let a = demo_with_key(KEY_A).await;
    let b = demo_with_key(KEY_A).await;
    let other = demo_with_key(KEY_B).await;
    let session = initialize(&a).await;

    let (status, body) = legacy_call(&b, &session, &echo_call(2, "via b")).await;
    assert_eq!(status, 200, "replica b: {body}");
    let r = response(&body);
    assert_eq!(r["result"]["content"][0]["text"], "via b", "{r}");
    assert!(
        r["result"].get("resultType").is_none(),
        "legacy results have no resultType: {r}"
    );

    let (status, body) = legacy_call(&a, &session, &echo_call(3, "via a")).await;
    assert_eq!(status, 200, "replica a: {body}");
    assert_eq!(response(&body)["result"]["content"][0]["text"], "via a");

    let (status, body) = legacy_call(&other, &session, &echo_call(4, "x")).await;
    assert_eq!(
        status, 404,
        "a gateway with another key must not open the session: {body}"
    );

    let r = step(
        "DELETE the session",
        client()
            .delete(a.url("/mcp"))
            .header("mcp-session-id", &session)
            .send(),
    )
    .await
    .expect("DELETE");
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = legacy_call(&a, &session, &echo_call(5, "x")).await;
    assert_eq!(
        status, 404,
        "a deleted session is gone on the replica that deleted it: {body}"
    );

    // A request without a session (and not modern) is 400, as the spec says.
    let (status, _, body) = post(
        &a,
        &[("mcp-protocol-version", "2025-06-18")],
        &echo_call(6, "x"),
    )
    .await;
    assert_eq!(status, 400, "no session id: {body}");
}

/// `sessionMaxAge` bounds a session's life: within it calls work, after it the id is 404 and a
/// new `initialize` gives a working session again.
#[tokio::test]
async fn sessions_end_after_session_max_age() {
    let config = mcp_config("failOpen", &demo_target()).replace(
        "    failureMode: failOpen\n",
        "    failureMode: failOpen\n    sessionMaxAge: 2s\n",
    );
    assert!(config.contains("sessionMaxAge"), "{config}");
    let gw = Gateway::start(&config).await;
    let session = initialize(&gw).await;
    let (status, body) = legacy_call(&gw, &session, &echo_call(2, "fresh")).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let (status, body) = legacy_call(&gw, &session, &echo_call(3, "stale")).await;
    assert_eq!(status, 404, "an expired session: {body}");
    assert!(body.contains("expired"), "the error says why: {body}");
    let again = initialize(&gw).await;
    let (status, body) = legacy_call(&gw, &again, &echo_call(4, "again")).await;
    assert_eq!(status, 200, "{body}");
}

/// `_meta` a modern request carries.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "0"}
    })
}

fn modern(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = modern_meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

async fn modern_post(
    gw: &Gateway,
    method: &str,
    name: Option<&str>,
    body: &Value,
) -> (u16, http::HeaderMap, String) {
    let mut h = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    post(gw, &h, body).await
}

/// A 2026-07-28 client needs no session: discover, list and call are each one POST, and the
/// results carry `resultType` and the caching hints.
#[tokio::test]
async fn modern_requests_are_served_without_a_session() {
    let gw = demo_with_key(KEY_A).await;
    let (status, headers, body) = modern_post(
        &gw,
        "server/discover",
        None,
        &modern(1, "server/discover", json!({})),
    )
    .await;
    assert_eq!(status, 200, "discover: {body}");
    assert!(
        !headers.contains_key("mcp-session-id"),
        "no session in the modern era"
    );
    let r = response(&body)["result"].clone();
    let versions: Vec<&str> = r["supportedVersions"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(
        versions.contains(&MODERN) && versions.contains(&"2025-06-18"),
        "{r}"
    );
    assert!(r["capabilities"]["tools"].is_object(), "{r}");
    assert_eq!(r["resultType"], "complete", "{r}");

    let (status, _, body) =
        modern_post(&gw, "tools/list", None, &modern(2, "tools/list", json!({}))).await;
    assert_eq!(status, 200, "tools/list: {body}");
    let r = response(&body)["result"].clone();
    assert_eq!(r["resultType"], "complete", "{r}");
    assert_eq!(r["ttlMs"], 0, "{r}");
    assert_eq!(r["cacheScope"], "private", "{r}");
    assert!(
        r["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{r}"
    );

    let call = modern(
        3,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "stateless"}}),
    );
    let (status, _, body) = modern_post(&gw, "tools/call", Some("echo"), &call).await;
    assert_eq!(status, 200, "tools/call: {body}");
    let r = response(&body)["result"].clone();
    assert_eq!(r["content"][0]["text"], "stateless", "{r}");
    assert_eq!(r["resultType"], "complete", "{r}");

    // No GET stream and no sessions in this era.
    let r = step(
        "GET /mcp",
        client()
            .get(gw.url("/mcp"))
            .header("accept", "text/event-stream")
            .send(),
    )
    .await
    .expect("GET");
    assert_eq!(r.status().as_u16(), 405);
}

/// Modern requests that break the transport's header rules get the spec's codes and statuses.
#[tokio::test]
async fn modern_requests_with_bad_headers_get_the_specs_errors() {
    let gw = demo_with_key(KEY_A).await;
    let call = modern(
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "x"}}),
    );
    let expect = |(status, _, body): (u16, http::HeaderMap, String),
                  want_status: u16,
                  want_code: i64,
                  what: &str| {
        assert_eq!(status, want_status, "{what}: {body}");
        let r = response(&body);
        assert_eq!(r["error"]["code"], want_code, "{what}: {r}");
        r
    };
    // Mcp-Name missing, or naming another tool than the body.
    expect(
        modern_post(&gw, "tools/call", None, &call).await,
        400,
        -32020,
        "no Mcp-Name",
    );
    expect(
        modern_post(&gw, "tools/call", Some("pid"), &call).await,
        400,
        -32020,
        "wrong Mcp-Name",
    );
    // Mcp-Method contradicting the body.
    expect(
        modern_post(&gw, "tools/list", Some("echo"), &call).await,
        400,
        -32020,
        "wrong Mcp-Method",
    );
    // The header version must equal _meta's.
    let h = [
        ("mcp-protocol-version", "2025-11-25"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    expect(
        post(&gw, &h, &call).await,
        400,
        -32020,
        "version header mismatch",
    );
    // A version nobody knows.
    let mut future = call.clone();
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let h = [
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    let r = expect(
        post(&gw, &h, &future).await,
        400,
        -32022,
        "unsupported version",
    );
    assert!(
        r["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!(MODERN))),
        "{r}"
    );
    // The required _meta keys.
    let mut bare = call.clone();
    bare["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": MODERN});
    expect(
        modern_post(&gw, "tools/call", Some("echo"), &bare).await,
        400,
        -32602,
        "no clientCapabilities",
    );
    // An unknown method is 404 with -32601 (which tells it from a lost legacy session).
    let odd = modern(2, "tools/frobnicate", json!({}));
    expect(
        modern_post(&gw, "tools/frobnicate", None, &odd).await,
        404,
        -32601,
        "unknown method",
    );
    // An unknown tool is -32602 in a 200.
    let unknown = modern(3, "tools/call", json!({"name": "nope", "arguments": {}}));
    expect(
        modern_post(&gw, "tools/call", Some("nope"), &unknown).await,
        200,
        -32602,
        "unknown tool",
    );
    // Batches were removed from the protocol.
    let (status, _, body) = post(&gw, &[], &json!([echo_call(1, "a"), echo_call(2, "b")])).await;
    assert_eq!(status, 400, "batch: {body}");
    assert_eq!(response(&body)["error"]["code"], -32600, "{body}");
}

/// A tool's progress reaches the client on the call's SSE response, before the result, in both
/// eras; a call without a progress token gets a plain JSON answer.
#[tokio::test]
async fn progress_arrives_on_the_sse_response_before_the_result() {
    let gw = demo_with_key(KEY_A).await;
    let session = initialize(&gw).await;
    let count = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "count", "arguments": {"n": 3, "delayMs": 50}, "_meta": {"progressToken": "tok-1"}}});
    let h = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let (status, headers, body) = post(&gw, &h, &count).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream"),
        "{body}"
    );
    let msgs = messages(&body);
    assert_eq!(
        msgs.len(),
        4,
        "3 progress notifications and the result: {body}"
    );
    for (i, m) in msgs[..3].iter().enumerate() {
        assert_eq!(m["method"], "notifications/progress", "{m}");
        assert_eq!(
            m["params"]["progressToken"], "tok-1",
            "the client's own token: {m}"
        );
        assert_eq!(m["params"]["progress"], (i + 1) as f64, "{m}");
    }
    assert_eq!(msgs[3]["id"], 7);
    assert_eq!(msgs[3]["result"]["content"][0]["text"], "counted 3");

    // Modern era: the same on a stateless request.
    let mut modern_count = modern(
        8,
        "tools/call",
        json!({"name": "count", "arguments": {"n": 2, "delayMs": 20}}),
    );
    modern_count["params"]["_meta"]["progressToken"] = json!(99);
    let (status, _, body) = modern_post(&gw, "tools/call", Some("count"), &modern_count).await;
    assert_eq!(status, 200, "{body}");
    let msgs = messages(&body);
    assert_eq!(msgs.len(), 3, "{body}");
    assert_eq!(msgs[0]["params"]["progressToken"], 99, "{body}");
    assert_eq!(msgs[2]["result"]["resultType"], "complete", "{body}");

    // No progress token: JSON.
    let (_, headers, body) = post(&gw, &h, &echo_call(9, "plain")).await;
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{body}"
    );
}

/// Records progress notifications as the client receives them.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().expect("lock").push(params.progress);
    }
}

/// The rmcp client in both lifecycle modes, `initialize` (legacy) and `server/discover`
/// (modern), lists and calls through the gateway and sees progress before the result.
#[tokio::test]
async fn the_rmcp_client_works_in_both_eras() {
    let gw = demo_with_key(KEY_A).await;
    let modes = [
        ("legacy", ClientLifecycleMode::Initialize),
        (
            "modern",
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    ];
    for (label, mode) in modes {
        let recorder = Recorder::default();
        let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
        let c = step(
            label,
            recorder.clone().serve_with_lifecycle(transport, mode),
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: connect: {e}\n{}", gw.stderr()));
        let tools = step(label, c.list_all_tools())
            .await
            .unwrap_or_else(|e| panic!("{label}: list: {e}"));
        assert!(
            tools.iter().any(|t| t.name == "count"),
            "{label}: {tools:?}"
        );
        let args = json!({"n": 3, "delayMs": 30});
        let params = CallToolRequestParams::new("count")
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        let r = step(label, c.call_tool(params))
            .await
            .unwrap_or_else(|e| panic!("{label}: call: {e}"));
        let text = r
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone());
        assert_eq!(text.as_deref(), Some("counted 3"), "{label}: {r:?}");
        let seen = recorder.progress.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![1.0, 2.0, 3.0],
            "{label}: progress before the result"
        );
        let _ = c.cancel().await;
    }
}

/// A client that gives up before the response begins still gets its access-log line (status
/// 499, incomplete) and the call is cancelled at the target: nothing vanishes silently.
#[tokio::test]
async fn a_call_abandoned_before_the_response_is_logged_and_cancelled() {
    let gw = demo_with_key(KEY_A).await;
    let session = initialize(&gw).await;
    let slow = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "count", "arguments": {"n": 30, "delayMs": 100}}});
    let abandoned = client()
        .post(gw.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .timeout(std::time::Duration::from_millis(300))
        .body(slow.to_string())
        .send()
        .await;
    assert!(abandoned.is_err(), "the client timed out: {abandoned:?}");
    let wanted = "status=499";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gw.stderr().contains(wanted) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = gw.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(wanted))
        .unwrap_or_else(|| panic!("no access-log line with {wanted}:\n{log}"));
    assert!(line.contains("complete=false"), "{line}");
    assert!(line.contains(r#"mcp.method="tools/call""#), "{line}");
    assert!(line.contains("went away"), "{line}");
}
