//! Resumption (`Last-Event-ID`) of a legacy session's SSE response: a client whose stream
//! breaks mid-call reconnects with `GET` and the last event id it saw, and gets everything
//! that followed, the result included; the call itself went on meanwhile.

use std::time::Duration;

use e2e::{client, Gateway};
use serde_json::{json, Value};

use crate::mcp::step;
use crate::mcp_http::{demo_with_key, initialize, messages, KEY_A};

/// The `id:` of every event in `body`.
fn event_ids(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().to_owned())
        .collect()
}

/// Opens the call's SSE response and reads it up to the end of its first event, then drops
/// the connection; returns what was read.
async fn first_event_then_hang_up(gw: &Gateway, session: &str, call: &Value) -> String {
    let mut response = step(
        "POST the call",
        client()
            .post(gw.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(call.to_string())
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("POST: {e}"));
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut read = String::new();
    while !read.contains("\n\n") {
        let chunk = step("read the stream", response.chunk())
            .await
            .unwrap_or_else(|e| panic!("read: {e}"))
            .unwrap_or_else(|| panic!("the stream ended early: {read}"));
        read.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    read
}

/// GETs the stream after `last` and reads it to its end.
async fn resume(gw: &Gateway, session: &str, last: &str) -> (u16, String) {
    let r = step(
        "GET with Last-Event-ID",
        client()
            .get(gw.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
            .header("last-event-id", last)
            .timeout(Duration::from_secs(15))
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("GET: {e}"));
    let status = r.status().as_u16();
    (
        status,
        step("read the resumed stream", r.text())
            .await
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_broken_call_stream_is_resumed_with_last_event_id() {
    let gw = demo_with_key(KEY_A).await;
    let session = initialize(&gw).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "count", "arguments": {"n": 5, "delayMs": 200}, "_meta": {"progressToken": "p"}}});
    let first = first_event_then_hang_up(&gw, &session, &call).await;
    let first_msgs = messages(&first);
    assert_eq!(first_msgs.len(), 1, "{first}");
    assert_eq!(first_msgs[0]["params"]["progress"], 1.0, "{first}");
    let ids = event_ids(&first);
    assert_eq!(ids.len(), 1, "every event carries an id: {first}");

    // Meanwhile the call goes on; the resumed stream has the rest, then ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, rest) = resume(&gw, &session, &ids[0]).await;
    assert_eq!(status, 200, "{rest}");
    let msgs = messages(&rest);
    let progress: Vec<f64> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .filter_map(|m| m["params"]["progress"].as_f64())
        .collect();
    assert_eq!(
        progress,
        [2.0, 3.0, 4.0, 5.0],
        "nothing missed, nothing twice: {rest}"
    );
    let result = msgs.last().unwrap_or_else(|| panic!("no messages: {rest}"));
    assert_eq!(result["id"], 7, "{rest}");
    assert_eq!(
        result["result"]["content"][0]["text"], "counted 5",
        "{rest}"
    );
    let rest_ids = event_ids(&rest);
    assert_eq!(rest_ids.len(), 5, "{rest}");
    assert!(!rest_ids.contains(&ids[0]), "{rest}");

    // The stream is kept for a while after its end: resuming again replays the result.
    let (status, again) = resume(&gw, &session, &rest_ids[3]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(messages(&again).len(), 1, "{again}");

    // Another session cannot read it; a made-up id is refused clearly.
    let other = initialize(&gw).await;
    let (status, refused) = resume(&gw, &other, &ids[0]).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("not kept here"), "{refused}");
    let (status, refused) = resume(&gw, &session, "garbage").await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("not an event id"), "{refused}");
}
