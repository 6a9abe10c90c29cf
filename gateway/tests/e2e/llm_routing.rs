//! `ai` backends end to end: the official `openai` and `anthropic` Python SDKs against one
//! Switchboard route, whose providers are fake loopback providers speaking each API (with
//! scripted faults) and a real model (SmolLM2 on llama-cpp-python's server).
//!
//! What is shown: each SDK gets text, tool calls with parsed arguments, usage and stop
//! reasons from a provider of either API, streamed and not (translated both ways); failover
//! to the next priority group on 429, 503, a refused connection, and a stream that stalls or
//! breaks before its first token, with the failed provider set aside (for its `Retry-After`);
//! a stream that breaks after its first token ends with an error the SDK raises; the
//! gateway's own errors in each client's format; `GET /v1/models`; GenAI metrics and access
//! log fields.

use crate::llm_common::{base, config, rate_limited_set_asides};
use std::time::Duration;

use e2e::llm::{run_sdk_client, FakeLlm, LlamaServer, Reply, Sdk, SdkRunOptions, Step};
use e2e::Gateway;
use serde_json::{json, Value};

fn tool_reply() -> Reply {
    let mut r = Reply::with_tool(
        "Checking the weather.",
        "get_weather",
        json!({"location": "Paris"}),
    );
    r.input_tokens = 21;
    r.output_tokens = 9;
    r.cached_tokens = 4;
    r
}

/// Each SDK against a provider of each API, streamed and not: the translation both ways
/// (OpenAI client to an Anthropic provider, Anthropic client to an OpenAI provider) and the
/// passthrough. The provider saw its own API with its own model name.
#[tokio::test]
async fn both_sdks_through_providers_of_both_apis() {
    let openai = FakeLlm::start("oai").await;
    let claude = FakeLlm::start("claude").await;
    openai.set_reply(tool_reply());
    claude.set_reply(tool_reply());
    for (provider, kind) in [(&openai, "openaiCompatible"), (&claude, "anthropic")] {
        let url = match kind {
            "anthropic" => provider.base(),
            _ => provider.v1(),
        };
        let ai = format!(
            "    groups:\n    - providers:\n      - {{ name: p, {kind}: {{ url: \"{url}\", model: upstream-model }} }}\n"
        );
        let gw = Gateway::start(&config(&ai)).await;
        for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
            for stream in [false, true] {
                let mut opts = SdkRunOptions::new("client-model").with_tool();
                opts.stream = stream;
                let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
                let what = format!(
                    "{sdk:?} to {kind} stream={stream}: {}\n{}\n{}",
                    run.summary,
                    run.stderr,
                    gw.stderr()
                );
                assert!(run.success, "{what}");
                assert_eq!(run.text(), "Checking the weather.", "{what}");
                let calls = run.tool_calls();
                assert_eq!(calls.len(), 1, "{what}");
                assert_eq!(calls[0]["name"], "get_weather", "{what}");
                assert_eq!(
                    calls[0]["arguments"],
                    json!({"location": "Paris"}),
                    "{what}"
                );
                // The fake reports 21 input tokens, 4 of them cached, in each API's own
                // terms: OpenAI's `prompt_tokens` counts the cached ones, Anthropic's
                // `input_tokens` leaves them out (21 + 4 cached read = 25 in all). A
                // translation keeps the meaning, so the numbers change across APIs.
                let input = match (sdk, kind) {
                    (Sdk::Anthropic, "openaiCompatible") => 17,
                    (Sdk::OpenAi, "anthropic") => 25,
                    _ => 21,
                };
                assert_eq!(run.usage(), (input, 9), "{what}");
                assert_eq!(run.summary["usage"]["cached_tokens"], 4, "{what}");
                let stop = match sdk {
                    Sdk::OpenAi => "tool_calls",
                    Sdk::Anthropic => "tool_use",
                };
                assert_eq!(run.stop_reason(), stop, "{what}");
                let sent = provider.generations().pop().expect("the provider got it");
                let path = match kind {
                    "anthropic" => "/v1/messages",
                    _ => "/v1/chat/completions",
                };
                assert_eq!(sent.path(), path, "{what}");
                assert_eq!(sent.json["model"], "upstream-model", "{what}");
                assert_eq!(sent.json["stream"].as_bool().unwrap_or(false), stream);
                if kind == "anthropic" {
                    assert!(!sent.header("anthropic-version").is_empty(), "{what}");
                    assert_eq!(sent.json["tools"][0]["name"], "get_weather", "{what}");
                } else {
                    assert_eq!(sent.json["tools"][0]["function"]["name"], "get_weather");
                    if stream {
                        // Asked for usage on the client's behalf.
                        assert_eq!(sent.json["stream_options"]["include_usage"], true);
                    }
                }
                // The client's key for the gateway never reaches the provider.
                assert!(sent.header("authorization").is_empty(), "{what}");
                assert!(sent.header("x-api-key").is_empty(), "{what}");
            }
        }
        // Metered: four calls, 21 input and 9 output tokens each.
        let labels = [
            ("route", "main/llm"),
            ("provider", "p"),
            ("gen_ai_token_type", "output"),
        ];
        let metrics = gw.metrics().await;
        let sum = e2e::metric_value(&metrics, "gen_ai_client_token_usage_sum", &labels);
        assert_eq!(sum, Some(36.0), "{kind}: {metrics}");
        let ttft = gw
            .metric_or_zero(
                "gen_ai_server_time_to_first_token_seconds_count",
                &[("provider", "p")],
            )
            .await;
        assert_eq!(ttft, 2.0, "two streams");
    }
}

