use serde_json::json;

use super::*;
use crate::errors::ErrorKind;

const LIMIT: usize = 1 << 20;

fn peek(v: Value) -> JsonRpcPeek {
    peek_request(v.to_string().as_bytes(), LIMIT).unwrap()
}

fn reject(body: &[u8]) -> PeekError {
    peek_request(body, LIMIT).unwrap_err()
}

#[test]
fn v03_message_send_probe_from_a2a_md() {
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {
        "message": {"kind": "message", "messageId": "m1", "role": "user",
                    "parts": [{"kind": "text", "text": "hi"}], "taskId": "t-1", "contextId": "c-1"}}}),
    );
    assert_eq!(p.method, A2aMethod::SendMessage);
    assert_eq!(p.dialect, Dialect::V03);
    assert_eq!(p.id, Some(json!(1)));
    assert_eq!(p.task_id.as_deref(), Some("t-1"));
    assert_eq!(p.context_id.as_deref(), Some("c-1"));
    assert!(p.push_urls.is_empty());
}

#[test]
fn v1_send_streaming_message_with_inline_push_config() {
    let p = peek(
        json!({"jsonrpc": "2.0", "id": "a", "method": "SendStreamingMessage", "params": {
        "tenant": "acme",
        "message": {"messageId": "m2", "role": "ROLE_USER", "parts": [{"raw": "AAAA"}]},
        "configuration": {"taskPushNotificationConfig": {"url": "https://hooks.example.com/x", "token": "s"}}}}),
    );
    assert_eq!(p.method, A2aMethod::SendStreamingMessage);
    assert!(p.method.is_streaming());
    assert_eq!(p.dialect, Dialect::V1);
    assert_eq!(p.id, Some(json!("a")));
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    assert_eq!(p.task_id, None);
    assert_eq!(p.push_urls, ["https://hooks.example.com/x"]);
}

#[test]
fn v03_inline_push_config_url_is_found() {
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": {
        "message": {"messageId": "m"},
        "configuration": {"blocking": false, "pushNotificationConfig": {"url": "http://169.254.169.254/"}}}}),
    );
    assert_eq!(p.push_urls, ["http://169.254.169.254/"]);
}

#[test]
fn task_ids_per_method_and_version() {
    let cases = [
        (
            json!({"method": "tasks/get", "params": {"id": "t1", "historyLength": 3}}),
            "t1",
        ),
        (json!({"method": "GetTask", "params": {"id": "t2"}}), "t2"),
        (
            json!({"method": "GetTask", "params": {"name": "tasks/t3"}}),
            "t3",
        ),
        (
            json!({"method": "tasks/cancel", "params": {"id": "t4"}}),
            "t4",
        ),
        (
            json!({"method": "CancelTask", "params": {"id": "t5"}}),
            "t5",
        ),
        (
            json!({"method": "tasks/resubscribe", "params": {"id": "t6"}}),
            "t6",
        ),
        (
            json!({"method": "SubscribeToTask", "params": {"id": "t7"}}),
            "t7",
        ),
        // 0.3 push config: set has taskId, the others name the task in `id`.
        (
            json!({"method": "tasks/pushNotificationConfig/set", "params": {"taskId": "t8",
            "pushNotificationConfig": {"url": "https://h.example.com"}}}),
            "t8",
        ),
        (
            json!({"method": "tasks/pushNotificationConfig/get", "params": {"id": "t9",
            "pushNotificationConfigId": "c9"}}),
            "t9",
        ),
        (
            json!({"method": "tasks/pushNotificationConfig/list", "params": {"id": "t10"}}),
            "t10",
        ),
        // 1.0 push config: `taskId` is the task, `id` the config.
        (
            json!({"method": "GetTaskPushNotificationConfig", "params": {"taskId": "t11", "id": "c11"}}),
            "t11",
        ),
        (
            json!({"method": "DeleteTaskPushNotificationConfig",
            "params": {"name": "tasks/t12/pushNotificationConfigs/c12"}}),
            "t12",
        ),
        (
            json!({"method": "CreateTaskPushNotificationConfig",
            "params": {"parent": "tasks/t13", "config": {"url": "https://h.example.com"}}}),
            "t13",
        ),
    ];
    for (mut req, want) in cases {
        req["jsonrpc"] = json!("2.0");
        req["id"] = json!(1);
        let p = peek(req.clone());
        assert_eq!(p.task_id.as_deref(), Some(want), "{req}");
    }
}

#[test]
fn push_config_ids() {
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/pushNotificationConfig/delete",
        "params": {"id": "t", "pushNotificationConfigId": "c"}}),
    );
    assert_eq!(p.push_config_id.as_deref(), Some("c"));
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "GetTaskPushNotificationConfig",
        "params": {"taskId": "t", "id": "c2"}}),
    );
    assert_eq!(p.push_config_id.as_deref(), Some("c2"));
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "GetTaskPushNotificationConfig",
        "params": {"name": "tasks/t/pushNotificationConfigs/c3"}}),
    );
    assert_eq!(p.push_config_id.as_deref(), Some("c3"));
}

