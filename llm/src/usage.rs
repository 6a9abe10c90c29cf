//! Token usage as read from either provider format and written in either client format.
//!
//! One meaning for every field, whatever the source, so metering and token budgets add up:
//! `input` counts every prompt token, cached ones included (OpenAI's `prompt_tokens`; for
//! Anthropic, `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`, since
//! Anthropic's `input_tokens` leaves the cached ones out), and `output` every generated token,
//! reasoning included. `cache_read`, `cache_creation` and `reasoning` are parts of those totals.

use serde_json::{json, Value};

/// Token counts of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub input: u64,
    /// All generated tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the provider's cache (part of `input`).
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache (part of `input`; Anthropic's
    /// `cache_creation_input_tokens`, OpenAI's `prompt_tokens_details.cache_write_tokens`).
    pub cache_creation: u64,
    /// Reasoning tokens (part of `output`; OpenAI only, Anthropic does not report them apart).
    pub reasoning: u64,
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

impl Usage {
    /// Whether no token was counted.
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }

    /// From an OpenAI chat `usage` object.
    pub fn from_openai(usage: &Value) -> Usage {
        let detail =
            |outer: &str, inner: &str| usage.get(outer).and_then(|d| count(d, inner)).unwrap_or(0);
        Usage {
            input: count(usage, "prompt_tokens").unwrap_or(0),
            output: count(usage, "completion_tokens").unwrap_or(0),
            cache_read: detail("prompt_tokens_details", "cached_tokens"),
            cache_creation: detail("prompt_tokens_details", "cache_write_tokens"),
            reasoning: detail("completion_tokens_details", "reasoning_tokens"),
        }
    }

    /// From a complete Anthropic `usage` object (a non-streamed message).
    pub fn from_anthropic(usage: &Value) -> Usage {
        let mut acc = AnthropicUsage::default();
        acc.merge(usage);
        acc.usage()
    }

    /// As an OpenAI chat `usage` object; `cache_creation` goes to
    /// `prompt_tokens_details.cache_write_tokens` (the OpenAI SDKs' field for it) when not 0.
    pub fn to_openai(&self) -> Value {
        let mut usage = json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.input + self.output,
            "prompt_tokens_details": { "cached_tokens": self.cache_read },
            "completion_tokens_details": { "reasoning_tokens": self.reasoning },
        });
        if self.cache_creation > 0 {
            usage["prompt_tokens_details"]["cache_write_tokens"] = json!(self.cache_creation);
        }
        usage
    }

    /// As an Anthropic `usage` object (`input_tokens` without the cached tokens).
    /// `reasoning` has no field there (it stays counted in `output_tokens`).
    pub fn to_anthropic(&self) -> Value {
        json!({
            "input_tokens": self.uncached_input(),
            "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
        })
    }

    fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_creation)
    }
}

/// Anthropic usage as it streams: `message_start` carries input and cache counts (and an
/// early `output_tokens`), `message_delta` carries the final cumulative `output_tokens` and,
/// from newer API versions, cumulative input and cache counts. A field present later
/// replaces the earlier value; a field absent keeps it (reading `message_delta` alone loses
/// the input and cache tokens, Envoy AI Gateway's bug #2290).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AnthropicUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl AnthropicUsage {
    /// Takes the fields present in `usage`.
    pub(crate) fn merge(&mut self, usage: &Value) {
        if let Some(n) = count(usage, "input_tokens") {
            self.input_tokens = n;
        }
        if let Some(n) = count(usage, "output_tokens") {
            self.output_tokens = n;
        }
        if let Some(n) = count(usage, "cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = count(usage, "cache_creation_input_tokens") {
            self.cache_creation = n;
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            input: self.input_tokens + self.cache_read + self.cache_creation,
            output: self.output_tokens,
            cache_read: self.cache_read,
            cache_creation: self.cache_creation,
            reasoning: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_usage_round_trips() {
        let wire = json!({
            "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 12}
        });
        let u = Usage::from_openai(&wire);
        assert_eq!(
            u,
            Usage {
                input: 120,
                output: 30,
                cache_read: 100,
                cache_creation: 0,
                reasoning: 12
            }
        );
        assert_eq!(Usage::from_openai(&u.to_openai()), u);
        // Anthropic's input_tokens leaves the cached tokens out.
        assert_eq!(u.to_anthropic()["input_tokens"], 20);
        assert_eq!(u.to_anthropic()["cache_read_input_tokens"], 100);
    }

    #[test]
    fn anthropic_usage_adds_cache_to_input() {
        let wire = json!({"input_tokens": 5, "output_tokens": 7,
            "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 20});
        let u = Usage::from_anthropic(&wire);
        assert_eq!(
            u,
            Usage {
                input: 1025,
                output: 7,
                cache_read: 1000,
                cache_creation: 20,
                reasoning: 0
            }
        );
        assert_eq!(u.to_anthropic(), wire);
        assert_eq!(u.to_openai()["prompt_tokens"], 1025);
        assert_eq!(
            u.to_openai()["prompt_tokens_details"]["cached_tokens"],
            1000
        );
    }

    #[test]
    fn anthropic_stream_usage_keeps_start_fields_absent_from_delta() {
        let mut acc = AnthropicUsage::default();
        acc.merge(&json!({"input_tokens": 25, "output_tokens": 1,
            "cache_read_input_tokens": 400, "cache_creation_input_tokens": 0}));
        acc.merge(&json!({"output_tokens": 89}));
        assert_eq!(
            acc.usage(),
            Usage {
                input: 425,
                output: 89,
                cache_read: 400,
                cache_creation: 0,
                reasoning: 0
            }
        );
        // Newer API versions repeat cumulative input and cache counts in message_delta.
        acc.merge(
            &json!({"output_tokens": 90, "input_tokens": 26, "cache_read_input_tokens": 401}),
        );
        assert_eq!(acc.usage().input, 427);
        assert_eq!(acc.usage().output, 90);
    }
}
