//! Anthropic Messages stream events (from Anthropic itself, or written by [`super::blocks`]
//! for Gemini and Bedrock) as an OpenAI Responses stream.
//!
//! `message_start` gives `response.created` and `response.in_progress`. A `text` block is a
//! `message` output item (`response.output_item.added`, `response.content_part.added`, one
//! `response.output_text.delta` per text delta, and at its `content_block_stop`
//! `response.output_text.done`, `response.content_part.done`, `response.output_item.done`).
//! A `tool_use` block is a `function_call` item whose `input_json_delta`s become
//! `response.function_call_arguments.delta`s. `message_delta` keeps the stop reason and
//! usage, and `message_stop` gives `response.completed` (or `response.incomplete` at the
//! token limit) with every item and the usage. Each event is `event: {type}` + `data` with
//! `type` and `sequence_number` (0, 1, 2…), as OpenAI streams them. Thinking blocks have no
//! item here and are dropped.

use serde_json::{json, Value};

use super::{sse_out, Meter, Outcome};
use crate::client_error::{read_error_body, ErrorKind};
use crate::ir::{now_secs, StopReason};
use crate::responses::{call_item, message_item, response_id, response_object, status};
use crate::usage::AnthropicUsage;
use crate::Usage;

#[derive(Debug)]
enum ItemKind {
    Message {
        text: String,
    },
    Call {
        call_id: String,
        name: String,
        args: String,
    },
}

/// One output item, open or done.
#[derive(Debug)]
struct Item {
    /// The Anthropic block index it comes from.
    block: u64,
    id: String,
    kind: ItemKind,
    done: bool,
}

impl Item {
    fn value(&self, status: &str) -> Value {
        match &self.kind {
            ItemKind::Message { text } => message_item(&self.id, text, status),
            ItemKind::Call {
                call_id,
                name,
                args,
            } => call_item(call_id, name, args_or_empty(args), status),
        }
    }
}

/// A call with no argument fragments had no arguments: `{}`, as OpenAI writes it.
fn args_or_empty(args: &str) -> &str {
    if args.is_empty() {
        "{}"
    } else {
        args
    }
}

/// The translator's state for one response.
#[derive(Debug)]
pub(crate) struct ToResponses {
    id: String,
    model: String,
    created_at: u64,
    started: bool,
    items: Vec<Item>,
    stop: Option<StopReason>,
    usage: AnthropicUsage,
    usage_override: Option<Usage>,
}

impl ToResponses {
    pub(crate) fn new() -> Self {
        ToResponses {
            id: String::new(),
            model: String::new(),
            created_at: now_secs(),
            started: false,
            items: Vec::new(),
            stop: None,
            usage: AnthropicUsage::default(),
            usage_override: None,
        }
    }

    /// Sets the usage reported at the end, for a source whose counts Anthropic's `usage`
    /// cannot hold whole (reasoning tokens from Gemini).
    pub(crate) fn set_usage(&mut self, usage: Usage) {
        self.usage_override = Some(usage);
    }

    fn usage(&self) -> Usage {
        self.usage_override.unwrap_or_else(|| self.usage.usage())
    }

    /// Writes one event, numbered.
    fn emit(&self, meter: &mut Meter, out: &mut Vec<u8>, kind: &str, mut v: Value) {
        v["type"] = json!(kind);
        let seq = meter.seq.get_or_insert(0);
        v["sequence_number"] = json!(*seq);
        *seq += 1;
        sse_out::event(out, kind, &v);
    }

    fn response(&self, status: &str, incomplete: Value, usage: Option<&Usage>) -> Value {
        let output = self
            .items
            .iter()
            .map(|i| i.value(if i.done { "completed" } else { "in_progress" }))
            .collect();
        response_object(
            &self.id,
            &self.model,
            self.created_at,
            status,
            incomplete,
            output,
            usage,
        )
    }

    /// One event of the provider's stream (name, data), as [`super::to_openai::ToOpenAi`]
    /// reads them.
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

    fn start(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        if self.id.is_empty() {
            self.id = response_id(&format!("gw_{}", self.created_at));
        }
        let shell = self.response("in_progress", Value::Null, None);
        self.emit(meter, out, "response.created", json!({"response": shell}));
        let shell = self.response("in_progress", Value::Null, None);
        self.emit(
            meter,
            out,
            "response.in_progress",
            json!({"response": shell}),
        );
    }

    fn position(&self, block: u64) -> Option<usize> {
        self.items.iter().position(|i| i.block == block && !i.done)
    }

