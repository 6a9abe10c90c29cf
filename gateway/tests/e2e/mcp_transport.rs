//! MCP Streamable HTTP transport checks with raw HTTP requests against the gateway's `/mcp`:
//! `Accept` negotiation, malformed JSON and non-JSON-RPC bodies, unknown sessions, and the
//! `Origin` and `Host` checks.
//!
//! Needs `cargo build --workspace --bins` (scripts/test.sh does it).

use e2e::{client, Gateway};
use serde_json::{json, Value};

use crate::mcp::{call_ok, connect, demo_target, mcp_config, step, text};

/// A gateway with `demo` (stdio) only, for the raw HTTP tests.
async fn demo_only() -> Gateway {
    Gateway::start(&mcp_config("failOpen", &demo_target())).await
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e-raw","version":"0"}}}"#;

/// POSTs `body` to the gateway's `/mcp` with `headers`; returns (status, headers, body).
pub(crate) async fn raw_post(
    gw: &Gateway,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let mut rb = client().post(gw.url("/mcp")).body(body.to_string());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = step("POST /mcp", rb.send())
        .await
        .unwrap_or_else(|e| panic!("POST /mcp: {e}"));
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = step("POST /mcp body", r.text()).await.unwrap_or_default();
    (status, h, text)
}

/// The JSON-RPC message of a response body that is JSON or SSE (`data:` lines).
fn jsonrpc_message(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str(body) {
        return v;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC message in the body: {body:?}"))
}

const JSON: (&str, &str) = ("content-type", "application/json");
const ACCEPT_BOTH: (&str, &str) = ("accept", "application/json, text/event-stream");

#[tokio::test]
async fn raw_initialize_works_and_a_missing_accept_is_not_acceptable() {
    let gw = demo_only().await;
    // Sanity: the same request with the headers the spec requires opens a session.
    let (status, headers, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH], INITIALIZE).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers.contains_key("mcp-session-id"),
        "no Mcp-Session-Id: {headers:?}"
    );
    let msg = jsonrpc_message(&body);
    assert_eq!(msg["id"], 1, "{msg}");
    assert!(msg["result"]["protocolVersion"].is_string(), "{msg}");

    // Both types must be acceptable (`*/*`, which curl and reqwest send by default, is).
    for accept in ["text/html", "application/json", "text/event-stream"] {
        let h = vec![JSON, ("accept", accept)];
        let (status, _, body) = raw_post(&gw, &h, INITIALIZE).await;
        assert_eq!(
            status, 406,
            "Accept {accept:?}: expected 406 Not Acceptable, got {status}: {body}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_jsonrpc_parse_error() {
    let gw = demo_only().await;
    for bad in [r#"{"jsonrpc":"2.0","id":1,"method":"#, "not json at all"] {
        let (status, headers, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH], bad).await;
        assert_eq!(
            status,
            400,
            "{bad:?}: expected 400 with a JSON-RPC parse error, got {status} ({:?}): {body}",
            headers.get("content-type")
        );
        let msg: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("{bad:?}: the body is not a JSON-RPC error ({e}): {body:?}")
        });
        assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
        assert_eq!(msg["error"]["code"], -32700, "{msg}");
        assert_eq!(msg["id"], Value::Null, "{msg}");
    }
    // The gateway is still up and serving MCP (one target: names pass unchanged).
    let c = connect(&gw).await;
    let r = call_ok(&c, "echo", json!({"message": "alive"})).await;
    assert_eq!(text(&r), "alive");
    let _ = c.cancel().await;
}

#[tokio::test]
async fn json_that_is_not_jsonrpc_is_an_invalid_request() {
    let gw = demo_only().await;
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH], r#"{"hello":"world"}"#).await;
    assert_eq!(
        status, 400,
        "expected 400 with a JSON-RPC invalid-request error, got {status}: {body}"
    );
    let msg: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("the body is not a JSON-RPC error ({e}): {body:?}"));
    assert_eq!(msg["error"]["code"], -32600, "{msg}");
}

