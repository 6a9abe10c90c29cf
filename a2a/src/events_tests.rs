use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use serde_json::json;

use super::*;

#[test]
fn states_of_both_eras() {
    assert_eq!(
        TaskState::parse("TASK_STATE_COMPLETED"),
        TaskState::Completed
    );
    assert_eq!(TaskState::parse("completed"), TaskState::Completed);
    assert_eq!(
        TaskState::parse("TASK_STATE_INPUT_REQUIRED"),
        TaskState::InputRequired
    );
    assert_eq!(TaskState::parse("input-required"), TaskState::InputRequired);
    assert_eq!(
        TaskState::parse("TASK_STATE_UNSPECIFIED"),
        TaskState::Unknown
    );
    assert!(TaskState::Rejected.is_terminal());
    assert!(!TaskState::AuthRequired.is_terminal());
    assert!(TaskState::AuthRequired.is_interrupted());
}

#[test]
fn v1_send_message_results() {
    let task = json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"id": "t1", "contextId": "c1",
        "status": {"state": "TASK_STATE_COMPLETED"}, "artifacts": []}}});
    let info = inspect_response(&task);
    assert_eq!(info.kind, EventKind::Task);
    assert_eq!(info.task_id.as_deref(), Some("t1"));
    assert_eq!(info.context_id.as_deref(), Some("c1"));
    assert_eq!(info.state, Some(TaskState::Completed));

    let msg = json!({"result": {"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [],
        "taskId": "t2"}}});
    let info = inspect_response(&msg);
    assert_eq!(
        (info.kind, info.task_id.as_deref()),
        (EventKind::Message, Some("t2"))
    );
}

#[test]
fn v03_results_and_updates() {
    let info = inspect_result(&json!({"kind": "task", "id": "t", "contextId": "c",
        "status": {"state": "working"}}));
    assert_eq!(
        (info.kind, info.state),
        (EventKind::Task, Some(TaskState::Working))
    );
    let info = inspect_result(
        &json!({"kind": "status-update", "taskId": "t", "contextId": "c",
        "status": {"state": "completed"}, "final": true}),
    );
    assert_eq!(info.kind, EventKind::StatusUpdate);
    assert!(info.final_flag);
    assert_eq!(info.state, Some(TaskState::Completed));
    let info = inspect_result(&json!({"kind": "artifact-update", "taskId": "t",
        "artifact": {"artifactId": "a", "parts": []}}));
    assert_eq!(
        (info.kind, info.task_id.as_deref()),
        (EventKind::ArtifactUpdate, Some("t"))
    );
}

#[test]
fn errors_and_unknown_shapes() {
    let info = inspect_response(&json!({"jsonrpc": "2.0", "id": 1,
        "error": {"code": -32001, "message": "Task not found"}}));
    assert_eq!(
        (info.kind, info.error_code),
        (EventKind::Error, Some(-32001))
    );
    let info = inspect_response(&json!({"foo": 1}));
    assert_eq!(info.kind, EventKind::Unknown);
    assert_eq!(info.task_id, None);
    assert_eq!(inspect_event_data("", "not json"), None);
}

fn chunks(parts: &[&str]) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
    stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p.as_bytes())))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn v1_jsonrpc_stream_split_across_chunks_with_crlf_and_pings() {
    // sse-starlette framing: CRLF line endings, `: ping` comments (a2a.md §5).
    let frames = [
        ": ping - 2026-11-01 00:00:00\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"task\":{\"id\":\"t1\",\"contextId\":\"c1\",",
        "\"status\":{\"state\":\"TASK_STATE_SUBMITTED\"}}}}\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"statusUpdate\":{\"taskId\":\"t1\",\"contextId\":\"c1\",\"status\":{\"state\":\"TASK_STATE_WORKING\"}}}}\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"artifactUpdate\":{\"taskId\":\"t1\",\"contextId\":\"c1\",\"artifact\":{\"artifactId\":\"a\",\"parts\":[{\"text\":\"echo: hi\"}]},\"lastChunk\":true}}}\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"statusUpdate\":{\"taskId\":\"t1\",\"contextId\":\"c1\",\"status\":{\"state\":\"TASK_STATE_COMPLETED\"}}}}\r\n\r\n",
    ];
    let mut first_task = None;
    let summary = summarize_sse(chunks(&frames), |info| {
        if first_task.is_none() {
            first_task.clone_from(&info.task_id);
        }
    })
    .await;
    assert_eq!(first_task.as_deref(), Some("t1"));
    assert_eq!(summary.events, 4);
    assert_eq!(summary.task_id.as_deref(), Some("t1"));
    assert_eq!(summary.context_id.as_deref(), Some("c1"));
    assert_eq!(summary.last_state, Some(TaskState::Completed));
    assert_eq!(summary.unparsed, 0);
}

#[tokio::test]
async fn v03_and_rest_streams_and_error_events() {
    let frames = [
        "data: {\"kind\":\"task\",\"id\":\"t9\",\"contextId\":\"c\",\"status\":{\"state\":\"submitted\"}}\n\n",
        "data: {\"kind\":\"status-update\",\"taskId\":\"t9\",\"contextId\":\"c\",\"status\":{\"state\":\"failed\"},\"final\":true}\n\n",
    ];
    let s = summarize_sse(chunks(&frames), |_| {}).await;
    assert_eq!(
        (s.task_id.as_deref(), s.last_state),
        (Some("t9"), Some(TaskState::Failed))
    );

    let frames = [
        "data: {\"task\":{\"id\":\"r1\",\"status\":{\"state\":\"TASK_STATE_WORKING\"}}}\n\n",
        "event: error\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"boom\"}}\n\n",
        "data: not-json\n\n",
    ];
    let s = summarize_sse(chunks(&frames), |_| {}).await;
    assert_eq!(s.task_id.as_deref(), Some("r1"));
    assert_eq!(s.error_code, Some(-32603));
    assert_eq!(s.events, 2);
    assert_eq!(s.unparsed, 1);
}

#[tokio::test]
async fn transport_error_ends_inspection_quietly() {
    let items: Vec<Result<Bytes, &str>> = vec![
        Ok(Bytes::from_static(b"data: {\"task\":{\"id\":\"x\"}}\n\n")),
        Err("reset"),
        Ok(Bytes::from_static(b"data: {\"task\":{\"id\":\"y\"}}\n\n")),
    ];
    let s = summarize_sse(stream::iter(items), |_| {}).await;
    assert_eq!(s.task_id.as_deref(), Some("x"));
    assert_eq!((s.events, s.unparsed), (1, 1));
}