    /// Closes the item of `block` (a `content_block_stop`, or the end of the message).
    fn close(&mut self, at: usize, meter: &mut Meter, out: &mut Vec<u8>) {
        self.items[at].done = true;
        let item = &self.items[at];
        let (id, index) = (item.id.clone(), at);
        match &item.kind {
            ItemKind::Message { text } => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                let text = text.clone();
                self.emit(
                    meter,
                    out,
                    "response.output_text.done",
                    json!({
                    "item_id": id, "output_index": index, "content_index": 0, "text": text,
                    "logprobs": []}),
                );
                self.emit(
                    meter,
                    out,
                    "response.content_part.done",
                    json!({
                    "item_id": id, "output_index": index, "content_index": 0, "part": part}),
                );
            }
            ItemKind::Call { name, args, .. } => {
                let (name, args) = (name.clone(), args_or_empty(args).to_string());
                self.emit(
                    meter,
                    out,
                    "response.function_call_arguments.done",
                    json!({
                    "item_id": id, "output_index": index, "name": name, "arguments": args}),
                );
            }
        }
        let item = self.items[at].value("completed");
        self.emit(
            meter,
            out,
            "response.output_item.done",
            json!({
            "output_index": index, "item": item}),
        );
    }

    fn text(&mut self, at: usize, text: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if let ItemKind::Message { text: all } = &mut self.items[at].kind {
            all.push_str(text);
        }
        meter.token();
        let id = self.items[at].id.clone();
        self.emit(
            meter,
            out,
            "response.output_text.delta",
            json!({
            "item_id": id, "output_index": at, "content_index": 0, "delta": text,
            "logprobs": []}),
        );
    }

    /// One Anthropic event, already read: its type and JSON.
    pub(crate) fn handle(&mut self, kind: &str, v: &Value, meter: &mut Meter, out: &mut Vec<u8>) {
        match kind {
            "message_start" => {
                let message = v.get("message").unwrap_or(&Value::Null);
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.id = response_id(id);
                }
                if let Some(model) = message.get("model").and_then(Value::as_str) {
                    self.model = model.to_string();
                }
                if let Some(usage) = message.get("usage") {
                    self.usage.merge(usage);
                    meter.usage = self.usage();
                }
                self.start(meter, out);
            }
            "content_block_start" => {
                self.start(meter, out);
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let text_of = |k: &str| {
                    block
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let at = self.items.len();
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let id = format!("msg_{}_{at}", self.id);
                        self.items.push(Item {
                            block: index,
                            id: id.clone(),
                            kind: ItemKind::Message {
                                text: String::new(),
                            },
                            done: false,
                        });
                        let mut item = self.items[at].value("in_progress");
                        item["content"] = json!([]);
                        self.emit(
                            meter,
                            out,
                            "response.output_item.added",
                            json!({
                            "output_index": at, "item": item}),
                        );
                        self.emit(
                            meter,
                            out,
                            "response.content_part.added",
                            json!({
                            "item_id": id, "output_index": at, "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": []}}),
                        );
                        self.text(at, &text_of("text"), meter, out);
                    }
                    Some("tool_use") => {
                        let call_id = text_of("id");
                        meter.token();
                        self.items.push(Item {
                            block: index,
                            id: format!("fc_{call_id}"),
                            kind: ItemKind::Call {
                                call_id,
                                name: text_of("name"),
                                args: String::new(),
                            },
                            done: false,
                        });
                        let mut item = self.items[at].value("in_progress");
                        item["arguments"] = json!("");
                        self.emit(
                            meter,
                            out,
                            "response.output_item.added",
                            json!({
                            "output_index": at, "item": item}),
                        );
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = v.get("delta").unwrap_or(&Value::Null);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some(at) = self.position(index) else {
                    return;
                };
                let piece = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match (
                    delta.get("type").and_then(Value::as_str),
                    &mut self.items[at].kind,
                ) {
                    (Some("text_delta"), ItemKind::Message { .. }) => {
                        self.text(at, piece("text"), meter, out);
                    }
                    (Some("input_json_delta"), ItemKind::Call { args, .. }) => {
                        let fragment = piece("partial_json");
                        if fragment.is_empty() {
                            return;
                        }
                        args.push_str(fragment);
                        meter.token();
                        let id = self.items[at].id.clone();
                        self.emit(
                            meter,
                            out,
                            "response.function_call_arguments.delta",
                            json!({
                            "item_id": id, "output_index": at, "delta": fragment}),
                        );
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(at) = self.position(index) {
                    self.close(at, meter, out);
                }
            }
            "message_delta" => {
                if let Some(usage) = v.get("usage") {
                    self.usage.merge(usage);
                    meter.usage = self.usage();
                }
                if let Some(reason) = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop = Some(StopReason::from_anthropic(reason));
                }
            }
            "message_stop" => {
                self.start(meter, out);
                while let Some(at) = self.items.iter().position(|i| !i.done) {
                    self.close(at, meter, out);
                }
                let usage = self.usage();
                meter.usage = usage;
                let (status, incomplete) = status(self.stop);
                let response = self.response(status, incomplete, Some(&usage));
                let kind = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.emit(meter, out, kind, json!({"response": response}));
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
                meter.fail(Outcome::ProviderError(message.clone()), kind, out);
                // The response itself ends failed, as OpenAI reports a failed response.
                let mut response = self.response("failed", Value::Null, Some(&self.usage()));
                response["error"] = json!({"code": kind.openai_type_code().0, "message": message});
                self.emit(meter, out, "response.failed", json!({"response": response}));
            }
            // ping, thinking blocks, and event types added later.
            _ => {}
        }
    }
}
