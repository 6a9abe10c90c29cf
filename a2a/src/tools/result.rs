//! Maps what the agent said ([`Outcome`]) or why it could not ([`CallFailure`]) to an MCP tool
//! result the model can act on.
//!
//! - Content: the artifacts' parts, then the agent's reply message. Text parts become text;
//!   data parts become JSON text (and, when there is exactly one, `structuredContent`); file
//!   parts with bytes become an image, audio or embedded resource, file parts with a URL a
//!   resource link.
//! - State: `completed` (or a direct message) is a success; `failed` / `rejected` / `canceled`
//!   are `isError` with the agent's explanation; `input-required` / `auth-required` are *not*
//!   errors — the model gets the agent's question and the exact way to answer it (call again
//!   with `taskId` and `contextId`). A task left `working` is an error (the stream ended early).
//! - Every result ends with a line naming the task, context and state, and carries them in
//!   `_meta["switchboard/a2a"]`, so the model (or a client) can continue the conversation.

use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject, Resource, ResourceContents};
use serde_json::{json, Map, Value};

use super::call::CallFailure;
use super::outcome::{part_text, Outcome};
use crate::events::TaskState;

/// The `_meta` key carrying `{taskId, contextId, state}` (and `error` on failures).
pub const META_KEY: &str = "switchboard/a2a";

/// The tool result for a finished call.
pub fn to_call_result(outcome: &Outcome) -> CallToolResult {
    let state = outcome.state;
    let mut blocks = Vec::new();
    let mut data = Vec::new();
    match state {
        Some(s) if s.is_interrupted() => return interrupted(outcome, s),
        Some(TaskState::Failed | TaskState::Rejected | TaskState::Canceled) => {
            let s = state.unwrap_or(TaskState::Unknown);
            let why = reply_text(outcome);
            let mut text = format!("The agent {} the task.", verb(s));
            if !why.is_empty() {
                text.push_str(&format!(" It said: {why}"));
            }
            blocks.push(ContentBlock::text(text));
            for a in &outcome.artifacts {
                blocks.extend(a.parts.iter().map(|p| part_block(p, &mut data)));
            }
            blocks.push(ContentBlock::text(trailer(outcome)));
            return finish(CallToolResult::error(blocks), outcome, None);
        }
        _ => {}
    }
    for a in &outcome.artifacts {
        blocks.extend(a.parts.iter().map(|p| part_block(p, &mut data)));
    }
    for m in reply_messages(outcome) {
        if let Some(parts) = m.get("parts").and_then(Value::as_array) {
            blocks.extend(parts.iter().map(|p| part_block(p, &mut data)));
        }
    }
    let finished = matches!(state, None | Some(TaskState::Completed));
    if !finished {
        // The agent stopped sending (stream closed, or a non-blocking answer) before the task
        // was done: whatever arrived is shown, but the call did not succeed.
        blocks.insert(
            0,
            ContentBlock::text(format!(
                "The agent stopped answering before the task finished (last state: {}). \
                 Partial output follows, if any.",
                state.map_or("unknown", TaskState::as_str)
            )),
        );
    } else if blocks.is_empty() {
        blocks.push(ContentBlock::text("The agent finished without output."));
    }
    blocks.push(ContentBlock::text(trailer(outcome)));
    let mut result = if finished {
        CallToolResult::success(blocks)
    } else {
        CallToolResult::error(blocks)
    };
    if let [one] = data.as_slice() {
        result.structured_content = Some(one.clone());
    }
    finish(result, outcome, None)
}

/// The tool result for a call that failed; what arrived before the failure is kept.
pub fn failure_result(failure: &CallFailure, outcome: &Outcome) -> CallToolResult {
    let mut text = format!("The A2A call failed: {failure}.");
    if let Some(hint) = failure.hint() {
        text.push(' ');
        text.push_str(hint);
    }
    let mut blocks = vec![ContentBlock::text(text)];
    let mut data = Vec::new();
    for a in &outcome.artifacts {
        blocks.extend(a.parts.iter().map(|p| part_block(p, &mut data)));
    }
    if outcome.task_id.is_some() || outcome.context_id.is_some() {
        blocks.push(ContentBlock::text(trailer(outcome)));
    }
    let error = match failure {
        CallFailure::Rpc {
            code,
            message,
            data,
            ..
        } => json!({"code": code, "message": message, "data": data}),
        other => json!({"message": other.to_string()}),
    };
    finish(CallToolResult::error(blocks), outcome, Some(error))
}

fn verb(s: TaskState) -> &'static str {
    match s {
        TaskState::Rejected => "rejected",
        TaskState::Canceled => "canceled",
        _ => "failed",
    }
}

