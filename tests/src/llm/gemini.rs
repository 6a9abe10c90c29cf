//! Google's Gemini API wire format, as the fake provider emits it: the `generateContent`
//! response, the `streamGenerateContent?alt=sse` chunks (`data:` lines, no `[DONE]`: the last
//! chunk carries `finishReason` and `usageMetadata`), and the error object.
//!
//! Shapes follow the Gemini API reference ("Generating content", `GenerateContentResponse`,
//! "Troubleshooting": `{"error": {code, message, status}}`).

use serde_json::{json, Value};

use super::{Frame, Reply};

/// `usageMetadata` (the prompt count includes the cached tokens).
pub fn usage(r: &Reply) -> Value {
    json!({
        "promptTokenCount": r.input_tokens,
        "candidatesTokenCount": r.output_tokens,
        "totalTokenCount": r.input_tokens + r.output_tokens,
        "cachedContentTokenCount": r.cached_tokens
    })
}

fn candidate(parts: Vec<Value>, finish: bool) -> Value {
    let mut c = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    if finish {
        c["finishReason"] = json!("STOP");
    }
    c
}

fn tool_part(r: &Reply) -> Option<Value> {
    r.tool_call
        .as_ref()
        .map(|tc| json!({ "functionCall": { "name": tc.name, "args": tc.arguments } }))
}

/// The non-streamed response.
pub fn response(r: &Reply, id: &str, model: &str) -> Value {
    let mut parts = Vec::new();
    if !r.text.is_empty() {
        parts.push(json!({ "text": r.text }));
    }
    parts.extend(tool_part(r));
    json!({
        "candidates": [candidate(parts, true)],
        "usageMetadata": usage(r),
        "modelVersion": model,
        "responseId": id
    })
}

/// The streamed chunks: one per text token, then the last one with the function call (if
/// any), `finishReason` and the usage.
pub fn stream(r: &Reply, id: &str, model: &str) -> Vec<Frame> {
    let chunk = |c: Value, usage: Option<Value>| {
        let mut v = json!({ "candidates": [c], "modelVersion": model, "responseId": id });
        if let Some(u) = usage {
            v["usageMetadata"] = u;
        }
        format!("data: {v}\r\n\r\n")
    };
    let mut frames: Vec<Frame> = r
        .text_tokens()
        .into_iter()
        .map(|t| Frame::token(chunk(candidate(vec![json!({ "text": t })], false), None)))
        .collect();
    let last: Vec<Value> = tool_part(r).into_iter().collect();
    frames.push(Frame::token(chunk(candidate(last, true), Some(usage(r)))));
    frames
}

/// The error object (`status` after the HTTP status, as Google's APIs name them).
pub fn error(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({ "error": { "code": status, "message": message, "status": name } })
}

/// A mid-stream error chunk.
pub fn stream_error(message: &str) -> String {
    format!("data: {}\r\n\r\n", error(503, message))
}
