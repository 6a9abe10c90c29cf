//! The front end when the system's random generator fails: it refuses to start
//! without a key, and refuses new sessions (HTTP 500, a JSON-RPC internal error)
//! rather than sealing them under made-up nonces or handing out guessable ids.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;

use super::session::{Rng, RngError};
use super::{HttpFront, HttpFrontConfig, Reply};
use crate::{Multiplexer, Target};

/// A target with no tools: these requests never reach one.
#[derive(Clone)]
struct Empty;
impl rmcp::ServerHandler for Empty {}

fn mux() -> Multiplexer {
    Multiplexer::builder()
        .target(Target::in_process("empty", Empty).expect("target"))
        .build()
        .expect("build")
}

/// An RNG that fails while `broken` is set.
fn switchable() -> (Rng, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let system = Rng::system();
    let rng = Rng::from_fn(move |dest| {
        if flag.load(Ordering::SeqCst) {
            return Err(RngError);
        }
        system.fill(dest)
    });
    (rng, broken)
}

async fn body_of(reply: Reply) -> serde_json::Value {
    let bytes = reply.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

fn initialize() -> Request<Bytes> {
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Bytes::from(init.to_string()))
        .expect("request")
}

#[test]
fn an_endpoint_does_not_start_when_the_rng_fails() {
    let (rng, broken) = switchable();
    broken.store(true, Ordering::SeqCst);
    let started = HttpFront::with_rng(mux(), HttpFrontConfig::default(), rng);
    assert!(
        matches!(started, Err(RngError)),
        "no random key, no endpoint"
    );
}

#[tokio::test]
async fn new_sessions_are_refused_with_500_while_the_rng_fails() {
    let (rng, broken) = switchable();
    let front =
        HttpFront::with_rng(mux(), HttpFrontConfig::default(), rng).expect("the RNG works now");
    broken.store(true, Ordering::SeqCst);

    let reply = front.serve(initialize()).await;
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.headers().get("mcp-session-id").is_none(), "no id");
    let body = body_of(reply).await;
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert_eq!(body["id"], 1, "{body}");

    let sse = Request::builder()
        .method(Method::GET)
        .uri("/mcp/sse")
        .body(Bytes::new())
        .expect("request");
    let reply = front.serve(sse).await;
    assert_eq!(
        reply.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "no legacy SSE session either"
    );

    broken.store(false, Ordering::SeqCst);
    let reply = front.serve(initialize()).await;
    assert_eq!(reply.status(), StatusCode::OK, "the RNG is back");
    let id = reply
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id");
    assert!(front.sessions.open(id).is_ok());
}
