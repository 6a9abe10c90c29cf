//! A Gemini `streamGenerateContent?alt=sse` stream (provider) for either client.
//!
//! Each `data:` line is a whole `GenerateContentResponse` chunk: text parts continue the
//! open text block, each `functionCall` part (Gemini sends a call whole, never in
//! fragments) becomes a tool block with its arguments in one `input_json_delta`, and
//! `usageMetadata` (cumulative) replaces the usage. There is no `[DONE]`: the chunk with a
//! `finishReason` ends the message (or a `promptFeedback.blockReason`, a blocked prompt). A
//! chunk `{"error": {...}}` ends the client's stream with an error event.

use serde_json::Value;

use super::{blocks::Blocks, Meter, Outcome};
use crate::client_error::ErrorKind;
use crate::gemini::{self, GeminiPart};

/// The translator's state for one response.
#[derive(Debug)]
pub(crate) struct FromGemini {
    blocks: Blocks,
    id: String,
    calls: usize,
}

impl FromGemini {
    /// `blocks`: the writer for the client's format.
    pub(crate) fn new(blocks: Blocks) -> Self {
        FromGemini {
            blocks,
            id: String::new(),
            calls: 0,
        }
    }

    /// One `data:` payload.
    pub(crate) fn event(&mut self, data: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                let outcome = Outcome::Malformed("chunk is not a JSON object".into());
                meter.fail(outcome, ErrorKind::Server, out);
                return;
            }
            Err(e) => {
                let outcome = Outcome::Malformed(format!("chunk is not JSON: {e}"));
                meter.fail(outcome, ErrorKind::Server, out);
                return;
            }
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider failed mid-stream")
                .to_string();
            let kind = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| http::StatusCode::from_u16(u16::try_from(c).ok()?).ok())
                .map(ErrorKind::from_status)
                .unwrap_or(ErrorKind::Server);
            meter.fail(Outcome::ProviderError(message), kind, out);
            return;
        }
        if self.id.is_empty() {
            self.id = chunk
                .get("responseId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("gemini-{}", crate::ir::now_secs()));
        }
        if let Some(meta) = chunk.get("usageMetadata") {
            self.blocks.set_usage(gemini::usage(meta), meter);
        }
        let model = chunk
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.blocks.start(&self.id, model, meter, out);
        for part in gemini::candidate_parts(&chunk) {
            match part {
                GeminiPart::Text(t) => self.blocks.text(t, meter, out),
                GeminiPart::Call { id, name, args } => {
                    let id =
                        id.map_or_else(|| gemini::call_id(&self.id, self.calls), str::to_string);
                    self.calls += 1;
                    self.blocks.tool_start(&id, name, meter, out);
                    self.blocks.tool_args(&args.to_string(), meter, out);
                    self.blocks.close(meter, out);
                }
            }
        }
        if let Some(reason) = gemini::finish_reason(&chunk) {
            self.blocks.stop = Some(gemini::stop_reason(reason, self.calls > 0));
            self.blocks.end(meter, out);
        }
    }
}
