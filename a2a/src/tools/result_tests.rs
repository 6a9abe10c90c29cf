use rmcp::model::{ContentBlock, ResourceContents};
use serde_json::json;

use super::*;

fn texts(r: &CallToolResult) -> Vec<String> {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn meta(r: &CallToolResult) -> Value {
    r.meta
        .as_ref()
        .and_then(|m| m.0.get(META_KEY).cloned())
        .unwrap_or_default()
}

fn folded(results: &[Value]) -> Outcome {
    let mut o = Outcome::default();
    for r in results {
        o.apply(r);
    }
    o
}

#[test]
fn completed_v1_task_maps_artifacts_and_trailer() {
    let o = folded(&[json!({"task": {"id": "t1", "contextId": "c1",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"artifactId": "a", "parts": [{"text": "echo: hi"}]}]}})]);
    let r = to_call_result(&o);
    assert_eq!(r.is_error, Some(false));
    let t = texts(&r);
    assert_eq!(t[0], "echo: hi");
    assert!(
        t[1].contains("task t1: completed") && t[1].contains("contextId=\"c1\""),
        "{t:?}"
    );
    assert_eq!(
        meta(&r),
        json!({"taskId": "t1", "contextId": "c1", "state": "completed"})
    );
    assert_eq!(r.structured_content, None);
}

