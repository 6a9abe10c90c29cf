use std::sync::Arc;

use serde_json::{json, Value};

use super::sse::{Format, SseGuard};
use super::stream::{StreamMasker, WINDOW};
use super::*;

fn builtins() -> Arc<Detector> {
    let specs = Builtin::ALL
        .iter()
        .map(|b| RuleSpec::builtin(*b, None))
        .collect();
    Arc::new(Detector::new(specs).unwrap())
}

fn names(d: &Detector, text: &str) -> Vec<String> {
    d.find(text)
        .iter()
        .map(|f| format!("{}:{}", d.rule_name(f.rule), &text[f.start..f.end]))
        .collect()
}

#[test]
fn each_builtin_finds_its_kind() {
    let d = builtins();
    assert_eq!(
        names(&d, "write to Jane.Doe+ai@mail.example.co.uk today"),
        ["email:Jane.Doe+ai@mail.example.co.uk"]
    );
    assert_eq!(
        names(
            &d,
            "card 4111 1111 1111 1111 or 4242-4242-4242-4242 or 378282246310005."
        ),
        [
            "creditCard:4111 1111 1111 1111",
            "creditCard:4242-4242-4242-4242",
            "creditCard:378282246310005"
        ]
    );
    assert_eq!(names(&d, "ssn 123-45-6789."), ["usSsn:123-45-6789"]);
    assert_eq!(
        names(&d, "call (555) 123-4567, 555.123.4567 or +1 555-123-4567"),
        [
            "phoneNumber:(555) 123-4567",
            "phoneNumber:555.123.4567",
            "phoneNumber:+1 555-123-4567"
        ]
    );
    assert!(names(&d, "nothing here: version 1.2.3, 12:30, x@y").is_empty());
}

#[test]
fn luhn_keeps_random_numbers_out() {
    assert!(luhn_valid("4111111111111111"));
    assert!(luhn_valid("4242 4242 4242 4242"));
    assert!(luhn_valid("1234567812345670"));
    assert!(!luhn_valid("1234567812345678"));
    assert!(!luhn_valid("4111111111111112"));
    assert!(!luhn_valid("0000"), "too short");
    let d = builtins();
    assert!(names(&d, "order 1234567812345678 shipped").is_empty());
    // Of 1000 random 16-digit numbers, about a tenth pass Luhn; each that does not is
    // not a card.
    let mut rng = Lcg(7);
    let mut flagged = 0;
    for _ in 0..1000 {
        let n: String = (0..16)
            .map(|_| char::from(b'0' + (rng.next() % 10) as u8))
            .collect();
        let found = !d.find(&format!("id {n} end")).is_empty();
        assert_eq!(found, luhn_valid(&n), "{n}");
        flagged += usize::from(found);
    }
    assert!((50..150).contains(&flagged), "{flagged}");
}

#[test]
fn ssn_ranges_never_issued_are_not_flagged() {
    let d = builtins();
    for s in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert!(names(&d, s).is_empty(), "{s}");
    }
}

#[test]
fn overlapping_matches_keep_the_first_and_longest() {
    let d = builtins();
    // A phone number inside an e-mail address: one e-mail.
    assert_eq!(
        names(&d, "mail call.5551234567@example.com now"),
        ["email:call.5551234567@example.com"]
    );
    // A card number that fails Luhn does not hide a valid one inside it.
    let m = d.mask("x 9 4111 1111 1111 1111 y");
    assert_eq!(m.text, "x 9 <CREDIT_CARD> y");
    let m = d.mask("a@b.io and 123-45-6789");
    assert_eq!(m.text, "<EMAIL> and <SSN>");
    assert_eq!(m.rules.len(), 2);
}

#[test]
fn custom_patterns_and_replacements() {
    let d = Detector::new(vec![
        RuleSpec {
            name: "ticket".into(),
            pattern: r"TICKET-\d+".into(),
            replacement: "[ticket]".into(),
            validate: None,
        },
        RuleSpec::builtin(Builtin::Email, Some("***")),
    ])
    .unwrap();
    assert_eq!(
        d.mask("see TICKET-42 by a@b.io").text,
        "see [ticket] by ***"
    );
    let err = Detector::new(vec![RuleSpec {
        name: "bad".into(),
        pattern: "(unclosed".into(),
        replacement: String::new(),
        validate: None,
    }])
    .unwrap_err();
    assert!(err.to_string().contains("\"bad\""), "{err}");
}

/// A small deterministic generator for the property tests.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Splits `text` at random character boundaries.
fn random_split(text: &str, rng: &mut Lcg) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let n = 1 + (rng.next() % 9) as usize;
        let end = (at + n).min(chars.len());
        pieces.push(chars[at..end].iter().collect());
        at = end;
    }
    pieces
}

