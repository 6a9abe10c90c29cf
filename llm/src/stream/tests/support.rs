//! Test support: SSE writing and reading, and small models of what the official SDKs do
//! with a client's stream.

use rand::Rng;
use serde_json::{json, Value};

/// SSE bytes of `(event name, data)` pairs; an empty name writes no `event:` line.
pub(super) fn sse(events: &[(&str, &str)], crlf: bool) -> Vec<u8> {
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    for (name, data) in events {
        if !name.is_empty() {
            out.push_str(&format!("event: {name}{nl}"));
        }
        out.push_str(&format!("data: {data}{nl}{nl}"));
    }
    out.into_bytes()
}

/// The client's events: (name, data as JSON or the `[DONE]` string), `created` blanked.
pub(super) fn parse_client(bytes: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "every event is complete: {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            let mut v = if data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(&data).unwrap()
            };
            if v.get("created").is_some() {
                v["created"] = json!(0);
            }
            (name, v)
        })
        .collect()
}

/// What the Anthropic SDKs' `accumulate_event` does: the message from `message_start`,
/// blocks appended in order (their `index` must be their position), deltas applied by
/// index, tool input JSON parsed from the concatenated fragments, usage updated from
/// `message_delta` (input and cache counts too when present).
pub(super) fn anthropic_sdk(events: &[(String, Value)]) -> Value {
    let mut msg: Option<Value> = None;
    let mut json_bufs: Vec<String> = Vec::new();
    for (name, data) in events {
        assert_eq!(
            data["type"].as_str(),
            Some(name.as_str()),
            "event name matches type"
        );
        let m = msg.as_mut();
        match name.as_str() {
            "message_start" => {
                assert!(m.is_none());
                let message = data["message"].clone();
                for key in [
                    "id",
                    "type",
                    "role",
                    "model",
                    "content",
                    "stop_reason",
                    "stop_sequence",
                    "usage",
                ] {
                    assert!(message.get(key).is_some(), "message_start has {key}");
                }
                assert!(
                    message["usage"]["input_tokens"].is_u64()
                        && message["usage"]["output_tokens"].is_u64()
                );
                msg = Some(message);
            }
            "content_block_start" => {
                let m = m.expect("message_start first");
                let content = m["content"].as_array_mut().unwrap();
                assert_eq!(
                    data["index"].as_u64().unwrap() as usize,
                    content.len(),
                    "blocks in order"
                );
                content.push(data["content_block"].clone());
                json_bufs.push(String::new());
            }
            "content_block_delta" => {
                let m = m.expect("message_start first");
                let i = data["index"].as_u64().unwrap() as usize;
                let block = &mut m["content"][i];
                match data["delta"]["type"].as_str().unwrap() {
                    "text_delta" => {
                        assert_eq!(block["type"], "text");
                        let t = block["text"].as_str().unwrap().to_string()
                            + data["delta"]["text"].as_str().unwrap();
                        block["text"] = json!(t);
                    }
                    "input_json_delta" => {
                        assert_eq!(block["type"], "tool_use");
                        json_bufs[i].push_str(data["delta"]["partial_json"].as_str().unwrap());
                    }
                    other => panic!("delta {other}"),
                }
            }
            "content_block_stop" => {
                let m = m.expect("message_start first");
                let i = data["index"].as_u64().unwrap() as usize;
                assert!(i < m["content"].as_array().unwrap().len());
            }
            "message_delta" => {
                let m = m.expect("message_start first");
                m["stop_reason"] = data["delta"]["stop_reason"].clone();
                m["usage"]["output_tokens"] = data["usage"]["output_tokens"].clone();
                for key in [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ] {
                    if let Some(n) = data["usage"].get(key) {
                        m["usage"][key] = n.clone();
                    }
                }
            }
            "message_stop" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    let mut msg = msg.expect("a message");
    for (i, buf) in json_bufs.iter().enumerate() {
        if !buf.is_empty() {
            msg["content"][i]["input"] = serde_json::from_str(buf).expect("tool input is JSON");
        }
    }
    msg
}

/// What the OpenAI SDKs' chunk accumulation does: content concatenated, tool calls merged
/// by `index` (id and name from the first delta, arguments concatenated), the finish reason
/// and the usage chunk kept; `[DONE]` last.
pub(super) fn openai_sdk(events: &[(String, Value)]) -> Value {
    let (last, chunks) = events.split_last().expect("events");
    assert_eq!(last.1, json!("[DONE]"), "[DONE] last");
    let mut content = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    for (name, chunk) in chunks {
        assert!(name.is_empty(), "no event names");
        assert_ne!(chunk, &json!("[DONE]"));
        assert!(chunk.get("error").is_none());
        assert_eq!(chunk["object"], "chat.completion.chunk");
        for key in ["id", "created", "model", "choices"] {
            assert!(chunk.get(key).is_some(), "chunk has {key}");
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            assert_eq!(
                chunk["choices"],
                json!([]),
                "usage comes in a chunk without choices"
            );
            usage = u.clone();
        }
        for choice in chunk["choices"].as_array().unwrap() {
            let delta = &choice["delta"];
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                content.push_str(t);
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let i = call["index"].as_u64().unwrap() as usize;
                if i == calls.len() {
                    assert!(call["id"].is_string() && call["function"]["name"].is_string());
                    calls.push(json!({"id": call["id"], "name": call["function"]["name"], "arguments": ""}));
                }
                let args = calls[i]["arguments"].as_str().unwrap().to_string()
                    + call["function"]["arguments"].as_str().unwrap_or("");
                calls[i]["arguments"] = json!(args);
            }
            if !choice["finish_reason"].is_null() {
                finish = choice["finish_reason"].clone();
            }
        }
    }
    json!({"content": content, "tool_calls": calls, "finish_reason": finish, "usage": usage})
}

/// Random cut points for `len` bytes.
pub(super) fn random_cuts(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<usize> {
    let n = rng.random_range(0..len.min(40) + 1);
    let mut cuts: Vec<usize> = (0..n).map(|_| rng.random_range(0..=len)).collect();
    cuts.sort_unstable();
    cuts
}
