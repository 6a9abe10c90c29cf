//! `promptGuard` end to end, with the official Python SDKs against routes to `ai` backends
//! whose providers are the fake loopback providers, and a loopback guard webhook.
//!
//! What is shown: a prompt with a card number refused with 400 in each client's format
//! (naming the guard, not the number), while a random 16-digit number passes (Luhn); a
//! masked prompt reaching the provider masked, a clean one byte for byte; a streamed answer
//! whose e-mail address is split across events masked for both SDKs (translated and not), and
//! a card number in a stream ending it with an error the SDK raises; the webhook's reject,
//! mask, failOpen and failClosed; the decisions counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use e2e::llm::{run_sdk_client, FakeLlm, Reply, Sdk, SdkRunOptions};
use e2e::Gateway;
use serde_json::{json, Value};

/// Routes `/{name}` to `ai` backends, each with its `promptGuard` (YAML flow mappings).
fn config(provider: &str, routes: &[(&str, &str)]) -> String {
    let mut out = "binds:
- port: {port}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
"
    .to_string();
    for (name, guard) in routes {
        out.push_str(&format!(
            "    - name: {name}
      matches: [{{ path: {{ prefix: /{name} }} }}]
      policies: {{ promptGuard: {guard} }}
      backends: [{{ backend: llm }}]
"
        ));
    }
    out.push_str(&format!(
        "backends:
- name: llm
  ai:
    groups:
    - providers:
      - {provider}
"
    ));
    out
}

fn openai_provider(p: &FakeLlm) -> String {
    format!("{{ name: p, openaiCompatible: {{ url: \"{}\" }} }}", p.v1())
}

fn anthropic_provider(p: &FakeLlm) -> String {
    format!("{{ name: p, anthropic: {{ url: \"{}\" }} }}", p.base())
}

fn base(sdk: Sdk, gw: &Gateway, route: &str) -> String {
    match sdk {
        Sdk::OpenAi => gw.url(&format!("/{route}/v1")),
        Sdk::Anthropic => gw.url(&format!("/{route}")),
    }
}

/// The text the provider got from the client (the first user message), in either API.
fn sent_text(req: &e2e::llm::LlmRequest) -> String {
    let messages = req.json["messages"].as_array().expect("messages");
    let user = messages
        .iter()
        .find(|m| m["role"] == "user")
        .expect("a user message");
    match &user["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        other => panic!("content {other}"),
    }
}

