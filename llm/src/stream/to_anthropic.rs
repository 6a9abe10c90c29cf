//! An OpenAI chat completion stream (provider) as an Anthropic Messages stream (client).
//!
//! Chunks map to blocks: text deltas open a `text` block, a tool call's first delta (with
//! its `id` and `name`) opens a `tool_use` block and its `arguments` fragments become
//! `input_json_delta`s, each block is closed (`content_block_stop`) when the next one opens
//! or the choice finishes. `message_delta` (stop reason and usage) and `message_stop` wait
//! for `[DONE]`, because OpenAI sends usage in its own chunk after the one with
//! `finish_reason`. Input tokens are only known then, so `message_start` says 0 and
//! `message_delta` carries every count (Anthropic's SDKs take input and cache counts from
//! `message_delta` when present).

use serde_json::{json, Value};

use super::{sse_out, Meter, Outcome};
use crate::client_error::ErrorKind;
use crate::ir::StopReason;
use crate::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    Tool(usize),
}

impl Open {
    fn index(self) -> usize {
        match self {
            Open::Text(i) | Open::Tool(i) => i,
        }
    }
}

/// The translator's state for one response.
#[derive(Debug, Default)]
pub(crate) struct ToAnthropic {
    started: bool,
    next_index: usize,
    open: Option<Open>,
    /// OpenAI tool call index, Anthropic block index, call id.
    tools: Vec<(u64, usize, String)>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
}

impl ToAnthropic {
    /// One `data:` payload of the provider's stream.
    pub(crate) fn event(&mut self, data: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        if data.trim() == "[DONE]" {
            self.end(meter, out);
            return;
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                meter.fail(
                    Outcome::Malformed(format!("chunk is not JSON: {e}")),
                    ErrorKind::Server,
                    out,
                );
                return;
            }
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider failed mid-stream")
                .to_string();
            meter.fail(Outcome::ProviderError(message), ErrorKind::Server, out);
            return;
        }
        self.start(&chunk, out);
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let usage = Usage::from_openai(usage);
            meter.usage = usage;
            self.usage = Some(usage);
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            })
        else {
            return;
        };
        if let Some(delta) = choice.get("delta") {
            for key in ["content", "refusal"] {
                if let Some(text) = delta
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    let index = self.text_block(out);
                    meter.token();
                    sse_out::event(
                        out,
                        "content_block_delta",
                        &json!({"type": "content_block_delta",
                        "index": index, "delta": {"type": "text_delta", "text": text}}),
                    );
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    self.tool_delta(call, meter, out);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop = Some(StopReason::from_openai(reason));
            self.close(out);
        }
    }

    fn start(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let id = chunk.get("id").and_then(Value::as_str).unwrap_or("msg");
        let model = chunk.get("model").and_then(Value::as_str).unwrap_or("");
        sse_out::event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            sse_out::event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": open.index()}),
            );
        }
    }

    fn open(&mut self, out: &mut Vec<u8>, block: Value, tool: bool) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        sse_out::event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start",
            "index": index, "content_block": block}),
        );
        self.open = Some(if tool {
            Open::Tool(index)
        } else {
            Open::Text(index)
        });
        index
    }

    fn text_block(&mut self, out: &mut Vec<u8>) -> usize {
        match self.open {
            Some(Open::Text(i)) => i,
            _ => self.open(out, json!({"type": "text", "text": ""}), false),
        }
    }

    fn tool_delta(&mut self, call: &Value, meter: &mut Meter, out: &mut Vec<u8>) {
        let openai_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let function = call.get("function");
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let known = self.tools.iter().find(|t| t.0 == openai_index);
        // A call's first delta carries its id and name. Some servers repeat the id on every
        // delta of a call, and some number every call 0: a new call is an unknown index or
        // a different id at a known one.
        let index = match (known, id) {
            (Some(t), None) => t.1,
            (Some(t), Some(id)) if t.2 == id => t.1,
            _ => {
                let id = id
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("toolu_{openai_index}"));
                let name = function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let index = self.open(out, block, true);
                self.tools.retain(|t| t.0 != openai_index);
                self.tools.push((openai_index, index, id));
                meter.token();
                index
            }
        };
        if let Some(args) = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            meter.token();
            sse_out::event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta",
                "index": index, "delta": {"type": "input_json_delta", "partial_json": args}}),
            );
        }
    }

    /// The end of the message: `[DONE]`, or the end of a body that had a finish reason.
    fn end(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        self.start(&Value::Null, out);
        self.close(out);
        let usage = self.usage.unwrap_or_default();
        sse_out::event(
            out,
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop.unwrap_or(StopReason::EndTurn).anthropic(), "stop_sequence": null},
            "usage": usage.to_anthropic()}),
        );
        sse_out::event(out, "message_stop", &json!({"type": "message_stop"}));
        meter.outcome = Outcome::Completed;
    }

    /// The provider's body ended without `[DONE]`: complete if the choice had finished
    /// (some OpenAI-compatible servers omit `[DONE]`); the caller reports the rest as cut.
    pub(crate) fn finish(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        if self.stop.is_some() {
            self.end(meter, out);
        }
    }
}
