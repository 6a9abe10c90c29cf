//! The input tokens of an LLM request, estimated before it is sent (for token budgets): the
//! text of its messages, system prompt and tool definitions counted with OpenAI's `o200k_base`
//! vocabulary (offline, from `tiktoken-rs`), plus a few tokens per message for the framing.
//! Other providers' tokenizers differ by some percent; the real usage settles the difference.

use serde_json::Value;

/// Tokens each message adds beyond its text (role and separators, as OpenAI counts them).
const PER_MESSAGE: u64 = 4;

/// The estimated input tokens of a request body of either API (0 when it is not JSON).
pub(super) fn input_tokens(body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let mut text = String::new();
    let mut messages = 0u64;
    for key in ["messages", "input"] {
        if let Some(items) = v.get(key).and_then(Value::as_array) {
            messages += items.len() as u64;
            for m in items {
                collect_text(m.get("content").unwrap_or(m), &mut text);
            }
        }
    }
    for key in ["system", "prompt", "input", "instructions"] {
        if let Some(s) = v.get(key) {
            if !s.is_array() || key == "system" {
                collect_text(s, &mut text);
            }
        }
    }
    if let Some(tools) = v.get("tools") {
        // Definitions are sent to the model as text too.
        text.push_str(&tools.to_string());
    }
    let counted = tiktoken_rs::o200k_base_singleton().count_ordinary(&text) as u64;
    counted + messages * PER_MESSAGE
}

/// Appends the strings of `v` that are text: a string, or `text` fields of content parts
/// (tool call arguments and results included, as `input`/`content` strings).
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(o) => {
            for key in ["text", "content", "arguments", "input"] {
                if let Some(inner) = o.get(key) {
                    collect_text(inner, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_text_of_either_api() {
        let openai = br#"{"model":"m","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there, how are you today?"}]}"#;
        let anthropic = br#"{"model":"m","max_tokens":5,"system":"You are terse.","messages":[{"role":"user","content":[{"type":"text","text":"Hello there, how are you today?"}]}]}"#;
        let a = input_tokens(openai);
        let b = input_tokens(anthropic);
        // About 4 + 8 tokens of text plus framing: the same text gives close counts.
        assert!((10..30).contains(&a), "{a}");
        assert!((10..30).contains(&b), "{b}");
        assert!(a.abs_diff(b) <= PER_MESSAGE, "{a} vs {b}");
        // Longer text, more tokens; not JSON, nothing.
        let long = format!(
            r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
            "word ".repeat(1000)
        );
        assert!(input_tokens(long.as_bytes()) >= 1000);
        assert_eq!(input_tokens(b"not json"), 0);
    }
}
