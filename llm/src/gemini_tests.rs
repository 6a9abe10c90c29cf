//! Gemini requests and complete responses, through both client APIs. Wire samples follow
//! the Gemini API reference (ai.google.dev/api/generate-content: `GenerateContentRequest`,
//! `GenerateContentResponse`, `UsageMetadata`, `FinishReason`) and its function-calling guide.

use serde_json::{json, Value};

use crate::tests::{anthropic_request, openai_request};
use crate::*;

fn v(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn prepare(client: ClientApi, body: Value, model: &str) -> Result<PreparedRequest, LlmError> {
    let plan = Plan::new(client, ProviderApi::Gemini)?;
    prepare_request(
        plan,
        client,
        ProviderApi::Gemini,
        body.to_string().as_bytes(),
        Some(model),
        &TranslateOptions::default(),
    )
}

#[test]
fn openai_request_to_gemini() {
    let req = prepare(ClientApi::OpenAiChat, openai_request(), "gemini-2.5-flash").unwrap();
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert!(req.stream && req.client_wants_usage);
    assert_eq!(
        v(&req.body),
        json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "What is in this image, and the weather in Paris?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}
                ]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "unit": "c"}}}
                ]},
                // The result names its function (found from the call's id), and the next
                // user message joins the same user turn.
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"content": "18C, sunny"}}},
                    {"text": "Thanks"}
                ]}
            ],
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather by city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            "generationConfig": {"temperature": 1.5, "topP": 0.9, "stopSequences": ["END"]}
        })
    );
}

#[test]
fn anthropic_request_to_gemini() {
    let req = prepare(
        ClientApi::AnthropicMessages,
        anthropic_request(),
        "models/gemini-2.5-pro",
    )
    .unwrap();
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    let body = v(&req.body);
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "Be kind."}, {"text": "Be brief."}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                {"text": "Describe, then look up the weather."}
            ]},
            {"role": "model", "parts": [
                {"text": "A cat. Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"error": "timeout"}}},
                {"text": "Try again?"}
            ]}
        ])
    );
    // `{"type": "object"}` without properties: declared without parameters.
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather"}]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"maxOutputTokens": 1024, "temperature": 0.2, "stopSequences": ["\n\nHuman:"]})
    );
}

#[test]
fn gemini_request_details() {
    // A forced tool, a schema with keys Gemini refuses, a non-streamed path.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "additionalProperties": false,
            "properties": {"a": {"type": "object", "additionalProperties": false,
                                 "properties": {"b": {"type": "integer"}}}}}}}]});
    let req = prepare(ClientApi::OpenAiChat, body, "gemini-2.0-flash").unwrap();
    assert_eq!(req.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert!(!req.stream);
    let body = v(&req.body);
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}}})
    );
    assert_eq!(body["generationConfig"], json!({"maxOutputTokens": 50}));
    // tool_choice none.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": "none", "tools": [{"type": "function", "function": {"name": "f"}}]});
    let body = v(&prepare(ClientApi::OpenAiChat, body, "g").unwrap().body);
    assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "NONE");
    // Gemini 3 and later get the documented signature sentinel on replayed calls; 2.x not.
    let history = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]});
    let call = |model: &str| {
        v(&prepare(ClientApi::OpenAiChat, history.clone(), model)
            .unwrap()
            .body)["contents"][1]["parts"][0]
            .clone()
    };
    assert_eq!(
        call("gemini-3-pro-preview"),
        json!({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"})
    );
    assert_eq!(
        call("models/gemini-2.5-flash"),
        json!({"functionCall": {"name": "f", "args": {}}})
    );
    // An image in a tool result follows the functionResponse as inline data.
    let image_result = json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "done"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]}]}]});
    let body = v(&prepare(
        ClientApi::AnthropicMessages,
        image_result,
        "gemini-2.5-flash",
    )
    .unwrap()
    .body);
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"functionResponse": {"name": "shot", "response": {"content": "done"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
        ])
    );
    // Refusals name the provider.
    let server_tool = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
    let err = prepare(ClientApi::AnthropicMessages, server_tool, "g").unwrap_err();
    assert!(err.to_string().contains("translating to gemini"), "{err}");
    // A tool result answering no call cannot name its function.
    let orphan =
        json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "x", "content": "1"}]});
    assert!(matches!(
        prepare(ClientApi::OpenAiChat, orphan, "g"),
        Err(LlmError::InvalidRequest(_))
    ));
}

/// A response with a thought summary (dropped), text, and two function calls (Gemini API
/// function-calling guide, parallel calls); usage with cache and thinking counts.
fn gemini_response() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Let me think.", "thought": true},
                {"text": "Checking "},
                {"text": "both."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
            ]},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": []
        }],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30,
            "totalTokenCount": 170, "cachedContentTokenCount": 100, "thoughtsTokenCount": 20},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1"
    })
}

