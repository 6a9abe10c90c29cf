//! A2A relay refusals: malformed or oversized JSON-RPC gets JSON-RPC errors, tasks are owned by
//! the `x-caller` that created them, and push-notification URLs are checked against SSRF rules.
//!
//! Needs `python3 -m pip install -r tests/requirements.txt` (the tests fail without it).

use e2e::a2a::{run_client, AgentMode};
use serde_json::json;

use crate::a2a::{base, create_task, msg_0_3, msg_1_0, post_raw, rpc, setup, state, uuid, JSONRPC};

// -------------------------------------------------------------------------------------------
// (d) bad input
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_json_rpc_gets_json_rpc_errors() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let url = gw.url(&format!("/agents/echo{JSONRPC}"));
    let h = [("x-caller", "alice"), ("a2a-version", "1.0")];

    let r = post_raw(&url, &h, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").await;
    assert_eq!(r.status, 200, "malformed JSON: {}", r.text);
    assert_eq!(r.expect_error("malformed JSON"), -32700, "{}", r.text);
    assert_eq!(r.body["jsonrpc"], "2.0", "{}", r.text);

    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "NoSuchMethod", "params": {}});
    let r = post_raw(&url, &h, body.to_string()).await;
    assert_eq!(r.status, 200, "unknown method: {}", r.text);
    assert_eq!(r.expect_error("unknown method"), -32601, "{}", r.text);
    assert_eq!(r.body["id"], 7, "{}", r.text);

    let one = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                     "params": {"message": msg_1_0("batched")}});
    let r = post_raw(&url, &h, json!([one]).to_string()).await;
    assert_eq!(r.status, 200, "batch: {}", r.text);
    assert_eq!(r.expect_error("batch"), -32600, "{}", r.text);

    // Over the route's 1 KiB maxRequestBody.
    let big = "x".repeat(4096);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "SendMessage",
                      "params": {"message": msg_1_0(&big)}});
    let small = gw.url(&format!("/agents/small{JSONRPC}"));
    let r = post_raw(&small, &h, body.to_string()).await;
    assert_eq!(r.status, 413, "oversized body: {}", r.text);
    r.expect_error("oversized body");
    assert_eq!(r.body["jsonrpc"], "2.0", "{}", r.text);
    let seen = agent.requests().await;
    assert!(
        !seen
            .iter()
            .any(|s| s["body"].as_str().unwrap_or("").contains("xxxxxxxx")),
        "the agent saw the oversized request"
    );
}

// -------------------------------------------------------------------------------------------
// (e) task ownership keyed on x-caller
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn tasks_of_one_caller_are_invisible_to_another() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let id = create_task(&gw, "alice", "slow").await;

    for (method, params) in [
        ("GetTask", json!({"id": id})),
        ("CancelTask", json!({"id": id})),
        ("tasks/get", json!({"id": id})),
        ("tasks/cancel", json!({"id": id})),
    ] {
        let r = rpc(&gw, "bob", method, params).await;
        assert_eq!(
            r.expect_error(&format!("bob {method}")),
            -32001,
            "bob {method}: {}",
            r.text
        );
    }

    let r = rpc(&gw, "alice", "GetTask", json!({"id": id})).await;
    let t = r.result("alice GetTask");
    assert_eq!(t["id"], id.as_str());
    assert_ne!(
        t["status"]["state"], "TASK_STATE_CANCELED",
        "bob's cancel reached the agent"
    );
    let r = rpc(&gw, "alice", "tasks/get", json!({"id": id})).await;
    assert_eq!(r.result("alice tasks/get")["kind"], "task");

    // The a2a-sdk client as bob gets TaskNotFound; as alice it cancels.
    let b = base(&gw);
    let bob = run_client(&b, &["--header", "x-caller=bob", "get", &id]).await;
    assert!(!bob.success, "bob read alice's task: {}", bob.stdout);
    let err = bob.error().unwrap_or_else(|| panic!("{}", bob.stderr));
    assert_eq!(err["code"], -32001, "{err}");
    let bob = run_client(
        &b,
        &[
            "--version",
            "0.3",
            "--header",
            "x-caller=bob",
            "cancel",
            &id,
        ],
    )
    .await;
    assert!(!bob.success, "bob cancelled alice's task: {}", bob.stdout);
    assert_eq!(bob.error().map(|e| e["code"].clone()), Some(json!(-32001)));
    let alice = run_client(&b, &["--header", "x-caller=alice", "cancel", &id])
        .await
        .ok();
    assert_eq!(state(&alice.last()), "TASK_STATE_CANCELED");
}

#[tokio::test]
async fn tasks_created_by_a_stream_are_owned_too() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let b = base(&gw);
    for version in ["1.0", "0.3"] {
        let run = run_client(
            &b,
            &[
                "--version",
                version,
                "--header",
                "x-caller=alice",
                "stream",
                "s",
            ],
        )
        .await
        .ok();
        let id = run.last()["taskId"].as_str().unwrap().to_string();
        let r = rpc(&gw, "bob", "GetTask", json!({"id": id})).await;
        assert_eq!(
            r.expect_error("bob GetTask"),
            -32001,
            "{version}: {}",
            r.text
        );
        let r = rpc(&gw, "alice", "GetTask", json!({"id": id})).await;
        assert_eq!(r.result("alice GetTask")["id"], id.as_str());
    }
}