#[test]
fn push_config_creation_urls_in_every_shape() {
    let shapes = [
        json!({"method": "CreateTaskPushNotificationConfig",
               "params": {"taskId": "t", "url": "https://a.example.com/1"}}),
        json!({"method": "tasks/pushNotificationConfig/set",
               "params": {"taskId": "t", "pushNotificationConfig": {"url": "https://a.example.com/1"}}}),
        json!({"method": "CreateTaskPushNotificationConfig",
               "params": {"parent": "tasks/t", "config": {"url": "https://a.example.com/1"}}}),
        json!({"method": "CreateTaskPushNotificationConfig",
               "params": {"parent": "tasks/t", "config": {"pushNotificationConfig": {"url": "https://a.example.com/1"}}}}),
    ];
    for mut req in shapes {
        req["jsonrpc"] = json!("2.0");
        req["id"] = json!(1);
        assert_eq!(
            peek(req.clone()).push_urls,
            ["https://a.example.com/1"],
            "{req}"
        );
    }
}

#[test]
fn list_tasks_context_filter_and_extended_card() {
    let p = peek(json!({"jsonrpc": "2.0", "id": 1, "method": "ListTasks",
        "params": {"contextId": "c", "pageSize": 10}}));
    assert_eq!(p.method, A2aMethod::ListTasks);
    assert_eq!(p.context_id.as_deref(), Some("c"));
    assert_eq!(p.task_id, None);
    let p =
        peek(json!({"jsonrpc": "2.0", "id": 1, "method": "agent/getAuthenticatedExtendedCard"}));
    assert_eq!(p.method, A2aMethod::GetExtendedAgentCard);
}

#[test]
fn wrongly_typed_params_are_ignored_not_fatal() {
    let p = peek(json!({"jsonrpc": "2.0", "id": null, "method": "GetTask",
        "params": {"id": 5, "message": "x", "configuration": [1]}}));
    assert_eq!(p.id, Some(Value::Null));
    assert_eq!(p.task_id, None);
    let p = peek(json!({"jsonrpc": "2.0", "method": "GetTask", "params": "nope"}));
    assert_eq!(p.id, None);
}

#[test]
fn batch_is_rejected_with_invalid_request() {
    let e = reject(br#"[{"jsonrpc":"2.0","id":1,"method":"GetTask"}]"#);
    assert_eq!(e.error.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.error.message, "Batch requests are not supported");
    let resp: Value = serde_json::from_slice(&e.to_response_bytes()).unwrap();
    assert_eq!(resp["id"], Value::Null);
    assert_eq!(resp["error"]["code"], -32600);
}

#[test]
fn malformed_json_is_a_parse_error() {
    for body in [
        &b"{"[..],
        b"",
        b"{\"jsonrpc\":\"2.0\",}",
        b"{} trailing",
        b"\xff\xfe",
    ] {
        assert_eq!(reject(body).error.kind, ErrorKind::ParseError, "{body:?}");
    }
    // Invalid UTF-8 inside a string.
    assert_eq!(
        reject(b"{\"method\":\"\xff\"}").error.kind,
        ErrorKind::ParseError
    );
}

#[test]
fn structural_errors_are_invalid_request_with_id_echoed() {
    let e = reject(br#"{"jsonrpc":"1.0","id":9,"method":"GetTask"}"#);
    assert_eq!(
        (e.error.kind, e.id.clone()),
        (ErrorKind::InvalidRequest, Some(json!(9)))
    );
    let e = reject(br#"{"jsonrpc":"2.0","id":"x"}"#);
    assert_eq!(
        (e.error.kind, e.id.clone()),
        (ErrorKind::InvalidRequest, Some(json!("x")))
    );
    let e = reject(br#"{"jsonrpc":"2.0","id":1,"method":7}"#);
    assert_eq!(e.error.kind, ErrorKind::InvalidRequest);
    let e = reject(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"GetTask"}"#);
    assert_eq!(
        (e.error.kind, e.id.clone()),
        (ErrorKind::InvalidRequest, None)
    );
    assert_eq!(reject(b"42").error.kind, ErrorKind::InvalidRequest);
    assert_eq!(reject(b"\"GetTask\"").error.kind, ErrorKind::InvalidRequest);
}

#[test]
fn unknown_method_is_method_not_found() {
    let e = reject(br#"{"jsonrpc":"2.0","id":3,"method":"tasks/send"}"#);
    assert_eq!(e.error.kind, ErrorKind::MethodNotFound);
    assert_eq!(e.id, Some(json!(3)));
    assert!(e.error.message.contains("tasks/send"));
}

#[test]
fn oversized_body_is_rejected_before_parsing() {
    let body = vec![b' '; 65];
    let e = peek_request(&body, 64).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::InvalidRequest);
    assert!(e.error.message.contains("64"));
}

#[test]
fn large_parts_are_skipped() {
    let big = "A".repeat(512 * 1024);
    let p = peek(
        json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
        "message": {"messageId": "m", "parts": [{"raw": big}, {"data": {"deep": [[[{"x": 1}]]]}}],
                    "contextId": "ctx"}}}),
    );
    assert_eq!(p.context_id.as_deref(), Some("ctx"));
}
