//! Anthropic Messages: requests and complete responses to and from the IR.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::ir::{Image, Message, Part, Request, Response, Role, StopReason, Tool, ToolChoice};
use crate::{LlmError, TranslateOptions, Usage};

const TARGET: &str = "openai chat completions";

/// A Messages request, as far as translation reads it; the rest stays in `extra`.
#[derive(Debug, Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    system: Option<Value>,
    messages: Vec<AnthropicMessage>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    metadata: Option<Value>,
    /// Fields with no counterpart in OpenAI chat (`top_k`, `thinking`, `service_tier`, ...):
    /// not carried across (README, "lost in translation").
    #[serde(flatten)]
    #[allow(dead_code)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct AnthropicMessage {
    role: String,
    content: Value,
}

fn bad(msg: impl Into<String>) -> LlmError {
    LlmError::InvalidRequest(msg.into())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn image(block: &Value, at: &str) -> Result<Image, LlmError> {
    let source = block
        .get("source")
        .ok_or_else(|| bad(format!("{at}: image without source")))?;
    match str_field(source, "type") {
        Some("base64") => Ok(Image::Base64 {
            media_type: str_field(source, "media_type")
                .unwrap_or("image/png")
                .to_string(),
            data: str_field(source, "data").unwrap_or_default().to_string(),
        }),
        Some("url") => Ok(Image::Url(
            str_field(source, "url").unwrap_or_default().to_string(),
        )),
        other => Err(LlmError::unsupported(
            format!("image source {other:?}"),
            TARGET,
        )),
    }
}

/// Content blocks (a string is one text block). `thinking` blocks are dropped (OpenAI chat
/// has no place for them); blocks only Anthropic's servers understand are refused.
fn blocks(content: &Value, at: &str) -> Result<Vec<Part>, LlmError> {
    let items = match content {
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items,
        _ => return Err(bad(format!("{at}: content must be a string or an array"))),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, block) in items.iter().enumerate() {
        let at = format!("{at}.content[{i}]");
        match str_field(block, "type") {
            Some("text") => out.push(Part::Text(
                str_field(block, "text").unwrap_or_default().to_string(),
            )),
            Some("image") => out.push(Part::Image(image(block, &at)?)),
            Some("tool_use") => out.push(Part::ToolUse {
                id: str_field(block, "id").unwrap_or_default().to_string(),
                name: str_field(block, "name").unwrap_or_default().to_string(),
                input: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            Some("tool_result") => out.push(Part::ToolResult {
                id: str_field(block, "tool_use_id")
                    .unwrap_or_default()
                    .to_string(),
                content: match block.get("content") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(c) => blocks(c, &at)?,
                },
                is_error: block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            Some("thinking" | "redacted_thinking") => {}
            Some(other) => {
                return Err(LlmError::unsupported(
                    format!("{other} content blocks"),
                    TARGET,
                ))
            }
            None => return Err(bad(format!("{at}: content block without type"))),
        }
    }
    Ok(out)
}

/// Parses a Messages request.
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, LlmError> {
    let req: MessagesRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("messages request: {e}")))?;
    let mut out = Request {
        model: req.model.unwrap_or_default(),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.unwrap_or_default(),
        stream: req.stream.unwrap_or(false),
        user: req
            .metadata
            .as_ref()
            .and_then(|m| str_field(m, "user_id"))
            .map(str::to_string),
        ..Request::default()
    };
    match req.system {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.system.push(s),
        Some(v @ Value::Array(_)) => {
            for part in blocks(&v, "system")? {
                if let Part::Text(t) = part {
                    out.system.push(t);
                }
            }
        }
        Some(_) => return Err(bad("system: must be a string or an array of text blocks")),
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => return Err(bad(format!("{at}: unknown role {other:?}"))),
        };
        out.messages.push(Message {
            role,
            content: blocks(&m.content, &at)?,
        });
    }
    for (i, tool) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let custom = matches!(str_field(&tool, "type"), None | Some("custom"));
        let (Some(name), Some(schema), true) =
            (str_field(&tool, "name"), tool.get("input_schema"), custom)
        else {
            let kind = str_field(&tool, "type").unwrap_or("?");
            return Err(LlmError::unsupported(
                format!("tools[{i}]: server tool {kind:?}"),
                TARGET,
            ));
        };
        out.tools.push(Tool {
            name: name.to_string(),
            description: str_field(&tool, "description").map(str::to_string),
            schema: schema.clone(),
        });
    }
    if let Some(choice) = req.tool_choice {
        out.tool_choice = Some(match str_field(&choice, "type") {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(
                str_field(&choice, "name")
                    .ok_or_else(|| bad("tool_choice: tool without name"))?
                    .to_string(),
            ),
            other => return Err(bad(format!("tool_choice: unknown type {other:?}"))),
        });
        if choice
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
            == Some(true)
        {
            out.parallel_tool_calls = Some(false);
        }
    }
    Ok(out)
}

