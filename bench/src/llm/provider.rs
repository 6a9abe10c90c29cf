//! The loopback LLM provider: an in-process hyper 1 HTTP/1.1 server on its own thread and
//! single-threaded runtime, answering `POST .../chat/completions` with a fixed reply of N
//! tokens, as JSON or as an OpenAI stream (see [`super::wire`]).
//!
//! In-process for the same reasons as the other harnesses' upstreams ([`crate::upstream`]): it
//! costs the same on every path and its thread's CPU is read from `/proc`. Every reply is
//! rendered once at start, so a request costs a JSON parse of its small body and a write: the
//! provider is not what limits any path. With `--token-delay 0` a stream's chunks are handed to
//! hyper back to back (one data frame each); otherwise each token after the first waits that
//! long.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Sleep;

use super::wire::{completion, parse_request, stream_events};

/// A running provider; its thread lives as long as the process.
pub struct Provider {
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Linux thread id of the server thread, for `/proc/self/task/<tid>/stat`.
    tid: Arc<AtomicI64>,
}

struct State {
    completion: Bytes,
    stream: Arc<[Bytes]>,
    stream_with_usage: Arc<[Bytes]>,
    tokens: usize,
    delay: Duration,
    /// Completions answered (streamed or not).
    requests: AtomicU64,
    /// Connections accepted: one per client connection per gateway worker when keep-alive
    /// holds all the way.
    accepted: AtomicU64,
}

impl Provider {
    /// Binds a free loopback port and serves replies of `tokens` tokens, streamed tokens spaced
    /// by `delay` (zero: back to back).
    pub fn start(tokens: usize, delay: Duration) -> Result<Self> {
        let std_listener = StdTcpListener::bind("127.0.0.1:0").context("binding the provider")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(State {
            completion: completion(tokens),
            stream: stream_events(tokens, false).into(),
            stream_with_usage: stream_events(tokens, true).into(),
            tokens,
            delay,
            requests: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the provider's runtime")?;
        let tid = Arc::new(AtomicI64::new(0));
        let (tid_c, state_c) = (tid.clone(), state.clone());
        std::thread::Builder::new()
            .name("llm-provider".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_c.store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                rt.block_on(serve(std_listener, state_c));
            })
            .context("starting the provider's thread")?;
        Ok(Self { addr, state, tid })
    }

    pub fn tid(&self) -> i64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Completions answered since start.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// The base URL an OpenAI client is given.
    pub fn v1(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

async fn serve(listener: StdTcpListener, state: Arc<State>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("LLM provider: {e}");
            return;
        }
    };
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("LLM provider accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        state.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// One request: a completion for `POST .../chat/completions`, 404 for anything else, 400 for
/// a body that is not a chat request.
async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Reply>, Infallible> {
    if req.method() != http::Method::POST || !req.uri().path().ends_with("/chat/completions") {
        return Ok(error(
            StatusCode::NOT_FOUND,
            "only POST /v1/chat/completions",
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "unreadable body")),
    };
    let asked = match parse_request(&body) {
        Ok(a) => a,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, &format!("{e:#}"))),
    };
    state.requests.fetch_add(1, Ordering::Relaxed);
    let (body, content_type) = if asked.stream {
        let events = if asked.include_usage {
            state.stream_with_usage.clone()
        } else {
            state.stream.clone()
        };
        (
            Reply::stream(events, state.tokens, state.delay),
            "text/event-stream",
        )
    } else {
        (
            Reply::Whole(Some(state.completion.clone())),
            "application/json",
        )
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    if asked.stream {
        resp.headers_mut()
            .insert(CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    }
    Ok(resp)
}

/// An OpenAI-style error body.
fn error(status: StatusCode, msg: &str) -> Response<Reply> {
    let body = serde_json::json!({"error": {"message": msg, "type": "invalid_request_error"}});
    let mut resp = Response::new(Reply::Whole(Some(Bytes::from(body.to_string()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// A reply body: one buffer, or the stream's events as one frame each (spaced by `delay`
/// between tokens).
enum Reply {
    Whole(Option<Bytes>),
    Stream {
        events: Arc<[Bytes]>,
        next: usize,
        tokens: usize,
        delay: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    },
}

impl Reply {
    fn stream(events: Arc<[Bytes]>, tokens: usize, delay: Duration) -> Self {
        Reply::Stream {
            events,
            next: 0,
            tokens,
            delay,
            sleep: None,
        }
    }
}

impl hyper::body::Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Whole(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Reply::Stream {
                events,
                next,
                tokens,
                delay,
                sleep,
            } => {
                // Events: [0] role, [1..=tokens] tokens, then finish, usage, [DONE]. The
                // delay comes before each token after the first.
                if !delay.is_zero() && *next >= 2 && *next <= *tokens {
                    let s = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*delay)));
                    if s.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                let ev = events.get(*next).cloned();
                *next += 1;
                Poll::Ready(ev.map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Whole(b) => b.is_none(),
            Reply::Stream { events, next, .. } => *next >= events.len(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Reply::Whole(Some(b)) => hyper::body::SizeHint::with_exact(b.len() as u64),
            Reply::Whole(None) => hyper::body::SizeHint::with_exact(0),
            Reply::Stream { .. } => hyper::body::SizeHint::default(),
        }
    }
}