const TEXTS: &[&str] = &[
    "Contact jane.doe@example.com or (555) 123-4567; card 4111 1111 1111 1111, ssn 123-45-6789.",
    "no secrets at all, just words and numbers 12 345 6789 and 1234567812345678.",
    "émail: ünïcode jöhn@exämple.com vs john@example.com — 4242-4242-4242-4242!",
    "edge@end.io",
    "4111111111111111",
    "a.5551234567@x.com then 555 123 4567 then +44 555.123.4567",
];

/// Whatever the split, the stream gives what masking the whole text gives, and holds at
/// most the window.
#[test]
fn streamed_masking_equals_whole_masking_at_any_split() {
    let d = builtins();
    let mut rng = Lcg(42);
    for text in TEXTS {
        let whole = d.mask(text);
        for _ in 0..200 {
            let mut m = StreamMasker::new(d.clone());
            let mut got = String::new();
            let mut rules = Vec::new();
            for piece in random_split(text, &mut rng) {
                let r = m.push(&piece);
                assert!(m.held() <= WINDOW);
                got.push_str(&r.text);
                rules.extend(r.rules);
            }
            let r = m.finish();
            got.push_str(&r.text);
            rules.extend(r.rules);
            rules.sort_unstable();
            rules.dedup();
            assert_eq!(got, whole.text, "{text}");
            assert_eq!(rules, whole.rules, "{text}");
        }
    }
}

/// Only a tail that could still become a match is held: ordinary words go out at once.
#[test]
fn streams_hold_only_what_could_still_match() {
    let d = builtins();
    let mut m = StreamMasker::new(d.clone());
    assert_eq!(m.push("Hello there, ").text, "Hello there, ");
    assert_eq!(m.held(), 0);
    // "bob" could be the start of an address.
    assert_eq!(m.push("write to bob").text, "write to ");
    assert_eq!(m.push("@exam").text, "");
    // "today" too, until a space says it is a word.
    assert_eq!(m.push("ple.com today").text, "<EMAIL> ");
    assert_eq!(m.push(" ").text, "today ");
    // A long run of text without a possible match is never held.
    let long = "word ".repeat(500);
    assert_eq!(m.push(&long).text.len(), long.len());
    // A run of digits is held until it cannot be a card any more.
    assert_eq!(m.push("4111 1111").text, "");
    assert_eq!(m.push(" 1111 1111 ok ").text, "<CREDIT_CARD> ok ");
}

fn openai_chunk(content: &str) -> String {
    let v = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {v}\n\n")
}

fn sse_texts(bytes: &[u8], anthropic: bool) -> String {
    let mut feed = netkit::sse::EventFeed::new(1 << 20);
    let mut text = String::new();
    for e in feed.push(bytes) {
        let Ok(v) = serde_json::from_str::<Value>(&e.data) else {
            continue;
        };
        let piece = if anthropic {
            v["delta"]["text"].as_str().map(str::to_string)
        } else {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        };
        text.push_str(&piece.unwrap_or_default());
    }
    text
}

