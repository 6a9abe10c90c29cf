//! Gemini `generateContent` (Gemini API and Vertex AI): requests written from the IR,
//! complete responses read into it, and the pieces the stream translator shares (parts,
//! finish reasons, usage).
//!
//! Gemini has no tool call ids: a `functionResponse` names its function instead. Ids are
//! made up for the client (`call_…`, or Gemini's own `id` when it sends one), and a tool
//! result's function name is found again from the call with its id in the conversation.

use serde_json::{json, Map, Value};

use crate::ir::{Image, Message, Part, Request, Response, Role, StopReason, ToolChoice};
use crate::{LlmError, Usage};

/// `/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` (SSE
/// chunks; without `alt=sse` Gemini streams one JSON array). A leading `models/` is the
/// resource prefix some clients include and is not doubled.
pub(crate) fn path(model: &str, stream: bool) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    format!(
        "/v1beta/models/{}:{method}",
        crate::bedrock::encode_segment(model)
    )
}

/// Schema keys Gemini's OpenAPI-subset `Schema` refuses ("Unknown name") that JSON schemas
/// from OpenAI and Anthropic clients routinely carry. They only constrain or annotate, so
/// dropping them keeps the tool usable.
const SCHEMA_DROP: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "additionalProperties",
    "strict",
];

fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !SCHEMA_DROP.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

/// The media type of an image URL, from its extension (Gemini's `fileData` needs one).
fn guess_mime(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    if path.ends_with(".png") {
        "image/png"
    } else if path.ends_with(".gif") {
        "image/gif"
    } else if path.ends_with(".webp") {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

fn image_part(img: &Image) -> Value {
    match img {
        Image::Base64 { media_type, data } => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        Image::Url(url) => json!({"fileData": {"mimeType": guess_mime(url), "fileUri": url}}),
    }
}

/// The name of the function a call id belongs to, from the calls in the conversation.
fn call_name<'a>(messages: &'a [Message], id: &str) -> Option<&'a str> {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|p| match p {
            Part::ToolUse { id: i, name, .. } if i == id => Some(name.as_str()),
            _ => None,
        })
}

/// The sentinel Google documents for function calls replayed without their thought
/// signature (ai.google.dev/gemini-api/docs/thought-signatures): Gemini 3 models refuse a
/// conversation whose earlier `functionCall` parts lack one ("Function call is missing a
/// thought_signature"), and the real signatures cannot travel through OpenAI or Anthropic
/// clients' tool call ids.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether a model wants thought signatures on replayed function calls: every model but
/// the Gemini 1.x and 2.x families, which predate them (and get the parts untouched).
fn wants_signature(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    !(name.starts_with("gemini-1") || name.starts_with("gemini-2"))
}

/// One IR part as Gemini parts (a tool result with images gives its images as parts after
/// the `functionResponse`).
fn parts(
    part: &Part,
    messages: &[Message],
    signature: bool,
    out: &mut Vec<Value>,
) -> Result<(), LlmError> {
    match part {
        Part::Text(t) if t.is_empty() => {}
        Part::Text(t) => out.push(json!({"text": t})),
        Part::Image(img) => out.push(image_part(img)),
        Part::ToolUse { name, input, .. } => {
            let args = if input.is_object() {
                input.clone()
            } else {
                json!({})
            };
            let mut p = json!({"functionCall": {"name": name, "args": args}});
            if signature {
                p["thoughtSignature"] = json!(SKIP_SIGNATURE);
            }
            out.push(p);
        }
        Part::ToolResult {
            id,
            content,
            is_error,
        } => {
            let name = call_name(messages, id).ok_or_else(|| {
                LlmError::InvalidRequest(format!(
                    "tool result {id:?} answers no tool call of the conversation (Gemini needs the function's name)"
                ))
            })?;
            let text: Vec<&str> = content
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            let key = if *is_error { "error" } else { "content" };
            out.push(
                json!({"functionResponse": {"name": name, "response": {key: text.join("\n")}}}),
            );
            for p in content {
                if let Part::Image(img) = p {
                    out.push(image_part(img));
                }
            }
        }
    }
    Ok(())
}

