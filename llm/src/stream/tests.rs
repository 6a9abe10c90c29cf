//! Streams through every plan, with provider streams written from the documented wire
//! formats, fed whole, byte by byte and in random chunkings; and small models of what the
//! official SDKs do with the client's stream (accumulate the events, rebuild the message).

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;

mod malformed;
mod providers;
mod responses;
mod support;
use support::{anthropic_sdk, openai_sdk, parse_client, random_cuts, sse};

/// An Anthropic stream: cache usage in `message_start`, a ping, a text block in two deltas,
/// a tool call whose input arrives in three `input_json_delta`s, output usage in
/// `message_delta`.
fn anthropic_stream() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":400,"output_tokens":1}}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, "}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"checking Paris."}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\", \"unit\""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":": \"c\"}"}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":1}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]
}

/// An OpenAI stream: role, text in two chunks, a tool call whose arguments arrive in three
/// chunks, the finish reason, the usage chunk (empty `choices`), `[DONE]`.
fn openai_stream() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Okay, "},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"checking Paris."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Pa"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ris\", \"unit\""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":": \"c\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
        ),
        (
            "",
            r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        ),
        ("", "[DONE]"),
    ]
}

fn new(plan: Plan, wants_usage: bool) -> ResponseStream {
    let (client, provider) = match plan {
        Plan::OpenAiToAnthropic => (ClientApi::OpenAiChat, ProviderApi::AnthropicMessages),
        Plan::AnthropicToOpenAi => (ClientApi::AnthropicMessages, ProviderApi::OpenAiChat),
        _ => unreachable!("use ResponseStream::new"),
    };
    ResponseStream::new(plan, client, provider, wants_usage)
}

/// Feeds `input` cut at `cuts` (sorted offsets), then the end; the client's bytes and the
/// index of the push that reported the first token.
fn run(stream: &mut ResponseStream, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::new();
    let mut first = None;
    let mut start = 0;
    for (i, &cut) in cuts.iter().chain(std::iter::once(&input.len())).enumerate() {
        let o = stream.push(&Bytes::copy_from_slice(&input[start..cut]));
        if o.first_token {
            assert!(first.is_none(), "first token reported twice");
            first = Some(i);
        }
        out.extend_from_slice(&o.bytes);
        start = cut;
    }
    out.extend_from_slice(&stream.finish());
    (out, first)
}

#[test]
fn anthropic_stream_to_openai_client() {
    let input = sse(&anthropic_stream(), false);
    let mut stream = new(Plan::OpenAiToAnthropic, true);
    let (out, first) = run(&mut stream, &input, &[]);
    assert_eq!(first, Some(0));
    assert_eq!(stream.outcome(), &Outcome::Completed);
    // Usage from message_start (input, cache) and message_delta (output) both.
    assert_eq!(
        stream.usage(),
        Usage {
            input: 425,
            output: 89,
            cache_read: 400,
            cache_creation: 0,
            reasoning: 0
        }
    );
    let events = parse_client(&out);
    assert_eq!(
        events[0].1["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(events[0].1["id"], "msg_014p7gG3wDgGV9EUtLvnow3U");
    assert_eq!(events[0].1["model"], "claude-sonnet-4-5");
    // The tool call's first delta names it, with an empty arguments text.
    let start = events
        .iter()
        .find(|e| e.1["choices"][0]["delta"].get("tool_calls").is_some())
        .unwrap();
    assert_eq!(
        start.1["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
        "function": {"name": "get_weather", "arguments": ""}})
    );
    let sdk = openai_sdk(&events);
    assert_eq!(sdk["content"], "Okay, checking Paris.");
    assert_eq!(sdk["finish_reason"], "tool_calls");
    assert_eq!(sdk["tool_calls"][0]["id"], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    let args: Value =
        serde_json::from_str(sdk["tool_calls"][0]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "c"}));
    assert_eq!(sdk["usage"]["prompt_tokens"], 425);
    assert_eq!(sdk["usage"]["completion_tokens"], 89);
    assert_eq!(sdk["usage"]["total_tokens"], 514);
    assert_eq!(sdk["usage"]["prompt_tokens_details"]["cached_tokens"], 400);

    // A client that did not ask for usage gets no usage chunk; the gateway still meters.
    let mut stream = new(Plan::OpenAiToAnthropic, false);
    let (out, _) = run(&mut stream, &input, &[]);
    let events = parse_client(&out);
    assert!(events.iter().all(|e| e.1.get("usage").is_none()));
    assert_eq!(openai_sdk(&events)["usage"], Value::Null);
    assert_eq!(stream.usage().input, 425);
}

