//! `inferencePool` backends with an endpoint picker (EPP) over Envoy `ext_proc`: the Gateway
//! API Inference Extension's conformance scenarios, against three loopback model servers
//! (recording upstreams that answer with their name) and the tests' conformance-style picker
//! ([`e2e::epp::TestPicker`]).

use e2e::epp::{Answer, TestPicker, SELECTION_HEADER, SERVED_HEADER, SHED_HEADER};
use e2e::{client, fill, refused_port, routes_config, Gateway, Upstream};

use crate::STEP;

/// One route `r` to the backend `pool`.
const ONE_POOL_ROUTE: &str = r#"
- name: r
  backends: [{ backend: pool }]
"#;

/// Three model servers `a`, `b`, `c`.
async fn servers() -> [Upstream; 3] {
    [
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("c").await,
    ]
}

/// A gateway whose route `r` goes to the pool `pool` written as `pool_yaml` (the value of
/// `inferencePool:`, on one line), with `{a}`, `{b}`, `{c}` and `{epp}` filled.
async fn gateway(pool_yaml: &str, vars: &[(&str, String)], route_policies: &str) -> Gateway {
    let routes = if route_policies.is_empty() {
        ONE_POOL_ROUTE.to_string()
    } else {
        format!("{ONE_POOL_ROUTE}  policies: {route_policies}\n")
    };
    let config = format!(
        "{}backends:\n- name: pool\n  inferencePool: {pool_yaml}\n",
        routes_config(&routes)
    );
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Gateway::start(&fill(&config, &vars)).await
}

fn vars(s: &[Upstream; 3], epp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("a", s[0].host()),
        ("b", s[1].host()),
        ("c", s[2].host()),
        ("epp", epp.to_string()),
    ]
}

/// A request with the conformance picker's selection header (and `extra` headers).
async fn send(
    gw: &Gateway,
    selection: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> reqwest::Response {
    let c = client();
    let mut rb = match body {
        Some(b) => c.post(gw.url("/v1/completions")).body(b.to_string()),
        None => c.get(gw.url("/v1/models")),
    };
    rb = rb.header(SELECTION_HEADER, selection);
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    tokio::time::timeout(STEP, rb.send())
        .await
        .expect("request timed out")
        .expect("request failed")
}

async fn text(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

const POOL: &str = r#"{ endpoints: ["{a}", "{b}", "{c}"], endpointPicker: { host: "{epp}" } }"#;

/// GatewayFollowingEPPRouting: each request goes where the picker says; the picker is sent
/// the headers (not ending the stream when a body follows), the body, and the pool as the
/// subset hint; the upstream gets the picker's `x-gateway-destination-endpoint`.
#[tokio::test]
async fn the_gateway_follows_the_pickers_choice() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let gw = gateway(POOL, &vars(&s, &epp.host()), "").await;
    for (i, name) in ["b", "c", "a", "c"].into_iter().enumerate() {
        let host = &s[(name.as_bytes()[0] - b'a') as usize].host();
        let body = format!("{{\"model\":\"m\",\"prompt\":\"{i}\"}}");
        let (status, text) = text(send(&gw, host, &[], Some(&body)).await).await;
        assert_eq!(
            (status, text.as_str()),
            (200, name),
            "request {i} to {host}"
        );
        let last = s[(name.as_bytes()[0] - b'a') as usize].last();
        assert_eq!(last.body.as_deref(), Some(body.as_bytes()));
        assert_eq!(last.header("x-gateway-destination-endpoint"), *host);
    }
    let (status, text) = text(send(&gw, &s[1].host(), &[], None).await).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "b"),
        "a request without a body"
    );

    let seen = epp.seen();
    assert_eq!(seen.len(), 5, "one ext_proc stream per request");
    let first = &seen[0];
    assert!(!first.headers_ended_stream, "a body follows the headers");
    assert_eq!(first.body, br#"{"model":"m","prompt":"0"}"#);
    assert_eq!(first.header(":method"), Some("POST"));
    assert_eq!(first.header(":path"), Some("/v1/completions"));
    assert_eq!(first.header(SELECTION_HEADER), Some(s[1].host().as_str()));
    let pool: Vec<String> = s.iter().map(Upstream::host).collect();
    assert_eq!(
        first.subset.as_ref(),
        Some(&pool),
        "the subset hint is the pool"
    );
    assert!(
        seen[4].headers_ended_stream,
        "no body: the headers end the stream"
    );
    assert_eq!(s[0].hits() + s[1].hits() + s[2].hits(), 5);

    let picked = gw
        .metric(
            "switchboard_inference_pool_picks_total",
            &[("pool", "pool"), ("outcome", "picked")],
        )
        .await;
    assert_eq!(picked, Some(5.0));
    // The access line names the endpoint that served.
    let wanted = format!("endpoint=\"{}\"", s[2].host());
    let found = e2e::eventually(STEP, || async { gw.stderr().contains(&wanted) }).await;
    assert!(found, "no {wanted} in the access log:\n{}", gw.stderr());
}

