//! A2A relay streaming: the a2a-sdk client's streams (JSON-RPC and HTTP+JSON bindings) and raw
//! SSE responses arrive event by event, and the A2A-Version / A2A-Extensions headers pass both
//! ways.
//!
//! Needs `python3 -m pip install -r tests/requirements.txt` (the tests fail without it).

use std::time::{Duration, Instant};

use e2e::a2a::{run_client, AgentMode};
use e2e::client;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::a2a::{
    assert_gateway_interfaces, base, msg_0_3, msg_1_0, post_raw, rpc, setup, state, JSONRPC,
};
use crate::STEP;

// -------------------------------------------------------------------------------------------
// (b) the a2a-sdk client through the gateway: streams, both versions
// -------------------------------------------------------------------------------------------

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
