//! Proxy basics: forwarding headers, hop-by-hop hygiene, HTTP/2, TLS, upstream failures.

use std::time::Duration;

use e2e::{
    bind, client, fill, raw_exchange, raw_status, routes_config, self_signed, ClosingServer,
    Gateway, Upstream,
};

use crate::{assert_metric, get, get_with, one_route, with_hosts, ONE_ROUTE};

#[tokio::test]
async fn forwarding_headers_query_and_traceparent() {
    let (up, gw) = one_route().await;
    let c = client();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let url = gw.url("/p/a%20b?x=1&y=two%20words&x=3");
    let r = get_with(&c, &url, &[("traceparent", tp)]).await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(
        seen.uri, "/p/a%20b?x=1&y=two%20words&x=3",
        "path and query pass unchanged"
    );
    assert_eq!(seen.header("x-forwarded-for"), "127.0.0.1");
    assert_eq!(seen.header("x-forwarded-proto"), "http");
    assert_eq!(
        seen.header("x-forwarded-host"),
        format!("127.0.0.1:{}", gw.port())
    );
    assert_eq!(
        seen.header("traceparent"),
        tp,
        "traceparent must pass unchanged with tracing off"
    );

    let headers = [("x-forwarded-for", "10.0.0.1"), ("host", "front.test")];
    let r = get_with(&c, &gw.url("/p"), &headers).await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("x-forwarded-for"), "10.0.0.1, 127.0.0.1");
    assert_eq!(seen.header("x-forwarded-host"), "front.test");
    assert_eq!(seen.header("host"), "front.test");
}

/// Prior hops arriving on several `X-Forwarded-For` lines (each maybe a comma list) all reach
/// the upstream, in order, in one header ending with the client.
#[tokio::test]
async fn forwarded_for_keeps_every_prior_line() {
    let (up, gw) = one_route().await;
    let req = format!(
        "GET /xff HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Forwarded-For: 203.0.113.1, 203.0.113.2\r\nx-keep: 1\r\nX-Forwarded-For: 198.51.100.3\r\nConnection: close\r\n\r\n",
        gw.port()
    );
    let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    let seen = up.last();
    let xff: Vec<_> = seen.headers.get_all("x-forwarded-for").iter().collect();
    assert_eq!(
        xff,
        ["203.0.113.1, 203.0.113.2, 198.51.100.3, 127.0.0.1"],
        "{:?}",
        seen.headers
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let (up, gw) = one_route().await;
    let req = format!(
        "GET /hop HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close, x-foo\r\nx-foo: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nx-keep: 1\r\n\r\n",
        gw.port()
    );
    let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), Some(200), "{resp}");
    let seen = up.last();
    assert_eq!(seen.header("x-keep"), "1");
    for h in ["x-foo", "keep-alive", "proxy-connection", "te"] {
        assert!(
            seen.headers.get(h).is_none(),
            "{h} was forwarded: {:?}",
            seen.headers
        );
    }
    assert!(
        !seen
            .header("connection")
            .to_ascii_lowercase()
            .contains("x-foo"),
        "the client's Connection header was forwarded: {:?}",
        seen.headers
    );
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (up, gw) = one_route().await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for _ in 0..3 {
        let r = c
            .post(gw.url("/h2?echo=1"))
            .body("over h2")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.text().await.unwrap(), "over h2");
    }
    assert_eq!(up.hits(), 3);
    assert_eq!(
        up.last().header("x-forwarded-host"),
        format!("127.0.0.1:{}", gw.port())
    );
}

#[tokio::test]
async fn https_listener_http1_and_h2() {
    let up = Upstream::start("up").await;
    let (cert, key) = self_signed();
    let listener = "name: tls\nprotocol: HTTPS\ntls: { cert: cert.pem, key: key.pem }";
    let cfg = format!("binds:\n{}", bind("port", &[(listener, ONE_ROUTE)]));
    let cert_for_files = (cert.clone(), key);
    let gw = Gateway::start_with(
        &with_hosts(&cfg, &["up"], std::slice::from_ref(&up)),
        move |dir| {
            std::fs::write(dir.join("cert.pem"), &cert_for_files.0).unwrap();
            std::fs::write(dir.join("key.pem"), &cert_for_files.1).unwrap();
        },
    )
    .await;
    let root = reqwest::Certificate::from_pem(cert.as_bytes()).unwrap();
    let url = format!("https://localhost:{}/tls?echo=1", gw.port());
    let base = || {
        reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(root.clone())
            .resolve("localhost", gw.addr())
    };
    let h1 = base().http1_only().build().unwrap();
    let r = h1.post(&url).body("secret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "secret");
    assert_eq!(up.last().header("x-forwarded-proto"), "https");

    let h2 = base().build().unwrap();
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN must offer h2");

    // Plain HTTP on the TLS port is not served.
    let plain = raw_exchange(
        gw.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_ne!(raw_status(&plain), Some(200), "{plain}");
}

/// Requests on one client connection share one upstream connection: the upstream pool gets
/// it back when a response ends, a streamed (SSE) response included.
#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let (up, gw) = one_route().await;
    let c = client();
    for i in 0..4 {
        let (status, body) = get(&c, &gw.url(&format!("/seq/{i}"))).await;
        assert_eq!((status, body.as_str()), (200, "up"));
    }
    let (status, body) = get(&c, &gw.url("/events?sse=2&interval_ms=10")).await;
    assert_eq!((status, body.as_str()), (200, "data: 0\n\ndata: 1\n\n"));
    let (status, _) = get(&c, &gw.url("/after-the-stream")).await;
    assert_eq!(status, 200);
    assert_eq!(up.hits(), 6);
    assert_eq!(
        up.connections(),
        1,
        "every request after the first reused it"
    );
}

#[tokio::test]
async fn upstream_failures_are_502() {
    let closing = ClosingServer::start().await;
    let (dead, _dead_socket) = e2e::refused_port();
    let cfg = routes_config(
        r#"
- name: reset
  matches: [{ path: { prefix: /reset } }]
  backends: [{ host: "{closing}" }]
- name: dead
  matches: [{ path: { prefix: /dead } }]
  backends: [{ host: "127.0.0.1:{dead}" }]
"#,
    );
    let cfg = fill(
        &cfg,
        &[
            ("closing".into(), closing.addr.to_string()),
            ("dead".into(), dead.to_string()),
        ],
    );
    let gw = Gateway::start(&cfg).await;
    let c = client();
    let (status, body) = get(&c, &gw.url("/reset")).await;
    assert_eq!(status, 502, "{body}");
    let (status, body) = get(&c, &gw.url("/dead")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("cannot connect"), "{body}");
    let m = gw.metrics().await;
    for (name, labels) in [
        (
            "switchboard_upstream_errors_total",
            [("route", "main/dead"), ("kind", "connect")],
        ),
        (
            "switchboard_upstream_errors_total",
            [("route", "main/reset"), ("kind", "reset")],
        ),
        (
            "switchboard_requests_total",
            [("route", "main/dead"), ("status", "502")],
        ),
    ] {
        assert_metric(&m, name, &labels, Some(1.0));
    }
}