#[tokio::test]
async fn an_unknown_session_id_is_404() {
    let gw = demo_only().await;
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
    let (status, _, body) = raw_post(
        &gw,
        &[
            JSON,
            ACCEPT_BOTH,
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-session-id", "no-such-session-4f1c"),
        ],
        list,
    )
    .await;
    assert_eq!(status, 404, "unknown Mcp-Session-Id: {body}");
    // A GET (the server-to-client stream) of an unknown session is 404 too.
    let get = |method: http::Method| {
        client()
            .request(method, gw.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("mcp-session-id", "no-such-session-4f1c")
            .send()
    };
    let r = step("GET with an unknown session", get(http::Method::GET))
        .await
        .unwrap_or_else(|e| panic!("GET /mcp: {e}"));
    assert_eq!(r.status().as_u16(), 404, "GET with an unknown session");
    // DELETE of an unknown session: sessions close idempotently (the gateway answers 200, which
    // clients such as the Python SDK take as terminated); a 404 would be fine too.
    let r = step("DELETE with an unknown session", get(http::Method::DELETE))
        .await
        .unwrap_or_else(|e| panic!("DELETE /mcp: {e}"));
    assert!(
        matches!(r.status().as_u16(), 200 | 404),
        "DELETE with an unknown session: {}",
        r.status()
    );
    // A legacy HTTP+SSE message for a session whose stream is not open here: 404 with a
    // JSON-RPC error.
    let r = step(
        "POST a legacy SSE message",
        client()
            .post(gw.url("/mcp/message?sessionId=0123abcd"))
            .header("content-type", "application/json")
            .body(list)
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("POST /mcp/message: {e}"));
    assert_eq!(r.status().as_u16(), 404, "unknown SSE sessionId");
    let body: Value = r.json().await.expect("a JSON-RPC error body");
    assert_eq!(body["error"]["code"], -32600, "{body}");
}

/// Browsers' cross-origin requests are refused unless their origin is allowed; native clients
/// (no `Origin`) are not affected.
#[tokio::test]
async fn origins_are_refused_unless_allowed() {
    let gw = demo_only().await;
    let evil = ("origin", "https://evil.example");
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH, evil], INITIALIZE).await;
    assert_eq!(status, 403, "a cross-origin request by default: {body}");
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH], INITIALIZE).await;
    assert_eq!(status, 200, "no Origin: {body}");
    // A local page is a browser page too: refused unless listed.
    let local = format!("http://localhost:{}", gw.port());
    let (status, _, body) = raw_post(
        &gw,
        &[JSON, ACCEPT_BOTH, ("origin", local.as_str())],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 403, "{local}: {body}");
    let refused = gw
        .metric(
            "switchboard_mcp_refused_total",
            &[("route", "main/mcp"), ("reason", "origin")],
        )
        .await;
    assert_eq!(refused, Some(2.0), "{}", gw.metrics().await);

    let allowed = mcp_config("failOpen", &demo_target()).replace(
        "    failureMode: failOpen\n",
        "    failureMode: failOpen\n    allowedOrigins: [\"https://app.example\"]\n",
    );
    let gw = Gateway::start(&allowed).await;
    let app = ("origin", "https://app.example");
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH, app], INITIALIZE).await;
    assert_eq!(status, 200, "an allowed origin: {body}");
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH, evil], INITIALIZE).await;
    assert_eq!(status, 403, "an origin not in the list: {body}");
}

