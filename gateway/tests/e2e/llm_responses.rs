//! OpenAI Responses clients (`POST /v1/responses`) served by an Anthropic provider through a
//! Switchboard `ai` route: the request is translated to Messages, the answer back into a
//! Responses object or a Responses event stream (plain HTTP with reqwest against the fake
//! Anthropic provider on loopback).
//!
//! What is shown: the provider got a Messages request (its model, `system`, `max_tokens`,
//! the tool); the client got the output text, a `function_call` item with its arguments and
//! the usage, whole and streamed (events numbered in order, `response.completed` last);
//! `previous_response_id` is refused in OpenAI's error format. The official `openai` Python
//! SDK (`client.responses.create`, and `client.responses.stream`, whose accumulator rebuilds
//! the response from the events) reads the same text, call and usage.

use e2e::llm::{run_sdk_client, FakeLlm, Reply, Sdk, SdkRunOptions, Step};
use e2e::Gateway;
use serde_json::{json, Value};

fn config(url: &str) -> String {
    format!(
        "binds:
- port: {{port}}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: llm
      matches: [{{ path: {{ prefix: /llm }} }}]
      backends: [{{ backend: llm }}]
backends:
- name: llm
  ai:
    groups:
    - providers:
      - {{ name: claude, anthropic: {{ url: \"{url}\", model: upstream-model }} }}
"
    )
}

fn request(stream: bool) -> String {
    json!({
        "model": "client-model",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}],
        "max_output_tokens": 200,
        "stream": stream,
    })
    .to_string()
}

/// The SSE events of a body: (name, data).
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).expect("event data is JSON");
                }
            }
            (name, data)
        })
        .collect()
}

fn check_response(r: &Value, what: &str) {
    assert_eq!(r["object"], "response", "{what}");
    assert_eq!(r["status"], "completed", "{what}");
    let output = r["output"].as_array().expect("output");
    assert_eq!(output.len(), 2, "{what}: {r}");
    assert_eq!(output[0]["type"], "message", "{what}");
    assert_eq!(
        output[0]["content"][0]["text"], "Checking the weather.",
        "{what}"
    );
    assert_eq!(output[1]["type"], "function_call", "{what}");
    assert_eq!(output[1]["name"], "get_weather", "{what}");
    assert_eq!(output[1]["call_id"], "call_fake_1", "{what}");
    let args: Value =
        serde_json::from_str(output[1]["arguments"].as_str().expect("arguments text")).unwrap();
    assert_eq!(args, json!({"location": "Paris"}), "{what}");
    // The fake's 21 uncached input tokens and 4 cached ones: Responses counts them all.
    assert_eq!(r["usage"]["input_tokens"], 25, "{what}");
    assert_eq!(
        r["usage"]["input_tokens_details"]["cached_tokens"], 4,
        "{what}"
    );
    assert_eq!(r["usage"]["output_tokens"], 9, "{what}");
    assert_eq!(r["usage"]["total_tokens"], 34, "{what}");
}

fn tool_reply() -> Reply {
    let mut reply = Reply::with_tool(
        "Checking the weather.",
        "get_weather",
        json!({"location": "Paris"}),
    );
    reply.input_tokens = 21;
    reply.output_tokens = 9;
    reply.cached_tokens = 4;
    reply
}

