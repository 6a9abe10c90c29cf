//! The fake provider emits exactly the documented shapes, and its faults do what they say.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

/// The JSON of each `data:` line of an SSE text, with the event name of its frame.
fn sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut event = None;
            let mut data = String::new();
            for line in f.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

fn joined(frames: &[Frame]) -> String {
    frames.iter().map(|f| f.text.as_str()).collect()
}

#[test]
fn text_tokens_keep_their_spaces() {
    let r = Reply {
        text: "Hello  big world.".into(),
        ..Reply::default()
    };
    assert_eq!(r.text_tokens(), ["Hello", "  big", " world."]);
    assert_eq!(r.text_tokens().concat(), r.text);
}

#[test]
fn openai_stream_with_usage_ends_in_a_usage_chunk_then_done() {
    let r = Reply::with_tool("Let me look.", "get_weather", json!({"location": "Paris"}));
    let frames = sse(&joined(&openai::stream(&r, "chatcmpl-1", "m", true)));
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    assert!(frames.iter().all(|(e, _)| e.is_none()), "no event names");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-1");
        assert!(c.get("usage").is_some(), "usage (null) on every chunk: {c}");
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 11);
    assert_eq!(last["usage"]["completion_tokens"], 7);
    assert_eq!(last["usage"]["total_tokens"], 18);
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "tool_calls");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Let me look.");
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], "call_fake_1");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "Paris"})
    );
    assert!(calls.len() >= 3, "arguments come in pieces");
}

#[test]
fn openai_stream_without_usage_has_no_usage_at_all() {
    let text = joined(&openai::stream(&Reply::default(), "c", "m", false));
    assert!(!text.contains("usage"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn openai_completion_shape() {
    let r = Reply::with_tool("", "get_weather", json!({"location": "Paris"}));
    let c = openai::completion(&r, "chatcmpl-1", "m");
    assert_eq!(c["object"], "chat.completion");
    let m = &c["choices"][0]["message"];
    assert_eq!(m["content"], Value::Null);
    assert_eq!(
        m["tool_calls"][0]["function"]["arguments"], r#"{"location":"Paris"}"#,
        "arguments are a JSON string"
    );
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn anthropic_stream_is_the_documented_event_sequence() {
    let mut r = Reply::with_tool("Let me look.", "get_weather", json!({"location": "Paris"}));
    r.cached_tokens = 3;
    let frames = sse(&joined(&anthropic::stream(&r, "msg_1", "m")));
    let names: Vec<&str> = frames.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let mut want = vec!["message_start", "content_block_start", "ping"];
    want.extend(std::iter::repeat_n("content_block_delta", 3));
    want.extend(["content_block_stop", "content_block_start"]);
    want.extend(std::iter::repeat_n("content_block_delta", 3));
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, want);
    let data: Vec<Value> = frames
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for ((name, _), d) in frames.iter().zip(&data) {
        assert_eq!(
            d["type"],
            name.as_deref().unwrap(),
            "type matches the event name"
        );
    }
    let start = &data[0]["message"];
    assert_eq!(start["usage"]["input_tokens"], 11);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 3);
    assert_eq!(start["usage"]["output_tokens"], 1);
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"], json!({"output_tokens": 7}));
    let tool_start = &data[7];
    assert_eq!(tool_start["index"], 1);
    assert_eq!(tool_start["content_block"]["type"], "tool_use");
    assert_eq!(tool_start["content_block"]["input"], json!({}));
    let partial: String = data
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"location": "Paris"})
    );
}

#[test]
fn anthropic_full_delta_usage_repeats_input_and_cache() {
    let r = Reply {
        full_delta_usage: true,
        cached_tokens: 2,
        ..Reply::default()
    };
    let frames = sse(&joined(&anthropic::stream(&r, "msg_1", "m")));
    let (_, d) = frames
        .iter()
        .find(|(e, _)| e.as_deref() == Some("message_delta"))
        .unwrap();
    let d: Value = serde_json::from_str(d).unwrap();
    assert_eq!(d["usage"]["input_tokens"], 11);
    assert_eq!(d["usage"]["cache_read_input_tokens"], 2);
    assert_eq!(d["usage"]["output_tokens"], 7);
}

#[test]
fn error_objects_are_each_formats_own() {
    let o = openai::error(429, "slow down");
    assert_eq!(o["error"]["code"], "rate_limit_exceeded");
    assert_eq!(o["error"]["message"], "slow down");
    let a = anthropic::error(429, "slow down");
    assert_eq!(a["type"], "error");
    assert_eq!(a["error"]["type"], "rate_limit_error");
    assert_eq!(anthropic::error(503, "x")["error"]["type"], "api_error");
}

