//! Malformed requests and oversized bodies.

use std::time::Duration;

use bytes::Bytes;
use e2e::{client, raw_exchange, raw_status, routes_config, with_settings, Gateway, Upstream};

use crate::{chunked, get, one_route, post, slow_chunked, start_with_up};

const ROUTES: &str = r#"
- name: small
  matches: [{ path: { prefix: /small } }]
  policies: { maxRequestBody: 1KiB }
  backends: [{ host: "{up}" }]
- name: small-retry
  matches: [{ path: { prefix: /buffered } }]
  policies: { maxRequestBody: 1KiB, retry: { attempts: 1 } }
  backends: [{ host: "{up}" }]
- name: default
  backends: [{ host: "{up}" }]
"#;

async fn start() -> (Upstream, Gateway) {
    start_with_up(&with_settings(
        "maxRequestBody: 2KiB",
        &routes_config(ROUTES),
    ))
    .await
}

/// Sends only the head of `POST path` declaring a `Content-Length: len` body and asserts that
/// the gateway answers 413 at once.
async fn assert_declared_length_refused(gw: &Gateway, path: &str, len: usize) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {len}\r\n\r\n",
        gw.port()
    );
    let resp = raw_exchange(gw.addr(), head.as_bytes(), Duration::from_secs(2)).await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let (up, gw) = start().await;
    let cases: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET /x HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a\r\nx-bad: a\x01b\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a\r\nbad name: v\r\n\r\n",
    ];
    for case in cases {
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            raw_exchange(gw.addr(), case, Duration::from_secs(3)),
        )
        .await
        .expect("bounded");
        assert_eq!(
            raw_status(&resp),
            Some(400),
            "{:?} -> {resp:?}",
            String::from_utf8_lossy(case)
        );
    }
    assert_eq!(up.arrivals(), 0);
    // The gateway is still healthy.
    assert_eq!(get(&client(), &gw.url("/x")).await.0, 200);
}

#[tokio::test]
async fn content_length_over_the_limit_is_413_without_contacting_the_upstream() {
    let (up, gw) = start().await;
    let c = client();
    for (path, len, status, why) in [
        ("/small", 1025, 413, "over the route's limit"),
        ("/small", 1024, 200, "exactly at the limit is accepted"),
        // The process-wide limit (config.maxRequestBody) applies to routes without their own.
        ("/big", 3000, 413, "over the process-wide limit"),
        ("/big", 2000, 200, "under the process-wide limit"),
    ] {
        let (got, _) = post(&c, &gw.url(path), vec![b'x'; len]).await;
        assert_eq!(got, status, "POST {path} with {len} bytes: {why}");
    }
    assert_eq!(
        up.arrivals(),
        2,
        "an over-limit request reached the upstream"
    );
    // A Content-Length over the limit is refused before the body is even sent.
    assert_declared_length_refused(&gw, "/small", 1000000).await;
    assert_eq!(up.arrivals(), 2);
}

#[tokio::test]
async fn default_limit_is_4mib() {
    let (up, gw) = one_route().await;
    assert_declared_length_refused(&gw, "/x", (4 << 20) + 1).await;
    let (status, body) = post(&client(), &gw.url("/x?echo=1"), vec![b'y'; 4 << 20]).await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 4 << 20);
    assert_eq!(up.arrivals(), 1);
}

#[tokio::test]
async fn chunked_body_over_the_limit_never_reaches_the_upstream_whole() {
    let (up, gw) = start().await;
    let chunks: Vec<Bytes> = (0..8).map(|_| Bytes::from(vec![b'z'; 512])).collect();
    let result = client()
        .post(gw.url("/small"))
        .body(slow_chunked(chunks, Duration::from_millis(20)))
        .send()
        .await;
    match &result {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => eprintln!("connection closed instead of 413: {e}"),
    }
    // Give the upstream time to record whatever it got.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for r in up.requests() {
        if let Some(b) = &r.body {
            assert!(
                b.len() <= 1024,
                "the upstream got a complete {}-byte body over the 1KiB limit",
                b.len()
            );
        }
    }
    // Under the limit, chunked is fine.
    let (status, body) = post(&client(), &gw.url("/small?echo=1"), chunked(2, b'k', 400)).await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 800);
}

#[tokio::test]
async fn chunked_body_over_the_limit_on_a_buffering_route_is_413() {
    let (up, gw) = start().await;
    // Retries buffer the body first, so the upstream is never contacted.
    let (status, _) = post(&client(), &gw.url("/buffered"), chunked(4, b'q', 512)).await;
    assert_eq!(status, 413);
    assert_eq!(up.arrivals(), 0);
    // A fresh client: the refused request's connection may be closed.
    let (status, body) = post(
        &client(),
        &gw.url("/buffered?echo=1"),
        chunked(2, b'q', 500),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 1000);
}