/// `input-required` / `auth-required`: the question and how to answer it; not an error.
fn interrupted(outcome: &Outcome, state: TaskState) -> CallToolResult {
    let question = reply_text(outcome);
    let task = outcome.task_id.as_deref().unwrap_or("");
    let context = outcome.context_id.as_deref().unwrap_or("");
    let mut blocks = Vec::new();
    if question.is_empty() {
        blocks.push(ContentBlock::text(
            "(the agent did not say what it needs)".to_owned(),
        ));
    } else {
        blocks.push(ContentBlock::text(question.clone()));
    }
    let what = if state == TaskState::AuthRequired {
        "The agent needs authorization (auth-required): complete what it asks for, then call \
         this tool again"
    } else {
        "The agent needs more input: call this tool again"
    };
    blocks.push(ContentBlock::text(format!(
        "{what} with taskId=\"{task}\" and contextId=\"{context}\" and your answer as message."
    )));
    let mut result = CallToolResult::success(blocks);
    result.structured_content = Some(json!({
        "state": state.as_str(),
        "taskId": task,
        "contextId": context,
        "question": question,
    }));
    finish(result, outcome, None)
}

/// The agent's own words: the last status message, else direct messages, else the history
/// reply.
fn reply_messages(outcome: &Outcome) -> Vec<&Value> {
    if let Some(m) = &outcome.status_message {
        return vec![m];
    }
    if !outcome.messages.is_empty() {
        return outcome.messages.iter().collect();
    }
    if outcome.artifacts.is_empty() {
        return outcome.history_reply.iter().collect();
    }
    Vec::new()
}

fn reply_text(outcome: &Outcome) -> String {
    reply_messages(outcome)
        .iter()
        .filter_map(|m| m.get("parts").and_then(Value::as_array))
        .flatten()
        .filter_map(part_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `[A2A task T: completed; contextId C. Pass contextId="C" to continue this conversation.]`
fn trailer(outcome: &Outcome) -> String {
    let state = outcome.state.map_or("message", TaskState::as_str);
    let mut s = match &outcome.task_id {
        Some(t) => format!("[A2A task {t}: {state}"),
        None => format!("[A2A {state}"),
    };
    match &outcome.context_id {
        Some(c) => s.push_str(&format!(
            "; contextId {c}. Pass contextId=\"{c}\" to continue this conversation.]"
        )),
        None => s.push(']'),
    }
    s
}

fn finish(mut result: CallToolResult, outcome: &Outcome, error: Option<Value>) -> CallToolResult {
    let mut info = Map::new();
    if let Some(t) = &outcome.task_id {
        info.insert("taskId".into(), json!(t));
    }
    if let Some(c) = &outcome.context_id {
        info.insert("contextId".into(), json!(c));
    }
    if let Some(s) = outcome.state {
        info.insert("state".into(), json!(s.as_str()));
    }
    if let Some(e) = error {
        info.insert("error".into(), e);
    }
    let mut meta = MetaObject::new();
    meta.0.insert(META_KEY.into(), Value::Object(info));
    result.meta = Some(meta);
    result
}

/// One A2A part (either dialect) as an MCP content block; data parts are also pushed to
/// `data` (for `structuredContent`).
pub fn part_block(part: &Value, data: &mut Vec<Value>) -> ContentBlock {
    let kind = part.get("kind").and_then(Value::as_str);
    if let Some(text) = part_text(part) {
        return ContentBlock::text(text);
    }
    if matches!(kind, Some("data") | None) {
        if let Some(d) = part.get("data") {
            data.push(d.clone());
            return ContentBlock::text(d.to_string());
        }
    }
    // 0.3 `{kind: file, file: {bytes|uri, mimeType, name}}`; 1.0 `{raw|url, mediaType, filename}`.
    let (file, bytes_key, uri_key, mime_key, name_key) = match part.get("file") {
        Some(f) if kind == Some("file") || kind.is_none() => {
            (f, "bytes", "uri", "mimeType", "name")
        }
        _ => (part, "raw", "url", "mediaType", "filename"),
    };
    let mime = file.get(mime_key).and_then(Value::as_str);
    let name = file.get(name_key).and_then(Value::as_str);
    if let Some(b64) = file.get(bytes_key).and_then(Value::as_str) {
        return bytes_block(b64, mime, name);
    }
    if let Some(uri) = file.get(uri_key).and_then(Value::as_str) {
        let mut r = Resource::new(uri, name.unwrap_or(uri));
        if let Some(m) = mime {
            r = r.with_mime_type(m);
        }
        return ContentBlock::resource_link(r);
    }
    // Not a part this adapter knows: show it rather than drop it.
    ContentBlock::text(part.to_string())
}

fn bytes_block(b64: &str, mime: Option<&str>, name: Option<&str>) -> ContentBlock {
    let mime = mime.unwrap_or("application/octet-stream");
    if mime.starts_with("image/") {
        return ContentBlock::image(b64, mime);
    }
    if mime.starts_with("audio/") {
        return ContentBlock::audio(b64, mime);
    }
    let uri = format!(
        "a2a:///files/{}",
        percent_encoding::utf8_percent_encode(
            name.unwrap_or("file"),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let texty = mime.starts_with("text/") || mime == "application/json" || mime.ends_with("+json");
    if texty {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some(text) = decoded {
            return ContentBlock::resource(ResourceContents::text(text, uri).with_mime_type(mime));
        }
    }
    ContentBlock::resource(ResourceContents::blob(b64, uri).with_mime_type(mime))
}

#[cfg(test)]
#[path = "result_tests.rs"]
mod tests;
