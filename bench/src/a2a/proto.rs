//! The A2A JSON-RPC messages of the benchmark, both sides: what the client sends, what the agent
//! answers, and the client's checks of the answers.
//!
//! Plain `serde_json` rather than the `a2a-lf` types: the messages are a handful of fixed shapes
//! in two dialects (1.0 and 0.3), the relay under test works on raw JSON too, and the types would
//! add a crate (and its chrono/uuid/base64 tree) for no measurement benefit. Shapes follow
//! `/work/shared/reference/a2a.md` §4.1, §5 and §7.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};

/// The protocol version a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// 1.0: PascalCase methods, `A2A-Version: 1.0`, `TASK_STATE_*`, one-of results.
    V1,
    /// 0.3: `message/send`, no version header, `kind` discriminators, `final` on updates.
    V03,
}

/// The task states the benchmark uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Submitted,
    Working,
    Completed,
}

impl Dialect {
    pub fn send_method(self) -> &'static str {
        match self {
            Dialect::V1 => "SendMessage",
            Dialect::V03 => "message/send",
        }
    }

    pub fn stream_method(self) -> &'static str {
        match self {
            Dialect::V1 => "SendStreamingMessage",
            Dialect::V03 => "message/stream",
        }
    }

    /// The `A2A-Version` header a client of this dialect sends (0.3 clients send none).
    pub fn version_header(self) -> Option<&'static str> {
        match self {
            Dialect::V1 => Some("1.0"),
            Dialect::V03 => None,
        }
    }

    /// The dialect of a method name and whether it streams; `None` for other methods.
    pub fn of_method(method: &str) -> Option<(Dialect, bool)> {
        match method {
            "SendMessage" => Some((Dialect::V1, false)),
            "SendStreamingMessage" => Some((Dialect::V1, true)),
            "message/send" => Some((Dialect::V03, false)),
            "message/stream" => Some((Dialect::V03, true)),
            _ => None,
        }
    }

    pub fn state(self, s: State) -> &'static str {
        match (self, s) {
            (Dialect::V1, State::Submitted) => "TASK_STATE_SUBMITTED",
            (Dialect::V1, State::Working) => "TASK_STATE_WORKING",
            (Dialect::V1, State::Completed) => "TASK_STATE_COMPLETED",
            (Dialect::V03, State::Submitted) => "submitted",
            (Dialect::V03, State::Working) => "working",
            (Dialect::V03, State::Completed) => "completed",
        }
    }
}

// ---- client side: requests ----

/// A `SendMessage` / `SendStreamingMessage` (or 0.3 `message/send` / `message/stream`) request
/// with one text part.
pub fn request_body(dialect: Dialect, stream: bool, id: u64, text: &str) -> Bytes {
    let method = if stream {
        dialect.stream_method()
    } else {
        dialect.send_method()
    };
    let message = match dialect {
        Dialect::V1 => json!({
            "messageId": format!("msg-{id}"),
            "role": "ROLE_USER",
            "parts": [{ "text": text }],
        }),
        Dialect::V03 => json!({
            "kind": "message",
            "messageId": format!("msg-{id}"),
            "role": "user",
            "parts": [{ "kind": "text", "text": text }],
        }),
    };
    let v = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"message": message}});
    Bytes::from(v.to_string())
}

// ---- agent side: answers ----

