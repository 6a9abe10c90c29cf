//! `ai` backends with Gemini, Vertex AI and Bedrock providers end to end: the official `openai`
//! and `anthropic` Python SDKs against a Switchboard route whose providers are loopback fakes
//! speaking Gemini's wire format (`generateContent`, `streamGenerateContent?alt=sse`) and
//! Bedrock's (`converse`, `converse-stream` in binary event-stream frames).
//!
//! What is shown: each SDK gets text, a tool call, usage and the stop reason, streamed and
//! not; the provider got its own API: the model in the path (percent-encoded for Bedrock), the
//! translated body, its credential (`x-goog-api-key`, a SigV4 signature for service `bedrock`
//! in the provider's region from the gateway's environment); a tool call's result goes back in
//! the provider's terms; a Gemini `429 RESOURCE_EXHAUSTED` sends the request to the next group
//! and sets Gemini aside; tokens are metered under OpenTelemetry's provider names.

use crate::llm_common::{base, config, rate_limited_set_asides};
use e2e::llm::{run_sdk_client, FakeLlm, Reply, Sdk, SdkRunOptions, Step};
use e2e::Gateway;
use serde_json::{json, Value};

use crate::cloud_backend_auth::{check_sigv4, sha256_hex, KEY_ID, SECRET};

fn tool_reply() -> Reply {
    let mut r = Reply::with_tool(
        "Checking the weather.",
        "get_weather",
        json!({"location": "Paris"}),
    );
    r.input_tokens = 21;
    r.output_tokens = 9;
    r
}

/// Runs each SDK, streamed and not, with the tool; checks what the SDK parsed and returns the
/// four requests the provider got, in order.
async fn four_runs(gw: &Gateway, provider: &FakeLlm, what: &str) -> Vec<e2e::llm::LlmRequest> {
    let mut sent = Vec::new();
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        for stream in [false, true] {
            let mut opts = SdkRunOptions::new("client-model").with_tool();
            opts.stream = stream;
            let run = run_sdk_client(sdk, &base(sdk, gw), &opts).await;
            let what = format!(
                "{what}: {sdk:?} stream={stream}: {}\n{}\n{}",
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
            let (input, output) = run.usage();
            assert!(input > 0, "{what}");
            assert_eq!(output, 9, "{what}");
            let stop = match sdk {
                Sdk::OpenAi => "tool_calls",
                Sdk::Anthropic => "tool_use",
            };
            assert_eq!(run.stop_reason(), stop, "{what}");
            let req = provider.generations().pop().expect("the provider got it");
            // The client's key for the gateway never reaches the provider.
            assert!(req.header("x-api-key").is_empty(), "{what}");
            sent.push(req);
        }
    }
    sent
}

