//! Responses requests into the IR (every input item kind, tools, tool choice, refusals) and
//! complete responses out of it, with samples following OpenAI's Responses API reference.

use serde_json::json;

use super::*;
use crate::{prepare_request, translate_response, ClientApi, Plan, ProviderApi};

fn parse(v: Value) -> Result<Request, LlmError> {
    parse_request(v.to_string().as_bytes())
}

#[test]
fn a_string_input_is_one_user_message() {
    let req = parse(json!({"model": "gpt-4.1", "instructions": "Be brief.",
        "input": "Hello", "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9,
        "stream": true, "user": "u-1", "store": true, "metadata": {"k": "v"}}))
    .unwrap();
    assert_eq!(req.model, "gpt-4.1");
    assert_eq!(req.system, vec!["Be brief.".to_string()]);
    assert_eq!(
        req.messages,
        vec![Message {
            role: Role::User,
            content: vec![Part::Text("Hello".into())]
        }]
    );
    assert_eq!(req.max_tokens, Some(100));
    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert!(req.stream);
    assert_eq!(req.user.as_deref(), Some("u-1"));
}

#[test]
fn every_input_item_kind() {
    let req = parse(json!({
        "model": "m",
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                {"type": "input_image", "image_url": "https://x/y.jpg", "detail": "auto"}
            ]},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "ok"}]}
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                   "strict": true},
                  {"type": "function", "name": "noop"}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": false
    }))
    .unwrap();
    assert_eq!(req.system, vec!["Use tools.".to_string()]);
    assert_eq!(
        req.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::Text("Weather here?".into()),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into()
                    }),
                    Part::Image(Image::Url("https://x/y.jpg".into())),
                ]
            },
            Message {
                role: Role::Assistant,
                content: vec![Part::Text("Checking.".into())]
            },
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolUse {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    input: json!({"city": "Paris"})
                }]
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    id: "call_1".into(),
                    content: vec![Part::Text("18C".into())],
                    is_error: false
                }]
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    id: "call_2".into(),
                    content: vec![Part::Text("ok".into())],
                    is_error: false
                }]
            },
        ]
    );
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].description.as_deref(), Some("Weather"));
    assert_eq!(req.tools[0].schema["properties"]["city"]["type"], "string");
    assert_eq!(
        req.tools[1].schema,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool("get_weather".into()))
    );
    assert_eq!(req.parallel_tool_calls, Some(false));
}

#[test]
fn tool_choices() {
    for (choice, want) in [
        ("auto", ToolChoice::Auto),
        ("none", ToolChoice::None),
        ("required", ToolChoice::Required),
    ] {
        let req = parse(json!({"model": "m", "input": "x", "tool_choice": choice})).unwrap();
        assert_eq!(req.tool_choice, Some(want));
    }
    assert!(parse(json!({"model": "m", "input": "x", "tool_choice": "sometimes"})).is_err());
}

#[test]
fn what_cannot_be_served_is_refused() {
    for body in [
        json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
        json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
        json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}),
        json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
        json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}),
    ] {
        let err = parse(body.clone()).unwrap_err();
        assert!(matches!(err, LlmError::Unsupported { .. }), "{body}: {err}");
    }
    let err = parse(json!({"model": "m", "previous_response_id": "resp_1"})).unwrap_err();
    assert!(err.to_string().contains("previous_response_id"));
    // Refusals reach a Responses client in OpenAI's error format.
    let (status, _, body) = err.response(ClientApi::OpenAiResponses);
    assert_eq!(status.as_u16(), 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(parse(json!({"model": "m", "input": 3})).is_err());
    assert!(
        parse(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]})).is_err()
    );
}

