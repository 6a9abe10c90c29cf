//! Bedrock Converse requests and complete responses, through both client APIs. Wire
//! samples follow the Bedrock API reference (`Converse` request and response syntax,
//! `ContentBlock`, `ToolConfiguration`, `TokenUsage`) and its tool-use examples.

use serde_json::{json, Value};

use crate::tests::{anthropic_request, openai_request};
use crate::*;

fn v(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn prepare(client: ClientApi, body: Value) -> Result<PreparedRequest, LlmError> {
    let plan = Plan::new(client, ProviderApi::BedrockConverse)?;
    prepare_request(
        plan,
        client,
        ProviderApi::BedrockConverse,
        body.to_string().as_bytes(),
        Some(MODEL),
        &TranslateOptions::default(),
    )
}

#[test]
fn openai_request_to_bedrock() {
    // Bedrock takes no image URL: the sample's URL image is left out here.
    let mut body = openai_request();
    body["messages"][1]["content"].as_array_mut().unwrap().pop();
    let req = prepare(ClientApi::OpenAiChat, body).unwrap();
    assert_eq!(
        req.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    );
    assert!(req.stream && req.client_wants_usage);
    assert_eq!(
        v(&req.body),
        json!({
            "messages": [
                {"role": "user", "content": [
                    {"text": "What is in this image, and the weather in Paris?"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
                ]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "call_abc", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_abc", "content": [{"text": "18C, sunny"}], "status": "success"}},
                    {"text": "Thanks"}
                ]}
            ],
            "system": [{"text": "You are terse."}],
            "inferenceConfig": {"temperature": 1.5, "topP": 0.9, "stopSequences": ["END"]},
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather by city",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
                "toolChoice": {"any": {}}
            }
        })
    );
    // An image URL is refused (400), not dropped.
    let err = prepare(ClientApi::OpenAiChat, openai_request()).unwrap_err();
    assert!(matches!(err, LlmError::Unsupported { .. }), "{err}");
}

#[test]
fn anthropic_request_to_bedrock() {
    let req = prepare(ClientApi::AnthropicMessages, anthropic_request()).unwrap();
    let body = v(&req.body);
    assert_eq!(
        body["system"],
        json!([{"text": "Be kind."}, {"text": "Be brief."}])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}}},
                {"text": "Describe, then look up the weather."}
            ]},
            {"role": "assistant", "content": [
                {"text": "A cat. Checking."},
                {"toolUse": {"toolUseId": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "toolu_01", "content": [{"text": "timeout"}], "status": "error"}},
                {"text": "Try again?"}
            ]}
        ])
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 1024, "temperature": 0.2, "stopSequences": ["\n\nHuman:"]})
    );
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"auto": {}}));
}

#[test]
fn bedrock_tool_choices() {
    let with = |choice: Value, history: bool| {
        let mut messages = vec![json!({"role": "user", "content": "hi"})];
        if history {
            messages.push(json!({"role": "assistant", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}));
            messages.push(json!({"role": "tool", "tool_call_id": "t1", "content": "ok"}));
        }
        let body = json!({"model": "m", "messages": messages, "tool_choice": choice,
            "tools": [{"type": "function", "function": {"name": "f"}}]});
        v(&prepare(ClientApi::OpenAiChat, body).unwrap().body)
    };
    assert_eq!(
        with(
            json!({"type": "function", "function": {"name": "f"}}),
            false
        )["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    // none: no tools at all, unless tool blocks need the toolConfig (then auto).
    assert!(with(json!("none"), false).get("toolConfig").is_none());
    let kept = with(json!("none"), true);
    assert_eq!(kept["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
    assert!(kept["toolConfig"].get("toolChoice").is_none());
}

/// A Converse response with text and a tool call, every usage count.
fn bedrock_response() -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 20, "outputTokens": 30, "totalTokens": 650,
                  "cacheReadInputTokens": 500, "cacheWriteInputTokens": 100},
        "metrics": {"latencyMs": 1234}
    })
}