/// Beyond (e): every other task-scoped operation of bob's on alice's task is refused too, and
/// ListTasks is scoped (reference a2a.md §9 item 5).
#[tokio::test]
async fn other_task_operations_are_scoped_to_the_owner() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let id = create_task(&gw, "alice", "slow").await;
    let mut failures = Vec::new();
    for (method, params) in [
        (
            "SendMessage",
            json!({"message": {"messageId": uuid(), "taskId": id, "role": "ROLE_USER",
                               "parts": [{"text": "hijack"}]},
                   "configuration": {"returnImmediately": true}}),
        ),
        (
            "message/send",
            json!({"message": {"kind": "message", "messageId": uuid(), "taskId": id,
                               "role": "user", "parts": [{"kind": "text", "text": "hijack"}]},
                   "configuration": {"blocking": false}}),
        ),
        ("SubscribeToTask", json!({"id": id})),
        ("ListTaskPushNotificationConfigs", json!({"taskId": id})),
        (
            "CreateTaskPushNotificationConfig",
            json!({"taskId": id, "url": "https://93.184.215.14/bob"}),
        ),
    ] {
        let r = rpc(&gw, "bob", method, params).await;
        if r.error_code() != Some(-32001) {
            failures.push(format!(
                "bob {method} on alice's task: HTTP {} {}",
                r.status,
                r.text.chars().take(300).collect::<String>()
            ));
        }
    }
    let r = rpc(&gw, "bob", "ListTasks", json!({})).await;
    let listed = r.result("bob ListTasks")["tasks"].clone();
    if listed.as_array().is_some_and(|t| !t.is_empty()) {
        failures.push(format!("bob ListTasks lists alice's tasks: {listed}"));
    }
    let r = rpc(&gw, "alice", "ListTasks", json!({})).await;
    let ids: Vec<&str> = r.result("alice ListTasks")["tasks"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    if !ids.contains(&id.as_str()) {
        failures.push(format!("alice ListTasks misses her task: {}", r.text));
    }
    let hijacks = agent
        .requests()
        .await
        .iter()
        .filter(|s| s["body"].as_str().unwrap_or("").contains("hijack"))
        .count();
    if hijacks > 0 {
        failures.push(format!(
            "{hijacks} of bob's messages into alice's task reached the agent"
        ));
    }
    let _ = rpc(&gw, "alice", "CancelTask", json!({"id": id})).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// -------------------------------------------------------------------------------------------
// (f) push-notification URLs are checked against SSRF rules
// -------------------------------------------------------------------------------------------

const BAD_PUSH_URLS: [(&str, &str); 5] = [
    ("https://127.0.0.1/x", "loopback"),
    ("https://10.1.2.3/x", "private"),
    ("https://169.254.169.254/x", "link-local"),
    ("https://localhost/x", "localhost"),
    ("http://93.184.215.14/x", "plain http"),
];

/// Words one of which a refusal's message should contain for each reason.
fn reason_words(reason: &str) -> &'static [&'static str] {
    match reason {
        "plain http" => &["https", "http", "scheme", "insecure"],
        _ => &[
            "loopback",
            "private",
            "link-local",
            "link local",
            "localhost",
            "internal",
            "reserved",
            "not allowed",
            "forbidden",
            "blocked",
            "ssrf",
            "address",
            "not public",
        ],
    }
}

#[tokio::test]
async fn push_configs_to_internal_or_plain_http_urls_are_refused() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let task = create_task(&gw, "alice", "hello").await;
    let mut failures = Vec::new();
    for (url, reason) in BAD_PUSH_URLS {
        let shapes = [
            (
                "SendMessage",
                json!({"message": msg_1_0("p"),
                       "configuration": {"taskPushNotificationConfig": {"url": url}}}),
            ),
            (
                "SendStreamingMessage",
                json!({"message": msg_1_0("p"),
                       "configuration": {"taskPushNotificationConfig": {"url": url}}}),
            ),
            (
                "message/send",
                json!({"message": msg_0_3("p"),
                       "configuration": {"pushNotificationConfig": {"url": url}}}),
            ),
            (
                "CreateTaskPushNotificationConfig",
                json!({"taskId": task, "url": url}),
            ),
            (
                "tasks/pushNotificationConfig/set",
                json!({"taskId": task, "pushNotificationConfig": {"url": url}}),
            ),
        ];
        for (method, params) in shapes {
            let r = rpc(&gw, "alice", method, params).await;
            let msg = r.error_message().to_ascii_lowercase();
            let ok = r.error_code() == Some(-32602)
                && reason_words(reason).iter().any(|w| msg.contains(w));
            if !ok {
                failures.push(format!(
                    "{method} with {url} ({reason}): HTTP {} {}",
                    r.status,
                    r.text.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    let seen = agent.requests().await;
    let leaked: Vec<String> = seen
        .iter()
        .filter_map(|s| s["body"].as_str())
        .filter(|b| BAD_PUSH_URLS.iter().any(|(u, _)| b.contains(u)))
        .map(|b| b.chars().take(200).collect())
        .collect();
    assert!(
        failures.is_empty() && leaked.is_empty(),
        "not refused with -32602 and a reason:\n{}\nreached the agent:\n{}",
        failures.join("\n"),
        leaked.join("\n")
    );
}

#[tokio::test]
async fn push_config_to_a_public_https_url_is_relayed() {
    let (agent, gw) = setup(AgentMode::Echo).await;
    let task = create_task(&gw, "alice", "hello").await;
    // The agent stores push configs but has no sender: nothing leaves loopback.
    let url = "https://93.184.215.14/hook";
    let r = rpc(
        &gw,
        "alice",
        "CreateTaskPushNotificationConfig",
        json!({"taskId": task, "url": url}),
    )
    .await;
    assert_eq!(r.result("CreateTaskPushNotificationConfig")["url"], url);
    let seen = agent.requests().await;
    assert!(seen
        .iter()
        .any(|s| s["body"].as_str().unwrap_or("").contains(url)));
}
