//! Malformed requests and oversized bodies.

use std::time::Duration;

use bytes::Bytes;
use e2e::{client, raw_exchange, raw_status, Gateway, Upstream};
use futures_util::StreamExt;

use crate::with_hosts;

const CONFIG: &str = r#"
config:
  maxRequestBody: 2KiB
binds:
- port: {port}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
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
    let up = Upstream::start("up").await;
    let gw = Gateway::start(&with_hosts(CONFIG, &["up"], std::slice::from_ref(&up))).await;
    (up, gw)
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
    assert_eq!(
        client().get(gw.url("/x")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn content_length_over_the_limit_is_413_without_contacting_the_upstream() {
    let (up, gw) = start().await;
    let c = client();
    let r = c
        .post(gw.url("/small"))
        .body(vec![b'x'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(gw.url("/small"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "exactly at the limit is accepted");
    // The process-wide limit (config.maxRequestBody) applies to routes without their own.
    let r = c
        .post(gw.url("/big"))
        .body(vec![b'x'; 3000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(gw.url("/big"))
        .body(vec![b'x'; 2000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.arrivals(),
        2,
        "an over-limit request reached the upstream"
    );
    // A Content-Length over the limit is refused before the body is even sent.
    let head = format!(
        "POST /small HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 1000000\r\n\r\n",
        gw.port()
    );
    let resp = raw_exchange(gw.addr(), head.as_bytes(), Duration::from_secs(2)).await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");
    assert_eq!(up.arrivals(), 2);
}

#[tokio::test]
async fn default_limit_is_4mib() {
    let up = Upstream::start("up").await;
    let cfg = r#"
binds:
- port: {port}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: r
      backends: [{ host: "{up}" }]
"#;
    let gw = Gateway::start(&with_hosts(cfg, &["up"], std::slice::from_ref(&up))).await;
    let head = format!(
        "POST /x HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\r\n",
        gw.port(),
        (4 << 20) + 1
    );
    let resp = raw_exchange(gw.addr(), head.as_bytes(), Duration::from_secs(2)).await;
    assert_eq!(raw_status(&resp), Some(413), "{resp}");
    let r = client()
        .post(gw.url("/x?echo=1"))
        .body(vec![b'y'; 4 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 4 << 20);
    assert_eq!(up.arrivals(), 1);
}

#[tokio::test]
async fn chunked_body_over_the_limit_never_reaches_the_upstream_whole() {
    let (up, gw) = start().await;
    let chunks: Vec<Bytes> = (0..8).map(|_| Bytes::from(vec![b'z'; 512])).collect();
    let stream = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, std::io::Error>(c)
    });
    let result = client()
        .post(gw.url("/small"))
        .body(reqwest::Body::wrap_stream(stream))
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
    let stream = futures_util::stream::iter(
        (0..2).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'k'; 400]))),
    );
    let r = client()
        .post(gw.url("/small?echo=1"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 800);
}

#[tokio::test]
async fn chunked_body_over_the_limit_on_a_buffering_route_is_413() {
    let (up, gw) = start().await;
    // Retries buffer the body first, so the upstream is never contacted.
    let stream = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'q'; 512]))),
    );
    let r = client()
        .post(gw.url("/buffered"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(up.arrivals(), 0);
    let stream = futures_util::stream::iter(
        (0..2).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'q'; 500]))),
    );
    let r = client()
        .post(gw.url("/buffered?echo=1"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
}
