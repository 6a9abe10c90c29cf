//! A2A task ownership from the authenticated caller: on a route with `apiKeyAuth`, the key's
//! name owns the tasks it creates, whatever `callerHeader` says, so one key cannot read,
//! cancel, subscribe to or list another key's tasks; anonymous callers that `optional` mode
//! lets through never reach an authenticated caller's tasks, even by naming it in the header.
//! Against the real a2a-sdk agent, with raw JSON-RPC and the a2a-sdk client.
//!
//! Needs `python3 -m pip install -r tests/requirements.txt` (the tests fail without it).

use e2e::a2a::{run_client, A2aAgent, AgentMode};
use e2e::{fill, routes_config, Gateway};
use serde_json::{json, Value};

use crate::a2a::{msg_1_0, post_raw, state, Reply, JSONRPC};

const ALICE_KEY: &str = "alice-key-a2a-e2e-0001";
const BOB_KEY: &str = "bob-key-a2a-e2e-0002";

const ROUTES: &str = r#"
- name: agent
  matches: [{ path: { prefix: /agents/echo } }]
  policies:
    apiKeyAuth:
      mode: optional
      keys: [{ name: alice, key: "${E2E_A2A_ALICE_KEY}" }, { name: bob, key: "${E2E_A2A_BOB_KEY}" }]
    a2a: { callerHeader: x-caller }
    urlRewrite: { path: { prefix: / } }
  backends: [{ host: "{agent}" }]
"#;

async fn setup() -> (A2aAgent, Gateway) {
    let agent = A2aAgent::start(AgentMode::Echo).await;
    let routes = fill(ROUTES, &[("agent".to_string(), agent.host())]);
    let gw = Gateway::start_with_env(
        &routes_config(&routes),
        |_| {},
        &[
            ("E2E_A2A_ALICE_KEY", ALICE_KEY.to_string()),
            ("E2E_A2A_BOB_KEY", BOB_KEY.to_string()),
        ],
    )
    .await;
    (agent, gw)
}

/// A 1.0 JSON-RPC call with `headers` (an API key, an `x-caller`, or neither).
async fn call(gw: &Gateway, headers: &[(&str, &str)], method: &str, params: Value) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut headers = headers.to_vec();
    headers.push(("a2a-version", "1.0"));
    post_raw(
        &gw.url(&format!("/agents/echo{JSONRPC}")),
        &headers,
        body.to_string(),
    )
    .await
}

async fn create(gw: &Gateway, headers: &[(&str, &str)]) -> String {
    let params = json!({"message": msg_1_0("slow"), "configuration": {"returnImmediately": true}});
    let r = call(gw, headers, "SendMessage", params).await;
    r.result("SendMessage")["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id in {}", r.text))
        .to_string()
}

fn listed(r: &Reply) -> Vec<String> {
    r.result("ListTasks")["tasks"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_authenticated_caller_owns_its_tasks() {
    let (_agent, gw) = setup().await;
    // Both send the same `x-caller`; the key decides.
    let alice = [("x-api-key", ALICE_KEY), ("x-caller", "shared")];
    let bob = [("x-api-key", BOB_KEY), ("x-caller", "shared")];
    let id = create(&gw, &alice).await;

    for (method, params) in [
        ("GetTask", json!({"id": id})),
        ("CancelTask", json!({"id": id})),
        ("SubscribeToTask", json!({"id": id})),
        ("ListTaskPushNotificationConfigs", json!({"taskId": id})),
    ] {
        let r = call(&gw, &bob, method, params).await;
        assert_eq!(
            r.expect_error(&format!("bob {method}")),
            -32001,
            "{}",
            r.text
        );
    }
    assert!(listed(&call(&gw, &bob, "ListTasks", json!({})).await).is_empty());
    assert!(listed(&call(&gw, &alice, "ListTasks", json!({})).await).contains(&id));

    // Anonymous callers (let through by `optional`) do not reach it, whatever they claim.
    for claim in ["shared", "alice", "apiKey:alice", ""] {
        let anonymous = [("x-caller", claim)];
        let r = call(&gw, &anonymous, "GetTask", json!({"id": id})).await;
        assert_eq!(
            r.expect_error("anonymous GetTask"),
            -32001,
            "{claim}: {}",
            r.text
        );
    }
    let r = call(&gw, &[], "CancelTask", json!({"id": id})).await;
    assert_eq!(r.expect_error("anonymous CancelTask"), -32001, "{}", r.text);
    // ...and an anonymous caller's task is not alice's.
    let theirs = create(&gw, &[("x-caller", "alice")]).await;
    let r = call(&gw, &alice, "GetTask", json!({"id": theirs})).await;
    assert_eq!(
        r.expect_error("alice on an anonymous task"),
        -32001,
        "{}",
        r.text
    );
    let r = call(
        &gw,
        &[("x-caller", "alice")],
        "GetTask",
        json!({"id": theirs}),
    )
    .await;
    assert_eq!(r.result("the anonymous owner")["id"], theirs.as_str());

    // The a2a-sdk client with bob's key gets TaskNotFound; with alice's it cancels.
    let base = gw.url("/agents/echo");
    let run = run_client(
        &base,
        &["--header", &format!("x-api-key={BOB_KEY}"), "get", &id],
    )
    .await;
    assert!(!run.success, "bob read alice's task: {}", run.stdout);
    assert_eq!(run.error().map(|e| e["code"].clone()), Some(json!(-32001)));
    let run = run_client(
        &base,
        &["--header", &format!("x-api-key={ALICE_KEY}"), "cancel", &id],
    )
    .await
    .ok();
    assert_eq!(state(&run.last()), "TASK_STATE_CANCELED");
}
