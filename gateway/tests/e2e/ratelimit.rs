//! `localRateLimit` and `rateLimit` on the real gateway: exact counts at the bucket boundary,
//! `429` with `Retry-After` and `X-RateLimit-*`, one bucket per API key (and per client address
//! for anonymous callers), `per: tool` answered with a JSON-RPC error inside an MCP session
//! whose other tools keep working, a global limit that holds exactly across two gateway
//! processes sharing one `redis-server` under concurrent load, Redis stopped mid-test giving
//! `failOpen` / `failClosed`, and the Redis password kept out of `/config` and `/metrics`.
//!
//! Needs `redis-server` (Debian package; scripts/test.sh installs it).

/// The `redis-server` helper of the ratelimit crate's own tests (some of it unused here).
#[allow(dead_code)]
#[path = "../../../ratelimit/tests/support/mod.rs"]
mod redis_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use e2e::{client, routes_config, Gateway};
use redis_support::RedisServer;
use rmcp::model::CallToolRequestParams;
use rmcp::ServiceError;
use serde_json::{json, Value};

use crate::mcp::{call_ok, connect, serve_mcp, step, text, Remote};
use crate::{get_with, start_with_up};

/// One GET: status, `Retry-After`, `X-RateLimit-Remaining`.
async fn hit(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let r = get_with(c, url, headers).await;
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (
        r.status().as_u16(),
        h("retry-after"),
        h("x-ratelimit-remaining"),
    )
}

#[tokio::test]
async fn a_local_bucket_allows_exactly_max_tokens_then_429_with_retry_after() {
    let (up, gw) = start_with_up(&routes_config(
        r#"
- name: hour
  matches: [{ path: { prefix: /hour } }]
  policies:
    localRateLimit: [{ maxTokens: 3, tokensPerFill: 3, fillInterval: 1h }]
  backends: [{ host: "{up}" }]
- name: second
  matches: [{ path: { prefix: /second } }]
  policies:
    localRateLimit: [{ maxTokens: 2, tokensPerFill: 2, fillInterval: 2s }]
  backends: [{ host: "{up}" }]
"#,
    ))
    .await;
    let c = client();
    for left in ["2", "1", "0"] {
        let r = get_with(&c, &gw.url("/hour"), &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "3");
        assert_eq!(r.headers()["x-ratelimit-remaining"], left);
        assert!(r.headers().get("retry-after").is_none());
    }
    let r = get_with(&c, &gw.url("/hour"), &[]).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert!(r.text().await.unwrap().contains("rate limited"));
    assert_eq!(
        up.hits(),
        3,
        "the denied request did not reach the upstream"
    );

    // A two-second bucket: two, a denial that says when (the fill is under 2 s away, rounded
    // up), then two more after it.
    for _ in 0..2 {
        assert_eq!(hit(&c, &gw.url("/second"), &[]).await.0, 200);
    }
    let (status, retry, _) = hit(&c, &gw.url("/second"), &[]).await;
    assert_eq!(status, 429);
    assert!(retry == "1" || retry == "2", "Retry-After {retry}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..2 {
        assert_eq!(hit(&c, &gw.url("/second"), &[]).await.0, 200);
    }
    assert_eq!(hit(&c, &gw.url("/second"), &[]).await.0, 429);

    let m = gw.metrics().await;
    let decisions = |route: &str, result: &str| {
        e2e::metric_value(
            &m,
            "switchboard_ratelimit_decisions_total",
            &[("route", route), ("policy", "local"), ("result", result)],
        )
    };
    assert_eq!(decisions("main/hour", "allowed"), Some(3.0), "{m}");
    assert_eq!(decisions("main/hour", "denied"), Some(1.0), "{m}");
    assert_eq!(decisions("main/second", "allowed"), Some(4.0), "{m}");
    assert_eq!(decisions("main/second", "denied"), Some(2.0), "{m}");
}

