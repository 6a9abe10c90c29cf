//! The client side of the Gemini and Bedrock stream translators: a message written as
//! Anthropic events (`message_start`, blocks opened, filled and closed in order with indexes
//! 0, 1, 2…, `message_delta` with the stop reason and every usage count, `message_stop`),
//! sent as they are to an Anthropic client or through [`ToOpenAi`] to an OpenAI client. The
//! provider side only says what happened (text, a tool call, the stop, usage), so each
//! provider needs one translator for both client formats.

use serde_json::{json, Value};

use super::{sse_out, to_openai::ToOpenAi, to_responses::ToResponses, Meter, Outcome};
use crate::ir::StopReason;
use crate::Usage;

/// Where the events go.
#[derive(Debug)]
enum Sink {
    Anthropic,
    OpenAi(Box<ToOpenAi>),
    Responses(Box<ToResponses>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    Tool(usize),
}

/// The message being written.
#[derive(Debug)]
pub(crate) struct Blocks {
    sink: Sink,
    started: bool,
    next_index: usize,
    open: Option<Open>,
    /// The stop reason, once the provider said it.
    pub(crate) stop: Option<StopReason>,
    usage: Usage,
}

impl Blocks {
    /// Events for an Anthropic client.
    pub(crate) fn anthropic() -> Self {
        Blocks::new(Sink::Anthropic)
    }

    /// Chunks for an OpenAI chat client (the usage chunk if it asked for it).
    pub(crate) fn openai(include_usage: bool) -> Self {
        Blocks::new(Sink::OpenAi(Box::new(ToOpenAi::new(include_usage))))
    }

    /// Events for an OpenAI Responses client.
    pub(crate) fn responses() -> Self {
        Blocks::new(Sink::Responses(Box::new(ToResponses::new())))
    }

    fn new(sink: Sink) -> Self {
        Blocks {
            sink,
            started: false,
            next_index: 0,
            open: None,
            stop: None,
            usage: Usage::default(),
        }
    }

    fn emit(&mut self, kind: &str, v: Value, meter: &mut Meter, out: &mut Vec<u8>) {
        match &mut self.sink {
            Sink::Anthropic => sse_out::event(out, kind, &v),
            Sink::OpenAi(t) => t.handle(kind, &v, meter, out),
            Sink::Responses(t) => t.handle(kind, &v, meter, out),
        }
    }

    /// `message_start`, once (`id` and `model` as the provider named them, if it did).
    pub(crate) fn start(&mut self, id: &str, model: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let v = json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": self.usage.to_anthropic(),
        }});
        self.emit("message_start", v, meter, out);
    }

    /// The latest cumulative usage.
    pub(crate) fn set_usage(&mut self, usage: Usage, meter: &mut Meter) {
        self.usage = usage;
        meter.usage = usage;
    }

    /// Closes the open block, if any.
    pub(crate) fn close(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        if let Some(Open::Text(i) | Open::Tool(i)) = self.open.take() {
            let v = json!({"type": "content_block_stop", "index": i});
            self.emit("content_block_stop", v, meter, out);
        }
    }

    fn open(&mut self, block: Value, meter: &mut Meter, out: &mut Vec<u8>) -> usize {
        self.close(meter, out);
        let index = self.next_index;
        self.next_index += 1;
        let tool = block["type"] == "tool_use";
        let v = json!({"type": "content_block_start", "index": index, "content_block": block});
        self.emit("content_block_start", v, meter, out);
        self.open = Some(if tool {
            Open::Tool(index)
        } else {
            Open::Text(index)
        });
        index
    }

    /// Text, in the open text block or a new one.
    pub(crate) fn text(&mut self, text: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => self.open(json!({"type": "text", "text": ""}), meter, out),
        };
        meter.token();
        let v = json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "text_delta", "text": text}});
        self.emit("content_block_delta", v, meter, out);
    }

    /// A new tool call block.
    pub(crate) fn tool_start(
        &mut self,
        id: &str,
        name: &str,
        meter: &mut Meter,
        out: &mut Vec<u8>,
    ) {
        meter.token();
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        self.open(block, meter, out);
    }

    /// A fragment of the open tool call's arguments (JSON text); dropped when no tool block
    /// is open (a provider's delta without its start).
    pub(crate) fn tool_args(&mut self, json_text: &str, meter: &mut Meter, out: &mut Vec<u8>) {
        let Some(Open::Tool(index)) = self.open else {
            return;
        };
        if json_text.is_empty() {
            return;
        }
        meter.token();
        let v = json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": json_text}});
        self.emit("content_block_delta", v, meter, out);
    }

    /// The end of the message: the open block closed, `message_delta` (stop reason, usage)
    /// and `message_stop` (for an OpenAI client: the finish chunk, the usage chunk if asked,
    /// `[DONE]`).
    pub(crate) fn end(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        self.start("msg", "", meter, out);
        self.close(meter, out);
        let usage = self.usage;
        match &mut self.sink {
            Sink::OpenAi(t) => t.set_usage(usage),
            Sink::Responses(t) => t.set_usage(usage),
            Sink::Anthropic => {}
        }
        let stop = self.stop.unwrap_or(StopReason::EndTurn).anthropic();
        let v = json!({"type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": usage.to_anthropic()});
        self.emit("message_delta", v, meter, out);
        self.emit("message_stop", json!({"type": "message_stop"}), meter, out);
        meter.usage = usage;
        meter.outcome = Outcome::Completed;
    }
}