/// GatewayFollowingEPPRouting with data parallelism: one address, several ports
/// (`targetPorts`), each its own endpoint.
#[tokio::test]
async fn several_ports_on_one_address() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let ports: Vec<String> = s.iter().map(|u| u.addr.port().to_string()).collect();
    let pool = format!(
        r#"{{ endpoints: ["127.0.0.1"], targetPorts: [{}], endpointPicker: {{ host: "{{epp}}" }} }}"#,
        ports.join(", ")
    );
    let gw = gateway(&pool, &vars(&s, &epp.host()), "").await;
    for (i, name) in ["c", "a", "b"].into_iter().enumerate() {
        let (status, text) = text(
            send(
                &gw,
                &s[(name.as_bytes()[0] - b'a') as usize].host(),
                &[],
                None,
            )
            .await,
        )
        .await;
        assert_eq!((status, text.as_str()), (200, name), "request {i}");
    }
    let pool: Vec<String> = s.iter().map(Upstream::host).collect();
    assert_eq!(epp.seen()[0].subset.as_ref(), Some(&pool));
}

/// GatewayDestinationEndpointServed: the endpoint that served reaches the picker on the
/// response, and the picker's response header comes back to the client.
#[tokio::test]
async fn the_served_endpoint_is_reported() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let gw = gateway(POOL, &vars(&s, &epp.host()), "").await;
    let r = send(&gw, &s[2].host(), &[], Some("{}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get(SERVED_HEADER).and_then(|v| v.to_str().ok()),
        Some(s[2].host().as_str())
    );
    assert_eq!(epp.seen()[0].served.as_deref(), Some(s[2].host().as_str()));
}

/// EppUnAvailableFailOpen: with the picker unreachable, FailOpen still serves (from the
/// pool, counted); FailClose answers 503.
#[tokio::test]
async fn an_unavailable_picker_fails_open_or_closed() {
    let s = servers().await;
    let (dead, _hold) = refused_port();
    let dead = format!("127.0.0.1:{dead}");
    let open = r#"{ endpoints: ["{a}", "{b}", "{c}"], endpointPicker: { host: "{epp}", failureMode: FailOpen, timeout: 2s } }"#;
    let gw = gateway(open, &vars(&s, &dead), "").await;
    for _ in 0..6 {
        let (status, text) = text(send(&gw, &s[0].host(), &[], Some("{}")).await).await;
        assert_eq!(status, 200, "{text}");
        assert!(["a", "b", "c"].contains(&text.as_str()), "{text}");
    }
    let failed_open = gw
        .metric(
            "switchboard_inference_pool_fail_open_total",
            &[("pool", "pool")],
        )
        .await;
    assert_eq!(failed_open, Some(6.0));

    let close =
        r#"{ endpoints: ["{a}", "{b}", "{c}"], endpointPicker: { host: "{epp}", timeout: 2s } }"#;
    let gw = gateway(close, &vars(&s, &dead), "").await;
    let (status, text) = text(send(&gw, &s[0].host(), &[], Some("{}")).await).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("inferencePool pool"), "{text}");
    assert_eq!(
        s[0].hits() + s[1].hits() + s[2].hits(),
        6,
        "FailClose sent nothing upstream"
    );
}