/// A 429 with `Retry-After` on the first group sends the request to the second group, and
/// sets the first provider aside: the next request goes straight to the second. When every
/// provider is set aside, the client gets the gateway's 429 (or 503) in its own format with
/// `Retry-After`, without a provider being called.
#[tokio::test]
async fn failover_and_set_aside() {
    let a = FakeLlm::start("a").await;
    let b = FakeLlm::start("b").await;
    let ai = format!(
        "    setAside: {{ default: 4s }}
    groups:
    - providers:
      - {{ name: a, openaiCompatible: {{ url: \"{}\" }} }}
    - providers:
      - {{ name: b, anthropic: {{ url: \"{}\" }} }}
",
        a.v1(),
        b.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    a.script([Step::RateLimited {
        retry_after: Some("30".into()),
    }]);
    let opts = SdkRunOptions::new("m");
    let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");
    assert_eq!(a.generations().len(), 1);
    assert_eq!(b.generations().len(), 1);
    // a rests for its Retry-After: straight to b.
    let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");
    assert_eq!(a.generations().len(), 1, "a is set aside");
    assert_eq!(b.generations().len(), 2);
    let set_aside = rate_limited_set_asides(&gw, "a").await;
    assert_eq!(set_aside, 1.0);

    // b answers 503: it rests for the default 4s (long enough for the checks below on a
    // loaded machine), and the client (Anthropic) gets the 503 in its format with the
    // provider's message.
    b.script([Step::Unavailable]);
    let run = run_sdk_client(Sdk::Anthropic, &base(Sdk::Anthropic, &gw), &opts).await;
    assert!(!run.success, "{}", run.summary);
    let err = run.error().expect("an error");
    assert_eq!(err["status"], 503, "{}", run.summary);
    assert_eq!(b.generations().len(), 3);
    // Now both rest: the gateway answers itself, in each format, with Retry-After.
    let http = reqwest::Client::new();
    let resp = http
        .post(gw.url("/llm/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 503);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set aside"),
        "{body}"
    );
    let resp = http
        .post(gw.url("/llm/v1/messages"))
        .json(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "overloaded_error", "{body}");
    assert_eq!(b.generations().len(), 3, "no provider called");
    // After b's 4s it serves again.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let run = run_sdk_client(Sdk::Anthropic, &base(Sdk::Anthropic, &gw), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");
}

/// Streams: one that stalls before its first token, and one that breaks before it, are
/// served by the next provider (the client never sees them); one that breaks after its first
/// token ends with an error event that the SDK raises, never a quiet success.
#[tokio::test]
async fn stream_failover_before_the_first_token_and_errors_after() {
    let a = FakeLlm::start("a").await;
    let b = FakeLlm::start("b").await;
    let ai = format!(
        "    streamIdleTimeout: 1s
    setAside: {{ default: 500ms }}
    groups:
    - providers:
      - {{ name: a, openaiCompatible: {{ url: \"{}\" }} }}
    - providers:
      - {{ name: b, openaiCompatible: {{ url: \"{}\" }} }}
",
        a.v1(),
        b.v1()
    );
    let gw = Gateway::start(&config(&ai)).await;
    for (sdk, step) in [
        (Sdk::OpenAi, Step::StallAfter(0)),
        (Sdk::Anthropic, Step::CutAfter(0)),
        (Sdk::OpenAi, Step::ErrorAfter(0)),
    ] {
        a.script([step.clone()]);
        let before = b.generations().len();
        let opts = SdkRunOptions::new("m").streamed();
        let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
        let what = format!("{sdk:?} {step:?}: {}\n{}", run.summary, gw.stderr());
        assert!(run.success, "{what}");
        assert_eq!(run.text(), "Hello from the fake provider.", "{what}");
        assert_eq!(b.generations().len(), before + 1, "{what}");
        // a rests for 500ms after each.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // After the first token: the client's stream ends with an error it raises.
    for (sdk, step) in [
        (Sdk::OpenAi, Step::CutAfter(2)),
        (Sdk::Anthropic, Step::ErrorAfter(2)),
        (Sdk::OpenAi, Step::StallAfter(2)),
    ] {
        let gw = Gateway::start(&config(&ai)).await;
        a.script([step.clone()]);
        let before = b.generations().len();
        let mut opts = SdkRunOptions::new("m").streamed();
        opts.sdk_timeout = Some(Duration::from_secs(10));
        let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
        let what = format!("{sdk:?} {step:?}: {}\n{}", run.summary, gw.stderr());
        assert!(!run.success, "{what}");
        assert!(run.error().is_some(), "{what}");
        assert_eq!(
            b.generations().len(),
            before,
            "no failover after the first token"
        );
        let errors = gw
            .metric_or_zero("switchboard_ai_stream_errors_total", &[("provider", "a")])
            .await;
        assert_eq!(errors, 1.0, "{what}");
    }
}

/// `models` maps names to providers (aliases, wildcards); unknown names get a 404 in the
/// client's format; `GET /v1/models` lists the names; the access log carries the provider,
/// model and tokens.
#[tokio::test]
async fn models_table_list_and_access_log() {
    let a = FakeLlm::start("a").await;
    let b = FakeLlm::start("b").await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: small, openaiCompatible: {{ url: \"{}\", model: small-v2 }} }}
      - {{ name: claude, anthropic: {{ url: \"{}\" }} }}
    models:
    - {{ name: fast, provider: small }}
    - {{ name: \"claude-*\", provider: claude }}
    - {{ name: smart, provider: claude, model: claude-opus-4 }}
",
        a.v1(),
        b.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    let http = reqwest::Client::new();
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (model, fake, sent) in [
        ("fast", &a, "small-v2"),
        ("claude-haiku-4", &b, "claude-haiku-4"),
        ("smart", &b, "claude-opus-4"),
    ] {
        let resp = http
            .post(gw.url("/llm/v1/chat/completions"))
            .json(&chat(model))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200, "{model}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["object"], "chat.completion", "{body}");
        assert_eq!(fake.generations().pop().unwrap().json["model"], sent);
    }
    let resp = http
        .post(gw.url("/llm/v1/chat/completions"))
        .json(&chat("gpt-5"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gpt-5"),
        "{body}"
    );
    let list: Value = http
        .get(gw.url("/llm/v1/models"))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fast", "smart"], "{list}");
    let line = gw
        .stderr_once(|s| s.contains("gen_ai.request.model=\"claude-opus-4\""))
        .await;
    let line = line
        .lines()
        .find(|l| l.contains("gen_ai.request.model=\"claude-opus-4\""))
        .unwrap();
    assert!(line.contains("gen_ai.provider=\"claude\""), "{line}");
    assert!(line.contains("gen_ai.usage.input_tokens=11"), "{line}");
    assert!(line.contains("gen_ai.usage.output_tokens=7"), "{line}");
}

/// A real model behind the gateway: both SDKs get a completion from SmolLM2 on
/// llama-cpp-python's server, the Anthropic one translated to OpenAI chat and back.
#[tokio::test]
async fn a_real_local_model_for_both_sdks() {
    let llama = LlamaServer::start().await;
    let ai = format!(
        "    groups:\n    - providers:\n      - {{ name: local, openaiCompatible: {{ url: \"{}\", model: {} }} }}\n",
        llama.v1(),
        LlamaServer::MODEL
    );
    let gw = Gateway::start(&config(&ai)).await;
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        for stream in [false, true] {
            let mut opts = SdkRunOptions::new("anything");
            opts.max_tokens = 12;
            opts.stream = stream;
            let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
            let what = format!("{sdk:?} stream={stream}: {}\n{}", run.summary, gw.stderr());
            assert!(run.success, "{what}");
            assert!(!run.text().trim().is_empty(), "{what}");
            if !stream {
                let (input, output) = run.usage();
                assert!(input > 0 && output > 0 && output <= 12, "{what}");
            }
        }
    }
}

/// `tokenRateLimit`: a token budget charged the real usage (the estimate only gates), a
/// spend budget per model priced by `pricing`, refusals as `429` with `Retry-After` in the
/// client's format, and the cost metric.
#[tokio::test]
async fn token_and_spend_budgets() {
    let p = FakeLlm::start("p").await;
    p.set_reply(Reply {
        input_tokens: 40,
        output_tokens: 30,
        ..Reply::default()
    });
    let cfg = format!(
        "binds:
- port: {{port}}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: tokens
      matches: [{{ path: {{ prefix: /tokens }} }}]
      policies:
        tokenRateLimit:
          limits: [{{ maxTokens: 100, tokensPerFill: 100, fillInterval: 1h, per: identity }}]
      backends: [{{ backend: llm }}]
    - name: spend
      matches: [{{ path: {{ prefix: /spend }} }}]
      policies:
        tokenRateLimit:
          limits: [{{ maxCost: 0.00015, costPerFill: 0.00015, fillInterval: 1h, per: model }}]
      backends: [{{ backend: llm }}]
backends:
- name: llm
  ai:
    groups:
    - providers:
      - {{ name: p, openaiCompatible: {{ url: \"{}\" }} }}
    pricing:
    - {{ model: \"*\", input: 1.0, output: 2.0 }}
",
        p.v1()
    );
    let gw = Gateway::start(&cfg).await;
    let http = reqwest::Client::new();
    let call = |prefix: &'static str, model: &'static str| {
        let http = http.clone();
        let url = gw.url(&format!("{prefix}/v1/chat/completions"));
        async move {
            http.post(url)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("answer")
        }
    };
    // 100 tokens: the first call (70 used) leaves 30, enough for the second's small
    // estimate; the second leaves -40: the third is refused.
    assert_eq!(call("/tokens", "m").await.status(), 200);
    assert_eq!(call("/tokens", "m").await.status(), 200);
    let refused = call("/tokens", "m").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tokenRateLimit"));
    assert_eq!(
        p.generations().len(),
        2,
        "the refused call reached no provider"
    );
    // Each call costs 40 * $1 + 30 * $2 per million tokens: $0.0001. The spend budget
    // ($0.00015 per model) lets two calls of one model through, then refuses; another model
    // has its own bucket. The refusal is in the Anthropic client's format there.
    assert_eq!(call("/spend", "a").await.status(), 200);
    assert_eq!(call("/spend", "a").await.status(), 200);
    let refused = http
        .post(gw.url("/spend/v1/messages"))
        .json(&json!({"model": "a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(call("/spend", "b").await.status(), 200);
    for (model, dollars) in [("a", 0.0002), ("b", 0.0001)] {
        let labels = [("route", "main/spend"), ("gen_ai_request_model", model)];
        let cost = gw
            .metric_or_zero("gen_ai_client_cost_usd_total", &labels)
            .await;
        assert!((cost - dollars).abs() < 1e-9, "{model}: {cost}");
    }
    let refusals = gw
        .metric_or_zero(
            "switchboard_ai_budget_refusals_total",
            &[("route", "main/tokens")],
        )
        .await;
    assert_eq!(refusals, 1.0);
}

/// The quickstart's demo model (examples/src/bin/demo-llm.rs) behind the gateway: the
/// Anthropic SDK, streamed and not, gets its echo through the translation to OpenAI chat.
#[tokio::test]
async fn the_quickstart_demo_model_serves_both_sdks() {
    let port = e2e::free_port();
    let mut demo = std::process::Command::new(e2e::workspace_bin("demo-llm"))
        .arg(port.to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start demo-llm");
    let ai = format!(
        "    groups:\n    - providers:\n      - {{ name: demo, openaiCompatible: {{ url: \"http://127.0.0.1:{port}/v1\", model: demo-echo }} }}\n"
    );
    let gw = Gateway::start(&config(&ai)).await;
    for sdk in [Sdk::Anthropic, Sdk::OpenAi] {
        for stream in [false, true] {
            let mut opts = SdkRunOptions::new("any");
            opts.prompt = "hello gateway".into();
            opts.stream = stream;
            // The demo may still be binding its port: the SDK retries a refused connection.
            opts.retries = 3;
            let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
            let what = format!("{sdk:?} stream={stream}: {}\n{}", run.summary, run.stderr);
            assert!(run.success, "{what}");
            assert_eq!(run.text(), "You said: hello gateway", "{what}");
            assert!(run.usage().1 > 0, "{what}");
        }
    }
    let _ = demo.kill();
    let _ = demo.wait();
}

/// Anthropic's `count_tokens`: passed to an Anthropic provider when there is one; answered
/// from the gateway's own estimate (and said to be one) when only OpenAI-format providers serve.
#[tokio::test]
async fn count_tokens_from_the_provider_or_estimated() {
    let oai = FakeLlm::start("oai").await;
    let claude = FakeLlm::start("claude").await;
    let body = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "How many tokens are in this sentence, roughly?"}]
    });
    let http = reqwest::Client::new();
    for (kind, provider) in [("openaiCompatible", &oai), ("anthropic", &claude)] {
        let url = match kind {
            "anthropic" => provider.base(),
            _ => provider.v1(),
        };
        let ai = format!(
            "    groups:\n    - providers:\n      - {{ name: p, {kind}: {{ url: \"{url}\" }} }}\n"
        );
        let gw = Gateway::start(&config(&ai)).await;
        let resp = http
            .post(gw.url("/llm/v1/messages/count_tokens"))
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200, "{kind}");
        let estimated = resp.headers().get("x-switchboard-token-count").is_some();
        let counted: Value = resp.json().await.expect("json");
        let n = counted["input_tokens"].as_u64().unwrap_or(0);
        match kind {
            "anthropic" => {
                assert!(!estimated, "the provider counted");
                let asked = provider.requests();
                assert!(
                    asked
                        .iter()
                        .any(|r| r.path() == "/v1/messages/count_tokens"),
                    "the provider was asked"
                );
                assert!(n > 0, "{counted}");
            }
            _ => {
                assert!(estimated, "said to be an estimate");
                assert!((10..30).contains(&n), "{counted}");
                assert!(provider.requests().is_empty(), "no provider was asked");
            }
        }
    }
}
