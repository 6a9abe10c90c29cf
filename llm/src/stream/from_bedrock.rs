//! A Bedrock ConverseStream body (provider) for either client.
//!
//! The body is AWS's binary event stream (`application/vnd.amazon.eventstream`), not SSE:
//! frames with a length prelude, headers and a CRC, decoded by `aws-smithy-eventstream`
//! as the bytes arrive, whatever their chunking. Each frame's `:message-type` is `event`
//! (named by `:event-type`, a JSON payload) or `exception` (named by `:exception-type`,
//! payload `{"message"}`), which ends the client's stream with an error event.
//!
//! Events map almost one to one to Anthropic's: `messageStart`, `contentBlockStart` (tool
//! calls only: a text block starts with its first delta), `contentBlockDelta` (`text`,
//! `toolUse.input` fragments; `reasoningContent` is dropped), `contentBlockStop`,
//! `messageStop` (the stop reason) and `metadata` (usage), which comes last and ends the
//! message. A body that ends after `messageStop` without `metadata` still completes.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::BytesMut;
use serde_json::Value;

use super::{blocks::Blocks, Meter, Outcome, MAX_EVENT};
use crate::bedrock;
use crate::client_error::ErrorKind;

/// The translator's state for one response.
#[derive(Debug)]
pub(crate) struct FromBedrock {
    blocks: Blocks,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    /// The decoder holds the prelude of a frame whose rest has not arrived.
    mid_frame: bool,
    id: String,
}

fn header<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// The kind of a ConverseStream exception, by its documented names.
fn exception_kind(name: &str) -> ErrorKind {
    match name {
        "throttlingException" => ErrorKind::RateLimit,
        "serviceUnavailableException" => ErrorKind::Overloaded,
        "validationException" => ErrorKind::InvalidRequest,
        "accessDeniedException" => ErrorKind::Permission,
        "modelTimeoutException" => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    }
}

impl FromBedrock {
    /// `blocks`: the writer for the client's format.
    pub(crate) fn new(blocks: Blocks) -> Self {
        FromBedrock {
            blocks,
            buf: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            mid_frame: false,
            id: format!("msg_bedrock_{}", crate::ir::now_secs()),
        }
    }

    /// The next bytes of the body.
    pub(crate) fn push(&mut self, chunk: &[u8], meter: &mut Meter, out: &mut Vec<u8>) {
        self.buf.extend_from_slice(chunk);
        while meter.outcome == Outcome::InProgress {
            let before = self.buf.len();
            match self.decoder.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(msg)) => {
                    self.mid_frame = false;
                    self.message(&msg, meter, out);
                }
                Ok(DecodedFrame::Incomplete) => {
                    self.mid_frame |= self.buf.len() != before;
                    if self.buf.len() > MAX_EVENT {
                        let outcome = Outcome::Malformed(format!(
                            "a provider event was larger than {MAX_EVENT} bytes"
                        ));
                        meter.fail(outcome, ErrorKind::Server, out);
                    }
                    return;
                }
                Err(e) => {
                    let outcome = Outcome::Malformed(format!("unreadable event-stream frame: {e}"));
                    meter.fail(outcome, ErrorKind::Server, out);
                }
            }
        }
    }

    fn message(&mut self, msg: &Message, meter: &mut Meter, out: &mut Vec<u8>) {
        let payload: Value = serde_json::from_slice(msg.payload()).unwrap_or(Value::Null);
        match header(msg, ":message-type") {
            Some("event") => {}
            Some("exception") => {
                let name = header(msg, ":exception-type").unwrap_or("exception");
                let message = payload
                    .get("message")
                    .or_else(|| payload.get("Message"))
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("bedrock {name}"), |m| format!("{name}: {m}"));
                meter.fail(Outcome::ProviderError(message), exception_kind(name), out);
                return;
            }
            // `error` frames (`:error-code`, `:error-message` headers), and anything else.
            other => {
                let message = header(msg, ":error-message")
                    .or(header(msg, ":error-code"))
                    .map_or_else(
                        || format!("bedrock stream message {other:?}"),
                        str::to_string,
                    );
                meter.fail(Outcome::ProviderError(message), ErrorKind::Server, out);
                return;
            }
        }
        let Some(event) = header(msg, ":event-type") else {
            return;
        };
        if !payload.is_object() {
            let outcome = Outcome::Malformed(format!("{event} event is not a JSON object"));
            meter.fail(outcome, ErrorKind::Server, out);
            return;
        }
        // The wire payload is the event's own members; tolerate the wrapped form
        // (`{"contentBlockDelta": {...}}`) the JSON renderings of the API show.
        let v = payload
            .get(event)
            .filter(|v| v.is_object())
            .unwrap_or(&payload);
        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        match event {
            "messageStart" => self.blocks.start(&self.id, "", meter, out),
            "contentBlockStart" => {
                self.blocks.start(&self.id, "", meter, out);
                if let Some(tool) = v.pointer("/start/toolUse") {
                    let id = s(tool, "/toolUseId").unwrap_or_default();
                    let name = s(tool, "/name").unwrap_or_default();
                    self.blocks.tool_start(&id, &name, meter, out);
                }
            }
            "contentBlockDelta" => {
                self.blocks.start(&self.id, "", meter, out);
                if let Some(text) = s(v, "/delta/text") {
                    self.blocks.text(&text, meter, out);
                } else if let Some(args) = s(v, "/delta/toolUse/input") {
                    self.blocks.tool_args(&args, meter, out);
                }
            }
            "contentBlockStop" => self.blocks.close(meter, out),
            "messageStop" => {
                let reason = s(v, "/stopReason").unwrap_or_default();
                self.blocks.stop = Some(bedrock::stop_reason(&reason));
            }
            "metadata" => {
                if let Some(u) = v.get("usage") {
                    self.blocks.set_usage(bedrock::usage(u), meter);
                }
                self.blocks.end(meter, out);
            }
            _ => {}
        }
    }

    /// The body ended: complete if the stop reason was seen and no frame was cut (the
    /// caller reports the rest as cut).
    pub(crate) fn finish(&mut self, meter: &mut Meter, out: &mut Vec<u8>) {
        if self.blocks.stop.is_some() && !self.mid_frame && self.buf.is_empty() {
            self.blocks.end(meter, out);
        }
    }
}