#[test]
fn requests_reach_anthropic_gemini_and_bedrock() {
    let body = json!({"model": "gpt", "instructions": "Sys", "input": "Hi",
        "max_output_tokens": 50, "stream": true})
    .to_string();
    let opts = crate::TranslateOptions::default();
    let client = ClientApi::OpenAiResponses;
    let p = ProviderApi::AnthropicMessages;
    let req = prepare_request(
        Plan::new(client, p).unwrap(),
        client,
        p,
        body.as_bytes(),
        Some("claude-sonnet-4-5"),
        &opts,
    )
    .unwrap();
    assert_eq!(req.path, "/v1/messages");
    assert!(req.stream);
    let v: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        v,
        json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "system": "Sys",
               "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
               "stream": true})
    );
    let p = ProviderApi::Gemini;
    let req = prepare_request(
        Plan::new(client, p).unwrap(),
        client,
        p,
        body.as_bytes(),
        Some("gemini-2.5-flash"),
        &opts,
    )
    .unwrap();
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let v: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(v["systemInstruction"]["parts"][0]["text"], "Sys");
    let p = ProviderApi::BedrockConverse;
    let req = prepare_request(
        Plan::new(client, p).unwrap(),
        client,
        p,
        body.as_bytes(),
        Some("anthropic.claude"),
        &opts,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(v["inferenceConfig"]["maxTokens"], 50);
    // Unsupported features name the provider they could not be carried to.
    let err = prepare_request(
        Plan::ResponsesToBedrock,
        client,
        p,
        br#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#,
        None,
        &opts,
    )
    .unwrap_err();
    assert!(err.to_string().contains("bedrock"), "{err}");
}

#[test]
fn a_complete_anthropic_message_as_a_response() {
    let body = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "text", "text": "Checking "},
            {"type": "text", "text": "Paris."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 30, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 0}
    });
    let (out, usage) = translate_response(
        Plan::ResponsesToAnthropic,
        ProviderApi::AnthropicMessages,
        &bytes::Bytes::from(body.to_string()),
    )
    .unwrap();
    assert_eq!(usage.input, 120);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["id"], "resp_msg_01");
    assert_eq!(v["object"], "response");
    assert!(v["created_at"].as_u64().unwrap() > 0);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(
        v["output"],
        json!([
            {"type": "message", "id": "msg_msg_01", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking Paris.", "annotations": []}]},
            {"type": "function_call", "id": "fc_toolu_1", "call_id": "toolu_1",
             "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"}
        ])
    );
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100},
               "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 150})
    );
}

#[test]
fn items_keep_the_providers_order() {
    let resp = Response {
        id: "m1".into(),
        model: "c".into(),
        content: vec![
            Part::Text("A".into()),
            Part::ToolUse {
                id: "t1".into(),
                name: "f".into(),
                input: json!({}),
            },
            Part::Text("B".into()),
            Part::Text("C".into()),
        ],
        stop: Some(StopReason::ToolUse),
        usage: Usage::default(),
    };
    let v = write_response(&resp);
    let kinds: Vec<&str> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "function_call", "message"]);
    assert_eq!(v["output"][2]["content"][0]["text"], "BC");
    assert_ne!(v["output"][0]["id"], v["output"][2]["id"]);
}

#[test]
fn stop_reasons_set_the_status() {
    for (reason, status, detail) in [
        ("end_turn", "completed", Value::Null),
        ("stop_sequence", "completed", Value::Null),
        ("tool_use", "completed", Value::Null),
        (
            "max_tokens",
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        ("refusal", "incomplete", json!({"reason": "content_filter"})),
    ] {
        let body = json!({"id": "m", "model": "c", "content": [{"type": "text", "text": "x"}],
                          "stop_reason": reason, "usage": {"input_tokens": 1, "output_tokens": 1}});
        let (out, _) = translate_response(
            Plan::ResponsesToAnthropic,
            ProviderApi::AnthropicMessages,
            &bytes::Bytes::from(body.to_string()),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], status, "{reason}");
        assert_eq!(v["incomplete_details"], detail, "{reason}");
    }
}

#[test]
fn gemini_and_bedrock_responses() {
    let gemini = json!({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"},
        "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 10,
        "candidatesTokenCount": 5, "thoughtsTokenCount": 3}, "modelVersion": "gemini-2.5-flash",
        "responseId": "r1"});
    let (out, _) = translate_response(
        Plan::ResponsesToGemini,
        ProviderApi::Gemini,
        &bytes::Bytes::from(gemini.to_string()),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], "Hi");
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["usage"]["output_tokens"], 8);
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 3);
    let bedrock = json!({"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 3, "outputTokens": 4}});
    let (out, usage) = translate_response(
        Plan::ResponsesToBedrock,
        ProviderApi::BedrockConverse,
        &bytes::Bytes::from(bedrock.to_string()),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["output"].as_array().unwrap().len(), 1);
    assert_eq!(v["output"][0]["call_id"], "t1");
    assert_eq!(v["output"][0]["arguments"], "{\"a\":1}");
    assert_eq!(usage.output, 4);
}
