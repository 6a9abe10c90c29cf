//! OpenAI chat completions: requests and complete responses to and from the IR.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::ir::{
    now_secs, Image, Message, Part, Request, Response, Role, StopReason, Tool, ToolChoice,
};
use crate::{LlmError, TranslateOptions, Usage};

/// A chat completions request, as far as translation reads it; the rest stays in `extra`.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    tools: Option<Vec<ChatTool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    n: Option<u64>,
    /// Fields with no counterpart in the other format (`seed`, `logprobs`, ...): not
    /// carried across (README, "lost in translation"), except `response_format`, read to
    /// refuse JSON output modes rather than silently return free text.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCall {
    id: String,
    function: FunctionCall,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: String,
    /// A JSON text, not an object.
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct ChatTool {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    function: Option<FunctionDef>,
}

#[derive(Debug, Deserialize)]
struct FunctionDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

fn bad(msg: impl Into<String>) -> LlmError {
    LlmError::InvalidRequest(msg.into())
}

/// Tool arguments as an object: OpenAI sends them as a JSON text. Text that is not a JSON
/// object (a model's malformed output) becomes `{}`, since Anthropic's `input` must be one.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

/// Text and image parts of a `content` (a string or an array of parts).
fn content_parts(content: &Value, at: &str) -> Result<Vec<Part>, LlmError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Ok(Part::Text(
                    p.get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )),
                Some("image_url") => {
                    let url = p
                        .get("image_url")
                        .and_then(|i| i.get("url"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("{at}: image_url part without url")))?;
                    Ok(Part::Image(Image::from_url(url)))
                }
                Some("refusal") => Ok(Part::Text(
                    p.get("refusal")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )),
                Some(other) => Err(LlmError::unsupported(
                    format!("{other} content parts"),
                    "anthropic messages",
                )),
                None => Err(bad(format!("{at}: content part without type"))),
            })
            .collect(),
        _ => Err(bad(format!("{at}: content must be a string or an array"))),
    }
}

/// Parses a chat completions request; also whether it asked for usage in its stream
/// (`stream_options.include_usage`).
pub(crate) fn parse_request(body: &[u8]) -> Result<(Request, bool), LlmError> {
    let req: ChatRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("chat completions request: {e}")))?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(LlmError::unsupported("n > 1", "anthropic messages"));
    }
    let wants_usage = req
        .extra
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let format = req
        .extra
        .get("response_format")
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str);
    if let Some(kind @ ("json_object" | "json_schema")) = format {
        return Err(LlmError::unsupported(
            format!("response_format {kind}"),
            "anthropic messages",
        ));
    }
    let mut out = Request {
        model: req.model.unwrap_or_default(),
        parallel_tool_calls: req.parallel_tool_calls,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stream: req.stream.unwrap_or(false),
        user: req.user,
        ..Request::default()
    };
    out.stop = match req.stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(_) => return Err(bad("stop: must be a string or an array of strings")),
    };
    for (i, m) in req.messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        match m.role.as_str() {
            "system" | "developer" => {
                let text = content_parts(m.content.as_ref().unwrap_or(&Value::Null), &at)?
                    .into_iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                out.system.push(text);
            }
            "user" => {
                let content = content_parts(m.content.as_ref().unwrap_or(&Value::Null), &at)?;
                out.messages.push(Message {
                    role: Role::User,
                    content,
                });
            }
            "assistant" => {
                let mut content = content_parts(m.content.as_ref().unwrap_or(&Value::Null), &at)?;
                if let Some(refusal) = m.refusal {
                    content.push(Part::Text(refusal));
                }
                for call in m.tool_calls.unwrap_or_default() {
                    content.push(Part::ToolUse {
                        id: call.id,
                        name: call.function.name,
                        input: arguments_object(&call.function.arguments),
                    });
                }
                out.messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
            "tool" => {
                let id = m
                    .tool_call_id
                    .ok_or_else(|| bad(format!("{at}: tool message without tool_call_id")))?;
                let content = content_parts(m.content.as_ref().unwrap_or(&Value::Null), &at)?;
                out.messages.push(Message {
                    role: Role::User,
                    content: vec![Part::ToolResult {
                        id,
                        content,
                        is_error: false,
                    }],
                });
            }
            "function" => {
                return Err(LlmError::unsupported(
                    "function role messages (deprecated)",
                    "anthropic messages",
                ))
            }
            other => return Err(bad(format!("{at}: unknown role {other:?}"))),
        }
    }
    for (i, tool) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let function = match (tool.kind.as_str(), tool.function) {
            ("function", Some(f)) => f,
            (kind, _) => {
                return Err(LlmError::unsupported(
                    format!("tools[{i}] of type {kind:?}"),
                    "anthropic messages",
                ))
            }
        };
        out.tools.push(Tool {
            name: function.name,
            description: function.description,
            schema: function
                .parameters
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    out.tool_choice = match req.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(bad(format!("tool_choice: unknown value {other:?}"))),
        }),
        Some(v) => {
            let name = v
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice: expected a function name"))?;
            Some(ToolChoice::Tool(name.to_string()))
        }
    };
    Ok((out, wants_usage))
}

fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn content_value(parts: &[Part]) -> Value {
    let only_text = parts.iter().all(|p| matches!(p, Part::Text(_)));
    if only_text {
        return Value::String(text_of(parts));
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(json!({"type": "text", "text": t})),
                Part::Image(img) => {
                    Some(json!({"type": "image_url", "image_url": {"url": img.to_url()}}))
                }
                _ => None,
            })
            .collect(),
    )
}

/// Writes a chat completions request. Tool results become `tool` messages right after the
/// assistant's calls; images inside tool results (which a `tool` message cannot hold) move to
/// a user message after them.
pub(crate) fn write_request(req: &Request, opts: &TranslateOptions) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => {
                let mut rest = Vec::new();
                for part in &m.content {
                    match part {
                        Part::ToolResult {
                            id,
                            content,
                            is_error,
                        } => {
                            let mut text = text_of(content);
                            if *is_error {
                                text = format!("Error: {text}");
                            }
                            messages
                                .push(json!({"role": "tool", "tool_call_id": id, "content": text}));
                            rest.extend(
                                content
                                    .iter()
                                    .filter(|p| matches!(p, Part::Image(_)))
                                    .cloned(),
                            );
                        }
                        Part::Text(_) | Part::Image(_) => rest.push(part.clone()),
                        Part::ToolUse { .. } => {}
                    }
                }
                if !rest.is_empty() {
                    messages.push(json!({"role": "user", "content": content_value(&rest)}));
                }
            }
            Role::Assistant => {
                let text = text_of(&m.content);
                let calls: Vec<Value> = m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolUse { id, name, input } => Some(json!({
                            "id": id, "type": "function",
                            "function": {"name": name, "arguments": input.to_string()},
                        })),
                        _ => None,
                    })
                    .collect();
                let mut msg = json!({"role": "assistant",
                    "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.max_tokens {
        let key = if opts.openai_max_completion_tokens {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        out.insert(key.into(), json!(n));
    }
    if let Some(t) = req.temperature {
        out.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        out.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.schema});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        out.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            },
        );
    }
    if let (Some(parallel), false) = (req.parallel_tool_calls, req.tools.is_empty()) {
        out.insert("parallel_tool_calls".into(), json!(parallel));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
        if opts.openai_stream_usage {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(user) = &req.user {
        out.insert("user".into(), json!(user));
    }
    Value::Object(out)
}

/// A complete chat completion, as far as translation reads it.
#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ChatMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// Parses a complete chat completion (the first choice).
pub(crate) fn parse_response(body: &[u8]) -> Result<Response, LlmError> {
    let resp: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::ProviderResponse(format!("chat completion: {e}")))?;
    let usage = resp
        .usage
        .as_ref()
        .map(Usage::from_openai)
        .unwrap_or_default();
    let mut content = Vec::new();
    let mut stop = None;
    if let Some(choice) = resp.choices.into_iter().next() {
        let m = choice.message;
        match m.content {
            Some(Value::String(s)) if !s.is_empty() => content.push(Part::Text(s)),
            Some(v @ Value::Array(_)) => content.extend(
                content_parts(&v, "choices[0].message")
                    .map_err(|e| LlmError::ProviderResponse(e.to_string()))?,
            ),
            _ => {}
        }
        if let Some(refusal) = m.refusal {
            content.push(Part::Text(refusal));
        }
        for call in m.tool_calls.unwrap_or_default() {
            content.push(Part::ToolUse {
                id: call.id,
                name: call.function.name,
                input: arguments_object(&call.function.arguments),
            });
        }
        stop = choice.finish_reason.as_deref().map(StopReason::from_openai);
    }
    Ok(Response {
        id: resp.id,
        model: resp.model,
        content,
        stop,
        usage,
    })
}

/// Writes a complete chat completion.
pub(crate) fn write_response(resp: &Response) -> Value {
    let text = text_of(&resp.content);
    let calls: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse { id, name, input } => Some(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            _ => None,
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": resp.id,
        "object": "chat.completion",
        "created": now_secs(),
        "model": resp.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": resp.stop.unwrap_or(StopReason::EndTurn).openai(),
        }],
        "usage": resp.usage.to_openai(),
    })
}