#[test]
fn bedrock_response_to_both_clients() {
    let body = Bytes::from(bedrock_response().to_string());
    let expected = Usage {
        input: 620,
        output: 30,
        cache_read: 500,
        cache_creation: 100,
        reasoning: 0,
    };
    let (o, usage) =
        translate_response(Plan::OpenAiToBedrock, ProviderApi::BedrockConverse, &body).unwrap();
    assert_eq!(usage, expected);
    assert_eq!(
        response_usage(ProviderApi::BedrockConverse, &body),
        expected
    );
    let o = v(&o);
    assert_eq!(o["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(o["choices"][0]["message"]["content"], "Checking.");
    assert_eq!(
        o["choices"][0]["message"]["tool_calls"][0]["id"],
        "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    );
    assert_eq!(o["usage"]["prompt_tokens"], 620);
    assert_eq!(
        o["usage"]["prompt_tokens_details"]["cache_write_tokens"],
        100
    );
    let (a, _) = translate_response(
        Plan::AnthropicToBedrock,
        ProviderApi::BedrockConverse,
        &body,
    )
    .unwrap();
    let a = v(&a);
    assert_eq!(a["stop_reason"], "tool_use");
    assert_eq!(
        a["content"],
        json!([{"type": "text", "text": "Checking."},
               {"type": "tool_use", "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}])
    );
    assert_eq!(
        a["usage"],
        json!({"input_tokens": 20, "output_tokens": 30, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 500})
    );
    for (reason, openai, anthropic) in [
        ("end_turn", "stop", "end_turn"),
        ("max_tokens", "length", "max_tokens"),
        ("stop_sequence", "stop", "stop_sequence"),
        ("guardrail_intervened", "content_filter", "refusal"),
        ("content_filtered", "content_filter", "refusal"),
    ] {
        let body = Bytes::from(
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                   "stopReason": reason, "usage": {"inputTokens": 1, "outputTokens": 1}})
            .to_string(),
        );
        let (o, _) =
            translate_response(Plan::OpenAiToBedrock, ProviderApi::BedrockConverse, &body).unwrap();
        assert_eq!(v(&o)["choices"][0]["finish_reason"], openai, "{reason}");
        let (a, _) = translate_response(
            Plan::AnthropicToBedrock,
            ProviderApi::BedrockConverse,
            &body,
        )
        .unwrap();
        assert_eq!(v(&a)["stop_reason"], anthropic, "{reason}");
    }
    let err = translate_response(
        Plan::OpenAiToBedrock,
        ProviderApi::BedrockConverse,
        &Bytes::from(r#"{"message":"x"}"#),
    );
    assert!(matches!(err, Err(LlmError::ProviderResponse(_))));
}

#[test]
fn bedrock_errors_in_the_clients_format() {
    // Bedrock error shape: `{"message"}` with the `x-amzn-errortype` header
    // (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`).
    let body = br#"{"message":"Too many requests, please wait before trying again."}"#;
    let (status, _, b) = translate_error_body(
        ClientApi::AnthropicMessages,
        ProviderApi::BedrockConverse,
        http::StatusCode::TOO_MANY_REQUESTS,
        body,
    );
    assert_eq!(status, 429);
    assert_eq!(
        v(&b),
        json!({"type": "error", "error": {"type": "rate_limit_error",
            "message": "Too many requests, please wait before trying again."}})
    );
    let (_, _, b) = translate_error_body(
        ClientApi::OpenAiChat,
        ProviderApi::BedrockConverse,
        http::StatusCode::BAD_REQUEST,
        br#"{"message":"The model returned the following errors: messages: text content blocks must be non-empty"}"#,
    );
    assert_eq!(v(&b)["error"]["type"], "invalid_request_error");
    let (_, _, b2) = translate_error_body(
        ClientApi::OpenAiChat,
        ProviderApi::BedrockConverse,
        http::StatusCode::FORBIDDEN,
        br#"{"Message":"User is not authorized to perform: bedrock:InvokeModel"}"#,
    );
    assert_eq!(
        v(&b2)["error"]["message"],
        "User is not authorized to perform: bedrock:InvokeModel"
    );
    assert!(v(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("The model returned"));
}
