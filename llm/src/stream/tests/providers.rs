//! Gemini and Bedrock streams to both clients: whole, at every split point, in random
//! chunkings; tool calls, usage, stop reasons, errors and cuts mid-stream.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::support::{anthropic_sdk, openai_sdk, parse_client, random_cuts, sse};
use super::{run, ClientApi, Outcome, Plan, ProviderApi, ResponseStream, Usage};

fn stream(plan: Plan, wants_usage: bool) -> ResponseStream {
    let (client, provider) = match plan {
        Plan::OpenAiToGemini => (ClientApi::OpenAiChat, ProviderApi::Gemini),
        Plan::AnthropicToGemini => (ClientApi::AnthropicMessages, ProviderApi::Gemini),
        Plan::OpenAiToBedrock => (ClientApi::OpenAiChat, ProviderApi::BedrockConverse),
        Plan::AnthropicToBedrock => (ClientApi::AnthropicMessages, ProviderApi::BedrockConverse),
        _ => unreachable!(),
    };
    ResponseStream::new(plan, client, provider, wants_usage)
}

/// A `streamGenerateContent?alt=sse` body, shaped as the Gemini API reference's streaming
/// example (each `data:` a `GenerateContentResponse`, cumulative `usageMetadata` on every
/// chunk, `finishReason` on the last; Gemini writes CRLF line ends): a thought summary
/// (dropped), text in two chunks, a function call, the end with usage.
pub(super) fn gemini_stream() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "",
            r#"{"candidates": [{"content": {"parts": [{"text": "Planning.", "thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"totalTokenCount": 125,"thoughtsTokenCount": 5},"modelVersion": "gemini-2.5-flash","responseId": "mLZ2aMvXEpGW"}"#,
        ),
        (
            "",
            r#"{"candidates": [{"content": {"parts": [{"text": "Checking "}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 2,"totalTokenCount": 127,"thoughtsTokenCount": 5},"modelVersion": "gemini-2.5-flash","responseId": "mLZ2aMvXEpGW"}"#,
        ),
        (
            "",
            r#"{"candidates": [{"content": {"parts": [{"text": "Paris."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 4,"totalTokenCount": 129,"thoughtsTokenCount": 5},"modelVersion": "gemini-2.5-flash","responseId": "mLZ2aMvXEpGW"}"#,
        ),
        (
            "",
            r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris","unit": "c"}}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 20,"totalTokenCount": 145,"cachedContentTokenCount": 100,"thoughtsTokenCount": 5},"modelVersion": "gemini-2.5-flash","responseId": "mLZ2aMvXEpGW"}"#,
        ),
    ]
}

const GEMINI_USAGE: Usage = Usage {
    input: 120,
    output: 25,
    cache_read: 100,
    cache_creation: 0,
    reasoning: 5,
};

#[test]
fn gemini_stream_to_openai_client() {
    let input = sse(&gemini_stream(), true);
    let mut s = stream(Plan::OpenAiToGemini, true);
    let (out, first) = run(&mut s, &input, &[]);
    assert_eq!(first, Some(0));
    assert_eq!(s.outcome(), &Outcome::Completed);
    assert_eq!(s.usage(), GEMINI_USAGE);
    let events = parse_client(&out);
    assert_eq!(events[0].1["id"], "mLZ2aMvXEpGW");
    assert_eq!(events[0].1["model"], "gemini-2.5-flash");
    assert_eq!(
        openai_sdk(&events),
        json!({
            "content": "Checking Paris.",
            "tool_calls": [{"id": "call_mLZ2aMvXEpGW_0", "name": "get_weather",
                            "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}],
            "finish_reason": "tool_calls",
            "usage": {"prompt_tokens": 120, "completion_tokens": 25, "total_tokens": 145,
                      "prompt_tokens_details": {"cached_tokens": 100},
                      "completion_tokens_details": {"reasoning_tokens": 5}}
        })
    );
    // Without the client's include_usage: no usage chunk, still metered.
    let mut s = stream(Plan::OpenAiToGemini, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert_eq!(openai_sdk(&parse_client(&out))["usage"], Value::Null);
    assert_eq!(s.usage(), GEMINI_USAGE);
}

#[test]
fn gemini_stream_to_anthropic_client() {
    let mut s = stream(Plan::AnthropicToGemini, false);
    let (out, _) = run(&mut s, &sse(&gemini_stream(), false), &[]);
    assert_eq!(s.outcome(), &Outcome::Completed);
    let msg = anthropic_sdk(&parse_client(&out));
    assert_eq!(msg["id"], "mLZ2aMvXEpGW");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": "Checking Paris."},
            {"type": "tool_use", "id": "call_mLZ2aMvXEpGW_0", "name": "get_weather",
             "input": {"city": "Paris", "unit": "c"}}
        ])
    );
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 20, "output_tokens": 25, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 100})
    );
}

