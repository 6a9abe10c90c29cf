//! An Anthropic Messages stream (provider) as an OpenAI chat completion stream (client).
//!
//! `message_start` gives the first chunk (`role: assistant`), text deltas become `content`
//! deltas, a `tool_use` block start becomes a tool call's first delta (`id`, `name`, empty
//! `arguments`) and its `input_json_delta`s become `arguments` fragments, `message_delta`
//! gives the chunk with `finish_reason`, and `message_stop` the usage chunk (empty
//! `choices`, only when the client asked with `stream_options.include_usage`) and
//! `data: [DONE]`. Usage is merged from `message_start` and `message_delta` both.

use serde_json::{json, Value};

use super::{sse_out, Meter, Outcome};
use crate::client_error::{read_error_body, ErrorKind};
use crate::ir::{now_secs, StopReason};
use crate::usage::AnthropicUsage;
use crate::Usage;

/// The translator's state for one response.
#[derive(Debug)]
pub(crate) struct ToOpenAi {
    include_usage: bool,
    id: String,
    model: String,
    created: u64,
    /// Anthropic block index to OpenAI tool call index, for `tool_use` blocks.
    tools: Vec<(u64, u64)>,
    next_tool: u64,
    usage: AnthropicUsage,
    usage_override: Option<Usage>,
}

impl ToOpenAi {
    pub(crate) fn new(include_usage: bool) -> Self {
        ToOpenAi {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            tools: Vec::new(),
            next_tool: 0,
            usage: AnthropicUsage::default(),
            usage_override: None,
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        sse_out::data(
            out,
            &json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            }),
        );
    }

    /// One event of the provider's stream: its name (`message` when the event had none: the
    /// data's `type` is used then) and data.
    pub(crate) fn event(&mut self, name: &str, data: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                meter.fail(
                    Outcome::Malformed(format!("{name} event is not JSON: {e}")),
                    ErrorKind::Server,
                    out,
                );
                return;
            }
        };
        let kind = match name {
            "message" | "" => v.get("type").and_then(Value::as_str).unwrap_or(""),
            n => n,
        };
        self.handle(kind, &v, meter, out);
    }

    /// Sets the usage the final usage chunk reports and the meter keeps, for a source whose
    /// counts Anthropic's `usage` cannot hold whole (reasoning tokens from Gemini).
    pub(crate) fn set_usage(&mut self, usage: Usage) {
        self.usage_override = Some(usage);
    }

    fn usage(&self) -> Usage {
        self.usage_override.unwrap_or_else(|| self.usage.usage())
    }

    /// One Anthropic event, already read: its type and JSON.
    pub(crate) fn handle(&mut self, kind: &str, v: &Value, meter: &mut Meter, out: &mut Vec<u8>) {
        match kind {
            "message_start" => {
                let message = v.get("message").unwrap_or(&Value::Null);
                let text = |k: &str| {
                    message
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                self.id = text("id");
                self.model = text("model");
                if let Some(usage) = message.get("usage") {
                    self.usage.merge(usage);
                    meter.usage = self.usage();
                }
                self.chunk(out, json!({"role": "assistant", "content": ""}), None);
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let tool = self.next_tool;
                        self.next_tool += 1;
                        self.tools.push((index, tool));
                        meter.token();
                        self.chunk(out, json!({"tool_calls": [{"index": tool,
                            "id": block.get("id").and_then(Value::as_str).unwrap_or(""),
                            "type": "function",
                            "function": {"name": block.get("name").and_then(Value::as_str).unwrap_or(""),
                                         "arguments": ""}}]}), None);
                    }
                    Some("text") => {
                        if let Some(text) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            meter.token();
                            self.chunk(out, json!({"content": text}), None);
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = v.get("delta").unwrap_or(&Value::Null);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        meter.token();
                        self.chunk(out, json!({"content": text}), None);
                    }
                    Some("input_json_delta") => {
                        let Some(&(_, tool)) = self.tools.iter().find(|t| t.0 == index) else {
                            return;
                        };
                        let args = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        meter.token();
                        self.chunk(out, json!({"tool_calls": [{"index": tool, "function": {"arguments": args}}]}), None);
                    }
                    // thinking, signature and citations deltas have no place in a chat chunk.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(usage) = v.get("usage") {
                    self.usage.merge(usage);
                    meter.usage = self.usage();
                }
                let reason = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                    .map(StopReason::from_anthropic)
                    .unwrap_or(StopReason::EndTurn);
                self.chunk(out, json!({}), Some(reason.openai()));
            }
            "message_stop" => {
                if self.include_usage {
                    sse_out::data(
                        out,
                        &json!({
                            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                            "model": self.model, "choices": [], "usage": self.usage().to_openai(),
                        }),
                    );
                }
                sse_out::done(out);
                meter.outcome = Outcome::Completed;
            }
            "error" => {
                let (kind, message) = read_error_body(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    v.to_string().as_bytes(),
                );
                let kind = match v
                    .get("error")
                    .and_then(|e| e.get("type"))
                    .and_then(Value::as_str)
                {
                    Some("overloaded_error") => ErrorKind::Overloaded,
                    Some("rate_limit_error") => ErrorKind::RateLimit,
                    _ => kind,
                };
                meter.fail(Outcome::ProviderError(message), kind, out);
            }
            // ping, and event types added later.
            _ => {}
        }
    }
}