async fn post(p: &FakeLlm, path: &str, body: Value) -> reqwest::Response {
    crate::client()
        .post(format!("{}{path}", p.base()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-x", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn scripted_steps_apply_in_order_then_the_default() {
    let p = FakeLlm::start("p").await;
    p.script([
        Step::RateLimited {
            retry_after: Some("7".into()),
        },
        Step::RateLimited { retry_after: None },
        Step::Unavailable,
    ]);
    let r = post(&p, "/v1/messages", json!({"model": "c", "max_tokens": 5})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let r = post(&p, "/v1/chat/completions", chat(false)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    let r = post(&p, "/v1/chat/completions", chat(false)).await;
    assert_eq!(r.status(), 503);
    let r = post(&p, "/v1/chat/completions", chat(false)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "gpt-x", "echoes the requested model");
    assert_eq!(body["id"], "chatcmpl-p-4");
    p.set_default(Step::Status(500));
    assert_eq!(post(&p, "/v1/messages", json!({})).await.status(), 500);
    let seen = p.generations();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].path(), "/v1/messages");
    assert_eq!(seen[1].json["messages"][0]["content"], "hi");
}

#[tokio::test]
async fn cut_after_n_tokens_drops_the_connection() {
    let p = FakeLlm::start("p").await;
    p.script([Step::CutAfter(2)]);
    let r = post(&p, "/v1/chat/completions", chat(true)).await;
    assert_eq!(r.status(), 200);
    let mut got = Vec::new();
    let mut stream = r.bytes_stream();
    use futures_util::StreamExt as _;
    let mut failed = false;
    while let Some(c) = stream.next().await {
        match c {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body ends in an error");
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("\"content\":\"").count(), 1 + 2, "{text}");
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn stall_after_n_tokens_sends_nothing_more() {
    let p = FakeLlm::start("p").await;
    p.script([Step::StallAfter(1)]);
    let r = post(
        &p,
        "/v1/messages",
        json!({"model": "c", "max_tokens": 5, "stream": true}),
    )
    .await;
    use futures_util::StreamExt as _;
    let mut stream = r.bytes_stream();
    let mut got = String::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(400), stream.next()).await {
            Ok(Some(Ok(b))) => got.push_str(&String::from_utf8_lossy(&b)),
            Ok(other) => panic!("the stream ended: {other:?}\n{got}"),
            Err(_) => break,
        }
    }
    assert_eq!(got.matches("text_delta").count(), 1, "{got}");
    assert!(!got.contains("message_stop"));
}

#[tokio::test]
async fn malformed_and_error_events_then_what_follows() {
    let p = FakeLlm::start("p").await;
    p.script([Step::MalformedAfter(1), Step::ErrorAfter(1)]);
    let body = json!({"model": "c", "max_tokens": 5, "stream": true});
    let text = post(&p, "/v1/messages", body.clone())
        .await
        .text()
        .await
        .unwrap();
    let frames = sse(&text);
    let bad: Vec<_> = frames
        .iter()
        .filter(|(_, d)| serde_json::from_str::<Value>(d).is_err())
        .collect();
    assert_eq!(bad.len(), 1, "one malformed frame: {text}");
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    let text = post(&p, "/v1/messages", body).await.text().await.unwrap();
    let last = sse(&text).pop().unwrap();
    assert_eq!(last.0.as_deref(), Some("error"));
    let e: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(e["error"]["type"], "overloaded_error");
    assert_eq!(text.matches("text_delta").count(), 1);
}

#[tokio::test]
async fn models_and_count_tokens() {
    let p = FakeLlm::start("p").await;
    p.set_models(&["a", "b"]);
    let r = crate::client()
        .get(format!("{}/models", p.v1()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][1]["id"], "b");
    let v: Value = post(&p, "/v1/messages/count_tokens", json!({"model": "c"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"input_tokens": 11}));
    let metrics = format!("{}/metrics", p.base());
    let r = crate::client().get(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 404);
    p.set_metrics(Some(llamacpp_metrics(2, 1, 0.25)));
    let text = crate::client()
        .get(&metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        crate::metric_value(&text, "llamacpp:requests_processing", &[]),
        Some(2.0)
    );
    assert_eq!(
        crate::metric_value(&text, "llamacpp:requests_deferred", &[]),
        Some(1.0)
    );
    assert_eq!(
        crate::metric_value(&text, "llamacpp:kv_cache_usage_ratio", &[]),
        Some(0.25)
    );
}
