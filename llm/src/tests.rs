//! Requests and complete responses through every plan, with wire samples written from the
//! providers' documented formats.

use serde_json::{json, Value};

use super::*;

fn v(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn prepare(plan: Plan, body: Value, model: Option<&str>) -> Result<PreparedRequest, LlmError> {
    let (client, provider) = match plan {
        Plan::OpenAiToAnthropic => (ClientApi::OpenAiChat, ProviderApi::AnthropicMessages),
        Plan::AnthropicToOpenAi => (ClientApi::AnthropicMessages, ProviderApi::OpenAiChat),
        Plan::Passthrough => (ClientApi::OpenAiChat, ProviderApi::OpenAiChat),
        _ => unreachable!("provider tests have their own"),
    };
    prepare_request(
        plan,
        client,
        provider,
        body.to_string().as_bytes(),
        model,
        &TranslateOptions::default(),
    )
}

/// A conversation with a system prompt, images (inline and by URL), a tool call and its
/// result, tools and every sampling field, as an OpenAI SDK sends it.
pub(crate) fn openai_request() -> Value {
    json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image, and the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "18C, sunny"},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather by city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "temperature": 1.5,
        "top_p": 0.9,
        "stop": "END",
        "stream": true,
        "stream_options": {"include_usage": true},
        "user": "user-42",
        "seed": 7
    })
}

#[test]
fn openai_request_to_anthropic() {
    let prepared = prepare(
        Plan::OpenAiToAnthropic,
        openai_request(),
        Some("claude-sonnet-4-5"),
    )
    .unwrap();
    assert_eq!(prepared.path, "/v1/messages");
    assert!(prepared.stream && prepared.client_wants_usage);
    assert_eq!(
        v(&prepared.body),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image, and the weather in Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}}
                ]},
                // The tool message and the next user message are one user turn.
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_abc", "content": [{"type": "text", "text": "18C, sunny"}]},
                    {"type": "text", "text": "Thanks"}
                ]}
            ],
            "tools": [{"name": "get_weather", "description": "Weather by city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "temperature": 1.0,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "stream": true,
            "metadata": {"user_id": "user-42"}
        })
    );
}

#[test]
fn openai_request_details() {
    // max_completion_tokens wins over max_tokens; developer messages are system text.
    let body = json!({"model": "m", "max_tokens": 10, "max_completion_tokens": 20,
        "messages": [{"role": "developer", "content": "A"}, {"role": "system", "content": [{"type": "text", "text": "B"}]},
                     {"role": "user", "content": "hi"}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f"}}]});
    let out = v(&prepare(Plan::OpenAiToAnthropic, body, None).unwrap().body);
    assert_eq!(out["max_tokens"], 20);
    assert_eq!(out["system"], "A\n\nB");
    assert_eq!(out["model"], "m");
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "f"}));
    assert_eq!(
        out["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    assert!(out.get("stream").is_none());
    // Refusals of what Anthropic cannot do.
    let n2 = json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    assert!(matches!(
        prepare(Plan::OpenAiToAnthropic, n2, None),
        Err(LlmError::Unsupported { .. })
    ));
    let json_mode = json!({"model": "m", "response_format": {"type": "json_object"}, "messages": [{"role": "user", "content": "hi"}]});
    assert!(matches!(
        prepare(Plan::OpenAiToAnthropic, json_mode, None),
        Err(LlmError::Unsupported { .. })
    ));
    let text_mode = json!({"model": "m", "response_format": {"type": "text"}, "messages": [{"role": "user", "content": "hi"}]});
    assert!(prepare(Plan::OpenAiToAnthropic, text_mode, None).is_ok());
    let audio = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]});
    assert!(matches!(
        prepare(Plan::OpenAiToAnthropic, audio, None),
        Err(LlmError::Unsupported { .. })
    ));
    // An empty tool result goes without content.
    let empty = json!({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": ""}]});
    let out = v(&prepare(Plan::OpenAiToAnthropic, empty, None).unwrap().body);
    assert_eq!(out["messages"][0]["content"][0]["input"], json!({}));
    assert_eq!(
        out["messages"][1]["content"],
        json!([{"type": "tool_result", "tool_use_id": "c1"}])
    );
    let bad = json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]});
    assert!(matches!(
        prepare(Plan::OpenAiToAnthropic, bad, None),
        Err(LlmError::InvalidRequest(_))
    ));
    assert!(prepare_request(
        Plan::OpenAiToAnthropic,
        ClientApi::OpenAiChat,
        ProviderApi::AnthropicMessages,
        b"{not json",
        None,
        &TranslateOptions::default()
    )
    .is_err());
}

