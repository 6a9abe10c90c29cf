//! OpenAI Responses (`POST /v1/responses`): requests to the IR and complete responses from
//! it, for providers that do not speak Responses (Anthropic Messages, Gemini, Bedrock).
//!
//! Only the stateless part of the API can be served: a request naming
//! `previous_response_id` needs the provider to remember earlier turns, which none of these
//! do, so it is refused rather than answered without its context.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::ir::{
    now_secs, Image, Message, Part, Request, Response, Role, StopReason, Tool, ToolChoice,
};
use crate::openai::arguments_object;
use crate::{LlmError, Usage};

/// The format parse errors name as the target; the caller retargets them to the provider.
const TARGET: &str = "anthropic messages";

/// A Responses request, as far as translation reads it; the rest (`store`, `metadata`,
/// `reasoning`, `include`, `truncation`, ...) has no place in the IR.
#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    text: Option<Value>,
}

fn bad(msg: impl Into<String>) -> LlmError {
    LlmError::InvalidRequest(msg.into())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Content parts of a message or a tool output: a string, or `input_text` / `output_text` /
/// `input_image` parts.
fn content_parts(content: &Value, at: &str) -> Result<Vec<Part>, LlmError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match str_field(p, "type") {
                Some("input_text" | "output_text") => Ok(Part::Text(
                    str_field(p, "text").unwrap_or_default().to_string(),
                )),
                Some("refusal") => Ok(Part::Text(
                    str_field(p, "refusal").unwrap_or_default().to_string(),
                )),
                Some("input_image") => {
                    let url = str_field(p, "image_url").ok_or_else(|| unsupported_image(p, at))?;
                    Ok(Part::Image(Image::from_url(url)))
                }
                Some(other) => Err(LlmError::unsupported(
                    format!("{other} content parts"),
                    TARGET,
                )),
                None => Err(bad(format!("{at}: content part without type"))),
            })
            .collect(),
        _ => Err(bad(format!("{at}: content must be a string or an array"))),
    }
}

/// An `input_image` without `image_url`: a `file_id` (stored on OpenAI) cannot be read.
fn unsupported_image(part: &Value, at: &str) -> LlmError {
    if part.get("file_id").is_some() {
        LlmError::unsupported("input_image by file_id", TARGET)
    } else {
        bad(format!("{at}: input_image without image_url"))
    }
}

fn text_only(parts: Vec<Part>) -> String {
    parts
        .into_iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `input` item into the request.
fn input_item(item: &Value, at: &str, out: &mut Request) -> Result<(), LlmError> {
    let kind = str_field(item, "type");
    match kind {
        None | Some("message") => {
            let role = str_field(item, "role")
                .ok_or_else(|| bad(format!("{at}: message without role")))?;
            let content = content_parts(item.get("content").unwrap_or(&Value::Null), at)?;
            match role {
                "system" | "developer" => out.system.push(text_only(content)),
                "user" => out.messages.push(Message {
                    role: Role::User,
                    content,
                }),
                "assistant" => out.messages.push(Message {
                    role: Role::Assistant,
                    content,
                }),
                other => return Err(bad(format!("{at}: unknown role {other:?}"))),
            }
        }
        Some("function_call") => {
            let id = str_field(item, "call_id")
                .ok_or_else(|| bad(format!("{at}: function_call without call_id")))?;
            let name = str_field(item, "name")
                .ok_or_else(|| bad(format!("{at}: function_call without name")))?;
            out.messages.push(Message {
                role: Role::Assistant,
                content: vec![Part::ToolUse {
                    id: id.to_string(),
                    name: name.to_string(),
                    input: arguments_object(str_field(item, "arguments").unwrap_or("{}")),
                }],
            });
        }
        Some("function_call_output") => {
            let id = str_field(item, "call_id")
                .ok_or_else(|| bad(format!("{at}: function_call_output without call_id")))?;
            let content = content_parts(item.get("output").unwrap_or(&Value::Null), at)?;
            out.messages.push(Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    id: id.to_string(),
                    content,
                    is_error: false,
                }],
            });
        }
        // Reasoning items replayed from an earlier OpenAI response: another provider cannot
        // read them (they are encrypted or summaries), and the model answers without them.
        Some("reasoning") => {}
        Some("item_reference") => {
            return Err(LlmError::unsupported(
                "item_reference input items (stored items)",
                TARGET,
            ))
        }
        Some(other) => {
            return Err(LlmError::unsupported(
                format!("{other} input items"),
                TARGET,
            ))
        }
    }
    Ok(())
}

