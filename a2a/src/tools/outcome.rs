//! Folds what an agent sends back — one `SendMessage` result, or the events of a stream — into
//! one [`Outcome`]: the task's ids, its last state and status message, its artifacts (chunks
//! appended), and any direct agent messages. Each folded item also yields an [`Update`], the
//! short text relayed to the MCP client as a progress notification.
//!
//! Both wire dialects are read (a2a.md §5, §7): 1.0 wraps each object in a one-of key
//! (`{"task": …}`, `{"message": …}`, `{"statusUpdate": …}`, `{"artifactUpdate": …}`), uses
//! `TASK_STATE_*` / `ROLE_*` enums and parts like `{"text": …}`; 0.3 tags bare objects with
//! `kind` (`task`, `message`, `status-update`, `artifact-update`), uses `completed` / `agent`
//! and parts like `{"kind": "text", "text": …}`. Unknown fields and shapes are skipped, never
//! an error: a partly odd stream still gives the parts that can be read.

use serde_json::Value;

use crate::events::TaskState;

/// Longest text put in one progress message.
const MAX_PROGRESS_TEXT: usize = 300;

/// One artifact as assembled from a task snapshot and/or artifact-update chunks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Artifact {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The raw parts, in order (either dialect).
    pub parts: Vec<Value>,
}

/// Everything the agent said about one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub task_id: Option<String>,
    pub context_id: Option<String>,
    /// The last state seen; `None` when the agent answered with a bare message (no task).
    pub state: Option<TaskState>,
    /// The `status.message` of the last status seen (the agent's question for
    /// `input-required`, its explanation for `failed`, often its answer for `completed`).
    pub status_message: Option<Value>,
    pub artifacts: Vec<Artifact>,
    /// Agent messages sent as results or stream events (not inside a task).
    pub messages: Vec<Value>,
    /// Agent messages in the last task snapshot's history after the last user message: the
    /// reply of agents that put it there rather than in an artifact or the status.
    pub history_reply: Vec<Value>,
    /// Results/events folded in.
    pub events: u64,
}

/// What one folded result or event was, for a progress notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Task {
        state: Option<TaskState>,
        text: String,
    },
    Status {
        state: Option<TaskState>,
        text: String,
    },
    Artifact {
        name: String,
        text: String,
    },
    Message {
        text: String,
    },
    /// Not an A2A object this adapter reads.
    Unknown,
}

impl Update {
    /// The progress message: `working: looking up flights`, `artifact report: …`.
    pub fn progress_text(&self) -> Option<String> {
        let with = |head: String, text: &str| {
            let text = clip(text.trim());
            if text.is_empty() {
                head
            } else {
                format!("{head}: {text}")
            }
        };
        let state = |s: &Option<TaskState>| s.map_or("unknown", TaskState::as_str).to_owned();
        match self {
            Update::Task { state: s, text } => Some(with(format!("task {}", state(s)), text)),
            Update::Status { state: s, text } => Some(with(state(s), text)),
            Update::Artifact { name, text } => Some(with(format!("artifact {name}"), text)),
            Update::Message { text } => Some(with("message".to_owned(), text)),
            Update::Unknown => None,
        }
    }
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_PROGRESS_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_PROGRESS_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Task,
    Message,
    Status,
    Artifact,
}

/// Which object `result` is, and the object itself (unwrapped from the 1.0 one-of key).
fn classify(result: &Value) -> Option<(Kind, &Value)> {
    for (key, kind) in [
        ("task", Kind::Task),
        ("message", Kind::Message),
        ("statusUpdate", Kind::Status),
        ("artifactUpdate", Kind::Artifact),
    ] {
        if let Some(inner) = result.get(key).filter(|v| v.is_object()) {
            return Some((kind, inner));
        }
    }
    let kind = match result.get("kind").and_then(Value::as_str) {
        Some("task") => Kind::Task,
        Some("message") => Kind::Message,
        Some("status-update") => Kind::Status,
        Some("artifact-update") => Kind::Artifact,
        // Untagged objects (lenient agents): recognise them by their required fields.
        _ if result.get("artifact").is_some() && result.get("taskId").is_some() => Kind::Artifact,
        _ if result.get("status").is_some() && result.get("taskId").is_some() => Kind::Status,
        _ if result.get("status").is_some() && result.get("id").is_some() => Kind::Task,
        _ if result.get("parts").is_some() && result.get("role").is_some() => Kind::Message,
        _ => return None,
    };
    Some((kind, result))
}

