//! `ai` backend faults the routing tests leave out, through the gateway with the official
//! SDKs: a 429 without `Retry-After` (the provider rests for `setAside.default`), and a
//! malformed stream chunk before the first token (failover: the client never sees it) and
//! after it (the stream ends with an error event the SDK raises, counted as `malformed`).

use crate::llm_common::{base, config, rate_limited_set_asides};
use std::time::Duration;

use e2e::llm::{run_sdk_client, FakeLlm, Sdk, SdkRunOptions, Step};
use e2e::Gateway;
use serde_json::{json, Value};

const HELLO: &str = "Hello from the fake provider.";

/// `a` (of `kind`) in the first group, `b` (OpenAI-compatible) in the second.
fn two_groups(kind: &str, a: &FakeLlm, b: &FakeLlm, set_aside: &str) -> String {
    let a_url = match kind {
        "anthropic" => a.base(),
        _ => a.v1(),
    };
    format!(
        "    streamIdleTimeout: 5s
    setAside: {{ default: {set_aside} }}
    groups:
    - providers:
      - {{ name: a, {kind}: {{ url: \"{a_url}\" }} }}
    - providers:
      - {{ name: b, openaiCompatible: {{ url: \"{}\" }} }}
",
        b.v1()
    )
}

/// A chat completion straight to the gateway (no Python start-up between two requests that
/// must fall in one set-aside time); the text of the answer.
async fn chat(gw: &Gateway) -> String {
    let resp = reqwest::Client::new()
        .post(gw.url("/llm/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A 429 without `Retry-After`: the next group serves the request, the provider rests for
/// `setAside.default` (2s) and is counted as set aside `rate_limited`; a second request goes
/// straight to the next group; once the default time has passed the provider serves again.
#[tokio::test]
async fn rate_limited_without_retry_after_rests_for_the_default() {
    let a = FakeLlm::start("a").await;
    let b = FakeLlm::start("b").await;
    let gw = Gateway::start(&config(&two_groups("openaiCompatible", &a, &b, "2s"))).await;
    a.script([Step::RateLimited { retry_after: None }]);
    let run = run_sdk_client(
        Sdk::OpenAi,
        &base(Sdk::OpenAi, &gw),
        &SdkRunOptions::new("m"),
    )
    .await
    .ok();
    assert_eq!(run.text(), HELLO);
    assert_eq!(a.generations().len(), 1, "a was asked first");
    assert_eq!(b.generations().len(), 1, "b served it");
    let set_aside = gw
        .metric_or_zero(
            "switchboard_ai_provider_set_aside_total",
            &[
                ("route", "main/llm"),
                ("provider", "a"),
                ("result", "rate_limited"),
            ],
        )
        .await;
    assert_eq!(set_aside, 1.0, "{}", gw.metrics().await);
    let attempts = gw
        .metric_or_zero(
            "switchboard_ai_attempts_total",
            &[("provider", "a"), ("result", "rate_limited")],
        )
        .await;
    assert_eq!(attempts, 1.0);
    // a rests: straight to b.
    assert_eq!(chat(&gw).await, HELLO);
    assert_eq!(a.generations().len(), 1, "a is set aside");
    assert_eq!(b.generations().len(), 2);
    // After the default 2s (and a margin), a serves again.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(chat(&gw).await, HELLO);
    assert_eq!(a.generations().len(), 2, "a serves again");
    assert_eq!(b.generations().len(), 2);
    let set_aside = rate_limited_set_asides(&gw, "a").await;
    assert_eq!(set_aside, 1.0, "set aside once");
}

/// A malformed chunk before the first token, from a provider of each API to each SDK (the
/// same API passed through, the other translated): the next group serves the stream, the
/// client never sees the bad chunk (the SDK parses every event it gets), and the attempt is
/// counted `stream_failed`.
#[tokio::test]
async fn malformed_chunk_before_the_first_token_fails_over() {
    for kind in ["openaiCompatible", "anthropic"] {
        let a = FakeLlm::start("a").await;
        let b = FakeLlm::start("b").await;
        let gw = Gateway::start(&config(&two_groups(kind, &a, &b, "300ms"))).await;
        for (i, sdk) in [Sdk::OpenAi, Sdk::Anthropic].into_iter().enumerate() {
            a.script([Step::MalformedAfter(0)]);
            let run =
                run_sdk_client(sdk, &base(sdk, &gw), &SdkRunOptions::new("m").streamed()).await;
            let what = format!(
                "{kind} {sdk:?}: {}\n{}\n{}",
                run.summary,
                run.stderr,
                gw.stderr()
            );
            assert!(run.success, "{what}");
            assert_eq!(run.text(), HELLO, "{what}");
            assert_eq!(a.generations().len(), i + 1, "{what}");
            assert_eq!(b.generations().len(), i + 1, "b served it: {what}");
            let failed = gw
                .metric_or_zero(
                    "switchboard_ai_attempts_total",
                    &[("provider", "a"), ("result", "stream_failed")],
                )
                .await;
            assert_eq!(failed, (i + 1) as f64, "{what}");
            let errors = gw
                .metric_or_zero("switchboard_ai_stream_errors_total", &[("provider", "a")])
                .await;
            assert_eq!(errors, 0.0, "nothing reached the client: {what}");
            // a rests for 300ms after each.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    }
}

/// A malformed chunk after the first tokens, from a provider of each API to each SDK: no
/// failover (the client has the first bytes), the stream ends with an error event in the
/// client's format that the SDK raises (not the bad chunk, which its parser would choke on
/// first), and `switchboard_ai_stream_errors_total{result="malformed"}` counts it.
#[tokio::test]
async fn malformed_chunk_after_the_first_token_ends_with_an_error_event() {
    for kind in ["openaiCompatible", "anthropic"] {
        let a = FakeLlm::start("a").await;
        let b = FakeLlm::start("b").await;
        let gw = Gateway::start(&config(&two_groups(kind, &a, &b, "300ms"))).await;
        for (i, sdk) in [Sdk::OpenAi, Sdk::Anthropic].into_iter().enumerate() {
            a.script([Step::MalformedAfter(2)]);
            let mut opts = SdkRunOptions::new("m").streamed();
            opts.sdk_timeout = Some(Duration::from_secs(10));
            let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
            let what = format!(
                "{kind} {sdk:?}: {}\n{}\n{}",
                run.summary,
                run.stderr,
                gw.stderr()
            );
            assert!(!run.success, "{what}");
            let err = run.error().expect("the SDK raised");
            // The gateway's error event (its message says why), not a JSON decode error.
            assert_ne!(err["class"], "JSONDecodeError", "{what}");
            let message = err["message"].as_str().unwrap_or("");
            assert!(message.contains("not JSON"), "{what}");
            assert_eq!(
                run.text(),
                "Hello from",
                "the first two tokens came: {what}"
            );
            assert_eq!(
                b.generations().len(),
                0,
                "no failover after the first token"
            );
            let errors = gw
                .metric_or_zero(
                    "switchboard_ai_stream_errors_total",
                    &[
                        ("route", "main/llm"),
                        ("provider", "a"),
                        ("result", "malformed"),
                    ],
                )
                .await;
            assert_eq!(errors, (i + 1) as f64, "{what}\n{}", gw.metrics().await);
        }
    }
}
