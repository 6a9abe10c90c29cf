//! Writing SSE events. JSON from `serde_json` has no raw newline, so one `data:` line holds
//! a whole event.

use serde_json::Value;

/// `data: {json}\n\n` (OpenAI chunks).
pub(crate) fn data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    // Writing a Value to a Vec cannot fail.
    serde_json::to_writer(&mut *out, v).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
}

/// `data: [DONE]\n\n`, the end of an OpenAI stream.
pub(crate) fn done(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: [DONE]\n\n");
}

/// `event: {name}\ndata: {json}\n\n` (Anthropic events).
pub(crate) fn event(out: &mut Vec<u8>, name: &str, v: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    serde_json::to_writer(&mut *out, v).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
}