/// GatewayWeightedAcrossTwoInferencePools: 200 requests over two pools weighted 70/30, each
/// with its own picker. The count of pool A is Binomial(200, 0.7): mean 140, standard
/// deviation 6.5; the test accepts 140 ± 32 (about 5 standard deviations: a false failure
/// about once in two million runs).
#[tokio::test]
async fn weighted_split_across_two_pools() {
    let s = servers().await;
    let epp_a = TestPicker::start().await;
    let epp_b = TestPicker::start().await;
    let routes = r#"
- name: r
  backends: [{ backend: pool-a, weight: 70 }, { backend: pool-b, weight: 30 }]
"#;
    let config = format!(
        "{}backends:\n\
         - name: pool-a\n  inferencePool: {{ endpoints: [\"{{a}}\"], endpointPicker: {{ host: \"{{epa}}\" }} }}\n\
         - name: pool-b\n  inferencePool: {{ endpoints: [\"{{b}}\"], endpointPicker: {{ host: \"{{epb}}\" }} }}\n",
        routes_config(routes)
    );
    let vars = [
        ("a".to_string(), s[0].host()),
        ("b".to_string(), s[1].host()),
        ("epa".to_string(), epp_a.host()),
        ("epb".to_string(), epp_b.host()),
    ];
    let gw = Gateway::start(&fill(&config, &vars)).await;
    // Each pool's picker keeps, of the two, the endpoint in its pool's subset hint.
    let both = format!("{},{}", s[0].host(), s[1].host());
    let mut a = 0;
    for _ in 0..200 {
        let (status, text) = text(send(&gw, &both, &[], None).await).await;
        assert_eq!(status, 200, "{text}");
        match text.as_str() {
            "a" => a += 1,
            "b" => {}
            other => panic!("unexpected server {other}"),
        }
    }
    assert!(
        (108..=172).contains(&a),
        "pool A served {a} of 200 (expected 140 ± 32)"
    );
    assert_eq!(
        epp_a.seen().len(),
        a,
        "pool A's requests asked pool A's picker"
    );
    assert_eq!(epp_b.seen().len(), 200 - a);
}

/// The subset hint is honoured: the picker keeps only the pool's endpoints, and answers 503
/// (relayed as it is) when none of those asked for is in the pool.
#[tokio::test]
async fn the_subset_hint_is_honoured_and_an_empty_subset_is_503() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let pool = r#"{ endpoints: ["{a}", "{b}"], endpointPicker: { host: "{epp}" } }"#;
    let gw = gateway(pool, &vars(&s, &epp.host()), "").await;
    let both = format!("{},{}", s[2].host(), s[1].host());
    let (status, text1) = text(send(&gw, &both, &[], None).await).await;
    assert_eq!(
        (status, text1.as_str()),
        (200, "b"),
        "c is outside the pool"
    );
    let r = send(&gw, &s[2].host(), &[], None).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()
            .get("x-test-picker")
            .and_then(|v| v.to_str().ok()),
        Some("immediate"),
        "the picker's own answer"
    );
    assert_eq!(r.text().await.unwrap(), "no eligible endpoint");
    assert_eq!(s[2].hits(), 0);
}

/// A picker shedding load (429) is relayed to the client, and nothing goes upstream.
#[tokio::test]
async fn shedding_429_is_relayed() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let gw = gateway(POOL, &vars(&s, &epp.host()), "").await;
    let (status, body) =
        text(send(&gw, &s[0].host(), &[(SHED_HEADER, "true")], Some("{}")).await).await;
    assert_eq!((status, body.as_str()), (429, "shed by the test picker"));
    epp.set_shed(true);
    let (status, _) = text(send(&gw, &s[0].host(), &[], None).await).await;
    assert_eq!(status, 429);
    assert_eq!(s[0].hits(), 0);
    let answered = gw
        .metric(
            "switchboard_inference_pool_picks_total",
            &[("pool", "pool"), ("outcome", "answered")],
        )
        .await;
    assert_eq!(answered, Some(2.0));
}

/// `destinationMode: validated` refuses an endpoint outside the pool (a picker that ignores
/// the subset hint); `passthrough` sends it there.
#[tokio::test]
async fn validated_refuses_an_endpoint_outside_the_pool() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    epp.set_ignore_subset(true);
    let validated = r#"{ endpoints: ["{a}", "{b}"], endpointPicker: { host: "{epp}" } }"#;
    let gw = gateway(validated, &vars(&s, &epp.host()), "").await;
    let (status, text1) = text(send(&gw, &s[2].host(), &[], None).await).await;
    assert_eq!(status, 503, "{text1}");
    assert!(text1.contains("outside the pool"), "{text1}");
    assert_eq!(s[2].hits(), 0);
    let refused = gw
        .metric(
            "switchboard_inference_pool_picks_total",
            &[("pool", "pool"), ("outcome", "refused")],
        )
        .await;
    assert_eq!(refused, Some(1.0));

    let passthrough = r#"{ endpoints: ["{a}", "{b}"], destinationMode: passthrough, endpointPicker: { host: "{epp}" } }"#;
    let gw = gateway(passthrough, &vars(&s, &epp.host()), "").await;
    let (status, text2) = text(send(&gw, &s[2].host(), &[], None).await).await;
    assert_eq!((status, text2.as_str()), (200, "c"));
}