#[tokio::test]
async fn responses_clients_through_an_anthropic_provider() {
    let claude = FakeLlm::start("claude").await;
    claude.set_reply(tool_reply());
    let gw = Gateway::start(&config(&claude.base())).await;
    let http = reqwest::Client::new();
    let url = gw.url("/llm/v1/responses");

    for stream in [false, true] {
        let what = format!("stream={stream}");
        let resp = http
            .post(&url)
            .header("content-type", "application/json")
            .body(request(stream))
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "{what}: {text}\n{}", gw.stderr());
        let sent = claude.generations().pop().expect("the provider got it");
        assert_eq!(sent.path(), "/v1/messages", "{what}");
        assert_eq!(sent.json["model"], "upstream-model", "{what}");
        assert_eq!(sent.json["system"], "Be brief.", "{what}");
        assert_eq!(sent.json["max_tokens"], 200, "{what}");
        assert_eq!(sent.json["tools"][0]["name"], "get_weather", "{what}");
        assert_eq!(sent.json["stream"].as_bool().unwrap_or(false), stream);
        if !stream {
            assert!(content_type.starts_with("application/json"), "{what}");
            check_response(&serde_json::from_str(&text).expect("JSON"), &what);
            continue;
        }
        assert!(content_type.starts_with("text/event-stream"), "{what}");
        let events = events(&text);
        for (i, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["type"], json!(name), "{what}: {text}");
            assert_eq!(data["sequence_number"], json!(i), "{what}");
        }
        assert_eq!(events[0].0, "response.created", "{what}");
        let (last, done) = events.last().unwrap();
        assert_eq!(last, "response.completed", "{what}: {text}");
        check_response(&done["response"], &what);
        // The text arrived in deltas, the arguments in fragments, adding up to the whole.
        let text_deltas: String = events
            .iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(text_deltas, "Checking the weather.", "{what}");
        let arg_deltas: Vec<&str> = events
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert!(arg_deltas.len() > 1, "{what}: {arg_deltas:?}");
        let args: Value = serde_json::from_str(&arg_deltas.concat()).unwrap();
        assert_eq!(args, json!({"location": "Paris"}), "{what}");
    }

    // No conversation state in the gateway: previous_response_id is refused, in OpenAI's
    // error format, before any provider is called.
    let before = claude.generations().len();
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"model":"m","input":"and now?","previous_response_id":"resp_1"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.expect("JSON error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_response_id"),
        "{v}"
    );
    assert_eq!(claude.generations().len(), before);
}

/// The official `openai` Python SDK's Responses API, whole and streamed, through the gateway
/// to the Anthropic provider.
#[tokio::test]
async fn the_openai_sdk_reads_responses_from_an_anthropic_provider() {
    let claude = FakeLlm::start("claude").await;
    claude.set_reply(tool_reply());
    let gw = Gateway::start(&config(&claude.base())).await;
    for stream in [false, true] {
        let mut opts = SdkRunOptions::new("client-model").with_tool();
        opts.stream = stream;
        opts.responses = true;
        let run = run_sdk_client(Sdk::OpenAi, &gw.url("/llm/v1"), &opts).await;
        let what = format!(
            "stream={stream}: {}\n{}\n{}",
            run.summary,
            run.stderr,
            gw.stderr()
        );
        assert!(run.success, "{what}");
        assert_eq!(run.text(), "Checking the weather.", "{what}");
        let calls = run.tool_calls();
        assert_eq!(calls.len(), 1, "{what}");
        assert_eq!(calls[0]["name"], "get_weather", "{what}");
        assert_eq!(
            calls[0]["arguments"],
            json!({"location": "Paris"}),
            "{what}"
        );
        assert_eq!(run.usage(), (25, 9), "{what}");
        assert_eq!(run.summary["usage"]["cached_tokens"], 4, "{what}");
        assert_eq!(run.stop_reason(), "completed", "{what}");
        if stream {
            let events = run.summary["events"].as_array().unwrap();
            assert_eq!(events.first().unwrap(), "response.created", "{what}");
            assert_eq!(events.last().unwrap(), "response.completed", "{what}");
        }
        let sent = claude.generations().pop().expect("the provider got it");
        assert_eq!(sent.path(), "/v1/messages", "{what}");
    }
}

/// A stream that fails after its first tokens (the provider's `error` event, then a cut):
/// the `openai` SDK raises `APIError` with the error's message, never a silent end.
#[tokio::test]
async fn the_openai_sdk_raises_on_a_responses_stream_that_fails() {
    let claude = FakeLlm::start("claude").await;
    claude.set_reply(tool_reply());
    let gw = Gateway::start(&config(&claude.base())).await;
    for (step, message) in [
        (Step::ErrorAfter(2), "Overloaded"),
        (Step::CutAfter(2), "the provider's stream"),
    ] {
        claude.script([step]);
        let mut opts = SdkRunOptions::new("client-model").streamed();
        opts.responses = true;
        let run = run_sdk_client(Sdk::OpenAi, &gw.url("/llm/v1"), &opts).await;
        let what = format!("{}\n{}\n{}", run.summary, run.stderr, gw.stderr());
        assert!(!run.success, "{what}");
        assert_eq!(run.summary["error"]["class"], "APIError", "{what}");
        let raised = run.summary["error"]["message"].as_str().unwrap_or("");
        assert!(raised.contains(message), "{what}");
        let events = run.summary["events"].as_array().unwrap();
        assert!(
            events.iter().any(|e| e == "response.output_text.delta"),
            "{what}"
        );
        assert!(!events.iter().any(|e| e == "response.completed"), "{what}");
    }
}
