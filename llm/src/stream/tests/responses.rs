//! Responses clients' streams, from Anthropic, Gemini and Bedrock: checked with a small
//! model of what the `openai` SDKs' Responses stream accumulator does, fed whole and in
//! random chunkings; tool call arguments, usage, stop reasons, errors and cuts mid-stream.

use bytes::Bytes;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::providers::{bedrock_events, gemini_stream};
use super::support::{parse_client, random_cuts, sse};
use super::{anthropic_stream, run, ClientApi, Outcome, Plan, ProviderApi, ResponseStream};

fn stream(plan: Plan) -> ResponseStream {
    let provider = match plan {
        Plan::ResponsesToAnthropic => ProviderApi::AnthropicMessages,
        Plan::ResponsesToGemini => ProviderApi::Gemini,
        Plan::ResponsesToBedrock => ProviderApi::BedrockConverse,
        _ => unreachable!(),
    };
    ResponseStream::new(plan, ClientApi::OpenAiResponses, provider, false)
}

/// What the `openai` SDKs' Responses stream state does: the snapshot from
/// `response.created`, items appended in order (`output_index` must be their position),
/// parts appended to their item, text and argument deltas applied by index, items replaced
/// at `output_item.done`, and the final response from `response.completed` /
/// `response.incomplete`. Also checks what every event must have: its name as `type`, and
/// `sequence_number` 0, 1, 2… Returns the final response and the accumulated snapshot's
/// output (which must agree).
fn responses_sdk(events: &[(String, Value)]) -> Value {
    let mut snapshot: Option<Value> = None;
    let mut done: Option<Value> = None;
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"].as_str(), Some(name.as_str()), "event {i}");
        assert_eq!(data["sequence_number"], json!(i), "event {i} numbered");
        assert!(done.is_none(), "nothing after the end");
        let index = |k: &str| data[k].as_u64().unwrap() as usize;
        match name.as_str() {
            "response.created" => {
                assert!(snapshot.is_none());
                assert_eq!(data["response"]["status"], "in_progress");
                assert_eq!(data["response"]["object"], "response");
                snapshot = Some(data["response"].clone());
            }
            "response.in_progress" => assert!(snapshot.is_some()),
            "response.output_item.added" => {
                let s = snapshot.as_mut().expect("created first");
                let output = s["output"].as_array_mut().unwrap();
                assert_eq!(index("output_index"), output.len(), "items in order");
                output.push(data["item"].clone());
            }
            "response.content_part.added" => {
                let s = snapshot.as_mut().unwrap();
                let item = &mut s["output"][index("output_index")];
                assert_eq!(item["id"], data["item_id"]);
                let content = item["content"].as_array_mut().unwrap();
                assert_eq!(index("content_index"), content.len());
                content.push(data["part"].clone());
            }
            "response.output_text.delta" => {
                let s = snapshot.as_mut().unwrap();
                let item = &mut s["output"][index("output_index")];
                assert_eq!(item["id"], data["item_id"]);
                let part = &mut item["content"][index("content_index")];
                let text =
                    part["text"].as_str().unwrap().to_string() + data["delta"].as_str().unwrap();
                part["text"] = json!(text);
            }
            "response.function_call_arguments.delta" => {
                let s = snapshot.as_mut().unwrap();
                let item = &mut s["output"][index("output_index")];
                assert_eq!(item["type"], "function_call");
                assert_eq!(item["id"], data["item_id"]);
                let args = item["arguments"].as_str().unwrap().to_string()
                    + data["delta"].as_str().unwrap();
                item["arguments"] = json!(args);
            }
            "response.output_text.done" => {
                let s = snapshot.as_ref().unwrap();
                let part = &s["output"][index("output_index")]["content"][index("content_index")];
                assert_eq!(part["text"], data["text"], "done text = the deltas");
            }
            "response.function_call_arguments.done" => {
                let s = snapshot.as_ref().unwrap();
                let item = &s["output"][index("output_index")];
                assert_eq!(item["arguments"], data["arguments"], "done = the deltas");
            }
            "response.content_part.done" => {}
            "response.output_item.done" => {
                let s = snapshot.as_mut().unwrap();
                let item = &mut s["output"][index("output_index")];
                assert_eq!(item["id"], data["item"]["id"]);
                assert_eq!(data["item"]["status"], "completed");
                *item = data["item"].clone();
            }
            "response.completed" | "response.incomplete" => {
                let s = snapshot.as_ref().unwrap();
                let r = data["response"].clone();
                assert_eq!(
                    r["output"], s["output"],
                    "final output = the accumulated one"
                );
                assert_eq!(r["id"], s["id"]);
                done = Some(r);
            }
            other => panic!("unexpected event {other}"),
        }
    }
    done.expect("the stream completes")
}

/// `created_at` follows the clock: blanked for comparisons.
fn normalized(out: &[u8]) -> Vec<(String, Value)> {
    let mut events = parse_client(out);
    for (_, v) in &mut events {
        if v["response"].get("created_at").is_some() {
            v["response"]["created_at"] = json!(0);
        }
    }
    events
}