/// DNS rebinding: a page on the attacker's name, re-pointed at 127.0.0.1, still sends `Host:
/// attacker.example`. On a loopback bind (every test gateway listens on 127.0.0.1) only
/// loopback names pass by default (421 otherwise, logged and counted); `allowedHosts`
/// replaces that default with its own list.
#[tokio::test]
async fn loopback_binds_accept_only_loopback_hosts_unless_allowed_hosts_says_otherwise() {
    let gw = demo_only().await;
    let rebound = ("host", "attacker.example");
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH, rebound], INITIALIZE).await;
    assert_eq!(status, 421, "a rebound name on a loopback bind: {body}");
    assert!(body.contains("Host not allowed"), "{body}");
    let with_port = format!("attacker.example:{}", gw.port());
    let (status, _, body) = raw_post(
        &gw,
        &[JSON, ACCEPT_BOTH, ("host", with_port.as_str())],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 421, "{with_port}: {body}");
    let port = gw.port();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
    ] {
        let (status, _, body) = raw_post(
            &gw,
            &[JSON, ACCEPT_BOTH, ("host", host.as_str())],
            INITIALIZE,
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    let refused = gw
        .metric(
            "switchboard_mcp_refused_total",
            &[("route", "main/mcp"), ("reason", "host")],
        )
        .await;
    assert_eq!(refused, Some(2.0), "{}", gw.metrics().await);
    let log = gw.stderr_once(|l| l.contains("host not allowed")).await;
    assert!(
        log.contains("host not allowed"),
        "the refusal is logged: {log}"
    );

    let checked = mcp_config("failOpen", &demo_target()).replace(
        "    failureMode: failOpen\n",
        "    failureMode: failOpen\n    allowedHosts: [\"mcp.example.com\"]\n",
    );
    let gw = Gateway::start(&checked).await;
    let (status, _, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH, rebound], INITIALIZE).await;
    assert_eq!(status, 421, "{body}");
    let (status, _, body) = raw_post(
        &gw,
        &[JSON, ACCEPT_BOTH, ("host", "mcp.example.com")],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 200, "listed in allowedHosts: {body}");
    let local = format!("localhost:{}", gw.port());
    let (status, _, body) = raw_post(
        &gw,
        &[JSON, ACCEPT_BOTH, ("host", local.as_str())],
        INITIALIZE,
    )
    .await;
    assert_eq!(
        status, 421,
        "allowedHosts replaces the loopback default: {body}"
    );
}

/// Route policies that the plan places before and after the virtual MCP server apply to it:
/// the response header modifier on every answer, and `timeout.request` as a JSON-RPC error
/// when a target keeps the answer from starting.
#[tokio::test]
async fn route_header_modifiers_and_time_limit_apply_to_the_mcp_backend() {
    let routes = r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  policies: { responseHeaderModifier: { set: { x-served-by: switchboard } } }
  backends: [{ backend: tools }]
- name: slow
  matches: [{ path: { prefix: /slow } }]
  policies: { timeout: { request: 500ms } }
  backends: [{ backend: hang }]
"#;
    // `hang` runs a process that never speaks MCP, so no answer that needs it can start.
    let config = format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n{}\n- name: hang\n  mcp:\n    targets:\n    - {{ name: hang, stdio: {{ cmd: sleep, args: [\"30\"] }}, timeout: 20s }}\n",
        e2e::routes_config(routes),
        e2e::indent(&demo_target(), 4)
    );
    let gw = Gateway::start(&config).await;
    let (status, headers, body) = raw_post(&gw, &[JSON, ACCEPT_BOTH], INITIALIZE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("x-served-by").and_then(|v| v.to_str().ok()),
        Some("switchboard"),
        "{headers:?}"
    );

    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
    let mut rb = client()
        .post(gw.url("/slow"))
        .header(JSON.0, JSON.1)
        .header(ACCEPT_BOTH.0, ACCEPT_BOTH.1)
        .header("mcp-protocol-version", "2025-06-18");
    // A stateless first request: initialize on /slow, then the list on its session.
    let init = step(
        "initialize /slow",
        rb.try_clone().unwrap().body(INITIALIZE).send(),
    )
    .await
    .expect("initialize /slow");
    if let Some(session) = init.headers().get("mcp-session-id").cloned() {
        rb = rb.header("mcp-session-id", session);
    }
    let init_status = init.status().as_u16();
    let (status, text) = if init_status == 200 {
        let r = step("tools/list /slow", rb.body(list).send())
            .await
            .expect("tools/list /slow");
        let status = r.status().as_u16();
        (status, step("body", r.text()).await.unwrap_or_default())
    } else {
        (
            init_status,
            step("body", init.text()).await.unwrap_or_default(),
        )
    };
    assert_eq!(status, 504, "{text}");
    let msg = jsonrpc_message(&text);
    assert_eq!(msg["error"]["code"], -32603, "{msg}");
    assert!(
        msg["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("timeout.request")),
        "{msg}"
    );
}