#[test]
fn gemini_response_to_openai() {
    let body = Bytes::from(gemini_response().to_string());
    let (out, usage) =
        translate_response(Plan::OpenAiToGemini, ProviderApi::Gemini, &body).unwrap();
    let expected = Usage {
        input: 120,
        output: 50,
        cache_read: 100,
        cache_creation: 0,
        reasoning: 20,
    };
    assert_eq!(usage, expected);
    assert_eq!(response_usage(ProviderApi::Gemini, &body), expected);
    let out = v(&out);
    assert_eq!(out["id"], "r1");
    assert_eq!(out["model"], "gemini-2.5-flash");
    let msg = &out["choices"][0]["message"];
    assert_eq!(msg["content"], "Checking both.");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["id"], "call_r1_0");
    assert_eq!(msg["tool_calls"][1]["id"], "call_r1_1");
    assert_eq!(msg["tool_calls"][1]["function"]["name"], "get_weather");
    assert_eq!(
        v(msg["tool_calls"][1]["function"]["arguments"]
            .as_str()
            .unwrap()
            .as_bytes()),
        json!({"city": "Oslo"})
    );
    assert_eq!(out["usage"]["prompt_tokens"], 120);
    assert_eq!(out["usage"]["completion_tokens"], 50);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(
        out["usage"]["completion_tokens_details"]["reasoning_tokens"],
        20
    );
}

#[test]
fn gemini_response_to_anthropic_and_round_trip() {
    let body = Bytes::from(gemini_response().to_string());
    let (out, _) = translate_response(Plan::AnthropicToGemini, ProviderApi::Gemini, &body).unwrap();
    let out = v(&out);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(
        out["content"],
        json!([
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "call_r1_0", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_r1_1", "name": "get_weather", "input": {"city": "Oslo"}}
        ])
    );
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 20, "output_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100})
    );
    // The client sends the calls back with their results: Gemini gets the function names.
    let next = json!({"model": "x", "max_tokens": 10, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": out["content"]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_r1_1", "content": "5C"},
            {"type": "tool_result", "tool_use_id": "call_r1_0", "content": "18C"}
        ]}
    ]});
    let req = v(
        &prepare(ClientApi::AnthropicMessages, next, "gemini-2.5-flash")
            .unwrap()
            .body,
    );
    assert_eq!(
        req["contents"][1]["parts"],
        json!([
            {"text": "Checking both."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
        ])
    );
    assert_eq!(
        req["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "get_weather", "response": {"content": "5C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}}
        ])
    );
}

#[test]
fn gemini_finish_reasons() {
    for (reason, openai, anthropic) in [
        ("STOP", "stop", "end_turn"),
        ("MAX_TOKENS", "length", "max_tokens"),
        ("SAFETY", "content_filter", "refusal"),
        ("RECITATION", "content_filter", "refusal"),
        ("OTHER", "stop", "end_turn"),
    ] {
        let body = Bytes::from(
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]},
                "finishReason": reason}]})
            .to_string(),
        );
        let (o, _) = translate_response(Plan::OpenAiToGemini, ProviderApi::Gemini, &body).unwrap();
        assert_eq!(v(&o)["choices"][0]["finish_reason"], openai, "{reason}");
        let (a, _) =
            translate_response(Plan::AnthropicToGemini, ProviderApi::Gemini, &body).unwrap();
        assert_eq!(v(&a)["stop_reason"], anthropic, "{reason}");
    }
    // A blocked prompt: no candidates, a refusal.
    let blocked = Bytes::from(
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}})
            .to_string(),
    );
    let (a, usage) =
        translate_response(Plan::AnthropicToGemini, ProviderApi::Gemini, &blocked).unwrap();
    assert_eq!(v(&a)["stop_reason"], "refusal");
    assert_eq!(v(&a)["content"], json!([]));
    assert_eq!(usage.input, 8);
    assert!(translate_response(
        Plan::OpenAiToGemini,
        ProviderApi::Gemini,
        &Bytes::from("[]")
    )
    .is_err());
}

#[test]
fn gemini_errors_in_the_clients_format() {
    // Gemini API error shape (google.rpc.Status in JSON).
    let body =
        json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED"}})
        .to_string();
    let (status, _, b) = translate_error_body(
        ClientApi::OpenAiChat,
        ProviderApi::Gemini,
        http::StatusCode::TOO_MANY_REQUESTS,
        body.as_bytes(),
    );
    assert_eq!(status, 429);
    assert_eq!(
        v(&b),
        json!({"error": {"message": "Resource has been exhausted (e.g. check quota).",
            "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
    );
    let (_, _, b) = translate_error_body(
        ClientApi::AnthropicMessages,
        ProviderApi::Gemini,
        http::StatusCode::BAD_REQUEST,
        body.as_bytes(),
    );
    assert_eq!(v(&b)["error"]["type"], "invalid_request_error");
    assert_eq!(
        v(&b)["error"]["message"],
        "Resource has been exhausted (e.g. check quota)."
    );
}