/// A conversation as the Anthropic SDK sends it: system blocks, an inline image, a tool
/// call and an error result with content blocks, a thinking block in the history.
pub(crate) fn anthropic_request() -> Value {
    json!({
        "model": "smart",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "text", "text": "Describe, then look up the weather."}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "A cat. Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "is_error": true,
                 "content": [{"type": "text", "text": "timeout"}]},
                {"type": "text", "text": "Try again?"}
            ]}
        ],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.2,
        "top_k": 5,
        "stream": true,
        "metadata": {"user_id": "u-1"}
    })
}

#[test]
fn anthropic_request_to_openai() {
    let prepared = prepare(
        Plan::AnthropicToOpenAi,
        anthropic_request(),
        Some("gpt-4.1-mini"),
    )
    .unwrap();
    assert_eq!(prepared.path, "/v1/chat/completions");
    assert!(prepared.stream && !prepared.client_wants_usage);
    assert_eq!(
        v(&prepared.body),
        json!({
            "model": "gpt-4.1-mini",
            "messages": [
                {"role": "system", "content": "Be kind.\n\nBe brief."},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "text", "text": "Describe, then look up the weather."}
                ]},
                {"role": "assistant", "content": "A cat. Checking.", "tool_calls": [
                    {"id": "toolu_01", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "Error: timeout"},
                {"role": "user", "content": "Try again?"}
            ],
            "max_tokens": 1024,
            "temperature": 0.2,
            "stop": ["\n\nHuman:"],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object"}}}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1"
        })
    );
    // The arguments are a JSON text, not an object.
    let out = v(&prepared.body);
    assert!(out["messages"][2]["tool_calls"][0]["function"]["arguments"].is_string());
}

#[test]
fn anthropic_request_details() {
    let opts = TranslateOptions {
        openai_max_completion_tokens: true,
        openai_stream_usage: false,
        ..TranslateOptions::default()
    };
    let body = json!({"model": "m", "max_tokens": 5, "system": "S", "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": {"type": "any"}, "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
    let out = prepare_request(
        Plan::AnthropicToOpenAi,
        ClientApi::AnthropicMessages,
        ProviderApi::OpenAiChat,
        body.to_string().as_bytes(),
        None,
        &opts,
    )
    .unwrap();
    let out = v(&out.body);
    assert_eq!(out["max_completion_tokens"], 5);
    assert!(out.get("stream_options").is_none());
    assert_eq!(out["tool_choice"], "required");
    assert_eq!(
        out["messages"][0],
        json!({"role": "system", "content": "S"})
    );
    assert_eq!(out["messages"][1], json!({"role": "user", "content": "hi"}));
    // Server tools and documents cannot go to OpenAI.
    let server_tool = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
    assert!(matches!(
        prepare(Plan::AnthropicToOpenAi, server_tool, None),
        Err(LlmError::Unsupported { .. })
    ));
    let doc = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}]}]});
    assert!(matches!(
        prepare(Plan::AnthropicToOpenAi, doc, None),
        Err(LlmError::Unsupported { .. })
    ));
    // An image in a tool result moves to a user message after the tool message.
    let img = json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "here"},
            {"type": "image", "source": {"type": "url", "url": "https://x/s.png"}}]}]}]});
    let out = v(&prepare(Plan::AnthropicToOpenAi, img, None).unwrap().body);
    assert_eq!(out["messages"][0]["content"], Value::Null);
    assert_eq!(
        out["messages"][1],
        json!({"role": "tool", "tool_call_id": "t1", "content": "here"})
    );
    assert_eq!(
        out["messages"][2],
        json!({"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/s.png"}}]})
    );
}

#[test]
fn passthrough_keeps_the_body_and_asks_for_usage_when_streaming() {
    let body = br#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":true,"logit_bias":{"50256":-100}}"#;
    let p = prepare_request(
        Plan::Passthrough,
        ClientApi::OpenAiChat,
        ProviderApi::OpenAiChat,
        body,
        Some("gpt-4.1-mini"),
        &TranslateOptions::default(),
    )
    .unwrap();
    assert_eq!(p.path, "/v1/chat/completions");
    assert!(p.stream && !p.client_wants_usage);
    assert_eq!(
        std::str::from_utf8(&p.body).unwrap(),
        r#"{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"logit_bias":{"50256":-100},"stream_options":{"include_usage":true}}"#
    );
    // Anthropic passthrough: only the model.
    let body = br#"{"model":"c","max_tokens":5,"stream":true,"messages":[]}"#;
    let p = prepare_request(
        Plan::Passthrough,
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        body,
        Some("claude-x"),
        &TranslateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        &p.body[..],
        br#"{"model":"claude-x","max_tokens":5,"stream":true,"messages":[]}"#
    );
    assert_eq!(p.path, "/v1/messages");
}

