//! Route and backend policies.

use std::time::{Duration, Instant};

use e2e::{client, routes_config, Gateway};

use crate::{
    assert_metric, assert_requests_total, get, get_with, post, start_gateway, start_with_up,
    upstream_errors,
};

#[tokio::test]
async fn header_modifiers() {
    let cfg = routes_config(
        r#"
- name: r
  policies:
    requestHeaderModifier:
      add: { x-add: gw }
      set: { x-set: new, x-fresh: "1" }
      remove: [x-remove]
    responseHeaderModifier:
      add: { x-resp-add: "1" }
      set: { x-served-by: switchboard }
      remove: [x-upstream]
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, gw) = start_with_up(&cfg).await;
    let r = get_with(
        &client(),
        &gw.url("/x"),
        &[
            ("x-add", "client"),
            ("x-set", "old"),
            ("x-remove", "gone"),
            ("x-keep", "kept"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], "switchboard");
    assert_eq!(r.headers()["x-resp-add"], "1");
    assert!(
        r.headers().get("x-upstream").is_none(),
        "response header not removed"
    );
    let seen = up.last();
    let adds: Vec<_> = seen
        .headers
        .get_all("x-add")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(adds, ["client", "gw"], "add appends to existing values");
    assert_eq!(seen.header("x-set"), "new");
    assert_eq!(seen.headers.get_all("x-set").iter().count(), 1);
    assert_eq!(seen.header("x-fresh"), "1");
    assert!(
        seen.headers.get("x-remove").is_none(),
        "x-remove reached the upstream"
    );
    assert_eq!(seen.header("x-keep"), "kept");
}

#[tokio::test]
async fn redirects() {
    let cfg = routes_config(
        r#"
- { name: c301, matches: [{ path: { prefix: /c301 } }], policies: { requestRedirect: { statusCode: 301, path: { full: /to } } } }
- { name: c302, matches: [{ path: { prefix: /c302 } }], policies: { requestRedirect: { path: { full: /to } } } }
- { name: c303, matches: [{ path: { prefix: /c303 } }], policies: { requestRedirect: { statusCode: 303, path: { full: /to } } } }
- { name: c307, matches: [{ path: { prefix: /c307 } }], policies: { requestRedirect: { statusCode: 307, path: { full: /to } } } }
- { name: c308, matches: [{ path: { prefix: /c308 } }], policies: { requestRedirect: { statusCode: 308, path: { full: /to } } } }
- name: https
  matches: [{ path: { prefix: /secure } }]
  policies: { requestRedirect: { scheme: https } }
- name: https-port
  matches: [{ path: { prefix: /sport } }]
  policies: { requestRedirect: { scheme: https, port: 8443 } }
- name: host
  matches: [{ path: { prefix: /elsewhere } }]
  policies: { requestRedirect: { hostname: other.test, port: 9000, statusCode: 307 } }
- name: prefix
  matches: [{ path: { prefix: /old } }]
  policies: { requestRedirect: { path: { prefix: /new }, statusCode: 308 } }
- name: prefix-root
  matches: [{ path: { prefix: /strip } }]
  policies: { requestRedirect: { path: { prefix: / } } }
- name: fallback
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, gw) = start_with_up(&cfg).await;
    let c = client();
    let p = gw.port();
    let loc = |path: String| {
        let rb = c.post(gw.url(&path)).body("x");
        async move {
            let r = rb.send().await.unwrap();
            (
                r.status().as_u16(),
                r.headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
            )
        }
    };
    for code in [301, 302, 303, 307, 308] {
        assert_eq!(
            loc(format!("/c{code}/a?k=v")).await,
            (code, format!("http://127.0.0.1:{p}/to?k=v")),
            "redirect {code}"
        );
    }
    assert_eq!(
        loc("/secure/a?k=v".into()).await,
        (302, "https://127.0.0.1/secure/a?k=v".into())
    );
    assert_eq!(
        loc("/sport/a".into()).await,
        (302, "https://127.0.0.1:8443/sport/a".into())
    );
    assert_eq!(
        loc("/elsewhere/x?q=1&r=2".into()).await,
        (307, "http://other.test:9000/elsewhere/x?q=1&r=2".into())
    );
    assert_eq!(
        loc("/old/a/b?k=v".into()).await,
        (308, format!("http://127.0.0.1:{p}/new/a/b?k=v"))
    );
    assert_eq!(
        loc("/old".into()).await,
        (308, format!("http://127.0.0.1:{p}/new"))
    );
    assert_eq!(
        loc("/strip/a?z".into()).await,
        (302, format!("http://127.0.0.1:{p}/a?z"))
    );
    assert_eq!(up.hits(), 0, "a redirect must not reach the upstream");
    // The host the client asked for is kept.
    let r = get_with(&c, &gw.url("/c301"), &[("host", "gw.test:8080")]).await;
    assert_eq!(r.headers()["location"], "http://gw.test:8080/to");
}

#[tokio::test]
async fn url_rewrites() {
    let cfg = routes_config(
        r#"
- name: strip
  matches: [{ path: { prefix: /api } }]
  policies: { urlRewrite: { path: { prefix: / } } }
  backends: [{ host: "{up}" }]
- name: v2
  matches: [{ path: { prefix: /v1api/ } }]
  policies: { urlRewrite: { path: { prefix: /v2 } } }
  backends: [{ host: "{up}" }]
- name: full
  matches: [{ path: { prefix: /full } }]
  policies: { urlRewrite: { path: { full: /fixed } } }
  backends: [{ host: "{up}" }]
- name: host
  matches: [{ path: { prefix: /host } }]
  policies: { urlRewrite: { hostname: upstream.internal } }
  backends: [{ host: "{up}" }]
- name: plain
  matches: [{ path: { prefix: /plain } }]
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, gw) = start_with_up(&cfg).await;
    let c = client();
    let seen = |path: &'static str| {
        let c = c.clone();
        let url = gw.url(path);
        let up = &up;
        async move {
            assert_eq!(get(&c, &url).await.0, 200, "{url}");
            up.last()
        }
    };
    assert_eq!(seen("/api/x").await.uri, "/x");
    assert_eq!(seen("/api/x/y?q=1").await.uri, "/x/y?q=1");
    assert_eq!(seen("/api").await.uri, "/");
    assert_eq!(seen("/v1api/x").await.uri, "/v2/x");
    assert_eq!(seen("/v1api").await.uri, "/v2");
    assert_eq!(seen("/full/a/b?q=1").await.uri, "/fixed?q=1");
    let h = seen("/host/a").await;
    assert_eq!(h.uri, "/host/a");
    assert_eq!(h.header("host"), "upstream.internal");
    assert_eq!(
        h.header("x-forwarded-host"),
        format!("127.0.0.1:{}", gw.port())
    );
    let plain = seen("/plain").await;
    assert_eq!(
        plain.header("host"),
        format!("127.0.0.1:{}", gw.port()),
        "Host is kept without a rewrite"
    );
}

