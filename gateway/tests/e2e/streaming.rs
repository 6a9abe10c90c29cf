//! Streaming both ways: responses are not buffered, request bodies stream to the upstream.

use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::client;
use futures_util::StreamExt;

use crate::{one_route, post, slow_chunked};

#[tokio::test]
async fn sse_events_arrive_as_sent() {
    let (_up, gw) = one_route().await;
    let start = Instant::now();
    let r = client()
        .get(gw.url("/events?sse=5&interval_ms=300"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream();
    let mut got = Vec::new();
    let mut first_at = None;
    tokio::time::timeout(crate::STEP, async {
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
            if first_at.is_none() && got.windows(2).any(|w| w == b"\n\n") {
                first_at = Some(start.elapsed());
            }
        }
    })
    .await
    .expect("stream did not end");
    let total = start.elapsed();
    let first = first_at.expect("no event");
    let expected: String = (0..5).map(|i| format!("data: {i}\n\n")).collect();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    assert!(
        total >= Duration::from_millis(1200),
        "the upstream takes 1.2 s; took {total:?}"
    );
    assert!(
        first < Duration::from_millis(900),
        "first event after {first:?}: the response was buffered"
    );
}

#[tokio::test]
async fn chunked_upload_arrives_intact() {
    let (up, gw) = one_route().await;
    let chunks: Vec<Bytes> = (0..8u8)
        .map(|i| Bytes::from(vec![b'a' + i; 64 * 1024]))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let body = slow_chunked(chunks, Duration::from_millis(30));
    let (status, echoed) = post(&client(), &gw.url("/upload?echo=1"), body).await;
    assert_eq!(status, 200);
    assert_eq!(echoed.len(), expected.len());
    assert!(echoed[..] == expected[..], "echoed body differs");
    let seen = up.last();
    assert_eq!(seen.body.as_deref().map(<[u8]>::len), Some(expected.len()));
    assert!(
        seen.body.as_deref() == Some(&expected[..]),
        "the upstream got a different body"
    );
}
