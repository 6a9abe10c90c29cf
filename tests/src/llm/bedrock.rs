//! Amazon Bedrock's Converse wire format, as the fake provider emits it: the `converse`
//! response, the `converse-stream` body of binary event-stream frames
//! (`application/vnd.amazon.eventstream`, written with `aws-smithy-eventstream`'s encoder:
//! `messageStart`, `contentBlockStart` / `contentBlockDelta` / `contentBlockStop`,
//! `messageStop` with the stop reason, `metadata` with the usage), and the error body (with
//! its `x-amzn-ErrorType` header).
//!
//! Shapes follow the Bedrock API reference (`Converse`, `ConverseStream`,
//! `ConverseStreamOutput`, "Common errors").

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Frame, Reply};

fn stop_reason(r: &Reply) -> &'static str {
    if r.tool_call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

/// `usage` (`inputTokens` leaves out the cached tokens, which are counted apart).
pub fn usage(r: &Reply) -> Value {
    json!({
        "inputTokens": r.input_tokens,
        "outputTokens": r.output_tokens,
        "totalTokens": r.input_tokens + r.output_tokens + r.cached_tokens,
        "cacheReadInputTokens": r.cached_tokens,
        "cacheWriteInputTokens": 0
    })
}

/// The non-streamed response.
pub fn response(r: &Reply) -> Value {
    let mut content = Vec::new();
    if !r.text.is_empty() {
        content.push(json!({ "text": r.text }));
    }
    if let Some(tc) = &r.tool_call {
        content.push(json!({
            "toolUse": { "toolUseId": tc.id, "name": tc.name, "input": tc.arguments }
        }));
    }
    json!({
        "output": { "message": { "role": "assistant", "content": content } },
        "stopReason": stop_reason(r),
        "usage": usage(r),
        "metrics": { "latencyMs": 42 }
    })
}

/// One binary frame with `headers` (string values) and a JSON payload.
fn frame(headers: &[(&str, &str)], payload: &Value) -> Bytes {
    let mut msg = Message::new(Bytes::from(payload.to_string()));
    for (k, v) in headers {
        msg = msg.add_header(Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    // Writing to a Vec fails only on headers or payloads over the format's limits.
    write_message_to(&msg, &mut out).expect("an event-stream frame");
    Bytes::from(out)
}

/// An `event` frame named `name`.
pub fn event(name: &str, payload: &Value) -> Bytes {
    frame(
        &[
            (":event-type", name),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An `exception` frame (`throttlingException`, `modelStreamErrorException`, ...).
pub fn exception(name: &str, message: &str) -> Bytes {
    frame(
        &[
            (":exception-type", name),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        &json!({ "message": message }),
    )
}

/// The streamed frames; text and tool-input deltas are the token frames.
pub fn stream(r: &Reply) -> Vec<Frame> {
    let mut frames = vec![Frame::binary(
        event("messageStart", &json!({ "role": "assistant" })),
        false,
    )];
    let mut index = 0;
    if !r.text.is_empty() {
        for t in r.text_tokens() {
            let delta = json!({ "contentBlockIndex": index, "delta": { "text": t } });
            frames.push(Frame::binary(event("contentBlockDelta", &delta), true));
        }
        let stop = json!({ "contentBlockIndex": index });
        frames.push(Frame::binary(event("contentBlockStop", &stop), false));
        index += 1;
    }
    if let Some(tc) = &r.tool_call {
        let start = json!({
            "contentBlockIndex": index,
            "start": { "toolUse": { "toolUseId": tc.id, "name": tc.name } }
        });
        frames.push(Frame::binary(event("contentBlockStart", &start), false));
        for piece in tc.argument_pieces() {
            let delta = json!({
                "contentBlockIndex": index, "delta": { "toolUse": { "input": piece } }
            });
            frames.push(Frame::binary(event("contentBlockDelta", &delta), true));
        }
        let stop = json!({ "contentBlockIndex": index });
        frames.push(Frame::binary(event("contentBlockStop", &stop), false));
    }
    let stop = json!({ "stopReason": stop_reason(r) });
    frames.push(Frame::binary(event("messageStop", &stop), false));
    let meta = json!({ "usage": usage(r), "metrics": { "latencyMs": 42 } });
    frames.push(Frame::binary(event("metadata", &meta), false));
    frames
}

/// The error body and its `x-amzn-ErrorType` for a status.
pub fn error(status: u16, message: &str) -> (Value, &'static str) {
    let kind = match status {
        429 => "ThrottlingException",
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    };
    (json!({ "message": message }), kind)
}