#[test]
fn openai_stream_to_anthropic_client() {
    let input = sse(&openai_stream(), false);
    let mut stream = new(Plan::AnthropicToOpenAi, false);
    let (out, first) = run(&mut stream, &input, &[]);
    assert_eq!(first, Some(0));
    assert_eq!(stream.outcome(), &Outcome::Completed);
    assert_eq!(
        stream.usage(),
        Usage {
            input: 1117,
            output: 46,
            cache_read: 1024,
            cache_creation: 0,
            reasoning: 0
        }
    );
    let events = parse_client(&out);
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        events[5].1["content_block"],
        json!({"type": "tool_use",
        "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "name": "get_weather", "input": {}})
    );
    assert_eq!(
        events[6].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"})
    );
    let msg = anthropic_sdk(&events);
    assert_eq!(msg["id"], "chatcmpl-123");
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": "Okay, checking Paris."},
            {"type": "tool_use", "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "name": "get_weather",
             "input": {"city": "Paris", "unit": "c"}}
        ])
    );
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 93, "output_tokens": 46,
        "cache_read_input_tokens": 1024, "cache_creation_input_tokens": 0})
    );
}

#[test]
fn every_chunking_gives_the_same_events() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    for (plan, events) in [
        (Plan::OpenAiToAnthropic, anthropic_stream()),
        (Plan::AnthropicToOpenAi, openai_stream()),
    ] {
        let reference = {
            let mut s = new(plan, true);
            parse_client(&run(&mut s, &sse(&events, false), &[]).0)
        };
        for crlf in [false, true] {
            let input = sse(&events, crlf);
            let byte_by_byte: Vec<usize> = (1..input.len()).collect();
            let mut chunkings = vec![byte_by_byte];
            chunkings.extend((0..300).map(|_| random_cuts(&mut rng, input.len())));
            for cuts in chunkings {
                let mut s = new(plan, true);
                let (out, first) = run(&mut s, &input, &cuts);
                assert_eq!(
                    parse_client(&out),
                    reference,
                    "{plan:?} crlf={crlf} cuts={cuts:?}"
                );
                assert!(first.is_some());
                assert_eq!(s.outcome(), &Outcome::Completed);
            }
        }
    }
}

#[test]
fn random_bytes_never_panic_and_always_end_the_stream() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let pieces: [&[u8]; 12] = [
        b"data: ",
        b"event: ",
        b"message_start",
        b"content_block_delta",
        b"{\"type\":\"message_delta\"}",
        b"[DONE]",
        b"\n",
        b"\r\n",
        b"\r",
        b":",
        b"{\"choices\":[{\"delta\":{\"tool_calls\":[{}]}}]}",
        b"\xff\xfe",
    ];
    for _ in 0..2000 {
        let mut input = Vec::new();
        for _ in 0..rng.random_range(0..30) {
            if rng.random_bool(0.2) {
                input.push(rng.random());
            } else {
                input.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
        }
        let cuts = random_cuts(&mut rng, input.len());
        for plan in [Plan::OpenAiToAnthropic, Plan::AnthropicToOpenAi] {
            let mut s = new(plan, true);
            let (out, _) = run(&mut s, &input, &cuts);
            assert!(s.is_over(), "finish always ends the stream");
            assert!(out.is_empty() || out.ends_with(b"\n\n"));
        }
    }
}