fn block_value(part: &Part) -> Option<Value> {
    Some(match part {
        // Anthropic refuses empty text blocks.
        Part::Text(t) if t.is_empty() => return None,
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(Image::Url(url)) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::Image(Image::Base64 { media_type, data }) => json!({"type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}}),
        Part::ToolUse { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult {
            id,
            content,
            is_error,
        } => {
            let inner: Vec<Value> = content.iter().filter_map(block_value).collect();
            let mut v = json!({"type": "tool_result", "tool_use_id": id});
            // `content` is optional; an empty result is sent without it.
            if !inner.is_empty() {
                v["content"] = Value::Array(inner);
            }
            if *is_error {
                v["is_error"] = json!(true);
            }
            v
        }
    })
}

/// Writes a Messages request. Consecutive messages of one role are merged (OpenAI sends
/// each tool result as its own message; Anthropic wants them in one user turn), empty ones
/// dropped; `max_tokens` defaults to [`TranslateOptions::default_max_tokens`]; `temperature`
/// is capped at 1 (OpenAI allows up to 2).
pub(crate) fn write_request(req: &Request, opts: &TranslateOptions) -> Value {
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let content: Vec<Value> = m.content.iter().filter_map(block_value).collect();
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
    out.insert("model".into(), json!(req.model));
    out.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(opts.default_max_tokens)),
    );
    if !req.system.is_empty() {
        out.insert("system".into(), json!(req.system.join("\n\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.temperature {
        out.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        out.insert("stop_sequences".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut v = json!({"name": t.name, "input_schema": t.schema});
                if let Some(d) = &t.description {
                    v["description"] = json!(d);
                }
                v
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    let no_parallel = req.parallel_tool_calls == Some(false) && !req.tools.is_empty();
    let choice = match (&req.tool_choice, no_parallel) {
        (None, false) => None,
        (None, true) | (Some(ToolChoice::Auto), _) => Some(json!({"type": "auto"})),
        (Some(ToolChoice::None), _) => Some(json!({"type": "none"})),
        (Some(ToolChoice::Required), _) => Some(json!({"type": "any"})),
        (Some(ToolChoice::Tool(name)), _) => Some(json!({"type": "tool", "name": name})),
    };
    if let Some(mut choice) = choice {
        if no_parallel && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        out.insert("tool_choice".into(), choice);
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    if let Some(user) = &req.user {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Value::Object(out)
}

/// A complete message, as far as translation reads it.
#[derive(Debug, Deserialize)]
struct MessageResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Value>,
}

/// Parses a complete message. `thinking` blocks are dropped.
pub(crate) fn parse_response(body: &[u8]) -> Result<Response, LlmError> {
    let resp: MessageResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::ProviderResponse(format!("message: {e}")))?;
    let mut content = Vec::new();
    for block in &resp.content {
        match str_field(block, "type") {
            Some("text") => content.push(Part::Text(
                str_field(block, "text").unwrap_or_default().to_string(),
            )),
            Some("tool_use") => content.push(Part::ToolUse {
                id: str_field(block, "id").unwrap_or_default().to_string(),
                name: str_field(block, "name").unwrap_or_default().to_string(),
                input: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    Ok(Response {
        id: resp.id,
        model: resp.model,
        content,
        stop: resp.stop_reason.as_deref().map(StopReason::from_anthropic),
        usage: resp
            .usage
            .as_ref()
            .map(Usage::from_anthropic)
            .unwrap_or_default(),
    })
}

/// Writes a complete message.
pub(crate) fn write_response(resp: &Response) -> Value {
    let content: Vec<Value> = resp.content.iter().filter_map(block_value).collect();
    json!({
        "id": resp.id,
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": resp.stop.unwrap_or(StopReason::EndTurn).anthropic(),
        "stop_sequence": null,
        "usage": resp.usage.to_anthropic(),
    })
}