#[tokio::test]
async fn per_identity_buckets_are_one_per_api_key_and_one_per_anonymous_address() {
    let (_up, gw) = start_with_up(&routes_config(
        r#"
- name: keyed
  matches: [{ path: { prefix: /keyed } }]
  policies:
    apiKeyAuth:
      keys:
      - { name: alice, key: "alice-key-0123456789" }
      - { name: bob, key: "bob-key-0123456789ab" }
    localRateLimit: [{ maxTokens: 2, tokensPerFill: 2, fillInterval: 1h, per: identity }]
  backends: [{ host: "{up}" }]
- name: open
  matches: [{ path: { prefix: /open } }]
  policies:
    localRateLimit: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1h, per: identity }]
  backends: [{ host: "{up}" }]
"#,
    ))
    .await;
    let c = client();
    let alice = [("x-api-key", "alice-key-0123456789")];
    let bob = [("x-api-key", "bob-key-0123456789ab")];
    assert_eq!(hit(&c, &gw.url("/keyed"), &alice).await.0, 200);
    assert_eq!(hit(&c, &gw.url("/keyed"), &alice).await.0, 200);
    let (status, retry, _) = hit(&c, &gw.url("/keyed"), &alice).await;
    assert_eq!(status, 429);
    assert!(!retry.is_empty());
    // Bob's bucket is his own; a request without a key is refused before it takes a token.
    assert_eq!(hit(&c, &gw.url("/keyed"), &[]).await.0, 401);
    assert_eq!(hit(&c, &gw.url("/keyed"), &bob).await.0, 200);
    assert_eq!(hit(&c, &gw.url("/keyed"), &bob).await.0, 200);
    assert_eq!(hit(&c, &gw.url("/keyed"), &bob).await.0, 429);

    // No identity: the client's address is the key (127.0.0.2 is loopback too on Linux).
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
            .build()
            .unwrap()
    };
    let (one, two) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    assert_eq!(hit(&one, &gw.url("/open"), &[]).await.0, 200);
    assert_eq!(hit(&one, &gw.url("/open"), &[]).await.0, 429);
    assert_eq!(hit(&two, &gw.url("/open"), &[]).await.0, 200);
    assert_eq!(hit(&two, &gw.url("/open"), &[]).await.0, 429);
}

