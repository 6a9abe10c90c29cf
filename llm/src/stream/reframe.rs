//! A same-format OpenAI chat stream for a client that did not ask for usage: every event's
//! data goes through verbatim as `data: ...\n\n`, except the usage-only chunk (empty
//! `choices`) that the gateway asked the provider for on its own behalf, which is read and
//! kept back (a client that did not ask may index `choices[0]` of every chunk).

use serde_json::Value;

use super::{sse_out, Meter, Outcome};
use crate::client_error::ErrorKind;
use crate::Usage;

#[derive(Debug, Default)]
pub(crate) struct Reframe;

impl Reframe {
    pub(crate) fn event(&mut self, _name: &str, data: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        if data.trim() == "[DONE]" {
            sse_out::done(out);
            meter.outcome = Outcome::Completed;
            return;
        }
        // An unreadable event never reaches the client: the stream ends with an error event.
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(data) {
            let outcome = Outcome::Malformed(format!("chunk is not JSON: {e}"));
            meter.fail(outcome, ErrorKind::Server, out);
            return;
        }
        let mut keep_back = false;
        let needed =
            !meter.token_seen() || data.contains("\"usage\"") || data.contains("\"error\"");
        if needed {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("stream error");
                    meter.outcome = Outcome::ProviderError(message.to_string());
                }
                if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
                    meter.usage = Usage::from_openai(usage);
                    keep_back = v
                        .get("choices")
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.is_empty());
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
                    });
                if has_token {
                    meter.token();
                }
            }
        }
        if !keep_back {
            // The parser joined multi-line data with newlines: one `data:` line each again.
            for line in data.split('\n') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
            out.push(b'\n');
        }
    }
}