/// The text parts of `params.message`, joined (the same field name in both dialects).
pub fn message_text(params: &Value) -> String {
    params["message"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
}

fn text_part(dialect: Dialect, text: &str) -> Value {
    match dialect {
        Dialect::V1 => json!({ "text": text }),
        Dialect::V03 => json!({ "kind": "text", "text": text }),
    }
}

/// Task `n` in `state`; a completed task carries `text` as its artifact.
fn task(dialect: Dialect, n: u64, state: State, text: Option<&str>) -> Value {
    let mut t = json!({
        "id": format!("task-{n}"),
        "contextId": format!("ctx-{n}"),
        "status": { "state": dialect.state(state) },
    });
    if let Some(text) = text {
        t["artifacts"] = json!([{
            "artifactId": format!("art-{n}"),
            "name": "echo",
            "parts": [text_part(dialect, text)],
        }]);
    }
    if dialect == Dialect::V03 {
        t["kind"] = json!("task");
    }
    t
}

fn envelope(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The answer to a non-streaming send: task `n`, completed, echoing `text`.
pub fn send_reply(dialect: Dialect, id: &Value, n: u64, text: &str) -> Value {
    let t = task(dialect, n, State::Completed, Some(text));
    match dialect {
        Dialect::V1 => envelope(id, json!({ "task": t })),
        Dialect::V03 => envelope(id, t),
    }
}

/// A status update of task `n`; the completed one carries the echo as its message.
fn status_update(dialect: Dialect, n: u64, state: State, seq: usize, text: &str) -> Value {
    let mut status = json!({ "state": dialect.state(state) });
    if state == State::Completed {
        status["message"] = match dialect {
            Dialect::V1 => json!({
                "messageId": format!("reply-{n}"), "role": "ROLE_AGENT",
                "parts": [text_part(dialect, text)],
            }),
            Dialect::V03 => json!({
                "kind": "message", "messageId": format!("reply-{n}"), "role": "agent",
                "parts": [text_part(dialect, text)],
            }),
        };
    }
    let mut u = json!({
        "taskId": format!("task-{n}"),
        "contextId": format!("ctx-{n}"),
        "status": status,
        "metadata": { "seq": seq },
    });
    match dialect {
        Dialect::V1 => json!({ "statusUpdate": u }),
        Dialect::V03 => {
            u["kind"] = json!("status-update");
            u["final"] = json!(state == State::Completed);
            u
        }
    }
}

/// The events of one stream, SSE-framed: the submitted task, `updates` working updates, the
/// completed update with the echo.
pub fn stream_events(
    dialect: Dialect,
    id: &Value,
    n: u64,
    text: &str,
    updates: usize,
) -> Vec<Bytes> {
    let frame = |result: Value| Bytes::from(format!("data: {}\n\n", envelope(id, result)));
    let first = match dialect {
        Dialect::V1 => json!({ "task": task(dialect, n, State::Submitted, None) }),
        Dialect::V03 => task(dialect, n, State::Submitted, None),
    };
    let mut v = vec![frame(first)];
    for seq in 1..=updates {
        v.push(frame(status_update(dialect, n, State::Working, seq, text)));
    }
    v.push(frame(status_update(
        dialect,
        n,
        State::Completed,
        updates + 1,
        text,
    )));
    v
}

/// A JSON-RPC error (with the 1.0 `ErrorInfo` detail).
pub fn rpc_error(id: &Value, code: i64, reason: &str, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id,
        "error": {
            "code": code, "message": message,
            "data": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason, "domain": "a2a-protocol.org",
            }],
        },
    })
}