/// The `generateContent` body for a request. The model and the stream flag go in the path;
/// `user` and `parallel_tool_calls` have no field (README, "lost in translation").
pub(crate) fn write_request(req: &Request) -> Result<Value, LlmError> {
    let signature = wants_signature(&req.model);
    let mut contents: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let mut content = Vec::new();
        for p in &m.content {
            parts(p, &req.messages, signature, &mut content)?;
        }
        if content.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((role, ps)) if *role == m.role => ps.extend(content),
            _ => contents.push((m.role, content)),
        }
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, parts)| {
            json!({"role": if role == Role::User { "user" } else { "model" }, "parts": parts})
        })
        .collect();
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !req.system.is_empty() {
        let parts: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        out.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                // An object without properties is refused ("properties: should be non-empty
                // for OBJECT type"): a tool without arguments declares no parameters.
                let empty = t
                    .schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty);
                if !empty {
                    d["parameters"] = clean_schema(&t.schema);
                }
                d
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    let config = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
        Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
        Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
        Some(ToolChoice::Tool(name)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [name]}))
        }
    };
    if let (Some(config), false) = (config, req.tools.is_empty()) {
        out.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut gen = Map::new();
    if let Some(n) = req.max_tokens {
        gen.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        gen.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        gen.insert("topP".into(), json!(p));
    }
    if !req.stop.is_empty() {
        gen.insert("stopSequences".into(), json!(req.stop));
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    Ok(Value::Object(out))
}

/// Usage from a `usageMetadata` object. `promptTokenCount` already includes the cached
/// tokens (`cachedContentTokenCount`) and tool-use prompts are added; `candidatesTokenCount`
/// leaves the thinking tokens out, so they are added to `output` (and are `reasoning`).
pub(crate) fn usage(meta: &Value) -> Usage {
    let n = |k: &str| meta.get(k).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = n("thoughtsTokenCount");
    Usage {
        input: n("promptTokenCount") + n("toolUsePromptTokenCount"),
        output: n("candidatesTokenCount") + thoughts,
        cache_read: n("cachedContentTokenCount"),
        cache_creation: 0,
        reasoning: thoughts,
    }
}

/// A `finishReason` as a stop reason. `STOP` after function calls is a tool use (Gemini
/// has no reason of its own for it). Safety and policy blocks read as a refusal;
/// `MALFORMED_FUNCTION_CALL`, `OTHER` and unknown values as the end of the turn.
pub(crate) fn stop_reason(reason: &str, called_tools: bool) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => StopReason::Refusal,
        _ if called_tools => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// A part of a candidate's content, as the translators use it.
pub(crate) enum GeminiPart<'a> {
    Text(&'a str),
    Call {
        id: Option<&'a str>,
        name: &'a str,
        args: Value,
    },
}

/// The readable parts of `candidates[0]` (thought summaries, `thought: true`, are dropped:
/// neither client format has a place for them without a signature).
pub(crate) fn candidate_parts(chunk: &Value) -> Vec<GeminiPart<'_>> {
    let parts = chunk
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for p in parts.into_iter().flatten() {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            out.push(GeminiPart::Text(t));
        } else if let Some(call) = p.get("functionCall") {
            let args = call.get("args").cloned().filter(Value::is_object);
            out.push(GeminiPart::Call {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty()),
                name: call.get("name").and_then(Value::as_str).unwrap_or(""),
                args: args.unwrap_or_else(|| json!({})),
            });
        }
    }
    out
}

/// The finish reason of `candidates[0]`, or of a prompt blocked before any candidate
/// (`promptFeedback.blockReason`, a refusal).
pub(crate) fn finish_reason(chunk: &Value) -> Option<&str> {
    chunk
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
        .or_else(|| {
            chunk
                .pointer("/promptFeedback/blockReason")
                .map(|_| "SAFETY")
        })
}

/// A tool call id for a call Gemini gave none: unique within the response (`n`) and across
/// turns (the response id), since a later tool result finds its function by this id.
pub(crate) fn call_id(response_id: &str, n: usize) -> String {
    format!("call_{response_id}_{n}")
}

/// Parses a complete `GenerateContentResponse`.
pub(crate) fn parse_response(body: &[u8]) -> Result<Response, LlmError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::ProviderResponse(format!("generateContent response: {e}")))?;
    if !v.is_object() {
        return Err(LlmError::ProviderResponse(
            "generateContent response is not an object".into(),
        ));
    }
    let id = v
        .get("responseId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("gemini-{}", crate::ir::now_secs()));
    let mut content = Vec::new();
    let mut calls = 0;
    for p in candidate_parts(&v) {
        match p {
            GeminiPart::Text(t) => match content.last_mut() {
                Some(Part::Text(prev)) => prev.push_str(t),
                _ => content.push(Part::Text(t.to_string())),
            },
            GeminiPart::Call {
                id: call,
                name,
                args,
            } => {
                content.push(Part::ToolUse {
                    id: call.map_or_else(|| call_id(&id, calls), str::to_string),
                    name: name.to_string(),
                    input: args,
                });
                calls += 1;
            }
        }
    }
    Ok(Response {
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        id,
        content,
        stop: Some(
            finish_reason(&v)
                .map(|r| stop_reason(r, calls > 0))
                .unwrap_or(StopReason::EndTurn),
        ),
        usage: v.get("usageMetadata").map(usage).unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "gemini_tests.rs"]
mod tests;