#[test]
fn passthrough_is_byte_identical_and_metered() {
    let input = sse(&anthropic_stream(), false);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..100 {
        let mut s = ResponseStream::new(
            Plan::Passthrough,
            ClientApi::AnthropicMessages,
            ProviderApi::AnthropicMessages,
            false,
        );
        let cuts = random_cuts(&mut rng, input.len());
        let (out, first) = run(&mut s, &input, &cuts);
        assert_eq!(out, input);
        assert!(first.is_some());
        assert_eq!(
            s.usage(),
            Usage {
                input: 425,
                output: 89,
                cache_read: 400,
                cache_creation: 0,
                reasoning: 0
            }
        );
        assert_eq!(s.outcome(), &Outcome::Completed);
    }
    // OpenAI, client asked for usage: untouched.
    let input = sse(&openai_stream(), false);
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::OpenAiChat,
        ProviderApi::OpenAiChat,
        true,
    );
    let (out, first) = run(&mut s, &input, &[10, 500]);
    assert_eq!(out, input);
    assert_eq!(
        first,
        Some(1),
        "the first content arrives in the second push"
    );
    assert_eq!(s.usage().input, 1117);
    assert_eq!(s.usage().cache_read, 1024);
    // It did not ask: every event verbatim but the usage chunk the gateway asked for.
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::OpenAiChat,
        ProviderApi::OpenAiChat,
        false,
    );
    let (out, _) = run(&mut s, &input, &[]);
    let without: Vec<_> = openai_stream()
        .into_iter()
        .filter(|(_, d)| !d.contains("\"choices\":[]"))
        .collect();
    assert_eq!(out, sse(&without, false));
    assert_eq!(s.usage().input, 1117);
    assert_eq!(s.outcome(), &Outcome::Completed);
    // Responses: usage from response.completed.
    let responses = [
        (
            "response.created",
            r#"{"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}"#,
        ),
        (
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","delta":"Hi"}"#,
        ),
        (
            "response.completed",
            r#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":15}}}"#,
        ),
    ];
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::OpenAiResponses,
        ProviderApi::OpenAiResponses,
        false,
    );
    let input = sse(&responses, false);
    let (out, first) = run(&mut s, &input, &[]);
    assert_eq!(out, input);
    assert_eq!(first, Some(0));
    assert_eq!((s.usage().input, s.usage().output), (12, 3));
    assert_eq!(s.outcome(), &Outcome::Completed);
}

#[test]
fn a_cut_stream_ends_with_an_error_event_in_the_clients_format() {
    // Translated: the cut is after message_start and a text delta.
    let events = anthropic_stream();
    let input = sse(&events[..4], false);
    let mut s = new(Plan::OpenAiToAnthropic, true);
    let (out, _) = run(&mut s, &input, &[]);
    assert_eq!(s.outcome(), &Outcome::Truncated);
    let client = parse_client(&out);
    let last = &client.last().unwrap().1;
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended before"),
        "{last}"
    );
    assert!(
        client.iter().all(|e| e.1 != json!("[DONE]")),
        "no [DONE] after an error"
    );
    assert_eq!(s.usage().input, 425, "usage read so far is kept");

    let input = sse(&openai_stream()[..3], false);
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &input, &[]);
    let client = parse_client(&out);
    assert_eq!(client.last().unwrap().0, "error");
    assert_eq!(client.last().unwrap().1["error"]["type"], "api_error");
    assert!(client.iter().all(|e| e.0 != "message_stop"));

    // Passthrough cut inside an event: the cut event is never sent (it was held until its
    // end), and the error event follows the last complete one.
    let input = sse(&anthropic_stream()[..4], false);
    let complete = sse(&anthropic_stream()[..3], false);
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        false,
    );
    let cut = &input[..input.len() - 7];
    let (out, _) = run(&mut s, cut, &[complete.len() + 5]);
    assert_eq!(&out[..complete.len()], &complete[..]);
    let tail = std::str::from_utf8(&out[complete.len()..]).unwrap();
    assert!(tail.starts_with("event: error\ndata: "), "{tail:?}");
    assert_eq!(s.outcome(), &Outcome::Truncated);
    // ...and after a clean event boundary, nothing is added before it.
    let input = sse(&anthropic_stream()[..4], false);
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        false,
    );
    let (out, _) = run(&mut s, &input, &[]);
    assert!(out[input.len()..].starts_with(b"event: error\n"));
}

#[test]
fn openai_servers_that_omit_done_still_complete() {
    let events = openai_stream();
    let input = sse(&events[..events.len() - 1], false);
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert_eq!(s.outcome(), &Outcome::Completed);
    let client = parse_client(&out);
    assert_eq!(client.last().unwrap().0, "message_stop");
    assert_eq!(anthropic_sdk(&client)["usage"]["output_tokens"], 46);
}