/// A retry walks the picker's list: the first endpoint refuses connections, the second
/// serves, and is the one reported as served.
#[tokio::test]
async fn a_retry_walks_the_pickers_list() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let (dead, _hold) = refused_port();
    let dead = format!("127.0.0.1:{dead}");
    let pool = r#"{ endpoints: ["{dead}", "{a}", "{b}"], endpointPicker: { host: "{epp}" } }"#;
    let mut v = vars(&s, &epp.host());
    v.push(("dead", dead.clone()));
    let gw = gateway(pool, &v, "{ retry: { attempts: 1 } }").await;
    let r = send(
        &gw,
        &format!("{dead},{}", s[1].host()),
        &[],
        Some("{\"x\":1}"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get(SERVED_HEADER).and_then(|v| v.to_str().ok()),
        Some(s[1].host().as_str())
    );
    assert_eq!(r.text().await.unwrap(), "b");
    assert_eq!(s[1].last().body.as_deref(), Some(&b"{\"x\":1}"[..]));
    assert_eq!(
        epp.seen()[0].picked.as_deref(),
        Some(format!("{dead},{}", s[1].host()).as_str())
    );
}

/// The choice is read from the header mutation alone, or the dynamic metadata alone; when
/// the two differ, the metadata wins.
#[tokio::test]
async fn the_choice_comes_from_the_header_or_the_metadata_and_the_metadata_wins() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let gw = gateway(POOL, &vars(&s, &epp.host()), "").await;
    epp.set_answer(Answer::HeaderOnly);
    let (status, t) = text(send(&gw, &s[1].host(), &[], None).await).await;
    assert_eq!((status, t.as_str()), (200, "b"), "header only");
    epp.set_answer(Answer::MetadataOnly);
    let (status, t) = text(send(&gw, &s[2].host(), &[], Some("{}")).await).await;
    assert_eq!((status, t.as_str()), (200, "c"), "metadata only");
    epp.set_answer(Answer::HeaderSays(s[0].host()));
    let (status, t) = text(send(&gw, &s[2].host(), &[], None).await).await;
    assert_eq!(
        (status, t.as_str()),
        (200, "c"),
        "the metadata wins over the header"
    );
    assert_eq!(s[0].hits(), 0);
}

/// A picker whose gRPC health says it is not serving is skipped without being asked
/// (FailOpen serves from the pool), and asked again once it serves.
#[tokio::test]
async fn a_picker_reported_not_serving_is_skipped() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    epp.set_serving(false).await;
    let open = r#"{ endpoints: ["{a}", "{b}", "{c}"], endpointPicker: { host: "{epp}", failureMode: FailOpen } }"#;
    let gw = gateway(open, &vars(&s, &epp.host()), "").await;
    // The first pick starts the health checks; picks fail open once the first check is in.
    let skipped = e2e::eventually(STEP, || async {
        let (status, _) = text(send(&gw, &s[1].host(), &[], None).await).await;
        assert_eq!(status, 200);
        gw.metric(
            "switchboard_inference_pool_fail_open_total",
            &[("pool", "pool")],
        )
        .await
        .is_some()
    })
    .await;
    assert!(skipped, "the unhealthy picker was never skipped");
    let asked = epp.seen().len();
    for _ in 0..5 {
        let (status, t) = text(send(&gw, &s[1].host(), &[], None).await).await;
        assert_eq!(status, 200, "{t}");
    }
    assert_eq!(
        epp.seen().len(),
        asked,
        "a picker reported down is not asked"
    );

    epp.set_serving(true).await;
    let back = e2e::eventually(STEP, || async {
        let (status, _) = text(send(&gw, &s[1].host(), &[], None).await).await;
        status == 200 && epp.seen().len() > asked
    })
    .await;
    assert!(
        back,
        "the picker was not asked again after it reported serving"
    );
}

