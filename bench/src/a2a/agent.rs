//! The A2A agent under the gateway: a small echo agent (axum, JSON-RPC) on one dedicated thread
//! with a single-threaded runtime, in this process.
//!
//! In-process for the same reasons as the HTTP and MCP upstreams ([`crate::upstream`],
//! [`crate::mcp::server`]): it costs the same in the direct and the gateway runs and needs no
//! second binary; its CPU is measured per thread from `/proc`, hence the recorded thread id.
//!
//! What it serves (one agent, both dialects, one endpoint):
//!
//! - `GET /.well-known/agent-card.json`: a hybrid card whose interfaces point at `/a2a`;
//! - `POST /a2a` (and `/`): JSON-RPC. `SendMessage` (with `A2A-Version: 1.0`, else `-32009` as
//!   a2a-sdk answers) and 0.3 `message/send` get a completed task echoing the text;
//!   `SendStreamingMessage` / `message/stream` get an SSE stream: the submitted task at once,
//!   then `updates` working updates and the completed update, each `delay` after the previous
//!   one (on absolute deadlines, so the spacing does not drift), then the end of the stream.
//!
//! Accepted sockets get `TCP_NODELAY`, as any server of small messages should.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::proto::{card, message_text, rpc_error, send_reply, stream_events, Dialect};

/// The agent's JSON-RPC path (also served at `/`).
pub const RPC_PATH: &str = "/a2a";
/// The card's path.
pub const CARD_PATH: &str = "/.well-known/agent-card.json";

/// A running agent; its thread lives as long as the process, like the other upstreams.
pub struct Agent {
    pub addr: SocketAddr,
    state: Arc<AgentState>,
    /// Linux thread id of the agent's thread, for `/proc/self/task/<tid>/stat`.
    tid: Arc<AtomicI64>,
}

struct AgentState {
    /// The card (built once: it names the agent's own address).
    card: Bytes,
    updates: usize,
    delay: Duration,
    /// Non-streaming sends answered.
    sends: AtomicU64,
    /// Streams started.
    streams: AtomicU64,
    /// Task numbers.
    next: AtomicU64,
    /// Connections accepted: with keep-alive everywhere, a gateway opens a handful; one per
    /// request means its upstream pool is not reusing them.
    accepted: Arc<AtomicU64>,
}

impl Agent {
    /// Binds a free loopback port and serves the agent on its own thread. Streams carry
    /// `updates` working updates spaced by `delay`.
    pub fn start(updates: usize, delay: Duration) -> Result<Self> {
        let std_listener = StdTcpListener::bind("127.0.0.1:0").context("binding the A2A agent")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(AgentState {
            card: Bytes::from(card(&format!("http://{addr}{RPC_PATH}")).to_string()),
            updates,
            delay,
            sends: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            next: AtomicU64::new(0),
            accepted: Arc::new(AtomicU64::new(0)),
        });
        let accepted = state.accepted.clone();
        let app = Router::new()
            .route(CARD_PATH, get(serve_card))
            .route(RPC_PATH, post(rpc))
            .route("/", post(rpc))
            .with_state(state.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the agent's runtime")?;
        let tid = Arc::new(AtomicI64::new(0));
        let tid_c = tid.clone();
        std::thread::Builder::new()
            .name("a2a-agent".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_c.store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l.tap_io(move |tcp| {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            let _ = tcp.set_nodelay(true);
                        }),
                        Err(e) => {
                            eprintln!("A2A agent {addr}: {e}");
                            return;
                        }
                    };
                    if let Err(e) = axum::serve(listener, app).await {
                        eprintln!("A2A agent {addr} stopped: {e}");
                    }
                });
            })
            .context("starting the agent's thread")?;
        Ok(Self { addr, state, tid })
    }

    pub fn tid(&self) -> i64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Non-streaming sends answered since start.
    pub fn sends(&self) -> u64 {
        self.state.sends.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// Streams started since start.
    pub fn streams(&self) -> u64 {
        self.state.streams.load(Ordering::Relaxed)
    }
}

async fn serve_card(AxumState(state): AxumState<Arc<AgentState>>) -> Response {
    let mut resp = Body::from(state.card.clone()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn json_response(v: &Value) -> Response {
    let mut resp = Body::from(v.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The JSON-RPC endpoint. Errors come with HTTP 200, as JSON-RPC over HTTP does.
async fn rpc(
    AxumState(state): AxumState<Arc<AgentState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(&rpc_error(
                &Value::Null,
                -32700,
                "PARSE_ERROR",
                &format!("invalid JSON: {e}"),
            ))
        }
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req["method"].as_str().unwrap_or_default();
    let Some((dialect, stream)) = Dialect::of_method(method) else {
        return json_response(&rpc_error(
            &id,
            -32601,
            "METHOD_NOT_FOUND",
            &format!("method {method:?} not found"),
        ));
    };
    let version = headers
        .get("a2a-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if dialect == Dialect::V1 && version != "1.0" {
        // What a2a-sdk answers when the header was lost on the way.
        return json_response(&rpc_error(
            &id,
            -32009,
            "VERSION_NOT_SUPPORTED",
            &format!(
                "A2A version {version:?} is not supported by this handler. Expected version '1.0'."
            ),
        ));
    }
    let text = message_text(&req["params"]);
    let n = state.next.fetch_add(1, Ordering::Relaxed);
    if !stream {
        state.sends.fetch_add(1, Ordering::Relaxed);
        return json_response(&send_reply(dialect, &id, n, &text));
    }
    state.streams.fetch_add(1, Ordering::Relaxed);
    let events = stream_events(dialect, &id, n, &text, state.updates);
    sse_response(events, state.delay)
}

/// The first event now, then the others `delay` apart, then the end of the stream.
fn sse_response(events: Vec<Bytes>, delay: Duration) -> Response {
    let (tx, rx) = mpsc::channel(events.len().max(1));
    let mut events = events.into_iter();
    if let Some(first) = events.next() {
        // Cannot fail: the channel has room for every event.
        let _ = tx.try_send(first);
    }
    let t0 = Instant::now();
    tokio::spawn(async move {
        for (i, ev) in events.enumerate() {
            tokio::time::sleep_until(t0 + delay * (i as u32 + 1)).await;
            if tx.send(ev).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut resp = Response::new(Body::new(ChannelBody(rx)));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A response body fed by a channel: each message is one data frame, written as it arrives;
/// the body ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