/// Gemini: the model in the path, the translated body, the key in `x-goog-api-key`, SSE
/// chunks read into each SDK's stream; metered as `gcp.gemini`.
#[tokio::test]
async fn gemini_serves_both_sdks() {
    let gem = FakeLlm::start("gem").await;
    gem.set_reply(tool_reply());
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: gem, gemini: {{ url: \"{}\", model: gemini-2.5-flash }}, policies: {{ backendAuth: {{ key: {{ header: x-goog-api-key, value: goog-key-1 }} }} }} }}
",
        gem.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    let sent = four_runs(&gw, &gem, "gemini").await;
    for (i, req) in sent.iter().enumerate() {
        let stream = i % 2 == 1;
        let what = format!("request {i}: {} {}", req.uri, req.json);
        if stream {
            assert_eq!(
                req.uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                "{what}"
            );
        } else {
            assert_eq!(
                req.uri, "/v1beta/models/gemini-2.5-flash:generateContent",
                "{what}"
            );
        }
        assert_eq!(req.header("x-goog-api-key"), "goog-key-1", "{what}");
        assert!(req.header("authorization").is_empty(), "{what}");
        let contents = req.json["contents"].as_array().expect("contents");
        assert_eq!(contents[0]["role"], "user", "{what}");
        assert!(contents[0]["parts"][0]["text"].is_string(), "{what}");
        assert_eq!(
            req.json["tools"][0]["functionDeclarations"][0]["name"], "get_weather",
            "{what}"
        );
        assert_eq!(
            req.json["generationConfig"]["maxOutputTokens"], 32,
            "{what}"
        );
        assert!(req.json.get("model").is_none(), "{what}");
    }
    let labels = [
        ("provider", "gem"),
        ("gen_ai_provider_name", "gcp.gemini"),
        ("gen_ai_request_model", "gemini-2.5-flash"),
        ("gen_ai_token_type", "output"),
    ];
    let metrics = gw.metrics().await;
    let sum = e2e::metric_value(&metrics, "gen_ai_client_token_usage_sum", &labels);
    assert_eq!(sum, Some(36.0), "{metrics}");
}

/// A loopback stand-in for a Google Cloud machine's metadata server: it hands out
/// `ya29.meta-N` access tokens to requests that carry `Metadata-Flavor: Google`, and counts
/// them.
async fn metadata_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let app = axum::Router::new().route(
        "/computeMetadata/v1/instance/service-accounts/default/token",
        axum::routing::get(move |headers: http::HeaderMap| {
            let count = count.clone();
            async move {
                if headers.get("metadata-flavor").map(|v| v.as_bytes()) != Some(b"Google") {
                    return (
                        http::StatusCode::FORBIDDEN,
                        "no Metadata-Flavor".to_string(),
                    );
                }
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let body = json!({"access_token": format!("ya29.meta-{n}"),
                    "expires_in": 3599, "token_type": "Bearer"});
                (http::StatusCode::OK, body.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (host, served)
}

/// Vertex AI: the same body under the project's path, with a `gcp` access token (here from
/// a loopback metadata server); the client's model name goes on when neither `models` nor the
/// provider names one.
#[tokio::test]
async fn vertex_puts_the_project_location_and_model_in_the_path() {
    let vx = FakeLlm::start("vx").await;
    let (metadata, tokens) = metadata_server().await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: vx, vertex: {{ project: proj-1, location: us-central1, url: \"{}\" }}, policies: {{ backendAuth: {{ gcp: {{}} }} }} }}
",
        vx.base()
    );
    let no_gcloud = tempfile::tempdir().expect("tempdir");
    let env = [
        ("GCE_METADATA_HOST", metadata),
        ("GOOGLE_APPLICATION_CREDENTIALS", String::new()),
        (
            "CLOUDSDK_CONFIG",
            no_gcloud.path().to_string_lossy().into_owned(),
        ),
    ];
    let gw = Gateway::start_with_env(&config(&ai), |_| {}, &env).await;
    for (sdk, stream) in [(Sdk::OpenAi, true), (Sdk::Anthropic, false)] {
        let mut opts = SdkRunOptions::new("gemini-2.5-pro");
        opts.stream = stream;
        let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await;
        let what = format!("{}\n{}", run.summary, gw.stderr());
        assert!(run.success, "{what}");
        assert_eq!(run.text(), "Hello from the fake provider.", "{what}");
        let req = vx.generations().pop().expect("the provider got it");
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        assert_eq!(
            req.uri,
            format!(
                "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-pro:{method}"
            )
        );
        assert_eq!(req.header("authorization"), "Bearer ya29.meta-1");
        assert!(req.json["contents"].is_array(), "{}", req.json);
    }
    assert_eq!(
        tokens.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one token for both requests"
    );
}

/// Bedrock: the model id percent-encoded in the path, the Converse body, a SigV4 signature
/// for service `bedrock` in the provider's region with the keys of the gateway's environment,
/// the binary event stream read into each SDK's stream; metered as `aws.bedrock`.
#[tokio::test]
async fn bedrock_serves_both_sdks_signed() {
    let br = FakeLlm::start("br").await;
    br.set_reply(tool_reply());
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: br, bedrock: {{ region: us-west-2, url: \"{}\", model: \"anthropic.claude-3-haiku-20240307-v1:0\" }}, policies: {{ backendAuth: {{ aws: {{}} }} }} }}
",
        br.base()
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("AWS_REGION", "eu-central-1".to_owned()),
    ];
    let gw = Gateway::start_with_env(&config(&ai), |_| {}, &env).await;
    let sent = four_runs(&gw, &br, "bedrock").await;
    for (i, req) in sent.iter().enumerate() {
        let stream = i % 2 == 1;
        let what = format!("request {i}: {} {}", req.uri, req.json);
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        assert_eq!(
            req.uri,
            format!("/model/anthropic.claude-3-haiku-20240307-v1%3A0/{op}"),
            "{what}"
        );
        // The signature verifies as Bedrock checks it: over the path as received, encoded
        // once more in the canonical request (`%3A` as `%253A`), and the body's hash; for
        // service `bedrock` in the provider's region, not the environment's.
        let scope = check_sigv4(
            &req.method,
            &req.uri.replace('%', "%25"),
            &req.headers,
            SECRET,
            &sha256_hex(&req.body),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            scope.ends_with("/us-west-2/bedrock/aws4_request"),
            "{scope}"
        );
        let accept = if stream {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        assert_eq!(req.header("accept"), accept, "{what}");
        assert_eq!(req.json["messages"][0]["role"], "user", "{what}");
        assert!(
            req.json["messages"][0]["content"][0]["text"].is_string(),
            "{what}"
        );
        assert_eq!(
            req.json["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather",
            "{what}"
        );
        assert_eq!(req.json["inferenceConfig"]["maxTokens"], 32, "{what}");
    }
    let labels = [
        ("provider", "br"),
        ("gen_ai_provider_name", "aws.bedrock"),
        ("gen_ai_token_type", "output"),
    ];
    let metrics = gw.metrics().await;
    let sum = e2e::metric_value(&metrics, "gen_ai_client_token_usage_sum", &labels);
    assert_eq!(sum, Some(36.0), "{metrics}");
}

/// A tool call's result goes back in the provider's terms: Gemini gets a `functionResponse`
/// named after the call (looked up by the call's id), Bedrock a `toolResult` with the
/// `toolUseId`.
#[tokio::test]
async fn tool_results_go_back_in_the_providers_terms() {
    let gem = FakeLlm::start("gem").await;
    let br = FakeLlm::start("br").await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: gem, weight: 0, gemini: {{ url: \"{}\" }} }}
      - {{ name: br, weight: 0, bedrock: {{ region: us-east-1, url: \"{}\" }}, policies: {{ backendAuth: {{ aws: {{ accessKeyId: AKID, secretAccessKey: S }} }} }} }}
    models:
    - {{ name: gemini-2.5-flash, provider: gem }}
    - {{ name: nova, provider: br, model: \"amazon.nova-lite-v1:0\" }}
",
        gem.base(),
        br.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    let http = reqwest::Client::new();
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}});
    // OpenAI client to Gemini.
    let body = json!({"model": "gemini-2.5-flash", "tools": [tool], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}
    ]});
    let resp = http
        .post(gw.url("/llm/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Hello from the fake provider.",
        "{answer}"
    );
    let req = gem.generations().pop().expect("gemini got it");
    let contents = &req.json["contents"];
    assert_eq!(contents[1]["role"], "model", "{contents}");
    assert_eq!(
        contents[1]["parts"][0]["functionCall"]["name"], "get_weather",
        "{contents}"
    );
    let response = &contents[2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "get_weather", "{contents}");
    assert!(response.to_string().contains("sunny, 21C"), "{contents}");
    // Anthropic client to Bedrock.
    let body = json!({"model": "nova", "max_tokens": 50,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
            "input": {"location": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
            "content": "sunny, 21C"}]}
    ]});
    let resp = http
        .post(gw.url("/llm/v1/messages"))
        .json(&body)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(
        answer["content"][0]["text"], "Hello from the fake provider.",
        "{answer}"
    );
    let req = br.generations().pop().expect("bedrock got it");
    assert_eq!(req.uri, "/model/amazon.nova-lite-v1%3A0/converse");
    let messages = &req.json["messages"];
    assert_eq!(
        messages[1]["content"][0]["toolUse"]["toolUseId"], "toolu_1",
        "{messages}"
    );
    let result = &messages[2]["content"][0]["toolResult"];
    assert_eq!(result["toolUseId"], "toolu_1", "{messages}");
    assert!(result.to_string().contains("sunny, 21C"), "{messages}");
}

/// Gemini's `429 RESOURCE_EXHAUSTED` sends the request to the second group (Anthropic here)
/// and sets Gemini aside: the next request goes straight to the second group.
#[tokio::test]
async fn a_gemini_429_fails_over_to_the_next_group() {
    let gem = FakeLlm::start("gem").await;
    let claude = FakeLlm::start("claude").await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: gem, gemini: {{ url: \"{}\", model: gemini-2.5-flash }} }}
    - providers:
      - {{ name: claude, anthropic: {{ url: \"{}\", model: claude-haiku-4-5 }} }}
",
        gem.base(),
        claude.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    gem.script([Step::RateLimited {
        retry_after: Some("30".into()),
    }]);
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let opts = SdkRunOptions::new("m").streamed();
        let run = run_sdk_client(sdk, &base(sdk, &gw), &opts).await.ok();
        assert_eq!(run.text(), "Hello from the fake provider.");
    }
    assert_eq!(
        gem.generations().len(),
        1,
        "gemini is set aside after its 429"
    );
    assert_eq!(claude.generations().len(), 2);
    let set_aside = rate_limited_set_asides(&gw, "gem").await;
    assert_eq!(set_aside, 1.0);
}

/// Bedrock's `429 ThrottlingException` does the same: the next group answers (Gemini here,
/// so a Bedrock client-to-Gemini failover crosses two translations).
#[tokio::test]
async fn a_bedrock_throttling_exception_fails_over_to_the_next_group() {
    let br = FakeLlm::start("br").await;
    let gem = FakeLlm::start("gem").await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: br, bedrock: {{ region: us-east-1, url: \"{}\", model: \"amazon.nova-lite-v1:0\" }}, policies: {{ backendAuth: {{ aws: {{ accessKeyId: AKID, secretAccessKey: S }} }} }} }}
    - providers:
      - {{ name: gem, gemini: {{ url: \"{}\", model: gemini-2.5-flash }} }}
",
        br.base(),
        gem.base()
    );
    let gw = Gateway::start(&config(&ai)).await;
    br.script([Step::RateLimited { retry_after: None }]);
    for sdk in [Sdk::Anthropic, Sdk::OpenAi] {
        let run = run_sdk_client(sdk, &base(sdk, &gw), &SdkRunOptions::new("m"))
            .await
            .ok();
        assert_eq!(run.text(), "Hello from the fake provider.");
    }
    assert_eq!(
        br.generations().len(),
        1,
        "bedrock is set aside after its 429"
    );
    assert_eq!(gem.generations().len(), 2);
    let set_aside = rate_limited_set_asides(&gw, "br").await;
    assert_eq!(set_aside, 1.0);
}

/// Claude on Vertex AI (`publisher: anthropic`): the Messages body with `anthropic_version`
/// and without `model`, under the project's `rawPredict` / `streamRawPredict` path with a `gcp`
/// token; both SDKs, streamed and not (the OpenAI one translated).
#[tokio::test]
async fn vertex_serves_claude_models_through_raw_predict() {
    let vx = FakeLlm::start("vxc").await;
    vx.set_reply(tool_reply());
    let (metadata, _tokens) = metadata_server().await;
    let ai = format!(
        "    groups:
    - providers:
      - {{ name: claude, vertex: {{ project: proj-2, location: us-east5, publisher: anthropic, model: \"claude-sonnet-4-5@20250929\", url: \"{}\" }}, policies: {{ backendAuth: {{ gcp: {{}} }} }} }}
",
        vx.base()
    );
    let no_gcloud = tempfile::tempdir().expect("tempdir");
    let env = [
        ("GCE_METADATA_HOST", metadata),
        ("GOOGLE_APPLICATION_CREDENTIALS", String::new()),
        (
            "CLOUDSDK_CONFIG",
            no_gcloud.path().to_string_lossy().into_owned(),
        ),
    ];
    let gw = Gateway::start_with_env(&config(&ai), |_| {}, &env).await;
    let sent = four_runs(&gw, &vx, "vertex claude").await;
    for (req, stream) in sent.iter().zip([false, true, false, true]) {
        let method = if stream {
            "streamRawPredict"
        } else {
            "rawPredict"
        };
        assert_eq!(
            req.uri,
            format!(
                "/v1/projects/proj-2/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:{method}"
            )
        );
        assert_eq!(
            req.json["anthropic_version"], "vertex-2023-10-16",
            "{}",
            req.json
        );
        assert!(req.json.get("model").is_none(), "{}", req.json);
        assert_eq!(req.json["tools"][0]["name"], "get_weather", "{}", req.json);
        assert_eq!(req.header("authorization"), "Bearer ya29.meta-1");
    }
}
