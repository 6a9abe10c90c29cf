//! Amazon Bedrock Converse: requests written from the IR, complete responses read into it,
//! and the pieces the ConverseStream translator shares (stop reasons, usage).

use serde_json::{json, Map, Value};

use crate::ir::{Image, Part, Request, Response, Role, StopReason, ToolChoice};
use crate::{LlmError, Usage};

const TARGET: &str = "bedrock converse";

/// Percent-encodes one path segment: everything but RFC 3986's unreserved characters, as
/// the AWS SDKs encode a model id (`:` in versioned ids, `/` in ARNs).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/model/{modelId}/converse`, or `/converse-stream`.
pub(crate) fn path(model: &str, stream: bool) -> String {
    let op = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    format!("/model/{}/{op}", encode_segment(model))
}

/// An image block: inline bytes only (Bedrock takes S3 locations, not URLs).
fn image(img: &Image) -> Result<Value, LlmError> {
    match img {
        Image::Base64 { media_type, data } => {
            let format = match media_type.as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(LlmError::unsupported(
                        format!("image type {other:?}"),
                        TARGET,
                    ))
                }
            };
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        Image::Url(_) => Err(LlmError::unsupported(
            "image URLs (Bedrock takes inline base64 images)",
            TARGET,
        )),
    }
}

fn block(part: &Part) -> Result<Option<Value>, LlmError> {
    Ok(Some(match part {
        // Bedrock refuses blank text blocks.
        Part::Text(t) if t.trim().is_empty() => return Ok(None),
        Part::Text(t) => json!({"text": t}),
        Part::Image(img) => image(img)?,
        Part::ToolUse { id, name, input } => {
            let input = if input.is_object() {
                input.clone()
            } else {
                json!({})
            };
            json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
        }
        Part::ToolResult {
            id,
            content,
            is_error,
        } => {
            let mut inner = Vec::new();
            for p in content {
                match p {
                    Part::Text(t) => inner.push(json!({"text": t})),
                    Part::Image(img) => inner.push(image(img)?),
                    _ => {}
                }
            }
            if inner.is_empty() {
                inner.push(json!({"text": ""}));
            }
            let status = if *is_error { "error" } else { "success" };
            json!({"toolResult": {"toolUseId": id, "content": inner, "status": status}})
        }
    }))
}

/// The Converse body for a request. The model and the stream flag go in the path.
/// `tool_choice: none` has no Converse form: the tools are left out instead, unless the
/// conversation already holds tool blocks (Bedrock then requires `toolConfig`, and the
/// choice falls back to auto). `user` and `parallel_tool_calls` have no field.
pub(crate) fn write_request(req: &Request) -> Result<Value, LlmError> {
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
    let mut tool_blocks = false;
    for m in &req.messages {
        let mut content = Vec::new();
        for p in &m.content {
            tool_blocks |= matches!(p, Part::ToolUse { .. } | Part::ToolResult { .. });
            if let Some(b) = block(p)? {
                content.push(b);
            }
        }
        if content.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((role, blocks)) if *role == m.role => blocks.extend(content),
            _ => messages.push((m.role, content)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| {
            json!({"role": if role == Role::User { "user" } else { "assistant" }, "content": content})
        })
        .collect();
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if !req.system.is_empty() {
        let system: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        out.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(n) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), json!(p));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    let none = req.tool_choice == Some(ToolChoice::None);
    if !req.tools.is_empty() && (!none || tool_blocks) {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut spec = json!({"name": t.name, "inputSchema": {"json": t.schema}});
                if let Some(d) = &t.description {
                    spec["description"] = json!(d);
                }
                json!({"toolSpec": spec})
            })
            .collect();
        let mut config = json!({"tools": tools});
        match &req.tool_choice {
            Some(ToolChoice::Auto) => config["toolChoice"] = json!({"auto": {}}),
            Some(ToolChoice::Required) => config["toolChoice"] = json!({"any": {}}),
            Some(ToolChoice::Tool(name)) => {
                config["toolChoice"] = json!({"tool": {"name": name}});
            }
            Some(ToolChoice::None) | None => {}
        }
        out.insert("toolConfig".into(), config);
    }
    Ok(Value::Object(out))
}

/// Usage from a Converse `usage` object. `inputTokens` leaves the cached tokens out (as
/// Anthropic's does), so `input` adds `cacheReadInputTokens` and `cacheWriteInputTokens`.
pub(crate) fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (read, write) = (n("cacheReadInputTokens"), n("cacheWriteInputTokens"));
    Usage {
        input: n("inputTokens") + read + write,
        output: n("outputTokens"),
        cache_read: read,
        cache_creation: write,
        reasoning: 0,
    }
}

/// A Converse `stopReason`: Anthropic's names, plus guardrail and content-filter stops
/// (refusals).
pub(crate) fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "guardrail_intervened" | "content_filtered" => StopReason::Refusal,
        other => StopReason::from_anthropic(other),
    }
}

/// Parses a complete Converse response. It has no id and no model name: the id is made up
/// (`msg_bedrock_…`) and the model is left empty.
pub(crate) fn parse_response(body: &[u8]) -> Result<Response, LlmError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::ProviderResponse(format!("converse response: {e}")))?;
    let blocks = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            LlmError::ProviderResponse("converse response without output.message".into())
        })?;
    let mut content = Vec::new();
    for b in blocks {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            content.push(Part::Text(t.to_string()));
        } else if let Some(u) = b.get("toolUse") {
            let s = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            content.push(Part::ToolUse {
                id: s("toolUseId"),
                name: s("name"),
                input: u
                    .get("input")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
            });
        }
        // reasoningContent: no place in either client format without its signature.
    }
    Ok(Response {
        id: format!("msg_bedrock_{}", crate::ir::now_secs()),
        model: String::new(),
        content,
        stop: Some(
            v.get("stopReason")
                .and_then(Value::as_str)
                .map(stop_reason)
                .unwrap_or(StopReason::EndTurn),
        ),
        usage: v.get("usage").map(usage).unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "bedrock_tests.rs"]
mod tests;