#[test]
fn anthropic_stream_to_responses_client() {
    let input = sse(&anthropic_stream(), false);
    let mut s = stream(Plan::ResponsesToAnthropic);
    let (out, first) = run(&mut s, &input, &[]);
    assert_eq!(first, Some(0));
    assert_eq!(s.outcome(), &Outcome::Completed);
    let r = responses_sdk(&parse_client(&out));
    assert_eq!(r["id"], "resp_msg_014p7gG3wDgGV9EUtLvnow3U");
    assert_eq!(r["model"], "claude-sonnet-4-5");
    assert_eq!(r["status"], "completed");
    let output = r["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": "Okay, checking Paris.", "annotations": []}])
    );
    assert_eq!(output[1]["type"], "function_call");
    assert_eq!(output[1]["call_id"], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(output[1]["name"], "get_weather");
    let args: Value = serde_json::from_str(output[1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "c"}));
    // Anthropic's input_tokens leave the 400 cached tokens out; Responses' count them.
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 425, "input_tokens_details": {"cached_tokens": 400},
               "output_tokens": 89, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 514})
    );
    assert_eq!(s.usage().input, 425);
    assert_eq!(s.usage().output, 89);
    // Three argument fragments (the empty one is not sent).
    let arg_deltas = parse_client(&out)
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .count();
    assert_eq!(arg_deltas, 3);
}

#[test]
fn responses_streams_however_cut() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    for crlf in [false, true] {
        let input = sse(&anthropic_stream(), crlf);
        let whole = normalized(&run(&mut stream(Plan::ResponsesToAnthropic), &input, &[]).0);
        for cut in 0..=input.len() {
            let out = normalized(&run(&mut stream(Plan::ResponsesToAnthropic), &input, &[cut]).0);
            assert_eq!(out, whole, "split at {cut}");
        }
        for _ in 0..300 {
            let cuts = random_cuts(&mut rng, input.len());
            let out = normalized(&run(&mut stream(Plan::ResponsesToAnthropic), &input, &cuts).0);
            assert_eq!(out, whole, "cut at {cuts:?}");
        }
    }
}

#[test]
fn the_token_limit_ends_an_incomplete_response() {
    let mut events = anthropic_stream();
    let n = events.len();
    events[n - 2].1 = r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":89}}"#;
    let mut s = stream(Plan::ResponsesToAnthropic);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    let events = parse_client(&out);
    assert_eq!(events.last().unwrap().0, "response.incomplete");
    let r = responses_sdk(&events);
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(s.outcome(), &Outcome::Completed);
}

#[test]
fn gemini_and_bedrock_streams_reach_responses_clients() {
    let mut s = stream(Plan::ResponsesToGemini);
    let (out, _) = run(&mut s, &sse(&gemini_stream(), true), &[]);
    let r = responses_sdk(&parse_client(&out));
    assert_eq!(r["model"], "gemini-2.5-flash");
    assert_eq!(r["output"][0]["content"][0]["text"], "Checking Paris.");
    assert_eq!(r["output"][1]["name"], "get_weather");
    let args: Value = serde_json::from_str(r["output"][1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "c"}));
    // Gemini's reasoning tokens survive (Anthropic events cannot carry them).
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 5);
    assert_eq!(r["usage"]["input_tokens"], 120);
    assert_eq!(r["usage"]["output_tokens"], 25);

    let mut s = stream(Plan::ResponsesToBedrock);
    let (out, _) = run(&mut s, &bedrock_events().concat(), &[]);
    let r = responses_sdk(&parse_client(&out));
    assert_eq!(r["output"][0]["content"][0]["text"], "Checking Paris.");
    assert_eq!(r["output"][1]["call_id"], "tooluse_Yy8Rk");
    assert_eq!(r["output"][1]["arguments"], "{\"city\": \"Paris\"}");
    assert_eq!(r["usage"]["input_tokens"], 430);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 400);
    assert_eq!(s.outcome(), &Outcome::Completed);
}

#[test]
fn errors_mid_stream_end_a_responses_stream() {
    // A provider error event after some text: `error` (which the openai SDK raises on) and
    // `response.failed`, numbered after the events before them.
    let mut events = anthropic_stream()[..4].to_vec();
    events.push((
        "error",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    let mut s = stream(Plan::ResponsesToAnthropic);
    let (out, _) = run(&mut s, &sse(&events, false), &[]);
    assert!(matches!(s.outcome(), Outcome::ProviderError(m) if m == "Overloaded"));
    let client = parse_client(&out);
    let n = client.len();
    let (name, error) = &client[n - 2];
    assert_eq!(name, "error");
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "overloaded");
    assert_eq!(error["message"], "Overloaded");
    assert_eq!(error["error"]["message"], "Overloaded");
    assert_eq!(error["sequence_number"], json!(n - 2));
    let (name, failed) = &client[n - 1];
    assert_eq!(name, "response.failed");
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["message"], "Overloaded");
    assert_eq!(failed["sequence_number"], json!(n - 1));
    for (i, (_, v)) in client.iter().enumerate() {
        assert_eq!(v["sequence_number"], json!(i));
    }

    // A cut stream: the error event, never a silent end; nothing after it.
    let mut s = stream(Plan::ResponsesToAnthropic);
    let (out, _) = run(&mut s, &sse(&anthropic_stream()[..5], false), &[]);
    assert_eq!(s.outcome(), &Outcome::Truncated);
    let (name, last) = parse_client(&out).pop().unwrap();
    assert_eq!(name, "error");
    assert_eq!(last["error"]["type"], "server_error");
    assert!(s
        .push(&Bytes::from_static(b"event: ping\ndata: {}\n\n"))
        .bytes
        .is_empty());

    // An abort (a stall, a read error) gives the same.
    let mut s2 = stream(Plan::ResponsesToAnthropic);
    let _ = s2.push(&Bytes::from(sse(&anthropic_stream()[..3], false)));
    let tail = s2.abort(crate::ErrorKind::Timeout, "stalled");
    let (name, v) = parse_client(&tail).pop().unwrap();
    assert_eq!(name, "error");
    assert_eq!(v["code"], "timeout");
    assert_eq!(v["message"], "stalled");
}