#[tokio::test]
async fn cors() {
    let cfg = routes_config(
        r#"
- name: r
  policies:
    cors:
      allowOrigins: ["https://app.test"]
      allowMethods: [PUT]
      allowHeaders: [x-token]
      exposeHeaders: [x-total]
      maxAge: 600
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, gw) = start_with_up(&cfg).await;
    let c = client();
    let preflight = |origin: &'static str, method: &'static str| {
        c.request(reqwest::Method::OPTIONS, gw.url("/res"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "X-Token")
            .send()
    };
    let r = preflight("https://app.test", "PUT").await.unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.test");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("x-token"));
    assert_eq!(h["access-control-max-age"], "600");

    for (origin, method) in [("https://evil.test", "PUT"), ("https://app.test", "DELETE")] {
        let r = preflight(origin, method).await.unwrap();
        assert_eq!(r.status(), 403, "preflight {origin} {method}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    assert_eq!(up.hits(), 0, "preflights are answered by the gateway");

    let r = get_with(&c, &gw.url("/res"), &[("origin", "https://app.test")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.test"
    );
    assert_eq!(r.headers()["access-control-expose-headers"], "x-total");
    let r = c.get(gw.url("/res")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = get_with(&c, &gw.url("/res"), &[("origin", "https://evil.test")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(up.hits(), 3);
}

#[tokio::test]
async fn timeouts() {
    let cfg = routes_config(
        r#"
- name: per-try
  matches: [{ path: { prefix: /try } }]
  policies: { timeout: { backendRequest: 300ms } }
  backends: [{ host: "{up}" }]
- name: whole
  matches: [{ path: { prefix: /whole } }]
  policies: { timeout: { request: 300ms } }
  backends: [{ host: "{up}" }]
"#,
    );
    let (_up, gw) = start_with_up(&cfg).await;
    let c = client();
    for (path, key) in [
        ("/try?delay_ms=2000", "timeout.backendRequest"),
        ("/whole?delay_ms=2000", "timeout.request"),
    ] {
        let t = Instant::now();
        let (status, body) = get(&c, &gw.url(path)).await;
        let took = t.elapsed();
        assert_eq!(status, 504, "{path}: {body}");
        assert!(took < Duration::from_millis(1500), "{path} took {took:?}");
        assert!(took >= Duration::from_millis(250), "{path} took {took:?}");
        assert!(body.contains(key), "{path}: {body}");
    }
    // Fast answers are unaffected.
    assert_eq!(get(&c, &gw.url("/try?delay_ms=50")).await.0, 200);
    assert_eq!(upstream_errors(&gw, "main/whole", "timeout").await, 1.0);
}

#[tokio::test]
async fn retries() {
    let cfg = routes_config(
        r#"
- name: retry
  policies: { retry: { attempts: 2, codes: [503] } }
  backends: [{ host: "{up}" }]
"#,
    );
    let (up, gw) = start_with_up(&cfg).await;
    let c = client();
    let hits = |uri: &str| up.requests().iter().filter(|r| r.uri == uri).count();

    // 503 twice, then 200.
    let (status, body) = get(&c, &gw.url("/a?fail=2")).await;
    assert_eq!((status, body.as_str()), (200, "up"));
    assert_eq!(hits("/a?fail=2"), 3);
    assert_eq!(
        gw.metric_or_zero("switchboard_retries_total", &[("route", "main/retry")])
            .await,
        2.0
    );

    // A status not in the list is not retried.
    let (status, _) = get(&c, &gw.url("/b?fail=2&fail_status=500")).await;
    assert_eq!(status, 500);
    assert_eq!(hits("/b?fail=2&fail_status=500"), 1);

    // Retries exhausted: the upstream's last answer.
    let (status, _) = get(&c, &gw.url("/c?fail=5")).await;
    assert_eq!(status, 503);
    assert_eq!(hits("/c?fail=5"), 3);

    // The body is sent again on every attempt.
    assert_eq!(post(&c, &gw.url("/d?fail=2"), "payload-123").await.0, 200);
    let bodies: Vec<_> = up
        .requests()
        .into_iter()
        .filter(|r| r.uri == "/d?fail=2")
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies.len(), 3);
    for b in bodies {
        assert_eq!(b.as_deref(), Some(&b"payload-123"[..]));
    }
}

#[tokio::test]
async fn retries_on_reset_then_502() {
    let closing = e2e::ClosingServer::start().await;
    let cfg = routes_config(
        r#"
- name: r
  policies: { retry: { attempts: 2 } }
  backends: [{ host: "{closing}" }]
"#,
    );
    let gw = Gateway::start(&e2e::fill(
        &cfg,
        &[("closing".into(), closing.addr.to_string())],
    ))
    .await;
    let (status, body) = get(&client(), &gw.url("/x")).await;
    assert_eq!(status, 502, "{body}");
    let n = closing.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n >= 3, "a reset is retried: {n} connections");
}

#[tokio::test]
async fn mirrors() {
    let names = ["main", "m100", "m0", "m50"];
    let (dead, _dead_socket) = e2e::refused_port();
    let cfg = routes_config(
        r#"
- name: all
  matches: [{ path: { prefix: /all } }]
  policies: { requestMirror: { backend: { host: "{m100}" }, percentage: 100 } }
  backends: [{ host: "{main}" }]
- name: none
  matches: [{ path: { prefix: /none } }]
  policies: { requestMirror: { backend: { host: "{m0}" }, percentage: 0 } }
  backends: [{ host: "{main}" }]
- name: half
  matches: [{ path: { prefix: /half } }]
  policies: { requestMirror: { backend: { backend: m50 }, percentage: 50 } }
  backends: [{ host: "{main}" }]
- name: dead
  matches: [{ path: { prefix: /dead } }]
  policies: { requestMirror: { backend: { host: "127.0.0.1:{dead}" } } }
  backends: [{ host: "{main}" }]
"#,
    ) + r#"backends:
- name: m50
  host: "{m50}"
"#;
    let (ups, gw) = start_gateway(&names, &cfg.replace("{dead}", &dead.to_string())).await;
    let c = client();
    let (main, m100, m0, m50) = (&ups[0], &ups[1], &ups[2], &ups[3]);

    let r = c
        .post(gw.url("/all/x?q=1"))
        .header("x-h", "v")
        .body("mirror-me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "main",
        "the main response is the main upstream's"
    );
    assert_eq!(m100.wait_hits(1, crate::STEP).await, 1);
    let copy = m100.last();
    assert_eq!(copy.method, "POST");
    assert_eq!(copy.uri, "/all/x?q=1");
    assert_eq!(copy.body.as_deref(), Some(&b"mirror-me"[..]));
    assert_eq!(copy.header("x-h"), "v");
    assert_eq!(main.last().body.as_deref(), Some(&b"mirror-me"[..]));

    for _ in 0..20 {
        assert_eq!(get(&c, &gw.url("/none")).await.0, 200);
    }
    for _ in 0..200 {
        assert_eq!(get(&c, &gw.url("/half")).await.0, 200);
    }
    // Let the fire-and-forget copies land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(m0.hits(), 0, "percentage 0 mirrored");
    let n = m50.hits();
    assert!((50..=150).contains(&n), "percentage 50 mirrored {n} of 200");

    // A dead mirror never affects the main response.
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = post(&c, &gw.url("/dead"), "x").await;
        assert_eq!(status, 200);
        assert_eq!(body, "main");
        assert!(t.elapsed() < Duration::from_secs(2));
    }
    let failed = e2e::eventually(crate::STEP, || async {
        let m = gw.metrics().await;
        let v = |r: &str| {
            e2e::metric_value(&m, "switchboard_mirror_requests_total", &[("result", r)])
                .unwrap_or(0.0)
        };
        v("error") + v("dropped") >= 5.0
    })
    .await;
    let m = gw.metrics().await;
    assert!(failed, "5 failed mirror copies must be counted: {m}");
    assert!(
        gw.metric_or_zero("switchboard_mirror_requests_total", &[("result", "ok")])
            .await
            >= 1.0 + n as f64
    );
}

#[tokio::test]
async fn backend_level_and_named_backends() {
    let names = ["inline", "named", "entry"];
    let cfg = routes_config(
        r#"
- name: inline
  matches: [{ path: { prefix: /inline } }]
  policies: { requestHeaderModifier: { set: { x-route: r } } }
  backends:
  - host: "{inline}"
    policies:
      requestHeaderModifier: { set: { x-backend: b } }
      responseHeaderModifier: { set: { x-backend-resp: b } }
- name: named
  matches: [{ path: { prefix: /named } }]
  backends: [{ backend: svc }]
- name: entry
  matches: [{ path: { prefix: /entry } }]
  backends:
  - backend: svc2
    policies: { requestHeaderModifier: { set: { x-entry: e } } }
"#,
    ) + r#"backends:
- name: svc
  host: "{named}"
  policies:
    requestHeaderModifier: { set: { x-named: "yes" } }
    urlRewrite: { path: { full: /rewritten } }
- name: svc2
  host: "{entry}"
"#;
    let (ups, gw) = start_gateway(&names, &cfg).await;
    let c = client();
    let r = c.get(gw.url("/inline")).send().await.unwrap();
    assert_eq!(r.headers()["x-backend-resp"], "b");
    let seen = ups[0].last();
    assert_eq!(seen.header("x-route"), "r");
    assert_eq!(seen.header("x-backend"), "b");

    assert_eq!(
        get(&c, &gw.url("/named/x?q=1")).await,
        (200, "named".into())
    );
    let seen = ups[1].last();
    assert_eq!(seen.header("x-named"), "yes");
    assert_eq!(seen.uri, "/rewritten?q=1");
    let m = gw.metrics().await;
    assert_requests_total(&m, "main/named", 200, 1);

    assert_eq!(get(&c, &gw.url("/entry")).await, (200, "entry".into()));
    assert_eq!(ups[2].last().header("x-entry"), "e");
}

/// A mirror whose upstream refuses connections is a failed copy (`result="error"`), not one that
/// fell behind the main request (`dropped`).
#[tokio::test]
async fn dead_mirror_is_counted_as_error() {
    let (dead, _dead_socket) = e2e::refused_port();
    let cfg = routes_config(
        r#"
- name: dead
  policies: { requestMirror: { backend: { host: "127.0.0.1:{dead}" } } }
  backends: [{ host: "{main}" }]
"#,
    );
    // The upstream is named `main`.
    let (_main, gw) = start_gateway(&["main"], &cfg.replace("{dead}", &dead.to_string())).await;
    let c = client();
    for _ in 0..10 {
        assert_eq!(post(&c, &gw.url("/dead"), "some body").await.0, 200);
    }
    let errors = gw
        .wait_metric(
            "switchboard_mirror_requests_total",
            &[("result", "error")],
            10.0,
            Duration::from_secs(5),
        )
        .await;
    let m = gw.metrics().await;
    assert_eq!(errors, 10.0, "{m}");
    assert_metric(
        &m,
        "switchboard_mirror_requests_total",
        &[("result", "dropped")],
        None,
    );
}

/// A request without a usable Host (HTTP/1.0 without one) on a redirect route must not get a
/// `Location` with an empty host (`http:///to`): either a 400 or a valid absolute URL.
#[tokio::test]
async fn redirect_without_host_is_not_malformed() {
    let cfg = routes_config(
        r#"
- name: r
  policies: { requestRedirect: { path: { full: /to } } }
"#,
    );
    let gw = Gateway::start(&cfg).await;
    let resp = e2e::raw_exchange(
        gw.addr(),
        b"GET /from HTTP/1.0\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    let status: Option<u16> = resp.get(9..12).and_then(|s| s.parse().ok());
    let location = resp
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("location: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    assert!(
        status == Some(400) || (status == Some(302) && !location.starts_with("http:///")),
        "{resp}"
    );
}
