//! Same-format streams (observed or reframed) with an unreadable event: the client never gets
//! it, its stream ends with an error event in its format instead, and the outcome says why.

use bytes::Bytes;
use rand::SeedableRng;

use super::support::{parse_client, random_cuts, sse};
use super::{anthropic_stream, openai_stream, run, ClientApi, Outcome, Plan, ProviderApi};
use super::{ResponseStream, Usage};

/// The fake provider's broken chunk: the `data:` JSON ends after `"delta":`.
const BROKEN_OPENAI: &str =
    r#"{"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":"#;
const BROKEN_ANTHROPIC: &str = r#"{"type":"content_block_delta","index":0,"delta":"#;

/// (client, provider, wants usage, the provider's events with a broken one after `at` good ones).
fn cases(at: usize) -> Vec<(ClientApi, ProviderApi, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut a = anthropic_stream();
    a.insert(at, ("content_block_delta", BROKEN_ANTHROPIC));
    let a = sse(&a, false);
    out.push((
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        false,
        a,
    ));
    let mut o = openai_stream();
    o.insert(at, ("", BROKEN_OPENAI));
    let o = sse(&o, false);
    for wants_usage in [true, false] {
        out.push((
            ClientApi::OpenAiChat,
            ProviderApi::OpenAiChat,
            wants_usage,
            o.clone(),
        ));
    }
    out
}

#[test]
fn an_unreadable_event_ends_a_same_format_stream_with_an_error_event() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for at in [0, 1, 4] {
        for (client, provider, wants_usage, input) in cases(at) {
            for round in 0..60 {
                let mut s = ResponseStream::new(Plan::Passthrough, client, provider, wants_usage);
                let cuts = if round == 0 {
                    Vec::new()
                } else {
                    random_cuts(&mut rng, input.len())
                };
                let (out, _) = run(&mut s, &input, &cuts);
                let what = format!("{client:?} usage={wants_usage} at={at} cuts={cuts:?}");
                assert!(
                    matches!(s.outcome(), Outcome::Malformed(m) if m.contains("not JSON")),
                    "{what}: {:?}",
                    s.outcome()
                );
                let text = String::from_utf8_lossy(&out);
                assert!(
                    !text.contains("broken\""),
                    "{what}: the bad event went out: {text}"
                );
                assert!(!text.contains("\"delta\":\n"), "{what}: {text}");
                // Every event the client got is readable, and the last is the error.
                let events = parse_client(&out);
                let (name, last) = events.last().expect("an error event");
                match client {
                    ClientApi::AnthropicMessages => assert_eq!(name, "error", "{what}"),
                    _ => assert!(last["error"].is_object(), "{what}: {last}"),
                }
                let message = last["error"]["message"].as_str().unwrap_or("");
                assert!(message.contains("not JSON"), "{what}: {last}");
                assert!(events
                    .iter()
                    .all(|(n, d)| n != "message_stop" && d != &serde_json::json!("[DONE]")));
            }
        }
    }
}

#[test]
fn good_events_one_per_chunk_pass_untouched_before_the_error() {
    // One event per push: the events before the bad one reach the client byte for byte.
    let mut events = anthropic_stream();
    events.insert(4, ("content_block_delta", BROKEN_ANTHROPIC));
    let mut s = ResponseStream::new(
        Plan::Passthrough,
        ClientApi::AnthropicMessages,
        ProviderApi::AnthropicMessages,
        false,
    );
    let mut out = Vec::new();
    let mut first_token = false;
    for e in &events {
        let o = s.push(&Bytes::from(sse(&[*e], false)));
        first_token |= o.first_token;
        out.extend_from_slice(&o.bytes);
        if s.is_over() {
            break;
        }
    }
    let good = sse(&events[..4], false);
    assert!(out.starts_with(&good));
    assert!(out[good.len()..].starts_with(b"event: error\ndata: "));
    assert!(first_token, "the first delta was a token");
    assert_eq!(s.usage().cache_read, 400, "usage read so far is kept");
    assert_ne!(s.usage(), Usage::default());
}
