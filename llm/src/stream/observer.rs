//! Same-format streams: the provider's bytes go to the client untouched; a copy is parsed
//! on the side for usage, the first token and the end of the stream.

use serde_json::Value;

use super::{Meter, Outcome};
use crate::usage::AnthropicUsage;
use crate::Usage;

/// Which provider format is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Chat completion chunks, `[DONE]` last, usage in the chunk with empty `choices`.
    OpenAiChat,
    /// Responses events, usage in `response.completed` (or `incomplete`/`failed`).
    OpenAiResponses,
    /// Anthropic events, usage in `message_start` and `message_delta`.
    Anthropic,
}

/// The observer's state for one response.
#[derive(Debug)]
pub(crate) struct Observer {
    family: Family,
    anthropic: AnthropicUsage,
}

impl Observer {
    pub(crate) fn new(family: Family) -> Self {
        Observer {
            family,
            anthropic: AnthropicUsage::default(),
        }
    }

    /// One event. Every event's data is checked to be JSON (a validating pass that builds
    /// nothing), since an unreadable event is a broken stream the client must not get; it is
    /// parsed only when it can matter (before the first token, or when it mentions usage or
    /// an error), so a long stream costs little more than the SSE split.
    pub(crate) fn event(&mut self, name: &str, data: &str, meter: &mut Meter) {
        // An event without data (a keep-alive some servers send) carries nothing to read.
        if data.trim().is_empty() {
            return;
        }
        if self.family == Family::OpenAiChat && data.trim() == "[DONE]" {
            meter.outcome = Outcome::Completed;
            return;
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(data) {
            let name = if name.is_empty() { "message" } else { name };
            meter.outcome = Outcome::Malformed(format!("{name} event is not JSON: {e}"));
            return;
        }
        match self.family {
            Family::OpenAiChat => {
                let needed =
                    !meter.token_seen() || data.contains("\"usage\"") || data.contains("\"error\"");
                if !needed {
                    return;
                }
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    return;
                };
                if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("stream error");
                    meter.outcome = Outcome::ProviderError(message.to_string());
                    return;
                }
                if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
                    meter.usage = Usage::from_openai(usage);
                }
                let has_token = v
                    .get("choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("delta"))
                    .any(|d| {
                        d.get("content")
                            .and_then(Value::as_str)
                            .is_some_and(|t| !t.is_empty())
                            || d.get("tool_calls").is_some_and(|t| !t.is_null())
                            || d.get("refusal")
                                .and_then(Value::as_str)
                                .is_some_and(|t| !t.is_empty())
                    });
                if has_token {
                    meter.token();
                }
            }
            Family::OpenAiResponses => match name {
                "response.output_text.delta"
                | "response.function_call_arguments.delta"
                | "response.refusal.delta" => meter.token(),
                "response.completed" | "response.incomplete" | "response.failed" => {
                    let Ok(v) = serde_json::from_str::<Value>(data) else {
                        return;
                    };
                    if let Some(u) = v
                        .get("response")
                        .and_then(|r| r.get("usage"))
                        .filter(|u| u.is_object())
                    {
                        meter.usage = responses_usage(u);
                    }
                    meter.outcome = if name == "response.failed" {
                        let message = v
                            .pointer("/response/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("response failed");
                        Outcome::ProviderError(message.to_string())
                    } else {
                        Outcome::Completed
                    };
                }
                "error" => {
                    let message = serde_json::from_str::<Value>(data)
                        .ok()
                        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_else(|| "stream error".into());
                    meter.outcome = Outcome::ProviderError(message);
                }
                _ => {}
            },
            Family::Anthropic => match name {
                "message_start" | "message_delta" => {
                    let Ok(v) = serde_json::from_str::<Value>(data) else {
                        return;
                    };
                    let usage = if name == "message_start" {
                        v.get("message").and_then(|m| m.get("usage"))
                    } else {
                        v.get("usage")
                    };
                    if let Some(usage) = usage {
                        self.anthropic.merge(usage);
                        meter.usage = self.anthropic.usage();
                    }
                }
                "content_block_delta" => meter.token(),
                // A tool call's name is its first output, as in the translated streams.
                "content_block_start" if !meter.token_seen() && data.contains("\"tool_use\"") => {
                    meter.token()
                }
                "message_stop" => meter.outcome = Outcome::Completed,
                "error" => {
                    let message = serde_json::from_str::<Value>(data)
                        .ok()
                        .and_then(|v| {
                            v.pointer("/error/message")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| "stream error".into());
                    meter.outcome = Outcome::ProviderError(message);
                }
                _ => {}
            },
        }
    }
}

/// Usage of an OpenAI Responses `response.usage` object.
pub(crate) fn responses_usage(u: &Value) -> Usage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("/input_tokens"),
        output: n("/output_tokens"),
        cache_read: n("/input_tokens_details/cached_tokens"),
        cache_creation: 0,
        reasoning: n("/output_tokens_details/reasoning_tokens"),
    }
}