fn string_at(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The text of a part of either dialect (`{"text"}` / `{"kind":"text","text"}`).
pub fn part_text(part: &Value) -> Option<&str> {
    match part.get("kind").and_then(Value::as_str) {
        Some("text") | None => part.get("text").and_then(Value::as_str),
        Some(_) => None,
    }
}

/// The text parts of a message (or artifact) joined by newlines.
pub fn parts_text(obj: &Value) -> String {
    obj.get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(part_text)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// `ROLE_USER` (1.0) or `user` (0.3).
fn is_user(message: &Value) -> bool {
    matches!(
        message.get("role").and_then(Value::as_str),
        Some("ROLE_USER" | "user")
    )
}

impl Outcome {
    /// Whether the task reached a state after which the agent sends nothing more for this
    /// call: terminal, or interrupted (waiting for input or auth); or the agent answered with
    /// a bare message. A stream is read up to here and no further, since agents differ on
    /// whether they close it on interrupted states (a2a.md §5).
    pub fn is_done(&self) -> bool {
        match self.state {
            Some(s) => s.is_terminal() || s.is_interrupted(),
            None => !self.messages.is_empty(),
        }
    }

    /// Folds one `result` (a `SendMessage` result or a stream event, either dialect) in.
    pub fn apply(&mut self, result: &Value) -> Update {
        let Some((kind, obj)) = classify(result) else {
            return Update::Unknown;
        };
        self.events += 1;
        let task_key = if kind == Kind::Task { "id" } else { "taskId" };
        if let Some(id) = string_at(obj, task_key) {
            self.task_id = Some(id);
        }
        if let Some(id) = string_at(obj, "contextId") {
            self.context_id = Some(id);
        }
        match kind {
            Kind::Task => {
                self.apply_status(obj.get("status"));
                if let Some(list) = obj.get("artifacts").and_then(Value::as_array) {
                    self.artifacts = list.iter().map(artifact_of).collect();
                }
                self.history_reply = obj
                    .get("history")
                    .and_then(Value::as_array)
                    .map(|h| {
                        let start = h.iter().rposition(is_user).map_or(0, |i| i + 1);
                        h[start..].to_vec()
                    })
                    .unwrap_or_default();
                Update::Task {
                    state: self.state,
                    text: self
                        .status_message
                        .as_ref()
                        .map(parts_text)
                        .unwrap_or_default(),
                }
            }
            Kind::Status => {
                self.apply_status(obj.get("status"));
                Update::Status {
                    state: self.state,
                    text: self
                        .status_message
                        .as_ref()
                        .map(parts_text)
                        .unwrap_or_default(),
                }
            }
            Kind::Artifact => {
                let Some(a) = obj.get("artifact") else {
                    return Update::Unknown;
                };
                let chunk = artifact_of(a);
                let text = parts_text(a);
                let name = chunk
                    .name
                    .clone()
                    .or_else(|| chunk.id.clone())
                    .unwrap_or_else(|| "(unnamed)".to_owned());
                let append = obj.get("append").and_then(Value::as_bool).unwrap_or(false);
                self.add_artifact(chunk, append);
                Update::Artifact { name, text }
            }
            Kind::Message => {
                let text = parts_text(obj);
                if !is_user(obj) {
                    self.messages.push(obj.clone());
                }
                Update::Message { text }
            }
        }
    }

    /// A status replaces the previous one, message included: a `completed` without a message
    /// must not keep showing the last `working` note.
    fn apply_status(&mut self, status: Option<&Value>) {
        let Some(status) = status else {
            return;
        };
        if let Some(s) = status.get("state").and_then(Value::as_str) {
            self.state = Some(TaskState::parse(s));
        }
        self.status_message = status.get("message").filter(|m| m.is_object()).cloned();
    }

    fn add_artifact(&mut self, chunk: Artifact, append: bool) {
        let existing = chunk.id.as_ref().and_then(|id| {
            self.artifacts
                .iter_mut()
                .find(|a| a.id.as_ref() == Some(id))
        });
        match existing {
            Some(a) if append => a.parts.extend(chunk.parts),
            Some(a) => *a = chunk,
            None => self.artifacts.push(chunk),
        }
    }
}

fn artifact_of(a: &Value) -> Artifact {
    Artifact {
        id: string_at(a, "artifactId"),
        name: string_at(a, "name"),
        parts: a
            .get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn v1_stream_folds_chunks_and_reports_progress() {
        let events = [
            json!({"task": {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"},
                "history": [{"role": "ROLE_USER", "parts": [{"text": "hi"}]}]}}),
            json!({"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING",
                "message": {"role": "ROLE_AGENT", "parts": [{"text": "looking"}]}}}}),
            json!({"artifactUpdate": {"taskId": "t1", "contextId": "c1",
                "artifact": {"artifactId": "a", "name": "out", "parts": [{"text": "chunk 0"}]}}}),
            json!({"artifactUpdate": {"taskId": "t1", "contextId": "c1", "append": true,
                "artifact": {"artifactId": "a", "name": "out", "parts": [{"text": "chunk 1"}]}}}),
            json!({"statusUpdate": {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_COMPLETED"}}}),
        ];
        let mut o = Outcome::default();
        let texts: Vec<String> = events
            .iter()
            .map(|e| {
                let u = o.apply(e);
                u.progress_text().unwrap()
            })
            .collect();
        assert_eq!(
            texts,
            [
                "task submitted",
                "working: looking",
                "artifact out: chunk 0",
                "artifact out: chunk 1",
                "completed"
            ]
        );
        assert!(o.is_done());
        assert_eq!(o.state, Some(TaskState::Completed));
        assert_eq!(o.task_id.as_deref(), Some("t1"));
        assert_eq!(o.context_id.as_deref(), Some("c1"));
        assert_eq!(
            o.status_message, None,
            "completed replaced the working note"
        );
        assert_eq!(o.artifacts.len(), 1);
        assert_eq!(
            o.artifacts[0].parts,
            [json!({"text": "chunk 0"}), json!({"text": "chunk 1"})]
        );
        assert_eq!(o.events, 5);
    }

    #[test]
    fn v03_events_and_input_required() {
        let mut o = Outcome::default();
        o.apply(
            &json!({"kind": "task", "id": "t", "contextId": "c", "status": {"state": "submitted"}}),
        );
        assert!(!o.is_done());
        let u = o.apply(&json!({"kind": "status-update", "taskId": "t", "contextId": "c", "final": true,
            "status": {"state": "input-required",
                "message": {"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "Which city?"}]}}}));
        assert_eq!(
            u.progress_text().as_deref(),
            Some("input-required: Which city?")
        );
        assert!(o.is_done(), "an interrupted task ends the call");
        assert_eq!(o.state, Some(TaskState::InputRequired));
        assert_eq!(
            parts_text(o.status_message.as_ref().unwrap()),
            "Which city?"
        );
        let u = o.apply(&json!({"kind": "artifact-update", "taskId": "t",
            "artifact": {"artifactId": "x", "parts": [{"kind": "text", "text": "a"}]}}));
        assert_eq!(u.progress_text().as_deref(), Some("artifact x: a"));
    }

    #[test]
    fn blocking_results_of_both_dialects() {
        let v1 = json!({"task": {"id": "t", "contextId": "c",
            "status": {"state": "TASK_STATE_COMPLETED"},
            "artifacts": [{"artifactId": "e", "name": "echo", "parts": [{"text": "echo: hi"}]}],
            "history": [{"role": "ROLE_USER", "parts": [{"text": "hi"}]}]}});
        let mut o = Outcome::default();
        o.apply(&v1);
        assert_eq!(o.state, Some(TaskState::Completed));
        assert_eq!(
            parts_text(&json!({"parts": o.artifacts[0].parts})),
            "echo: hi"
        );
        assert!(o.history_reply.is_empty());

        let v03 = json!({"kind": "task", "id": "t", "contextId": "c", "status": {"state": "completed"},
        "history": [
            {"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "old question"}]},
            {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "answer"}]},
            {"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "reply"}]}
        ]});
        let mut o = Outcome::default();
        o.apply(&v03);
        assert_eq!(
            o.history_reply.len(),
            1,
            "only messages after the last user message"
        );
        assert_eq!(parts_text(&o.history_reply[0]), "reply");

        let msg = json!({"message": {"messageId": "m", "role": "ROLE_AGENT", "contextId": "c9",
            "parts": [{"text": "direct"}]}});
        let mut o = Outcome::default();
        assert_eq!(
            o.apply(&msg),
            Update::Message {
                text: "direct".into()
            }
        );
        assert!(o.is_done());
        assert_eq!(o.state, None);
        assert_eq!(o.context_id.as_deref(), Some("c9"));
    }

    #[test]
    fn unknown_shapes_are_skipped() {
        let mut o = Outcome::default();
        assert_eq!(o.apply(&json!({"hello": 1})), Update::Unknown);
        assert_eq!(o.apply(&json!(null)), Update::Unknown);
        assert_eq!(
            o.apply(&json!({"artifactUpdate": {"taskId": "t"}})),
            Update::Unknown
        );
        assert_eq!(Update::Unknown.progress_text(), None);
        let long = "x".repeat(1000);
        let u = Update::Status {
            state: Some(TaskState::Working),
            text: long,
        };
        assert!(u.progress_text().unwrap().len() < 320);
    }
}