#[test]
fn gemini_finish_reasons_in_streams() {
    for (reason, openai, anthropic) in [
        ("STOP", "stop", "end_turn"),
        ("MAX_TOKENS", "length", "max_tokens"),
        ("SAFETY", "content_filter", "refusal"),
    ] {
        let chunk = format!(
            r#"{{"candidates": [{{"content": {{"parts": [{{"text": "x"}}],"role": "model"}},"finishReason": "{reason}","index": 0}}]}}"#
        );
        let input = sse(&[("", &chunk)], false);
        let mut s = stream(Plan::OpenAiToGemini, false);
        let (out, _) = run(&mut s, &input, &[]);
        assert_eq!(openai_sdk(&parse_client(&out))["finish_reason"], openai);
        let mut s = stream(Plan::AnthropicToGemini, false);
        let (out, _) = run(&mut s, &input, &[]);
        assert_eq!(anthropic_sdk(&parse_client(&out))["stop_reason"], anthropic);
    }
}

/// The client's events without `created` and Bedrock's made-up ids (which follow the
/// clock).
fn normalized(out: &[u8]) -> Vec<(String, Value)> {
    let mut events = parse_client(out);
    for (_, v) in &mut events {
        for path in ["/id", "/message/id"] {
            if let Some(id) = v.pointer_mut(path) {
                *id = json!("id");
            }
        }
    }
    events
}

#[test]
fn gemini_streams_however_cut() {
    for crlf in [false, true] {
        let input = sse(&gemini_stream(), crlf);
        // `created` follows the clock: events are compared with it blanked.
        let plans = [Plan::OpenAiToGemini, Plan::AnthropicToGemini];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for plan in plans {
            let whole = normalized(&run(&mut stream(plan, true), &input, &[]).0);
            for cut in 0..=input.len() {
                let out = normalized(&run(&mut stream(plan, true), &input, &[cut]).0);
                assert_eq!(out, whole, "{plan:?} split at {cut}");
            }
            for _ in 0..300 {
                let cuts = random_cuts(&mut rng, input.len());
                let out = normalized(&run(&mut stream(plan, true), &input, &cuts).0);
                assert_eq!(out, whole, "{plan:?} cut at {cuts:?}");
            }
        }
    }
}

#[test]
fn gemini_errors_and_cuts_mid_stream() {
    let mut events = gemini_stream();
    events.truncate(2);
    // A cut stream (no finishReason): an error event, never a silent end.
    let mut s = stream(Plan::OpenAiToGemini, true);
    let (out, _) = run(&mut s, &sse(&events, true), &[]);
    assert_eq!(s.outcome(), &Outcome::Truncated);
    let last = parse_client(&out).pop().unwrap().1;
    assert_eq!(last["error"]["type"], "server_error");
    assert!(!String::from_utf8_lossy(&out).contains("[DONE]"));
    // An error chunk (google.rpc.Status) mid-stream: the client's error, kind from `code`.
    events.push((
        "",
        r#"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#,
    ));
    let mut s = stream(Plan::AnthropicToGemini, false);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    assert!(matches!(s.outcome(), Outcome::ProviderError(m) if m.contains("overloaded")));
    let (name, last) = parse_client(&out).pop().unwrap();
    assert_eq!(name, "error");
    assert_eq!(last["error"]["type"], "overloaded_error");
    // Usage seen before the error stays metered.
    assert_eq!(s.usage().input, 120);
    // Not JSON: malformed.
    let mut s = stream(Plan::OpenAiToGemini, false);
    let (out, _) = run(&mut s, b"data: {nope\n\n", &[]);
    assert!(matches!(s.outcome(), Outcome::Malformed(_)));
    assert!(parse_client(&out)[0].1.get("error").is_some());
}

