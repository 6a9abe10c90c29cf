//! Cancellation and in-flight bookkeeping of the Streamable HTTP front end, end
//! to end on loopback: a reqwest client, the front end served by axum on
//! 127.0.0.1, and a real rmcp target served over Streamable HTTP on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{http_server, Fixture, WAIT};
use futures_util::StreamExt as _;
use mcp_mux::http::{HttpFront, HttpFrontConfig};
use mcp_mux::{Multiplexer, MuxStats, Target};
use serde_json::json;

/// A front end over one target, served on loopback.
struct Front {
    url: String,
    front: Arc<HttpFront>,
    stats: Arc<MuxStats>,
    client: reqwest::Client,
}

impl Front {
    async fn start(fixture: Fixture) -> Self {
        let target = http_server(fixture).await;
        let stats = Arc::new(MuxStats::default());
        let mux = Multiplexer::builder()
            .target(Target::http("slow", target).expect("target"))
            .metrics(stats.clone())
            .build()
            .expect("build");
        let front =
            Arc::new(HttpFront::new(mux, HttpFrontConfig::default()).expect("system RNG works"));
        let served = front.clone();
        let app = axum::Router::new().route(
            "/mcp",
            axum::routing::any(move |req: axum::extract::Request| {
                let front = served.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
                        let mut r = http::Response::new(axum::body::Body::empty());
                        *r.status_mut() = http::StatusCode::BAD_REQUEST;
                        return r;
                    };
                    front
                        .serve(http::Request::from_parts(parts, bytes))
                        .await
                        .map(axum::body::Body::new)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            url: format!("http://{addr}/mcp"),
            front,
            stats,
            client,
        }
    }

    fn post(&self, session: Option<&str>, body: serde_json::Value) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .timeout(WAIT)
            .body(body.to_string());
        if let Some(s) = session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        req
    }

    /// A legacy (2025-06-18) session.
    async fn initialize(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "cancel-test", "version": "1"}}});
        let resp = self.post(None, init).send().await.expect("initialize");
        assert_eq!(resp.status(), 200);
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_owned();
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = self
            .post(Some(&session), done)
            .send()
            .await
            .expect("initialized");
        assert_eq!(resp.status(), 202);
        session
    }

    /// Waits (bounded) until `done` holds.
    async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what} (in flight: {}, gauge: {})",
                self.front.calls_in_flight(),
                self.stats.calls_in_flight()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn idle(&self) -> bool {
        self.front.calls_in_flight() == 0 && self.stats.calls_in_flight() == 0
    }
}

fn call(id: i64, tool: &str, progress: bool) -> serde_json::Value {
    let mut params = json!({"name": tool, "arguments": {}});
    if progress {
        params["_meta"] = json!({"progressToken": format!("p{id}")});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

type Events = std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>>>;

/// Reads `resp`'s SSE stream until it has carried a progress notification.
async fn read_until_progress(resp: reqwest::Response) -> Events {
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream"),
        "the response turned into a stream at the first notification"
    );
    let mut stream: Events = Box::pin(resp.bytes_stream());
    let mut seen = String::new();
    while !seen.contains("notifications/progress") {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("a progress event in time")
            .expect("the stream goes on")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    stream
}

/// A `notifications/cancelled` sent after the call's response has begun streaming (its first
/// progress event) reaches the target: the tool's cancellation token fires. The call's entry
/// lives until then, and goes with the call.
#[tokio::test]
async fn cancelling_a_call_whose_response_is_streaming_reaches_the_target() {
    let fixture = Fixture::new("slow", &["progress_sleep"]);
    let cancelled = fixture.cancelled.clone();
    let f = Front::start(fixture).await;
    let session = f.initialize().await;
    let resp = f
        .post(Some(&session), call(7, "progress_sleep", true))
        .send()
        .await
        .expect("call");
    let mut stream = read_until_progress(resp).await;
    assert_eq!(
        (f.front.calls_in_flight(), f.stats.calls_in_flight()),
        (1, 1),
        "the streaming call is still in flight"
    );
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 7, "reason": "the user gave up"}});
    let resp = f.post(Some(&session), cancel).send().await.expect("cancel");
    assert_eq!(resp.status(), 202);
    f.until("the target saw the cancellation", |_| {
        cancelled.load(Ordering::SeqCst)
    })
    .await;
    f.until("nothing is in flight", Front::idle).await;
    // The cancelled call's response ends rather than hanging open.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = stream.next().await {
            let _ = chunk;
        }
    })
    .await;
    assert!(ended.is_ok(), "the cancelled call's stream ended");
}

/// A client that leaves before the response begins cancels its call, and leaves no entry
/// behind; one that leaves after it began (a resumable stream, so not a cancellation) keeps
/// its call running to its end, and then nothing is left either.
#[tokio::test]
async fn calls_abandoned_before_and_after_the_response_starts_leave_nothing_behind() {
    let fixture = Fixture::new("slow", &["sleep", "progress_brief"]);
    let (cancelled, sleeping) = (fixture.cancelled.clone(), fixture.sleeping.clone());
    let f = Front::start(fixture).await;
    let session = f.initialize().await;

    // Before: the client gives up while the tool runs, with no response yet.
    let pending = tokio::spawn(f.post(Some(&session), call(1, "sleep", false)).send());
    f.until("the call runs at the target", |f| {
        sleeping.load(Ordering::SeqCst) == 1
            && f.front.calls_in_flight() == 1
            && f.stats.calls_in_flight() == 1
    })
    .await;
    pending.abort();
    let _ = pending.await;
    f.until("the target saw the cancellation", |_| {
        cancelled.load(Ordering::SeqCst)
    })
    .await;
    f.until("nothing is in flight after the early leave", Front::idle)
        .await;

    // After: the client reads the first progress event, then goes away.
    let resp = f
        .post(Some(&session), call(2, "progress_brief", true))
        .send()
        .await
        .expect("call");
    let stream = read_until_progress(resp).await;
    assert_eq!(
        (f.front.calls_in_flight(), f.stats.calls_in_flight()),
        (1, 1),
        "the call runs on after its first notification"
    );
    // Leaving a resumable stream is not a cancellation: the call ends on its own, after BRIEF.
    drop(stream);
    f.until("nothing is in flight after the late leave", Front::idle)
        .await;
}
