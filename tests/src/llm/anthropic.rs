//! The Anthropic Messages wire format, as the fake provider emits it: the JSON message, the
//! named SSE event sequence (`message_start` with the input usage, `content_block_start` /
//! `content_block_delta` (`text_delta`, `input_json_delta`) / `content_block_stop`, a `ping`,
//! `message_delta` with the stop reason and output usage, `message_stop`), the `error` event
//! and the error object.
//!
//! Shapes follow Anthropic's Messages API reference ("Streaming Messages", "Errors").

use serde_json::{json, Value};

use super::{Frame, Reply};

fn stop_reason(r: &Reply) -> &'static str {
    if r.tool_call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

/// The full `usage` object of a message.
pub fn usage(r: &Reply) -> Value {
    json!({
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": r.cached_tokens,
        "service_tier": "standard"
    })
}

/// The non-streamed message.
pub fn message(r: &Reply, id: &str, model: &str) -> Value {
    let mut content = Vec::new();
    if !r.text.is_empty() {
        content.push(json!({ "type": "text", "text": r.text }));
    }
    if let Some(tc) = &r.tool_call {
        content.push(json!({
            "type": "tool_use", "id": tc.id, "name": tc.name, "input": tc.arguments
        }));
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(r),
        "stop_sequence": null,
        "usage": usage(r)
    })
}

/// One named event.
fn event(name: &str, v: &Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// The streamed events. `message_start` carries the input (and cache) usage with
/// `output_tokens: 1`; `message_delta` carries the output usage, and also the input and cache
/// usage when `Reply::full_delta_usage` (as the API does since 2025). Token frames are the
/// `text_delta` and `input_json_delta` events.
pub fn stream(r: &Reply, id: &str, model: &str) -> Vec<Frame> {
    let mut start_usage = usage(r);
    start_usage["output_tokens"] = json!(1);
    let mut frames = vec![Frame::other(event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage
            }
        }),
    ))];
    let mut index = 0;
    if !r.text.is_empty() {
        frames.push(Frame::other(event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index,
                     "content_block": { "type": "text", "text": "" } }),
        )));
        frames.push(Frame::other(event("ping", &json!({ "type": "ping" }))));
        for t in r.text_tokens() {
            frames.push(Frame::token(event(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index,
                         "delta": { "type": "text_delta", "text": t } }),
            )));
        }
        frames.push(Frame::other(event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        )));
        index += 1;
    }
    if let Some(tc) = &r.tool_call {
        frames.push(Frame::other(event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index,
                     "content_block": { "type": "tool_use", "id": tc.id, "name": tc.name,
                                        "input": {} } }),
        )));
        for piece in tc.argument_pieces() {
            frames.push(Frame::token(event(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index,
                         "delta": { "type": "input_json_delta", "partial_json": piece } }),
            )));
        }
        frames.push(Frame::other(event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        )));
    }
    let delta_usage = if r.full_delta_usage {
        json!({
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": r.cached_tokens
        })
    } else {
        json!({ "output_tokens": r.output_tokens })
    };
    frames.push(Frame::other(event(
        "message_delta",
        &json!({ "type": "message_delta",
                 "delta": { "stop_reason": stop_reason(r), "stop_sequence": null },
                 "usage": delta_usage }),
    )));
    frames.push(Frame::other(event(
        "message_stop",
        &json!({ "type": "message_stop" }),
    )));
    frames
}

/// Anthropic's error `type` for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The error object for an HTTP status.
pub fn error(status: u16, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "type": error_type(status), "message": message },
        "request_id": "req_fake"
    })
}

/// The `error` event sent in the middle of a stream (`overloaded_error`, as the API does).
pub fn stream_error(message: &str) -> String {
    event(
        "error",
        &json!({ "type": "error", "error": { "type": "overloaded_error", "message": message } }),
    )
}

/// An event cut in the middle of its JSON.
pub fn malformed() -> String {
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\n\n"
        .to_string()
}

/// The `count_tokens` answer.
pub fn count_tokens(r: &Reply) -> Value {
    json!({ "input_tokens": r.input_tokens })
}