/// Parses a Responses request into the IR.
pub(crate) fn parse_request(body: &[u8]) -> Result<Request, LlmError> {
    let req: ResponsesRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("responses request: {e}")))?;
    if req.previous_response_id.is_some() {
        return Err(LlmError::unsupported(
            "previous_response_id (the gateway keeps no conversation state; send the whole \
             conversation in input)",
            TARGET,
        ));
    }
    if let Some(kind @ ("json_object" | "json_schema")) = req
        .text
        .as_ref()
        .and_then(|t| t.get("format"))
        .and_then(|f| str_field(f, "type"))
    {
        return Err(LlmError::unsupported(format!("text.format {kind}"), TARGET));
    }
    let mut out = Request {
        model: req.model.unwrap_or_default(),
        parallel_tool_calls: req.parallel_tool_calls,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stream: req.stream.unwrap_or(false),
        user: req.user,
        ..Request::default()
    };
    if let Some(instructions) = req.instructions.filter(|i| !i.is_empty()) {
        out.system.push(instructions);
    }
    match req.input {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.messages.push(Message {
            role: Role::User,
            content: vec![Part::Text(s)],
        }),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(item, &format!("input[{i}]"), &mut out)?;
            }
        }
        Some(_) => return Err(bad("input: must be a string or an array of items")),
    }
    for (i, tool) in req.tools.unwrap_or_default().iter().enumerate() {
        match str_field(tool, "type") {
            Some("function") => {
                let name = str_field(tool, "name")
                    .ok_or_else(|| bad(format!("tools[{i}]: function without name")))?;
                out.tools.push(Tool {
                    name: name.to_string(),
                    description: str_field(tool, "description").map(str::to_string),
                    schema: tool
                        .get("parameters")
                        .filter(|p| !p.is_null())
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
            }
            kind => {
                return Err(LlmError::unsupported(
                    format!("tools[{i}] of type {:?}", kind.unwrap_or("")),
                    TARGET,
                ))
            }
        }
    }
    out.tool_choice = match req.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(bad(format!("tool_choice: unknown value {other:?}"))),
        }),
        Some(v) => match (str_field(&v, "type"), str_field(&v, "name")) {
            (Some("function"), Some(name)) => Some(ToolChoice::Tool(name.to_string())),
            _ => return Err(LlmError::unsupported(format!("tool_choice {v}"), TARGET)),
        },
    };
    Ok(out)
}

/// A Responses `usage` object.
pub(crate) fn usage_value(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

/// The response's `status` and `incomplete_details` for a stop reason: the token limit and
/// a refusal leave it `incomplete`, as OpenAI reports them.
pub(crate) fn status(stop: Option<StopReason>) -> (&'static str, Value) {
    match stop {
        Some(StopReason::MaxTokens) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::Refusal) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The Responses id for a provider's response id (`resp_` + the provider's).
pub(crate) fn response_id(provider_id: &str) -> String {
    format!("resp_{provider_id}")
}

/// A `message` output item.
pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// A `function_call` output item.
pub(crate) fn call_item(call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
           "name": name, "arguments": arguments, "status": status})
}

/// The response object (complete, or the shell streamed in `response.created`).
pub(crate) fn response_object(
    id: &str,
    model: &str,
    created_at: u64,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), json!(id));
    v.insert("object".into(), json!("response"));
    v.insert("created_at".into(), json!(created_at));
    v.insert("status".into(), json!(status));
    v.insert("error".into(), Value::Null);
    v.insert("incomplete_details".into(), incomplete);
    v.insert("instructions".into(), Value::Null);
    v.insert("metadata".into(), json!({}));
    v.insert("model".into(), json!(model));
    v.insert("output".into(), Value::Array(output));
    v.insert("parallel_tool_calls".into(), json!(true));
    v.insert("tool_choice".into(), json!("auto"));
    v.insert("tools".into(), json!([]));
    v.insert(
        "usage".into(),
        usage.map(usage_value).unwrap_or(Value::Null),
    );
    Value::Object(v)
}

/// Writes a complete Responses object: the items in the provider's order, as a stream gives
/// them: consecutive text parts as one `message` item, each tool call a `function_call` item.
pub(crate) fn write_response(resp: &Response) -> Value {
    let mut output: Vec<Value> = Vec::new();
    let mut text: Option<String> = None;
    let mut messages = 0;
    let mut flush = |text: &mut Option<String>, output: &mut Vec<Value>| {
        if let Some(t) = text.take().filter(|t| !t.is_empty()) {
            let id = match messages {
                0 => format!("msg_{}", resp.id),
                n => format!("msg_{}_{n}", resp.id),
            };
            messages += 1;
            output.push(message_item(&id, &t, "completed"));
        }
    };
    for part in &resp.content {
        match part {
            Part::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            Part::ToolUse { id, name, input } => {
                flush(&mut text, &mut output);
                output.push(call_item(id, name, &input.to_string(), "completed"));
            }
            _ => {}
        }
    }
    flush(&mut text, &mut output);
    let (status, incomplete) = status(resp.stop);
    response_object(
        &response_id(&resp.id),
        &resp.model,
        now_secs(),
        status,
        incomplete,
        output,
        Some(&resp.usage),
    )
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