/// An `inferencePool` as a provider of an `ai` backend: the client's call (OpenAI or
/// Anthropic) is made an OpenAI chat completion and sent to the model server the picker
/// chooses; a picker shedding load reaches the client as a 429 in its API's format.
#[tokio::test]
async fn an_ai_backend_with_an_inference_pool_provider() {
    let m1 = e2e::llm::FakeLlm::start("m1").await;
    let m2 = e2e::llm::FakeLlm::start("m2").await;
    let epp = TestPicker::start().await;
    let ai = r#"    groups:
    - providers:
      - name: pool
        inferencePool: { endpoints: ["{m1}", "{m2}"], endpointPicker: { host: "{epp}" } }
"#;
    let vars = [
        ("m1".to_string(), m1.host()),
        ("m2".to_string(), m2.host()),
        ("epp".to_string(), epp.host()),
    ];
    let gw = Gateway::start(&fill(&crate::llm_common::config(ai), &vars)).await;
    let c = client();
    let chat =
        serde_json::json!({"model": "smol", "messages": [{"role": "user", "content": "hi"}]});
    let r = c
        .post(gw.url("/llm/v1/chat/completions"))
        .header(SELECTION_HEADER, m2.host())
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the fake provider."
    );
    assert_eq!(m2.requests().len(), 1);
    assert!(m1.requests().is_empty());
    assert_eq!(m2.requests()[0].path(), "/v1/chat/completions");
    assert_eq!(m2.requests()[0].json["model"], "smol");
    let wanted = format!("endpoint=\"{}\"", m2.host());
    let logged = e2e::eventually(STEP, || async { gw.stderr().contains(&wanted) }).await;
    assert!(logged, "no {wanted} in the access log:\n{}", gw.stderr());

    // An Anthropic client, translated; the picker sees the body the model server gets.
    let msg = serde_json::json!({"model": "smol", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let r = c
        .post(gw.url("/llm/v1/messages"))
        .header(SELECTION_HEADER, m1.host())
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "Hello from the fake provider.");
    assert_eq!(m1.requests().len(), 1);
    assert_eq!(m1.requests()[0].path(), "/v1/chat/completions");
    let seen = epp.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, m1.requests()[0].body.to_vec());
    assert_eq!(seen[1].served.as_deref(), Some(m1.host().as_str()));

    // Shedding: the client gets a 429 in OpenAI's error format.
    let r = c
        .post(gw.url("/llm/v1/chat/completions"))
        .header(SELECTION_HEADER, m2.host())
        .header(SHED_HEADER, "true")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    assert_eq!(m2.requests().len(), 1, "nothing went upstream");
}

/// `backendAuth` is for the model servers: the picker never sees the credential.
#[tokio::test]
async fn the_backend_credential_reaches_the_model_server_not_the_picker() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    let gw = gateway(
        POOL,
        &vars(&s, &epp.host()),
        "{ backendAuth: { key: sekret } }",
    )
    .await;
    let (status, t) = text(send(&gw, &s[1].host(), &[], Some("{}")).await).await;
    assert_eq!((status, t.as_str()), (200, "b"));
    assert_eq!(s[1].last().header("authorization"), "Bearer sekret");
    let seen = &epp.seen()[0];
    assert!(
        seen.headers.iter().all(|(_, v)| !v.contains("sekret")),
        "the picker saw the credential: {:?}",
        seen.headers
    );
}

/// A picker that never answers: the pick timeout ends the wait; FailOpen then serves from the
/// pool, FailClose answers 503.
#[tokio::test]
async fn a_hung_picker_times_out_into_the_failure_mode() {
    let s = servers().await;
    let epp = TestPicker::start().await;
    epp.set_stall(true);
    let open = r#"{ endpoints: ["{a}"], endpointPicker: { host: "{epp}", failureMode: FailOpen, timeout: 300ms } }"#;
    let gw = gateway(open, &vars(&s, &epp.host()), "").await;
    let (status, t) = text(send(&gw, &s[0].host(), &[], Some("{}")).await).await;
    assert_eq!((status, t.as_str()), (200, "a"));
    let fail_open = gw
        .metric(
            "switchboard_inference_pool_fail_open_total",
            &[("pool", "pool")],
        )
        .await;
    assert_eq!(fail_open, Some(1.0));
    let logged = e2e::eventually(STEP, || async {
        gw.stderr().contains("did not answer within")
    })
    .await;
    assert!(logged, "no warning about the hung picker:\n{}", gw.stderr());

    let close = r#"{ endpoints: ["{a}"], endpointPicker: { host: "{epp}", timeout: 300ms } }"#;
    let gw = gateway(close, &vars(&s, &epp.host()), "").await;
    let (status, t) = text(send(&gw, &s[0].host(), &[], Some("{}")).await).await;
    assert_eq!(status, 503, "{t}");
    assert!(t.contains("did not answer within"), "{t}");
    assert_eq!(s[0].hits(), 1, "FailClose sent nothing upstream");
}