/// A card number in a prompt is refused in each client's format with a message naming the
/// guard; a 16-digit number that fails Luhn passes.
#[tokio::test]
async fn a_card_number_is_refused_in_each_client_format() {
    let p = FakeLlm::start("p").await;
    let gw = Gateway::start(&config(
        &openai_provider(&p),
        &[(
            "llm",
            "{ request: { regex: { builtins: [creditCard, email] } } }",
        )],
    ))
    .await;
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let mut opts = SdkRunOptions::new("m");
        opts.prompt = "Charge my card 4111 1111 1111 1111 please.".into();
        let run = run_sdk_client(sdk, &base(sdk, &gw, "llm"), &opts).await;
        let what = format!("{sdk:?}: {}\n{}", run.summary, gw.stderr());
        assert!(!run.success, "{what}");
        let err = run.error().expect("an error");
        assert_eq!(err["status"], 400, "{what}");
        assert_eq!(err["class"], "BadRequestError", "{what}");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("creditCard"), "{what}");
        assert!(!message.contains("4111 1111"), "{what}");
    }
    assert!(p.generations().is_empty(), "nothing reached the provider");
    // The raw bodies: each API's own error object.
    let http = reqwest::Client::new();
    let card = "pay with 4242-4242-4242-4242";
    let resp = http
        .post(gw.url("/llm/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": card}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let resp = http
        .post(gw.url("/llm/v1/messages"))
        .json(&json!({"model": "m", "max_tokens": 5, "system": card,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("creditCard"));
    // A random 16-digit number (not Luhn-valid) is not a card.
    let mut opts = SdkRunOptions::new("m");
    opts.prompt = "Where is order 1234567812345678?".into();
    let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw, "llm"), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");
    assert_eq!(p.generations().len(), 1);
    let rejected = gw
        .metric_or_zero(
            "switchboard_ai_guard_decisions_total",
            &[
                ("route", "main/llm"),
                ("guard", "creditCard"),
                ("action", "reject"),
                ("direction", "request"),
            ],
        )
        .await;
    assert_eq!(rejected, 4.0);
    // Logged, without the number.
    let logs = gw.stderr();
    assert!(
        logs.contains("promptGuard rejected an LLM request"),
        "{logs}"
    );
    // (The whole numbers: four digits alone can be part of a client's port.)
    assert!(
        !logs.contains("4111 1111") && !logs.contains("4242-4242"),
        "{logs}"
    );
}

/// `mask`: the provider gets the prompt with placeholders (through either SDK, translated
/// or not), every other member of the body as it was; a prompt with nothing to mask goes
/// through exactly as on a route without the guard.
#[tokio::test]
async fn a_masked_prompt_reaches_the_provider_masked() {
    let p = FakeLlm::start("p").await;
    let gw = Gateway::start(&config(
        &openai_provider(&p),
        &[
            (
                "llm",
                "{ request: { regex: { action: mask, builtins: [email, usSsn], \
                 patterns: [{ name: ticket, pattern: \"TICKET-[0-9]+\", replacement: \"[ticket]\" }] } } }",
            ),
            ("plain", "{}"),
        ],
    ))
    .await;
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let mut opts = SdkRunOptions::new("m");
        opts.prompt = "I am jane.doe@example.com, SSN 123-45-6789, about TICKET-991.".into();
        let run = run_sdk_client(sdk, &base(sdk, &gw, "llm"), &opts)
            .await
            .ok();
        assert_eq!(run.text(), "Hello from the fake provider.");
        let sent = p.generations().pop().expect("the provider got it");
        assert_eq!(
            sent_text(&sent),
            "I am <EMAIL>, SSN <SSN>, about [ticket].",
            "{sdk:?}"
        );
    }
    let send = |route: &'static str, body: &'static [u8]| {
        let url = gw.url(&format!("/{route}/v1/chat/completions"));
        let p = &p;
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .expect("answer");
            assert_eq!(resp.status(), 200);
            p.generations().pop().expect("the provider got it").body
        }
    };
    let clean = br#"{"model": "m",   "messages":[{"role":"user","content":"nothing to see"}], "temperature":0.50, "x_unknown": {"b":1,"a":2}}"#;
    assert_eq!(send("llm", clean).await, send("plain", clean).await);
    let secret = br#"{"model": "m", "messages":[{"role":"user","content":"mail a@b.io"}], "temperature":0.50, "x_unknown": {"b":1,"a":2}}"#;
    let sent = String::from_utf8(send("llm", secret).await.to_vec()).unwrap();
    assert!(sent.contains(r#""content":"mail <EMAIL>""#), "{sent}");
    assert!(sent.contains(r#""temperature":0.50"#), "{sent}");
    assert!(sent.contains(r#""x_unknown":{"b":1,"a":2}"#), "{sent}");
    let masked = gw
        .metric_or_zero(
            "switchboard_ai_guard_decisions_total",
            &[
                ("guard", "email"),
                ("action", "mask"),
                ("direction", "request"),
            ],
        )
        .await;
    assert_eq!(masked, 3.0);
}

/// A streamed answer whose e-mail address arrives split across events reaches each SDK
/// masked, from a provider of either API; so does a complete answer.
#[tokio::test]
async fn a_streamed_address_split_across_events_is_masked() {
    let text = "Write to jane.doe@example.com for help.";
    let mut reply = Reply {
        text: text.into(),
        ..Reply::default()
    };
    reply.token_chars = 4; // "Writ", "e to", " jan", "e.do", "e@ex", ...
    for kind in ["openai", "anthropic"] {
        let p = FakeLlm::start("p").await;
        p.set_reply(reply.clone());
        let provider = match kind {
            "openai" => openai_provider(&p),
            _ => anthropic_provider(&p),
        };
        let gw = Gateway::start(&config(
            &provider,
            &[(
                "llm",
                "{ response: { regex: { action: mask, builtins: [email] } } }",
            )],
        ))
        .await;
        for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
            for stream in [true, false] {
                let mut opts = SdkRunOptions::new("m");
                opts.stream = stream;
                let run = run_sdk_client(sdk, &base(sdk, &gw, "llm"), &opts).await;
                let what = format!(
                    "{sdk:?} from {kind} stream={stream}: {}\n{}",
                    run.summary,
                    gw.stderr()
                );
                assert!(run.success, "{what}");
                assert_eq!(run.text(), "Write to <EMAIL> for help.", "{what}");
            }
        }
        let masked = gw
            .metric_or_zero(
                "switchboard_ai_guard_decisions_total",
                &[
                    ("guard", "email"),
                    ("action", "mask"),
                    ("direction", "response"),
                ],
            )
            .await;
        assert_eq!(masked, 4.0, "{kind}");
    }
}

/// `reject` on responses: a stream whose card number arrives split ends with an error event
/// that each SDK raises; the text before the number arrived, the number never did.
#[tokio::test]
async fn a_card_number_in_a_stream_ends_it_with_an_error() {
    let mut reply = Reply {
        text: "Your card is 4111 1111 1111 1111, keep it safe.".into(),
        ..Reply::default()
    };
    reply.token_chars = 5;
    let p = FakeLlm::start("p").await;
    p.set_reply(reply);
    let gw = Gateway::start(&config(
        &openai_provider(&p),
        &[("llm", "{ response: { regex: { builtins: [creditCard] } } }")],
    ))
    .await;
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let opts = SdkRunOptions::new("m").streamed();
        let run = run_sdk_client(sdk, &base(sdk, &gw, "llm"), &opts).await;
        let what = format!("{sdk:?}: {}\n{}", run.summary, gw.stderr());
        assert!(!run.success, "{what}");
        let err = run.error().expect("an error");
        assert!(
            err["message"].as_str().unwrap().contains("creditCard"),
            "{what}"
        );
        assert!(!run.summary.to_string().contains("4111 1111"), "{what}");
        assert!(run.text().starts_with("Your card is"), "{what}");
    }
    let stream_errors = gw
        .metric_or_zero(
            "switchboard_ai_stream_errors_total",
            &[("result", "guard_rejected")],
        )
        .await;
    assert_eq!(stream_errors, 2.0);
}

/// What the loopback webhook does.
#[derive(Clone, Debug)]
enum Hook {
    Allow,
    Reject(&'static str),
    /// Replaces "secret" by "[redacted]" in each text.
    Mask,
    /// Answers after this long.
    Slow(Duration),
    /// Answers 500.
    Broken,
}

#[derive(Clone)]
struct HookState {
    mode: Arc<Mutex<Hook>>,
    calls: Arc<Mutex<Vec<Value>>>,
}

async fn hook(State(s): State<HookState>, Json(call): Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    s.calls.lock().unwrap().push(call.clone());
    let mode = s.mode.lock().unwrap().clone();
    match mode {
        Hook::Allow => Json(json!({"action": "allow"})).into_response(),
        Hook::Reject(reason) => Json(json!({"action": "reject", "reason": reason})).into_response(),
        Hook::Mask => {
            let texts: Vec<String> = call["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().replace("secret", "[redacted]"))
                .collect();
            Json(json!({"action": "mask", "texts": texts})).into_response()
        }
        Hook::Slow(d) => {
            tokio::time::sleep(d).await;
            Json(json!({"action": "allow"})).into_response()
        }
        Hook::Broken => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The webhook guard: its reject (reason passed on), mask (the provider gets its texts) and
/// allow; when it is slow or broken, `failClosed` refuses with 503 and `failOpen` lets the
/// request through; a webhook that is down is a failure too.
#[tokio::test]
async fn the_webhook_rejects_masks_and_fails_open_or_closed() {
    let state = HookState {
        mode: Arc::new(Mutex::new(Hook::Allow)),
        calls: Arc::default(),
    };
    let app = Router::new()
        .route("/check", post(hook))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/check", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A port nothing listens on (held, so no test beside this one can take it).
    let (down_port, _held) = e2e::refused_port();
    let down = format!("http://127.0.0.1:{down_port}/check");

    let p = FakeLlm::start("p").await;
    let webhook = |url: &str, mode: &str| {
        format!(
            "{{ request: {{ webhook: {{ url: \"{url}\", timeout: 300ms, failureMode: {mode}, \
             headers: {{ authorization: \"Bearer hook-key\" }} }} }} }}"
        )
    };
    let gw = Gateway::start(&config(
        &openai_provider(&p),
        &[
            ("closed", &webhook(&hook_url, "failClosed")),
            ("open", &webhook(&hook_url, "failOpen")),
            ("down", &webhook(&down, "failOpen")),
        ],
    ))
    .await;
    let set = |h: Hook| *state.mode.lock().unwrap() = h;
    let mut opts = SdkRunOptions::new("m");
    opts.prompt = "my secret plan".into();

    // allow: the text as it was, the call as the contract says.
    let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw, "closed"), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");
    assert_eq!(sent_text(&p.generations().pop().unwrap()), "my secret plan");
    let call = state.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(call["direction"], "request");
    assert_eq!(call["route"], "main/closed");
    // The SDK script's system prompt, then the user's message.
    assert_eq!(
        call["texts"],
        json!(["You are a terse assistant.", "my secret plan"])
    );

    // reject, in each client's format, with the webhook's reason.
    set(Hook::Reject("plans are confidential"));
    let before = p.generations().len();
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let run = run_sdk_client(sdk, &base(sdk, &gw, "closed"), &opts).await;
        let what = format!("{sdk:?}: {}", run.summary);
        let err = run.error().expect("an error");
        assert_eq!(err["status"], 400, "{what}");
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("plans are confidential"),
            "{what}"
        );
    }
    assert_eq!(p.generations().len(), before);

    // mask: the provider gets the webhook's texts.
    set(Hook::Mask);
    for sdk in [Sdk::OpenAi, Sdk::Anthropic] {
        let run = run_sdk_client(sdk, &base(sdk, &gw, "closed"), &opts)
            .await
            .ok();
        assert_eq!(run.text(), "Hello from the fake provider.");
        assert_eq!(
            sent_text(&p.generations().pop().unwrap()),
            "my [redacted] plan",
            "{sdk:?}"
        );
    }

    // Slow past the timeout, then broken: failClosed refuses, failOpen passes unchanged.
    for mode in [Hook::Slow(Duration::from_secs(3)), Hook::Broken] {
        set(mode.clone());
        let run = run_sdk_client(Sdk::Anthropic, &base(Sdk::Anthropic, &gw, "closed"), &opts).await;
        let err = run.error().expect("an error");
        assert_eq!(err["status"], 503, "{mode:?}: {}", run.summary);
        let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw, "open"), &opts)
            .await
            .ok();
        assert_eq!(run.text(), "Hello from the fake provider.");
        assert_eq!(sent_text(&p.generations().pop().unwrap()), "my secret plan");
    }
    // Down: failOpen passes.
    let run = run_sdk_client(Sdk::OpenAi, &base(Sdk::OpenAi, &gw, "down"), &opts)
        .await
        .ok();
    assert_eq!(run.text(), "Hello from the fake provider.");

    let count = |route: &'static str, action: &'static str| {
        let gw = &gw;
        async move {
            gw.metric_or_zero(
                "switchboard_ai_guard_decisions_total",
                &[("route", route), ("guard", "webhook"), ("action", action)],
            )
            .await
        }
    };
    assert_eq!(count("main/closed", "allow").await, 1.0);
    assert_eq!(count("main/closed", "reject").await, 2.0);
    assert_eq!(count("main/closed", "mask").await, 2.0);
    assert_eq!(count("main/closed", "fail_closed").await, 2.0);
    assert_eq!(count("main/open", "fail_open").await, 2.0);
    assert_eq!(count("main/down", "fail_open").await, 1.0);
}

/// The gateway's own refusals on a route to an `ai` backend (a missing key, a denied rule, a
/// spent rate limit, a body over the limit) reach an LLM client as its API's error object,
/// which its SDK reads (OpenAI's `{"error": {...}}`, Anthropic's `{"type": "error", ...}`), and
/// never reach the provider; other paths of the route keep the short text.
#[tokio::test]
async fn refusals_before_the_provider_are_in_the_clients_format() {
    let p = FakeLlm::start("p").await;
    let key = "refusal-test-key-0123456789";
    let cfg = format!(
        "binds:
- port: {{port}}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: llm
      matches: [{{ path: {{ prefix: /llm }} }}]
      policies:
        apiKeyAuth: {{ keys: [{{ name: app, key: \"{key}\" }}] }}
        authorization: {{ rules: [{{ deny: '\"x-team\" in request.headers && request.headers[\"x-team\"] == \"blocked\"' }}] }}
        localRateLimit: [{{ maxTokens: 3, tokensPerFill: 3, fillInterval: 1h }}]
        maxRequestBody: 1KiB
      backends: [{{ backend: llm }}]
backends:
- name: llm
  ai:
    groups:
    - providers:
      - {}
",
        openai_provider(&p)
    );
    let gw = Gateway::start(&cfg).await;
    let c = e2e::client();
    let post = |path: &str, headers: &[(&str, &str)], body: String| {
        let mut r = c.post(gw.url(path)).body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let json_of = |text: &str| -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    };

    // No key: 401, OpenAI's error object on the OpenAI path, Anthropic's on the Messages path.
    let r = post("/llm/v1/chat/completions", &[], chat.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.headers()["content-type"], "application/json");
    let v = json_of(&r.text().await.unwrap());
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    let r = post("/llm/v1/messages", &[], chat.clone()).await.unwrap();
    assert_eq!(r.status(), 401);
    let v = json_of(&r.text().await.unwrap());
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    // A path that is no LLM API keeps the text.
    let r = post("/llm/other", &[], String::new()).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));

    // With the key: a denied rule (403) and a body over the limit (413), in the same format.
    let auth = ("x-api-key", key);
    let r = post(
        "/llm/v1/chat/completions",
        &[auth, ("x-team", "blocked")],
        chat.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let v = json_of(&r.text().await.unwrap());
    assert_eq!(v["error"]["code"], "permission_denied", "{v}");
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(4000)}]});
    let r = post("/llm/v1/messages", &[auth], big.to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v = json_of(&r.text().await.unwrap());
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "request_too_large", "{v}");

    // The rate limit (after authorization, before the body limit: the 413 took a token, the
    // 403 none): two more pass, then 429 in the format.
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..4 {
        let r = post("/llm/v1/chat/completions", &[auth], chat.clone())
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        last = r.text().await.unwrap();
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let v = json_of(&last);
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert!(
        p.requests()
            .iter()
            .all(|r| r.json["messages"][0]["content"] == "hi"),
        "a refused request reached the provider"
    );
}