/// A hybrid agent card (1.0 `supportedInterfaces` plus the 0.3 `url`), as dual-version agents
/// serve it; `rpc_url` is the JSON-RPC endpoint.
pub fn card(rpc_url: &str) -> Value {
    json!({
        "name": "bench-echo",
        "description": "Echoes the text of each message (Switchboard benchmark agent).",
        "version": "1.0.0",
        "supportedInterfaces": [
            { "url": rpc_url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0" },
            { "url": rpc_url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3" },
        ],
        "url": rpc_url,
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3",
        "capabilities": { "streaming": true, "pushNotifications": false },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{
            "id": "echo", "name": "echo", "description": "Echoes the text.", "tags": ["bench"],
        }],
    })
}

// ---- client side: checks ----

/// The JSON-RPC `result`, or the error the answer carries.
fn result_of(body: &[u8]) -> Result<Value> {
    let mut v: Value = serde_json::from_slice(body).with_context(|| {
        format!(
            "answer is not JSON: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    if let Some(e) = v.get("error") {
        bail!("JSON-RPC error {e}");
    }
    match v.get_mut("result") {
        Some(r) => Ok(r.take()),
        None => bail!("answer has no result: {v}"),
    }
}

/// The task, status update or message object inside a result, with its kind.
fn unwrap_result(dialect: Dialect, result: &Value) -> Result<(&'static str, &Value)> {
    match dialect {
        Dialect::V1 => ["task", "statusUpdate", "message", "artifactUpdate"]
            .into_iter()
            .find_map(|k| result.get(k).map(|o| (k, o)))
            .ok_or_else(|| anyhow!("result is none of task/statusUpdate/message: {result}")),
        Dialect::V03 => match result["kind"].as_str() {
            Some("task") => Ok(("task", result)),
            Some("status-update") => Ok(("statusUpdate", result)),
            Some("message") => Ok(("message", result)),
            Some("artifact-update") => Ok(("artifactUpdate", result)),
            _ => bail!("result has no known kind: {result}"),
        },
    }
}

/// Checks a send answer: a completed task whose artifact echoes `want`.
pub fn check_send_reply(body: &[u8], dialect: Dialect, want: &str) -> Result<()> {
    let result = result_of(body)?;
    let (kind, task) = unwrap_result(dialect, &result)?;
    let state = task["status"]["state"].as_str();
    let got = task["artifacts"][0]["parts"][0]["text"].as_str();
    if kind != "task" || state != Some(dialect.state(State::Completed)) || got != Some(want) {
        bail!("expected a completed task echoing {want:?}, got {result}");
    }
    Ok(())
}

/// Checks the `data` of every event of one stream: a submitted task, `updates` working updates
/// in order, then the completed update echoing `want`.
pub fn check_stream(events: &[String], dialect: Dialect, want: &str, updates: usize) -> Result<()> {
    if events.len() != updates + 2 {
        bail!(
            "expected {} events, got {}: {:?}",
            updates + 2,
            events.len(),
            events
                .iter()
                .map(|e| &e[..e.len().min(120)])
                .collect::<Vec<_>>()
        );
    }
    for (i, data) in events.iter().enumerate() {
        let result = result_of(data.as_bytes()).with_context(|| format!("event {i}"))?;
        let (kind, obj) = unwrap_result(dialect, &result)?;
        let state = obj["status"]["state"].as_str();
        let (want_kind, want_state) = match i {
            0 => ("task", State::Submitted),
            i if i <= updates => ("statusUpdate", State::Working),
            _ => ("statusUpdate", State::Completed),
        };
        if kind != want_kind || state != Some(dialect.state(want_state)) {
            bail!("event {i}: expected a {want_kind} in state {want_state:?}, got {result}");
        }
        if i > 0 && obj["metadata"]["seq"].as_u64() != Some(i as u64) {
            bail!("event {i} out of order: {result}");
        }
        if want_state == State::Completed
            && obj["status"]["message"]["parts"][0]["text"].as_str() != Some(want)
        {
            bail!("the completed event does not echo {want:?}: {result}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_of(frame: &Bytes) -> String {
        let s = std::str::from_utf8(frame).unwrap();
        s.strip_prefix("data: ").unwrap().trim_end().to_string()
    }

    #[test]
    fn send_round_trip_in_both_dialects() {
        for d in [Dialect::V1, Dialect::V03] {
            let req: Value = serde_json::from_slice(&request_body(d, false, 7, "hi")).unwrap();
            assert_eq!(req["method"], d.send_method());
            assert_eq!(message_text(&req["params"]), "hi");
            let reply = send_reply(d, &req["id"], 1, &message_text(&req["params"]));
            check_send_reply(reply.to_string().as_bytes(), d, "hi").unwrap();
            assert!(check_send_reply(reply.to_string().as_bytes(), d, "other").is_err());
        }
        let v1 = send_reply(Dialect::V1, &json!(1), 1, "x");
        assert_eq!(
            v1["result"]["task"]["status"]["state"],
            "TASK_STATE_COMPLETED"
        );
        let v03 = send_reply(Dialect::V03, &json!(1), 1, "x");
        assert_eq!(v03["result"]["kind"], "task");
        assert_eq!(v03["result"]["status"]["state"], "completed");
    }

    #[test]
    fn streams_check_in_both_dialects() {
        for d in [Dialect::V1, Dialect::V03] {
            let frames = stream_events(d, &json!(3), 9, "yo", 2);
            assert_eq!(frames.len(), 4);
            let events: Vec<String> = frames.iter().map(data_of).collect();
            check_stream(&events, d, "yo", 2).unwrap();
            assert!(
                check_stream(&events[..3], d, "yo", 2).is_err(),
                "one missing"
            );
            let mut swapped = events.clone();
            swapped.swap(1, 2);
            assert!(check_stream(&swapped, d, "yo", 2).is_err(), "out of order");
        }
        let v03 = stream_events(Dialect::V03, &json!(1), 1, "x", 1);
        let last: Value = serde_json::from_str(&data_of(&v03[2])).unwrap();
        assert_eq!(last["result"]["final"], true);
    }

    #[test]
    fn errors_are_reported() {
        let e = rpc_error(&json!(1), -32009, "VERSION_NOT_SUPPORTED", "no");
        let err = check_send_reply(e.to_string().as_bytes(), Dialect::V1, "x").unwrap_err();
        assert!(err.to_string().contains("-32009"), "{err}");
        assert!(check_send_reply(b"<html>", Dialect::V1, "x").is_err());
    }
}
