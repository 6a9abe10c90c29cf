//! A streamed response in the client's format (OpenAI chat completion chunks or Anthropic
//! Messages events), guarded event by event.
//!
//! The text deltas of each choice (OpenAI) or content block (Anthropic) go through a
//! [`StreamMasker`] of their own, so a match split across events is still found, and an
//! event's text is replaced by what the masker released. What a masker still holds when its
//! choice finishes (`finish_reason`), its block stops (`content_block_stop`) or the message
//! ends is sent before that event: in the finishing chunk itself (OpenAI), or as one more
//! `text_delta` (Anthropic). Events without text pass as they came (re-framed). Under
//! `reject`, the first match stops the stream: nothing after it is sent, and the caller ends
//! the stream with an error event.

use std::collections::BTreeMap;
use std::sync::Arc;

use netkit::sse::EventFeed;
use serde_json::{json, Value};

use super::stream::{Released, StreamMasker};
use super::{Action, Detector};

/// The largest event read; a larger one passes through unread.
const MAX_EVENT: usize = 4 << 20;

/// The client's stream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completion chunks (`data:` lines, `[DONE]` last).
    OpenAiChat,
    /// Anthropic Messages events.
    Anthropic,
}

/// What one push gives.
#[derive(Debug, Default)]
pub struct Guarded {
    /// The bytes to send now.
    pub bytes: Vec<u8>,
    /// Rules that matched for the first time in this stream.
    pub matched: Vec<usize>,
    /// Under `reject`: the rule that matched; the stream is over, the caller ends it.
    pub rejected: Option<usize>,
}

/// The guard of one streamed response.
pub struct SseGuard {
    detector: Arc<Detector>,
    action: Action,
    format: Format,
    feed: EventFeed,
    channels: BTreeMap<u64, StreamMasker>,
    /// The last OpenAI chunk with choices, the frame of chunks the guard adds.
    template: Option<Value>,
    reported: Vec<bool>,
    over: bool,
}

