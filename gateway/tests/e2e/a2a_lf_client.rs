//! The A2A relay with the Rust `a2a-lf` crate (the A2A project's Rust types, 1.0) as a second,
//! independent client next to the Python a2a-sdk: every request is built from its types and
//! every answer must deserialize into them, through a gateway route in front of the a2a-sdk
//! agent. A relay that rewrote, re-encoded or wrapped anything wrongly fails here.

use std::time::Duration;

use a2a_lf::{
    AgentCard, GetTaskRequest, JsonRpcId, JsonRpcRequest, JsonRpcResponse, Message, Part,
    PartContent, SendMessageRequest, SendMessageResponse, StreamResponse, Task, TaskState,
};
use e2e::a2a::{A2aAgent, AgentMode};
use e2e::{client, fill, routes_config, Gateway};
use futures_util::StreamExt;

use crate::STEP;

const ROUTE: &str = r#"
- name: agent
  matches: [{ path: { prefix: /agents/lf } }]
  policies:
    a2a: {}
    urlRewrite: { path: { prefix: / } }
  backends: [{ host: "{agent}" }]
"#;

async fn setup(mode: AgentMode) -> (A2aAgent, Gateway) {
    let agent = A2aAgent::start(mode).await;
    let routes = fill(ROUTE, &[("agent".to_string(), agent.host())]);
    let gw = Gateway::start(&routes_config(&routes)).await;
    (agent, gw)
}

fn message(text: &str) -> Message {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    serde_json::from_value::<Message>(serde_json::json!({
        "messageId": format!("lf-{nanos}"), "role": "ROLE_USER", "parts": []
    }))
    .map(|mut m| {
        m.parts = vec![Part::text(text)];
        m
    })
    .expect("a message")
}

/// The card through the gateway, as `a2a_lf::AgentCard`, and its JSON-RPC URL.
async fn fetch_card(gw: &Gateway) -> (AgentCard, String) {
    let url = gw.url("/agents/lf/.well-known/agent-card.json");
    let text = tokio::time::timeout(STEP, async {
        client().get(&url).send().await?.text().await
    })
    .await
    .expect("card in time")
    .expect("card");
    let card: AgentCard = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the relayed card is not an a2a-lf AgentCard ({e}): {text}"));
    let rpc = card
        .supported_interfaces
        .iter()
        .map(|i| i.url.clone())
        .find(|u| u.contains("jsonrpc"))
        .unwrap_or_else(|| panic!("no JSON-RPC interface: {text}"));
    (card, rpc)
}

async fn call(url: &str, method: &str, params: serde_json::Value) -> reqwest::Response {
    let request = JsonRpcRequest::new(JsonRpcId::Number(7), method, Some(params));
    tokio::time::timeout(
        STEP,
        client()
            .post(url)
            .header("a2a-version", a2a_lf::VERSION)
            .json(&request)
            .send(),
    )
    .await
    .expect("answer in time")
    .expect("answer")
}

fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match &p.content {
            PartContent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_a2a_lf_types_round_trip_through_the_relay() {
    let (_agent, gw) = setup(AgentMode::Echo).await;
    let (card, rpc) = fetch_card(&gw).await;
    for interface in &card.supported_interfaces {
        assert!(
            interface.url.starts_with(&gw.url("/agents/lf")),
            "every interface points at the gateway: {}",
            interface.url
        );
    }

    let send = SendMessageRequest {
        message: message("hello from a2a-lf"),
        configuration: None,
        metadata: None,
        tenant: None,
    };
    let params = serde_json::to_value(&send).expect("params");
    let reply: JsonRpcResponse = call(&rpc, "SendMessage", params)
        .await
        .json()
        .await
        .expect("a JSON-RPC response");
    assert_eq!(reply.id, JsonRpcId::Number(7));
    assert!(reply.error.is_none(), "{reply:?}");
    let result: SendMessageResponse =
        serde_json::from_value(reply.result.expect("result")).expect("a SendMessageResponse");
    let SendMessageResponse::Task(task) = result else {
        panic!("the echo agent answers with a task: {result:?}");
    };
    assert_eq!(task.status.state, TaskState::Completed);
    let echoed: String = task
        .artifacts
        .iter()
        .flatten()
        .map(|a| text_of(&a.parts))
        .collect();
    assert!(echoed.contains("hello from a2a-lf"), "{task:?}");

    let get = GetTaskRequest {
        id: task.id.clone(),
        history_length: None,
        tenant: None,
    };
    let reply: JsonRpcResponse = call(&rpc, "GetTask", serde_json::to_value(&get).expect("params"))
        .await
        .json()
        .await
        .expect("a JSON-RPC response");
    let fetched: Task = serde_json::from_value(reply.result.expect("result")).expect("a Task");
    assert_eq!(fetched.id, task.id);
    assert_eq!(fetched.status.state, TaskState::Completed);
}

#[tokio::test]
async fn a_stream_relayed_frame_by_frame_parses_as_a2a_lf_stream_responses() {
    let (_agent, gw) = setup(AgentMode::Stream).await;
    let (_, rpc) = fetch_card(&gw).await;
    let send = SendMessageRequest {
        message: message("stream please"),
        configuration: None,
        metadata: None,
        tenant: None,
    };
    let response = call(
        &rpc,
        "SendStreamingMessage",
        serde_json::to_value(&send).expect("params"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            // sse-starlette ends lines with CRLF
            buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")).replace("\r\n", "\n"));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let reply: JsonRpcResponse =
                    serde_json::from_str(data.trim()).expect("a JSON-RPC response per frame");
                let event: StreamResponse = serde_json::from_value(reply.result.expect("result"))
                    .unwrap_or_else(|e| panic!("not an a2a-lf StreamResponse ({e}): {data}"));
                events.push(event);
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "the stream ended: {} events",
        events.len()
    );
    assert!(events.len() >= 3, "task, updates, final: {events:?}");
    let last_state = events.iter().rev().find_map(|e| match e {
        StreamResponse::StatusUpdate(s) => Some(s.status.state.clone()),
        StreamResponse::Task(t) => Some(t.status.state.clone()),
        _ => None,
    });
    assert_eq!(last_state, Some(TaskState::Completed), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamResponse::ArtifactUpdate(_))),
        "the streaming agent sends artifact chunks: {events:?}"
    );
}