#[tokio::test]
async fn an_a2a_route_answers_429_as_a_json_rpc_error() {
    let (up, gw) = start_with_up(&routes_config(
        r#"
- name: agent
  policies:
    a2a: {}
    localRateLimit: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1h }]
  backends: [{ host: "{up}" }]
"#,
    ))
    .await;
    let c = client();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t1"}});
    let send = || c.post(gw.url("/")).json(&call).send();
    let _first = step("first call", send()).await.unwrap();
    let r = step("second call", send()).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limited"),
        "{body}"
    );
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn an_mcp_tool_over_its_limit_gets_a_json_rpc_error_and_the_session_goes_on() {
    let remote = serve_mcp(Remote).await;
    let gw = Gateway::start(&format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n    - {{ name: remote, mcp: {{ url: \"{remote}\" }} }}\n",
        routes_config(
            r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  policies:
    localRateLimit: [{ maxTokens: 2, tokensPerFill: 2, fillInterval: 1h, per: tool }]
  backends: [{ backend: tools }]
"#
        )
    ))
    .await;
    let c = connect(&gw).await;
    let add = || {
        CallToolRequestParams::new("add").with_arguments(
            json!({"a": 1, "b": 2})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
    };
    for _ in 0..2 {
        let r = step("add", c.call_tool(add())).await.unwrap();
        assert_eq!(text(&r), "3");
    }
    let err = step("add, third", c.call_tool(add()))
        .await
        .expect_err("the third call is over the limit");
    match err {
        ServiceError::McpError(e) => {
            assert_eq!(e.code.0, -32029, "{e:?}");
            assert!(e.message.contains("Rate limited"), "{e:?}");
            let data = e.data.expect("data");
            assert!(
                (3590..=3600).contains(&data["retryAfter"].as_u64().unwrap()),
                "{data}"
            );
            assert_eq!(data["tool"], "add");
        }
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
    // Another tool has its own bucket, and the session still works.
    call_ok(&c, "whoami", json!({})).await;
    call_ok(&c, "whoami", json!({})).await;
    // Listing is not a call.
    step("tools/list", c.list_all_tools()).await.unwrap();
    let _ = c.cancel().await;
    let m = gw.metrics().await;
    let decisions = |result: &str| {
        e2e::metric_value(
            &m,
            "switchboard_ratelimit_decisions_total",
            &[
                ("route", "main/mcp"),
                ("policy", "local"),
                ("result", result),
            ],
        )
    };
    assert_eq!(decisions("allowed"), Some(4.0), "{m}");
    assert_eq!(decisions("denied"), Some(1.0), "{m}");
}

/// The Python SDK's client sees the same error, over Streamable HTTP and over the legacy
/// HTTP+SSE transport (whose calls are answered on the SSE stream): the per-tool bucket is the
/// tool's, whichever transport the call came by.
#[tokio::test]
async fn the_python_sdk_gets_the_rate_limit_error_over_both_transports() {
    let remote = serve_mcp(Remote).await;
    let gw = Gateway::start(&format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n    - {{ name: remote, mcp: {{ url: \"{remote}\" }} }}\n",
        routes_config(
            r#"
- name: mcp
  matches: [{ path: { prefix: /mcp } }]
  policies:
    localRateLimit: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1h, per: tool }]
  backends: [{ backend: tools }]
"#
        )
    ))
    .await;
    let limit = Duration::from_secs(40);
    let add = ("add", json!({"a": 1, "b": 2}));
    let run =
        e2e::mcp_py::run_mcp_client_with(&gw.url("/mcp"), &[add.clone(), add.clone()], limit).await;
    assert!(!run.success, "the second call is over the limit");
    assert_eq!(run.calls().len(), 1, "{}", run.stdout);
    let error = run.error().unwrap_or_else(|| panic!("{}", run.stderr));
    assert_eq!(error["code"], -32029, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("Rate limited"),
        "{error}"
    );
    let run = e2e::mcp_py::run_mcp_client_flags(
        &gw.url("/mcp/sse"),
        &["--sse"],
        &[("whoami", json!({})), add],
        limit,
    )
    .await;
    assert_eq!(run.calls().len(), 1, "whoami answered: {}", run.stdout);
    let error = run.error().unwrap_or_else(|| panic!("{}", run.stderr));
    assert_eq!(error["code"], -32029, "{error}");
}

/// A route with a global limit in `redis` (`{redis}` filled in).
fn global_config(redis: &str, routes: &str) -> String {
    routes_config(&routes.replace("{redis}", redis))
}

#[tokio::test]
async fn a_global_limit_holds_exactly_across_two_gateways_under_concurrent_load() {
    let redis = RedisServer::start();
    let config = global_config(
        &redis.url(),
        r#"
- name: shared
  policies:
    rateLimit:
      store: { redis: { url: "{redis}", timeout: 2s } }
      limits: [{ maxTokens: 25, tokensPerFill: 25, fillInterval: 1h }]
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, a) = start_with_up(&config).await;
    let b = Gateway::start(&config.replace("{up}", &up.host())).await;
    let c = client();
    // One request through each first, so both have their Redis connection before the load
    // (otherwise the faster one may take the whole budget, which is correct but shows nothing
    // about sharing); both take from the one budget of 25.
    for gw in [&a, &b] {
        let (status, _, left) = hit(&c, &gw.url("/x"), &[]).await;
        assert_eq!(status, 200);
        assert!(left == "24" || left == "23", "{left}");
    }
    let urls: Vec<String> = (0..80)
        .map(|i| if i % 2 == 0 { a.url("/x") } else { b.url("/x") })
        .collect();
    let statuses = futures_util::future::join_all(urls.iter().map(|u| {
        let c = c.clone();
        async move { hit(&c, u, &[]).await }
    }))
    .await;
    let ok = statuses.iter().filter(|s| s.0 == 200).count();
    let limited = statuses.iter().filter(|s| s.0 == 429).count();
    assert_eq!((ok, limited), (23, 57), "{statuses:?}");
    assert_eq!(up.hits(), 25);
    // Both gateways took from the one budget.
    let labels = [
        ("route", "main/shared"),
        ("policy", "global"),
        ("result", "allowed"),
    ];
    let name = "switchboard_ratelimit_decisions_total";
    let (from_a, from_b) = (
        a.metric_or_zero(name, &labels).await,
        b.metric_or_zero(name, &labels).await,
    );
    assert_eq!(from_a + from_b, 25.0);
    assert_eq!(
        a.metric_or_zero(
            "switchboard_ratelimit_store_errors_total",
            &[("result", "allowed")]
        )
        .await,
        0.0
    );
}

#[tokio::test]
async fn redis_stopped_mid_test_fails_open_or_closed_as_configured() {
    let mut redis = RedisServer::start();
    let config = global_config(
        &redis.url(),
        r#"
- name: open
  matches: [{ path: { prefix: /open } }]
  policies:
    rateLimit:
      store: { redis: { url: "{redis}", timeout: 200ms } }
      limits: [{ maxTokens: 100, tokensPerFill: 100, fillInterval: 1m }]
  backends: [{ host: "{up}" }]
- name: closed
  matches: [{ path: { prefix: /closed } }]
  policies:
    rateLimit:
      store: { redis: { url: "{redis}", timeout: 200ms } }
      failureMode: failClosed
      limits: [{ maxTokens: 100, tokensPerFill: 100, fillInterval: 1m }]
  backends: [{ host: "{up}" }]
"#,
    );
    let (_up, gw) = start_with_up(&config).await;
    let c = client();
    for path in ["/open", "/closed"] {
        let (status, _, left) = hit(&c, &gw.url(path), &[]).await;
        assert_eq!((status, left.as_str()), (200, "99"), "{path}");
    }
    redis.kill();
    for _ in 0..5 {
        let (status, _, left) = hit(&c, &gw.url("/open"), &[]).await;
        assert_eq!(status, 200, "failOpen allows");
        assert_eq!(left, "", "no numbers after a store error");
        let (status, retry, _) = hit(&c, &gw.url("/closed"), &[]).await;
        assert_eq!((status, retry.as_str()), (429, "60"), "failClosed denies");
    }
    let store = redis.url();
    let errors = |result: &'static str| {
        let (gw, store) = (&gw, store.clone());
        async move {
            gw.metric_or_zero(
                "switchboard_ratelimit_store_errors_total",
                &[("store", store.as_str()), ("result", result)],
            )
            .await
        }
    };
    assert_eq!(errors("allowed").await, 5.0);
    assert_eq!(errors("denied").await, 5.0);
    // Logged, but not once per request.
    let warnings = gw.stderr().matches("rateLimit: Redis failed").count();
    assert!((1..=2).contains(&warnings), "{warnings}\n{}", gw.stderr());

    // Back: the connection is made again by itself, and the buckets are Redis's (empty: new).
    redis.restart();
    let back = e2e::eventually(Duration::from_secs(10), || async {
        hit(&c, &gw.url("/closed"), &[]).await.0 == 200
    })
    .await;
    assert!(back, "{}", gw.stderr());
}

#[tokio::test]
async fn the_redis_password_stays_out_of_config_and_metrics() {
    let (_up, gw) = start_with_up(&routes_config(
        r#"
- name: r
  policies:
    rateLimit:
      store: { redis: { url: "redis://limiter:hunter2-secret@127.0.0.1:1/0", timeout: 50ms, keyPrefix: sb } }
      limits: [{ maxTokens: 1, tokensPerFill: 1, fillInterval: 1s }]
  backends: [{ host: "{up}" }]
"#,
    ))
    .await;
    let c = client();
    // Nothing listens there: failOpen (the default) lets the request through.
    assert_eq!(hit(&c, &gw.url("/"), &[]).await.0, 200);
    let config = c
        .get(gw.admin_url("/config"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!config.contains("hunter2"), "{config}");
    assert!(
        config.contains("redis://limiter:<redacted>@127.0.0.1:1/0"),
        "{config}"
    );
    assert!(config.contains("\"keyPrefix\":\"sb\""), "{config}");
    let m = gw.metrics().await;
    assert!(!m.contains("hunter2"), "{m}");
    assert!(!gw.stderr().contains("hunter2"), "{}", gw.stderr());
    assert!(
        m.contains("switchboard_ratelimit_store_errors_total"),
        "{m}"
    );
}

/// A route with a local limit of `max` per hour at `/limited`, and a second route whose
/// header value `marker` tells the reloaded config from the old one.
fn reload_config(up: &str, max: u32, marker: &str) -> String {
    routes_config(&format!(
        r#"
- name: limited
  matches: [{{ path: {{ prefix: /limited }} }}]
  policies:
    localRateLimit: [{{ maxTokens: {max}, tokensPerFill: {max}, fillInterval: 1h }}]
  backends: [{{ host: "{up}" }}]
- name: other
  policies:
    responseHeaderModifier: {{ set: {{ x-marker: "{marker}" }} }}
  backends: [{{ host: "{up}" }}]
"#
    ))
}

#[tokio::test]
async fn a_hot_reload_keeps_the_buckets_of_unchanged_limits() {
    let (up, gw) = start_with_up(&reload_config("{up}", 2, "one")).await;
    let c = client();
    assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 200);
    assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 200);
    assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 429);
    let reloaded = |marker: &'static str| {
        let (c, url) = (c.clone(), gw.url("/other"));
        move || {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let r = get_with(&c, &url, &[]).await;
                r.headers().get("x-marker").is_some_and(|v| v == marker)
            }
        }
    };
    // Another route changes: the limited route's bucket is the same one, still empty.
    gw.write_config(&reload_config(&up.host(), 2, "two"));
    assert!(e2e::eventually(Duration::from_secs(10), reloaded("two")).await);
    assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 429);
    // Its own limit changes: a new, full bucket.
    gw.write_config(&reload_config(&up.host(), 3, "three"));
    assert!(e2e::eventually(Duration::from_secs(10), reloaded("three")).await);
    for _ in 0..3 {
        assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 200);
    }
    assert_eq!(hit(&c, &gw.url("/limited"), &[]).await.0, 429);
}