impl std::fmt::Debug for SseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseGuard")
            .field("format", &self.format)
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl SseGuard {
    /// A guard of `detector`'s rules doing `action` on a stream of `format`.
    pub fn new(detector: Arc<Detector>, action: Action, format: Format) -> Self {
        let reported = vec![false; detector.len()];
        SseGuard {
            detector,
            action,
            format,
            feed: EventFeed::new(MAX_EVENT),
            channels: BTreeMap::new(),
            template: None,
            reported,
            over: false,
        }
    }

    /// The next bytes of the client's stream; what to send instead.
    pub fn push(&mut self, bytes: &[u8]) -> Guarded {
        let mut out = Guarded::default();
        if self.over {
            return out;
        }
        for event in self.feed.push(bytes) {
            match self.format {
                Format::OpenAiChat => self.openai(&event.data, &mut out),
                Format::Anthropic => self.anthropic(&event.event, &event.data, &mut out),
            }
            if out.rejected.is_some() {
                // What was written before is text that passed: it may go.
                self.over = true;
                break;
            }
        }
        out
    }

    /// The stream ended: what is still held, as a last text event of each channel.
    pub fn finish(&mut self) -> Guarded {
        let mut out = Guarded::default();
        if !self.over {
            self.flush_all(&mut out);
            self.over = true;
        }
        out
    }

    /// Notes what a masker released; `false` when the stream is rejected.
    fn note(&mut self, r: &Released, out: &mut Guarded) -> bool {
        for &rule in &r.rules {
            if let Some(seen) = self.reported.get_mut(rule) {
                if !*seen {
                    *seen = true;
                    out.matched.push(rule);
                }
            }
        }
        if self.action == Action::Reject {
            if let Some(&rule) = r.rules.first() {
                out.rejected = Some(rule);
                return false;
            }
        }
        true
    }

    fn masker(&mut self, channel: u64) -> &mut StreamMasker {
        let detector = &self.detector;
        self.channels
            .entry(channel)
            .or_insert_with(|| StreamMasker::new(detector.clone()))
    }

    /// Releases what every channel holds, as added events.
    fn flush_all(&mut self, out: &mut Guarded) {
        let channels: Vec<u64> = self.channels.keys().copied().collect();
        for ch in channels {
            self.flush(ch, out);
            if out.rejected.is_some() {
                return;
            }
        }
    }

    /// Releases what channel `ch` holds, as an added event.
    fn flush(&mut self, ch: u64, out: &mut Guarded) {
        let Some(mut masker) = self.channels.remove(&ch) else {
            return;
        };
        let r = masker.finish();
        if !self.note(&r, out) || r.text.is_empty() {
            return;
        }
        match self.format {
            Format::OpenAiChat => {
                let mut chunk = self.template.clone().unwrap_or_else(|| json!({}));
                chunk["choices"] = json!([{
                    "index": ch,
                    "delta": { "content": r.text },
                    "finish_reason": null
                }]);
                write_event(&mut out.bytes, "", &chunk.to_string());
            }
            Format::Anthropic => {
                let delta = json!({
                    "type": "content_block_delta",
                    "index": ch,
                    "delta": { "type": "text_delta", "text": r.text }
                });
                write_event(&mut out.bytes, "content_block_delta", &delta.to_string());
            }
        }
    }

    fn openai(&mut self, data: &str, out: &mut Guarded) {
        if data.trim() == "[DONE]" {
            self.flush_all(out);
            write_event(&mut out.bytes, "", data);
            return;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            write_event(&mut out.bytes, "", data);
            return;
        };
        let choices = match v.get_mut("choices") {
            Some(Value::Array(c)) if !c.is_empty() => std::mem::take(c),
            _ => {
                // The usage chunk, an error: the text before it goes first.
                self.flush_all(out);
                write_event(&mut out.bytes, "", data);
                return;
            }
        };
        let mut changed = false;
        let mut new_choices = Vec::with_capacity(choices.len());
        for mut c in choices {
            let ch = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let content = c
                .get("delta")
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let mut released = match &content {
                Some(text) => self.masker(ch).push(text),
                None => Released::default(),
            };
            if finished {
                if let Some(mut m) = self.channels.remove(&ch) {
                    let rest = m.finish();
                    released.text.push_str(&rest.text);
                    released.rules.extend(rest.rules);
                }
            }
            if !self.note(&released, out) {
                return;
            }
            if content.as_deref() != Some(released.text.as_str())
                && (content.is_some() || !released.text.is_empty())
            {
                changed = true;
                if let Some(delta) = c.get_mut("delta").filter(|d| d.is_object()) {
                    delta["content"] = Value::from(released.text);
                } else if let Some(obj) = c.as_object_mut() {
                    obj.insert("delta".into(), json!({ "content": released.text }));
                }
            }
            new_choices.push(c);
        }
        v["choices"] = Value::Array(new_choices);
        let mut template = v.clone();
        if let Some(obj) = template.as_object_mut() {
            if obj.contains_key("usage") {
                obj.insert("usage".into(), Value::Null);
            }
        }
        self.template = Some(template);
        if changed {
            write_event(&mut out.bytes, "", &v.to_string());
        } else {
            write_event(&mut out.bytes, "", data);
        }
    }

    fn anthropic(&mut self, name: &str, data: &str, out: &mut Guarded) {
        let v = serde_json::from_str::<Value>(data).ok();
        let kind = v
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let index = v
            .as_ref()
            .and_then(|v| v.get("index"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match kind.as_str() {
            "content_block_delta" => {
                let Some(mut v) = v else {
                    write_event(&mut out.bytes, name, data);
                    return;
                };
                let text = match v.get("delta") {
                    Some(d) if d.get("type").and_then(Value::as_str) == Some("text_delta") => {
                        d.get("text").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                let Some(text) = text else {
                    write_event(&mut out.bytes, name, data);
                    return;
                };
                let released = self.masker(index).push(&text);
                if !self.note(&released, out) {
                    return;
                }
                if released.text == text {
                    write_event(&mut out.bytes, name, data);
                } else if !released.text.is_empty() {
                    v["delta"]["text"] = Value::from(released.text);
                    write_event(&mut out.bytes, name, &v.to_string());
                }
            }
            "content_block_stop" => {
                self.flush(index, out);
                write_event(&mut out.bytes, name, data);
            }
            "message_delta" | "message_stop" | "error" => {
                self.flush_all(out);
                write_event(&mut out.bytes, name, data);
            }
            _ => write_event(&mut out.bytes, name, data),
        }
    }
}

/// One SSE event: `event:` (unless unnamed) and one `data:` line per line of `data`.
fn write_event(out: &mut Vec<u8>, name: &str, data: &str) {
    if !name.is_empty() && name != "message" {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}