#[test]
fn openai_stream_masks_an_address_split_across_chunks() {
    let mut g = SseGuard::new(builtins(), Action::Mask, Format::OpenAiChat);
    let mut out = Vec::new();
    let mut matched = Vec::new();
    for piece in ["Mail ", "jane", ".doe@exa", "mple.com", " now."] {
        let r = g.push(openai_chunk(piece).as_bytes());
        out.extend(r.bytes);
        matched.extend(r.matched);
        assert!(r.rejected.is_none());
    }
    let fin = json!({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    out.extend(
        g.push(format!("data: {fin}\n\ndata: [DONE]\n\n").as_bytes())
            .bytes,
    );
    out.extend(g.finish().bytes);
    assert_eq!(sse_texts(&out, false), "Mail <EMAIL> now.");
    assert_eq!(matched, [0]);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(!text.contains("jane"), "{text}");
}

#[test]
fn anthropic_stream_flushes_at_block_stop_and_rejects() {
    let delta = |t: &str| {
        let v = json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": t}});
        format!("event: content_block_delta\ndata: {v}\n\n")
    };
    let stop = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    let mut g = SseGuard::new(builtins(), Action::Mask, Format::Anthropic);
    let mut out = Vec::new();
    for piece in ["Call 555-12", "3-4567 or me@x.io"] {
        out.extend(g.push(delta(piece).as_bytes()).bytes);
    }
    out.extend(g.push(stop.as_bytes()).bytes);
    assert_eq!(sse_texts(&out, true), "Call <PHONE_NUMBER> or <EMAIL>");
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with(stop), "{text}");

    let mut g = SseGuard::new(builtins(), Action::Reject, Format::Anthropic);
    let first = g.push(delta("fine text, card 4111 1111 ").as_bytes());
    assert!(first.rejected.is_none());
    assert_eq!(sse_texts(&first.bytes, true), "fine text, card ");
    let r = g.push(delta("1111 1111 and more").as_bytes());
    assert_eq!(r.rejected, Some(1));
    assert!(r.bytes.is_empty());
    assert!(g.push(delta("later").as_bytes()).bytes.is_empty());
}

#[test]
fn request_bodies_keep_their_bytes_unless_a_text_changes() {
    let d = builtins();
    let body = br#"{"model":"m", "messages":[{"role":"system","content":"be nice"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"temperature":0.70}"#;
    let same = body::map_request(body, &mut |s| *s = d.mask(s).text).unwrap();
    assert!(same.is_none());
    assert_eq!(
        body::request_texts(body).unwrap(),
        ["be nice", "hi"],
        "system and parts"
    );

    let body = br#"{"model":"m", "system":[{"type":"text","text":"ssn 123-45-6789"}],"messages":[{"role":"user","content":"mail a@b.io"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"c@d.io"}]}]}],"temperature":0.70}"#;
    let new = body::map_request(body, &mut |s| *s = d.mask(s).text)
        .unwrap()
        .unwrap();
    let text = std::str::from_utf8(&new).unwrap();
    assert!(
        text.starts_with(r#"{"model":"m","system":[{"text":"ssn <SSN>","type":"text"}]"#),
        "{text}"
    );
    assert!(text.ends_with(r#","temperature":0.70}"#), "{text}");
    let v: Value = serde_json::from_slice(&new).unwrap();
    assert_eq!(v["messages"][0]["content"], "mail <EMAIL>");
    assert_eq!(
        v["messages"][1]["content"][0]["content"][0]["text"],
        "<EMAIL>"
    );
    assert!(body::map_request(b"[1]", &mut |_| {}).is_err());
}

#[test]
fn response_bodies_of_each_format() {
    let d = builtins();
    let mut mask = |s: &mut String| *s = d.mask(s).text;
    let openai = json!({"choices": [{"message": {"role": "assistant", "content": "a@b.io"}}]});
    let v: Value = serde_json::from_slice(
        &body::map_response(openai.to_string().as_bytes(), &mut mask)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "<EMAIL>");
    let anthropic = json!({"content": [{"type": "text", "text": "123-45-6789"}]});
    let v: Value = serde_json::from_slice(
        &body::map_response(anthropic.to_string().as_bytes(), &mut mask)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["content"][0]["text"], "<SSN>");
    let clean = json!({"content": [{"type": "text", "text": "hello"}]});
    assert!(body::map_response(clean.to_string().as_bytes(), &mut mask)
        .unwrap()
        .is_none());
}

/// Splits `bytes` at random byte offsets (inside events, inside UTF-8 sequences).
fn random_bytes_split(bytes: &[u8], rng: &mut Lcg) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = 1 + (rng.next() % 40) as usize;
        let end = (at + n).min(bytes.len());
        out.push(bytes[at..end].to_vec());
        at = end;
    }
    out
}

/// Whatever the events' text pieces and however the bytes are cut, the client reads what
/// masking the whole text gives, in both formats, and the stream keeps its end marker.
#[test]
fn guarded_streams_equal_whole_masking_at_any_split() {
    let d = builtins();
    let mut rng = Lcg(9);
    for text in TEXTS {
        let whole = d.mask(text).text;
        for round in 0..60 {
            let pieces = random_split(text, &mut rng);
            let anthropic = round % 2 == 1;
            let mut sse = String::new();
            if anthropic {
                sse.push_str(
                    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
                );
                sse.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
                for p in &pieces {
                    let v = json!({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": p}});
                    sse.push_str(&format!("event: content_block_delta\ndata: {v}\n\n"));
                }
                sse.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
                sse.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            } else {
                for p in &pieces {
                    sse.push_str(&openai_chunk(p));
                }
                let fin = json!({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                sse.push_str(&format!("data: {fin}\n\ndata: [DONE]\n\n"));
            }
            let format = if anthropic {
                Format::Anthropic
            } else {
                Format::OpenAiChat
            };
            let mut g = SseGuard::new(d.clone(), Action::Mask, format);
            let mut out = Vec::new();
            for chunk in random_bytes_split(sse.as_bytes(), &mut rng) {
                out.extend(g.push(&chunk).bytes);
            }
            out.extend(g.finish().bytes);
            assert_eq!(sse_texts(&out, anthropic), whole, "{text}");
            let end: &[u8] = if anthropic {
                b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
            } else {
                b"data: [DONE]\n\n"
            };
            assert!(out.ends_with(end), "{}", String::from_utf8_lossy(&out));
        }
    }
}

/// Under `reject`, the events before the match in the same bytes still go out; the
/// matching text never does.
#[test]
fn a_rejecting_push_keeps_the_clean_events_before_the_match() {
    let mut g = SseGuard::new(builtins(), Action::Reject, Format::OpenAiChat);
    let mut bytes = openai_chunk("clean words ");
    bytes.push_str(&openai_chunk("then a@b.io "));
    bytes.push_str(&openai_chunk("and more"));
    let r = g.push(bytes.as_bytes());
    assert_eq!(r.rejected, Some(0), "email");
    assert_eq!(sse_texts(&r.bytes, false), "clean words then ");
    assert!(!String::from_utf8_lossy(&r.bytes).contains("a@b"));
}