#[test]
fn provider_errors_mid_stream_reach_the_client_in_its_format() {
    let mut events = anthropic_stream()[..4].to_vec();
    events.push((
        "error",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    events.push((
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}"#,
    ));
    let mut s = new(Plan::OpenAiToAnthropic, true);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    assert_eq!(s.outcome(), &Outcome::ProviderError("Overloaded".into()));
    let client = parse_client(&out);
    let last = &client.last().unwrap().1;
    assert_eq!(last["error"]["message"], "Overloaded");
    assert_eq!(last["error"]["type"], "server_error");
    assert!(
        !String::from_utf8_lossy(&out).contains("late"),
        "nothing after the error"
    );

    let mut events = openai_stream()[..2].to_vec();
    events.push(("", r#"{"error":{"message":"upstream exploded","type":"server_error","param":null,"code":null}}"#));
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    let client = parse_client(&out);
    assert_eq!(client.last().unwrap().0, "error");
    assert_eq!(
        client.last().unwrap().1,
        json!({"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}})
    );

    // A chunk that is not JSON.
    let mut events = openai_stream()[..2].to_vec();
    events.push(("", "{\"choices\": [tru"));
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    assert!(matches!(s.outcome(), Outcome::Malformed(_)));
    assert_eq!(parse_client(&out).last().unwrap().0, "error");
}

#[test]
fn a_tool_call_name_is_the_first_token_of_an_observed_stream() {
    let events = anthropic_stream();
    // message_start, then the tool_use block start alone in the second push.
    let input = sse(&[events[0], events[6]], false);
    let first_len = sse(&events[..1], false).len();
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        false,
    );
    assert!(
        !s.push(&Bytes::copy_from_slice(&input[..first_len]))
            .first_token
    );
    assert!(
        s.push(&Bytes::copy_from_slice(&input[first_len..]))
            .first_token
    );
}

#[test]
fn keep_alives_are_ignored() {
    let mut input = b": keep-alive\n\ndata:\n\nevent: ping\ndata: \n\n".to_vec();
    input.extend(sse(&openai_stream(), false));
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &input, &[]);
    assert_eq!(s.outcome(), &Outcome::Completed);
    assert_eq!(parse_client(&out)[0].0, "message_start");
}

#[test]
fn abort_ends_an_unfinished_stream_once() {
    let mut s = new(Plan::OpenAiToAnthropic, false);
    s.push(&Bytes::from(sse(&anthropic_stream()[..3], false)));
    let out = s.abort(ErrorKind::Timeout, "the provider stalled");
    let client = parse_client(&out);
    assert_eq!(client[0].1["error"]["message"], "the provider stalled");
    assert_eq!(
        s.outcome(),
        &Outcome::Aborted("the provider stalled".into())
    );
    assert!(s.abort(ErrorKind::Timeout, "again").is_empty());
    assert!(s.finish().is_empty());
    assert!(s
        .push(&Bytes::from(sse(&anthropic_stream()[3..], false)))
        .bytes
        .is_empty());
}

#[test]
fn parallel_tool_calls_from_openai_become_consecutive_blocks() {
    let chunk = |delta: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
        .to_string()
    };
    let data = [
        chunk(json!({"role": "assistant", "content": null})),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":"}}]}),
        ),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
        ),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        .to_string(),
        "[DONE]".to_string(),
    ];
    let events: Vec<(&str, &str)> = data.iter().map(|d| ("", d.as_str())).collect();
    let mut s = new(Plan::AnthropicToOpenAi, false);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    let msg = anthropic_sdk(&parse_client(&out));
    assert_eq!(
        msg["content"],
        json!([
            {"type": "tool_use", "id": "call_a", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "call_b", "name": "g", "input": {}}
        ])
    );
    assert_eq!(
        msg["usage"]["output_tokens"], 0,
        "no usage sent: zero, not missing"
    );
}

#[test]
fn events_can_be_pushed_one_by_one() {
    let mut s = new(Plan::OpenAiToAnthropic, true);
    let mut out = Vec::new();
    let mut firsts = 0;
    for (name, data) in anthropic_stream() {
        let o = s.push_event(name, data);
        firsts += o.first_token as usize;
        out.extend_from_slice(&o.bytes);
    }
    assert_eq!(firsts, 1);
    assert_eq!(
        openai_sdk(&parse_client(&out))["content"],
        "Okay, checking Paris."
    );
}