#[test]
fn completed_v03_task_with_status_message_and_one_data_part() {
    let o = folded(&[json!({"kind": "task", "id": "t", "contextId": "c",
        "status": {"state": "completed", "message": {"kind": "message", "role": "agent",
            "parts": [{"kind": "text", "text": "done"}]}},
        "artifacts": [{"artifactId": "a", "parts": [
            {"kind": "data", "data": {"price": 12}},
            {"kind": "text", "text": "see data"}]}]})]);
    let r = to_call_result(&o);
    assert_eq!(r.is_error, Some(false));
    let t = texts(&r);
    assert_eq!(t[0], r#"{"price":12}"#);
    assert_eq!(t[1], "see data");
    assert_eq!(
        t[2], "done",
        "the final agent message follows the artifacts"
    );
    assert_eq!(r.structured_content, Some(json!({"price": 12})));
}

#[test]
fn two_data_parts_give_no_structured_content() {
    let o = folded(&[
        json!({"task": {"id": "t", "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"parts": [{"data": [1]}, {"data": {"b": 2}}]}]}}),
    ]);
    let r = to_call_result(&o);
    assert_eq!(r.structured_content, None);
    assert_eq!(
        texts(&r)[..2],
        ["[1]".to_string(), r#"{"b":2}"#.to_string()]
    );
}

#[test]
fn direct_message_reply_is_a_success() {
    let o = folded(&[json!({"message": {"role": "ROLE_AGENT", "contextId": "c",
        "parts": [{"text": "hello"}]}})]);
    let r = to_call_result(&o);
    assert_eq!(r.is_error, Some(false));
    let t = texts(&r);
    assert_eq!(t[0], "hello");
    assert!(t[1].starts_with("[A2A message; contextId c."), "{t:?}");
    assert_eq!(meta(&r), json!({"contextId": "c"}));
}

#[test]
fn failed_rejected_canceled_are_errors_with_the_reason() {
    for (state, verb) in [
        ("TASK_STATE_FAILED", "failed"),
        ("rejected", "rejected"),
        ("TASK_STATE_CANCELED", "canceled"),
    ] {
        let o = folded(&[
            json!({"task": {"id": "t", "contextId": "c", "status": {"state": state,
            "message": {"role": "ROLE_AGENT", "parts": [{"text": "no seats left"}]}}}}),
        ]);
        let r = to_call_result(&o);
        assert_eq!(r.is_error, Some(true), "{state}");
        let t = texts(&r);
        assert_eq!(
            t[0],
            format!("The agent {verb} the task. It said: no seats left")
        );
        assert!(t.last().unwrap().contains("task t"), "{t:?}");
    }
}

#[test]
fn input_required_is_not_an_error_and_says_how_to_answer() {
    for state in ["TASK_STATE_INPUT_REQUIRED", "input-required"] {
        let o = folded(&[json!({"statusUpdate": {"taskId": "t7", "contextId": "c7",
            "status": {"state": state, "message": {"role": "ROLE_AGENT",
                "parts": [{"text": "Which date?"}]}}}})]);
        let r = to_call_result(&o);
        assert_eq!(r.is_error, Some(false), "{state}");
        let t = texts(&r);
        assert_eq!(t[0], "Which date?");
        assert_eq!(
            t[1],
            "The agent needs more input: call this tool again with taskId=\"t7\" and \
             contextId=\"c7\" and your answer as message."
        );
        assert_eq!(
            r.structured_content,
            Some(
                json!({"state": "input-required", "taskId": "t7", "contextId": "c7",
                "question": "Which date?"})
            )
        );
        assert_eq!(meta(&r)["state"], "input-required");
    }
    let o = folded(&[
        json!({"kind": "status-update", "taskId": "t", "contextId": "c",
        "status": {"state": "auth-required"}}),
    ]);
    let r = to_call_result(&o);
    assert_eq!(r.is_error, Some(false));
    let t = texts(&r);
    assert_eq!(t[0], "(the agent did not say what it needs)");
    assert!(t[1].starts_with("The agent needs authorization"), "{t:?}");
}

#[test]
fn stream_that_ends_while_working_is_an_error_with_partial_output() {
    let o = folded(&[
        json!({"task": {"id": "t", "status": {"state": "TASK_STATE_WORKING"}}}),
        json!({"artifactUpdate": {"taskId": "t", "artifact": {"artifactId": "a",
            "parts": [{"text": "part 1"}]}}}),
    ]);
    let r = to_call_result(&o);
    assert_eq!(r.is_error, Some(true));
    let t = texts(&r);
    assert!(t[0].contains("last state: working"), "{t:?}");
    assert_eq!(t[1], "part 1");
}

#[test]
fn failures_are_errors_with_cause_and_meta() {
    let o = Outcome {
        task_id: Some("t".into()),
        ..Outcome::default()
    };
    let f = CallFailure::Rpc {
        code: -32001,
        message: "Task t not found".into(),
        reason: Some("TASK_NOT_FOUND".into()),
        data: None,
    };
    let r = failure_result(&f, &o);
    assert_eq!(r.is_error, Some(true));
    let t = texts(&r);
    assert!(
        t[0].contains("JSON-RPC error -32001 (TASK_NOT_FOUND): Task t not found"),
        "{t:?}"
    );
    assert!(t[0].contains("without taskId"), "a hint: {t:?}");
    assert_eq!(meta(&r)["error"]["code"], -32001);
    assert_eq!(meta(&r)["taskId"], "t");

    let r = failure_result(
        &CallFailure::Transport("connection refused".into()),
        &Outcome::default(),
    );
    assert_eq!(texts(&r).len(), 1);
    assert!(texts(&r)[0].contains("cannot reach the agent: connection refused"));
}

#[test]
fn file_parts_of_both_dialects() {
    let mut data = Vec::new();
    let png = part_block(
        &json!({"kind": "file", "file": {"bytes": "iVBO", "mimeType": "image/png", "name": "a.png"}}),
        &mut data,
    );
    assert_eq!(png.as_image().unwrap().mime_type, "image/png");
    let txt = part_block(
        &json!({"raw": "aGVsbG8=", "mediaType": "text/plain", "filename": "a b.txt"}),
        &mut data,
    );
    match &txt.as_resource().unwrap().resource {
        ResourceContents::TextResourceContents { text, uri, .. } => {
            assert_eq!(text, "hello");
            assert_eq!(uri, "a2a:///files/a%20b%2Etxt");
        }
        other => panic!("{other:?}"),
    }
    let bin = part_block(
        &json!({"raw": "AAE=", "mediaType": "application/pdf"}),
        &mut data,
    );
    assert!(matches!(
        &bin.as_resource().unwrap().resource,
        ResourceContents::BlobResourceContents { blob, .. } if blob == "AAE="
    ));
    let link = part_block(
        &json!({"url": "https://x/r.pdf", "mediaType": "application/pdf", "filename": "r.pdf"}),
        &mut data,
    );
    let l = link.as_resource_link().unwrap();
    assert_eq!(
        (l.uri.as_str(), l.name.as_str()),
        ("https://x/r.pdf", "r.pdf")
    );
    let link03 = part_block(
        &json!({"kind": "file", "file": {"uri": "https://x/y"}}),
        &mut data,
    );
    assert_eq!(link03.as_resource_link().unwrap().name, "https://x/y");
    let odd = part_block(&json!({"kind": "video", "x": 1}), &mut data);
    assert!(matches!(odd, ContentBlock::Text(_)));
    assert!(data.is_empty(), "no data part here");
}
