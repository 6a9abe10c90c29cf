//! Reads task id, context id and state out of A2A results and streamed events.
//!
//! Used for two policies: recording task ownership (the task id first appears in the agent's
//! response) and access-log / metric fields (final task state of a stream). The relay forwards
//! SSE bytes untouched; [`summarize_sse`] runs on a copy of the chunks (a tee), so inspection
//! never delays or alters a frame.
//!
//! Shapes (a2a.md §5): 1.0 `StreamResponse` one-of `task | message | statusUpdate |
//! artifactUpdate` (the `SendMessage` result is `task | message`); 0.3 bare objects tagged by
//! `kind` (`task`, `message`, `status-update` with `final`, `artifact-update`). JSON-RPC streams
//! wrap each in `{"jsonrpc","id","result"}`; REST streams send it bare.

use eventsource_stream::Eventsource as _;
use futures_util::{Stream, StreamExt as _};
use serde_json::Value;

/// Task states of both eras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Submitted,
    Working,
    InputRequired,
    AuthRequired,
    Completed,
    Failed,
    Canceled,
    Rejected,
    Unknown,
}

impl TaskState {
    /// Parses `TASK_STATE_COMPLETED` (1.0) and `completed` (0.3) alike.
    pub fn parse(s: &str) -> TaskState {
        match s.strip_prefix("TASK_STATE_").unwrap_or(s) {
            "SUBMITTED" | "submitted" => Self::Submitted,
            "WORKING" | "working" => Self::Working,
            "INPUT_REQUIRED" | "input-required" => Self::InputRequired,
            "AUTH_REQUIRED" | "auth-required" => Self::AuthRequired,
            "COMPLETED" | "completed" => Self::Completed,
            "FAILED" | "failed" => Self::Failed,
            "CANCELED" | "canceled" | "CANCELLED" | "cancelled" => Self::Canceled,
            "REJECTED" | "rejected" => Self::Rejected,
            _ => Self::Unknown,
        }
    }

    /// A terminal task accepts no more messages; its stream closes.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Canceled | Self::Rejected
        )
    }

    /// Waiting for the client (input or auth).
    pub fn is_interrupted(self) -> bool {
        matches!(self, Self::InputRequired | Self::AuthRequired)
    }

    /// Label for logs and metrics (0.3 spelling, short).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Working => "working",
            Self::InputRequired => "input-required",
            Self::AuthRequired => "auth-required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown",
        }
    }
}

/// Which kind of object a result or event carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Task,
    Message,
    StatusUpdate,
    ArtifactUpdate,
    /// A JSON-RPC error response, or an SSE `event: error` frame.
    Error,
    Unknown,
}

/// What one result or event says about its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub kind: EventKind,
    pub task_id: Option<String>,
    pub context_id: Option<String>,
    pub state: Option<TaskState>,
    /// 0.3 `final: true` on a status update.
    pub final_flag: bool,
    /// JSON-RPC `error.code` for [`EventKind::Error`].
    pub error_code: Option<i64>,
}

impl EventInfo {
    fn new(kind: EventKind) -> Self {
        Self {
            kind,
            task_id: None,
            context_id: None,
            state: None,
            final_flag: false,
            error_code: None,
        }
    }
}

fn string_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn state_of(v: &Value) -> Option<TaskState> {
    v.pointer("/status/state")
        .and_then(Value::as_str)
        .map(TaskState::parse)
}

/// Inspects a `result` (or a bare REST body / stream event) of either era.
pub fn inspect_result(result: &Value) -> EventInfo {
    // 1.0 one-of wrappers.
    for (key, kind) in [
        ("task", EventKind::Task),
        ("message", EventKind::Message),
        ("statusUpdate", EventKind::StatusUpdate),
        ("artifactUpdate", EventKind::ArtifactUpdate),
    ] {
        if let Some(inner) = result.get(key).filter(|v| v.is_object()) {
            return describe(inner, kind);
        }
    }
    // 0.3 `kind`-tagged objects.
    let kind = match result.get("kind").and_then(Value::as_str) {
        Some("task") => EventKind::Task,
        Some("message") => EventKind::Message,
        Some("status-update") => EventKind::StatusUpdate,
        Some("artifact-update") => EventKind::ArtifactUpdate,
        _ => EventKind::Unknown,
    };
    describe(result, kind)
}

fn describe(obj: &Value, kind: EventKind) -> EventInfo {
    let mut info = EventInfo::new(kind);
    info.task_id = match kind {
        EventKind::Task => string_at(obj, "id"),
        _ => string_at(obj, "taskId"),
    };
    info.context_id = string_at(obj, "contextId");
    if matches!(kind, EventKind::Task | EventKind::StatusUpdate) {
        info.state = state_of(obj);
    }
    info.final_flag = obj.get("final").and_then(Value::as_bool).unwrap_or(false);
    info
}

/// Inspects a whole JSON-RPC response (or a bare REST body) value.
pub fn inspect_response(v: &Value) -> EventInfo {
    if let Some(result) = v.get("result") {
        return inspect_result(result);
    }
    if let Some(err) = v.get("error") {
        let mut info = EventInfo::new(EventKind::Error);
        info.error_code = err.get("code").and_then(Value::as_i64);
        return info;
    }
    inspect_result(v)
}

/// Inspects one SSE event: its `event:` name and `data:` JSON. `None` when the data is not
/// JSON (a comment-only or keep-alive event never reaches here; the parser drops those).
pub fn inspect_event_data(event: &str, data: &str) -> Option<EventInfo> {
    let v: Value = serde_json::from_str(data).ok()?;
    let mut info = inspect_response(&v);
    if event == "error" {
        info.kind = EventKind::Error;
        if info.error_code.is_none() {
            info.error_code = v
                .get("code")
                .or_else(|| v.pointer("/error/code"))
                .and_then(Value::as_i64);
        }
    }
    Some(info)
}

/// What a whole stream said, for the access log and ownership recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSummary {
    pub events: u64,
    /// The first task id seen (streams are about one task).
    pub task_id: Option<String>,
    pub context_id: Option<String>,
    /// The last state seen in a task or status update.
    pub last_state: Option<TaskState>,
    pub error_code: Option<i64>,
    /// Frames whose data was not JSON, or a stream that was not valid SSE / UTF-8.
    pub unparsed: u64,
}

impl StreamSummary {
    /// Folds one event into the summary.
    pub fn add(&mut self, info: &EventInfo) {
        self.events += 1;
        if self.task_id.is_none() {
            self.task_id.clone_from(&info.task_id);
        }
        if self.context_id.is_none() {
            self.context_id.clone_from(&info.context_id);
        }
        if info.state.is_some() {
            self.last_state = info.state;
        }
        if info.error_code.is_some() {
            self.error_code = info.error_code;
        }
    }
}

/// Parses an SSE byte stream (a copy of what is being forwarded) with `eventsource-stream`
/// and calls `on_event` for each event as it completes — e.g. to record task ownership on the
/// first task id — then returns the summary. Parse errors end the inspection, never the relay.
pub async fn summarize_sse<S, B, E>(
    chunks: S,
    mut on_event: impl FnMut(&EventInfo),
) -> StreamSummary
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut summary = StreamSummary::default();
    let mut events = chunks.eventsource();
    while let Some(item) = events.next().await {
        match item {
            Ok(ev) => match inspect_event_data(&ev.event, &ev.data) {
                Some(info) => {
                    on_event(&info);
                    summary.add(&info);
                }
                None => summary.unparsed += 1,
            },
            Err(_) => {
                summary.unparsed += 1;
                break;
            }
        }
    }
    summary
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