/// An Anthropic reply with two text blocks, a thinking block and two tool calls.
const ANTHROPIC_MESSAGE: &str = r#"{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [
    {"type": "thinking", "thinking": "Let me see", "signature": "EqQBCg"},
    {"type": "text", "text": "Checking two cities. "},
    {"type": "text", "text": "One moment."},
    {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
    {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Oslo", "days": [1, 2]}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "usage": {"input_tokens": 50, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 200, "output_tokens": 80}
}"#;

#[test]
fn anthropic_response_to_openai() {
    let (body, usage) = translate_response(
        Plan::OpenAiToAnthropic,
        ProviderApi::AnthropicMessages,
        &Bytes::from_static(ANTHROPIC_MESSAGE.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        usage,
        Usage {
            input: 260,
            output: 80,
            cache_read: 200,
            cache_creation: 10,
            reasoning: 0
        }
    );
    let out = v(&body);
    assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(out["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(
        out["choices"],
        json!([{
            "index": 0, "logprobs": null, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Checking two cities. One moment.", "refusal": null,
                "tool_calls": [
                    {"id": "toolu_01A", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_01B", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\",\"days\":[1,2]}"}}
                ]}
        }])
    );
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 260, "completion_tokens": 80, "total_tokens": 340,
        "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );
}

/// An OpenAI reply with a tool call (arguments as a JSON text).
const OPENAI_COMPLETION: &str = r#"{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Let me check.",
      "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                     {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": "{\"city\": "}}],
      "refusal": null, "annotations": []},
    "logprobs": null, "finish_reason": "tool_calls"}],
  "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 8, "audio_tokens": 0}},
  "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035"
}"#;

#[test]
fn openai_response_to_anthropic() {
    let (body, usage) = translate_response(
        Plan::AnthropicToOpenAi,
        ProviderApi::OpenAiChat,
        &Bytes::from_static(OPENAI_COMPLETION.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        usage,
        Usage {
            input: 1117,
            output: 46,
            cache_read: 1024,
            cache_creation: 0,
            reasoning: 8
        }
    );
    assert_eq!(
        v(&body),
        json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "type": "message", "role": "assistant",
            "model": "gpt-4o-2024-08-06",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                // Arguments that are not a JSON object become an empty input.
                {"type": "tool_use", "id": "call_2", "name": "broken", "input": {}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 93, "output_tokens": 46, "cache_read_input_tokens": 1024, "cache_creation_input_tokens": 0}
        })
    );
}

#[test]
fn plain_text_replies_and_stop_reasons() {
    let openai =
        br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,
        "message":{"role":"assistant","content":"Hi!"},"finish_reason":"length"}],
        "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
    let (body, _) = translate_response(
        Plan::AnthropicToOpenAi,
        ProviderApi::OpenAiChat,
        &Bytes::from_static(openai),
    )
    .unwrap();
    let out = v(&body);
    assert_eq!(out["content"], json!([{"type": "text", "text": "Hi!"}]));
    assert_eq!(out["stop_reason"], "max_tokens");
    let anthropic = br#"{"id":"msg","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"Hi"}],
        "stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":3,"output_tokens":1}}"#;
    let (body, usage) = translate_response(
        Plan::OpenAiToAnthropic,
        ProviderApi::AnthropicMessages,
        &Bytes::from_static(anthropic),
    )
    .unwrap();
    let out = v(&body);
    assert_eq!(out["choices"][0]["message"]["content"], "Hi");
    assert!(out["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!((usage.input, usage.output), (3, 1));
    assert!(matches!(
        translate_response(
            Plan::OpenAiToAnthropic,
            ProviderApi::AnthropicMessages,
            &Bytes::from_static(b"<html>")
        ),
        Err(LlmError::ProviderResponse(_))
    ));
}

#[test]
fn passthrough_responses_are_untouched_and_metered() {
    let body = Bytes::from_static(OPENAI_COMPLETION.as_bytes());
    let (out, usage) =
        translate_response(Plan::Passthrough, ProviderApi::OpenAiChat, &body).unwrap();
    assert_eq!(out, body);
    assert_eq!(usage.input, 1117);
    let body = Bytes::from_static(ANTHROPIC_MESSAGE.as_bytes());
    let (out, usage) =
        translate_response(Plan::Passthrough, ProviderApi::AnthropicMessages, &body).unwrap();
    assert_eq!(out, body);
    assert_eq!(usage.input, 260);
    let embeddings =
        br#"{"object":"list","data":[],"model":"e","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    assert_eq!(
        response_usage(ProviderApi::OpenAiEmbeddings, embeddings).input,
        8
    );
    let responses = br#"{"id":"resp_1","object":"response","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},
        "output_tokens":87,"output_tokens_details":{"reasoning_tokens":10},"total_tokens":123}}"#;
    assert_eq!(
        response_usage(ProviderApi::OpenAiResponses, responses),
        Usage {
            input: 36,
            output: 87,
            cache_read: 4,
            cache_creation: 0,
            reasoning: 10
        }
    );
    assert!(response_usage(ProviderApi::OpenAiChat, b"nope").is_zero());
}