/// One event-stream frame, as ConverseStream sends it (`:message-type` event, named by
/// `:event-type`, JSON payload of the event's members).
fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    let mut msg = Message::new(Bytes::copy_from_slice(payload.as_bytes()));
    for (k, v) in headers {
        msg = msg.add_header(Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    write_message_to(&msg, &mut out).unwrap();
    out
}

fn event(name: &str, payload: &str) -> Vec<u8> {
    frame(
        &[
            (":event-type", name),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// A ConverseStream body following the API reference's `ConverseStreamOutput` members:
/// text in two deltas, a tool call whose input arrives in two fragments, the stop reason,
/// then `metadata` with usage (the `p` members are the padding Bedrock adds).
pub(super) fn bedrock_events() -> Vec<Vec<u8>> {
    vec![
        event(
            "messageStart",
            r#"{"p":"abcdefghijklm","role":"assistant"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Checking "},"p":"abcd"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Paris."},"p":"abcd"}"#,
        ),
        event("contentBlockStop", r#"{"contentBlockIndex":0,"p":"ab"}"#),
        event(
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_Yy8Rk","name":"get_weather"}},"p":"ab"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\": \"Pa"}},"p":"a"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"ris\"}"}},"p":"a"}"#,
        ),
        event("contentBlockStop", r#"{"contentBlockIndex":1,"p":"ab"}"#),
        event("messageStop", r#"{"p":"abc","stopReason":"tool_use"}"#),
        event(
            "metadata",
            r#"{"metrics":{"latencyMs":812},"p":"ab","usage":{"inputTokens":30,"outputTokens":44,"totalTokens":474,"cacheReadInputTokens":400,"cacheWriteInputTokens":0}}"#,
        ),
    ]
}

const BEDROCK_USAGE: Usage = Usage {
    input: 430,
    output: 44,
    cache_read: 400,
    cache_creation: 0,
    reasoning: 0,
};

#[test]
fn bedrock_stream_to_openai_client() {
    let input = bedrock_events().concat();
    let mut s = stream(Plan::OpenAiToBedrock, true);
    let (out, first) = run(&mut s, &input, &[]);
    assert_eq!(first, Some(0));
    assert_eq!(s.outcome(), &Outcome::Completed);
    assert_eq!(s.usage(), BEDROCK_USAGE);
    assert_eq!(
        openai_sdk(&parse_client(&out)),
        json!({
            "content": "Checking Paris.",
            "tool_calls": [{"id": "tooluse_Yy8Rk", "name": "get_weather",
                            "arguments": "{\"city\": \"Paris\"}"}],
            "finish_reason": "tool_calls",
            "usage": {"prompt_tokens": 430, "completion_tokens": 44, "total_tokens": 474,
                      "prompt_tokens_details": {"cached_tokens": 400},
                      "completion_tokens_details": {"reasoning_tokens": 0}}
        })
    );
}

#[test]
fn bedrock_stream_to_anthropic_client() {
    let input = bedrock_events().concat();
    let mut s = stream(Plan::AnthropicToBedrock, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert_eq!(s.outcome(), &Outcome::Completed);
    let msg = anthropic_sdk(&parse_client(&out));
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": "Checking Paris."},
            {"type": "tool_use", "id": "tooluse_Yy8Rk", "name": "get_weather", "input": {"city": "Paris"}}
        ])
    );
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 30, "output_tokens": 44, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 400})
    );
}

