//! The OpenAI chat completions wire format, as the fake provider emits it: the JSON completion,
//! the `data: {chunk}` stream ending in `data: [DONE]` (with a final usage chunk, empty
//! `choices`, only when the request asked `stream_options.include_usage`), and the error object.
//!
//! Shapes follow OpenAI's API reference (chat object, chat chunk object, error codes).

use serde_json::{json, Value};

use super::{Frame, Reply};

/// `created` in every object: a fixed time, so recorded outputs compare.
const CREATED: u64 = 1_767_225_600;

/// The `usage` object.
pub fn usage(r: &Reply) -> Value {
    json!({
        "prompt_tokens": r.input_tokens,
        "completion_tokens": r.output_tokens,
        "total_tokens": r.input_tokens + r.output_tokens,
        "prompt_tokens_details": { "cached_tokens": r.cached_tokens, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn finish_reason(r: &Reply) -> &'static str {
    if r.tool_call.is_some() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// The non-streamed `chat.completion` object.
pub fn completion(r: &Reply, id: &str, model: &str) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if r.text.is_empty() { Value::Null } else { Value::from(r.text.clone()) },
        "refusal": null,
        "annotations": []
    });
    if let Some(tc) = &r.tool_call {
        message["tool_calls"] = json!([{
            "id": tc.id,
            "type": "function",
            "function": { "name": tc.name, "arguments": tc.arguments.to_string() }
        }]);
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(r)
        }],
        "usage": usage(r),
        "service_tier": "default",
        "system_fingerprint": "fp_fake"
    })
}

/// One `data:` line with a blank line after it.
fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// The streamed chunks: a role chunk, one chunk per text token, the tool call (its id and name,
/// then its arguments in pieces), a chunk with `finish_reason`, the usage chunk when
/// `include_usage`, then `data: [DONE]`. Token frames are the text and argument chunks.
pub fn stream(r: &Reply, id: &str, model: &str, include_usage: bool) -> Vec<Frame> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut frames = vec![Frame::other(data(&chunk(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        Value::Null,
    )))];
    for t in r.text_tokens() {
        frames.push(Frame::token(data(&chunk(
            json!({ "content": t }),
            Value::Null,
        ))));
    }
    if let Some(tc) = &r.tool_call {
        frames.push(Frame::other(data(&chunk(
            json!({ "tool_calls": [{
                "index": 0,
                "id": tc.id,
                "type": "function",
                "function": { "name": tc.name, "arguments": "" }
            }] }),
            Value::Null,
        ))));
        for piece in tc.argument_pieces() {
            frames.push(Frame::token(data(&chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
                Value::Null,
            ))));
        }
    }
    frames.push(Frame::other(data(&chunk(
        json!({}),
        Value::from(finish_reason(r)),
    ))));
    if include_usage {
        let mut last = chunk(json!({}), Value::Null);
        last["choices"] = json!([]);
        last["usage"] = usage(r);
        frames.push(Frame::other(data(&last)));
    }
    frames.push(Frame::other("data: [DONE]\n\n".to_string()));
    frames
}

/// The error object for an HTTP status (OpenAI's `type` and `code` for it).
pub fn error(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", Value::from("invalid_api_key")),
        404 => ("invalid_request_error", Value::from("model_not_found")),
        429 => ("requests", Value::from("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

/// An error sent as a `data:` line in the middle of a stream (what OpenAI-compatible servers
/// send when generation fails after the headers).
pub fn stream_error(message: &str) -> String {
    data(&error(500, message))
}

/// A chunk cut in the middle of its JSON.
pub fn malformed() -> String {
    "data: {\"id\":\"chatcmpl-broken\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":\n\n"
        .to_string()
}

/// The `GET /v1/models` list.
pub fn models(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": CREATED, "owned_by": "fake" }))
        .collect();
    json!({ "object": "list", "data": data })
}