#[test]
fn bedrock_streams_however_cut() {
    let input = bedrock_events().concat();
    let plans = [Plan::OpenAiToBedrock, Plan::AnthropicToBedrock];
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for plan in plans {
        let whole = normalized(&run(&mut stream(plan, true), &input, &[]).0);
        for cut in 0..=input.len() {
            let out = normalized(&run(&mut stream(plan, true), &input, &[cut]).0);
            assert_eq!(out, whole, "{plan:?} split at {cut}");
        }
        for _ in 0..300 {
            let cuts = random_cuts(&mut rng, input.len());
            let out = normalized(&run(&mut stream(plan, true), &input, &cuts).0);
            assert_eq!(out, whole, "{plan:?} cut at {cuts:?}");
        }
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            normalized(&run(&mut stream(plan, true), &input, &bytewise).0),
            whole
        );
    }
}

#[test]
fn bedrock_exceptions_cuts_and_bad_frames() {
    let events = bedrock_events();
    // An exception frame after the first text: the client's error event, kind by name.
    let exception = frame(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        r#"{"message":"Too many tokens, please wait before trying again."}"#,
    );
    let input = [events[0].clone(), events[1].clone(), exception].concat();
    let mut s = stream(Plan::AnthropicToBedrock, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert!(matches!(s.outcome(), Outcome::ProviderError(m) if m.contains("Too many tokens")));
    let (name, last) = parse_client(&out).pop().unwrap();
    assert_eq!(name, "error");
    assert_eq!(last["error"]["type"], "rate_limit_error");
    let mut s = stream(Plan::OpenAiToBedrock, true);
    let (out, _) = run(&mut s, &input, &[17]);
    let last = parse_client(&out).pop().unwrap().1;
    assert_eq!(last["error"]["code"], "rate_limit_exceeded");
    assert!(!String::from_utf8_lossy(&out).contains("[DONE]"));

    // Cut inside a frame: truncated.
    let all = events.concat();
    let mut s = stream(Plan::OpenAiToBedrock, true);
    let (out, _) = run(&mut s, &all[..all.len() - 5], &[]);
    assert_eq!(s.outcome(), &Outcome::Truncated);
    assert!(parse_client(&out).pop().unwrap().1.get("error").is_some());

    // A body that ends after messageStop without metadata still completes.
    let no_meta = events[..events.len() - 1].concat();
    let mut s = stream(Plan::AnthropicToBedrock, false);
    let (out, _) = run(&mut s, &no_meta, &[]);
    assert_eq!(s.outcome(), &Outcome::Completed);
    assert_eq!(
        anthropic_sdk(&parse_client(&out))["stop_reason"],
        "tool_use"
    );

    // A corrupted frame (CRC mismatch): malformed, an error event, later bytes ignored.
    let mut bad = events[1].clone();
    let n = bad.len();
    bad[n - 6] ^= 0xff;
    let input = [events[0].clone(), bad, events[2].clone()].concat();
    let mut s = stream(Plan::AnthropicToBedrock, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert!(matches!(s.outcome(), Outcome::Malformed(_)));
    assert_eq!(parse_client(&out).pop().unwrap().0, "error");
}

#[test]
fn random_bytes_never_panic_and_always_end() {
    use rand::Rng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let plans = [
        Plan::OpenAiToGemini,
        Plan::AnthropicToGemini,
        Plan::OpenAiToBedrock,
        Plan::AnthropicToBedrock,
    ];
    let seeds = [sse(&gemini_stream(), false), bedrock_events().concat()];
    for i in 0..2000 {
        let plan = plans[i % plans.len()];
        let mut input = seeds[(i / 2) % 2].clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..input.len());
            input[at] = rng.random();
        }
        let len = rng.random_range(0..=input.len());
        let input = &input[..len];
        let mut s = stream(plan, true);
        let cuts = random_cuts(&mut rng, input.len());
        let _ = run(&mut s, input, &cuts);
        assert!(s.is_over(), "{plan:?}: the stream always ends");
    }
}
