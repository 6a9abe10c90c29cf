//! In-process upstreams: the recording HTTP [`Upstream`] and the [`ClosingServer`] that resets
//! every connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Serves `app` in the background on `addr` (a loopback address; port 0 for any free one);
/// returns the address it listens on.
pub async fn serve_router(app: axum::Router, addr: &str) -> SocketAddr {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind a loopback server");
    let local = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    local
}

/// One request as an upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body, when it was read to its end.
    pub body: Option<Bytes>,
}

impl Recorded {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<bin>").to_string())
            .unwrap_or_default()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

#[derive(Default)]
struct UpstreamState {
    name: String,
    /// TCP connections accepted.
    connections: AtomicUsize,
    arrivals: AtomicUsize,
    recorded: Mutex<Vec<Recorded>>,
    counters: Mutex<HashMap<String, usize>>,
}

/// An in-process HTTP upstream on `127.0.0.1:0` that records every request.
///
/// It answers 200 with its name as the body and `x-upstream: NAME`, unless the query says:
/// - `status=N`: answer N;
/// - `fail=K&fail_status=N` (default 503): the first K hits of this path+query get N;
/// - `delay_ms=N`: wait before the response headers;
/// - `sse=N&interval_ms=M`: `text/event-stream` with N events (`data: i`), one every M ms;
/// - `echo=1`: the body is the request body.
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<UpstreamState>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts an upstream named `name`.
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        Self::serve(name, listener)
    }

    /// Starts an upstream on a chosen port (for "comes back later" tests).
    pub async fn start_on(name: &str, port: u16) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind upstream");
        Self::serve(name, listener)
    }

    fn serve(name: &str, listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState {
            name: name.to_string(),
            ..Default::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let counted = state.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, state, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Requests seen so far (those whose body was read or failed).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests whose headers arrived, including those whose body is still being read.
    pub fn arrivals(&self) -> usize {
        self.state.arrivals.load(Ordering::SeqCst)
    }

    /// Number of recorded requests.
    pub fn hits(&self) -> usize {
        self.state.recorded.lock().unwrap().len()
    }

    /// Waits until at least `n` requests are recorded, up to `limit`; returns the count.
    pub async fn wait_hits(&self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let h = self.hits();
            if h >= n || Instant::now() > deadline {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last recorded request.
    pub fn last(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the upstream saw no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

async fn handle(State(st): State<Arc<UpstreamState>>, req: Request) -> Response {
    st.arrivals.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = body.collect().await.ok().map(|c| c.to_bytes());
    st.recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let q = |n: &str| query_param(&parts.uri, n);
    let num = |n: &str| q(n).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = num("delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut status = num("status").unwrap_or(200) as u16;
    if let Some(k) = num("fail") {
        let hit = {
            let mut c = st.counters.lock().unwrap();
            let e = c.entry(uri.clone()).or_default();
            *e += 1;
            *e
        };
        if hit as u64 <= k {
            status = num("fail_status").unwrap_or(503) as u16;
        }
    }
    let builder = Response::builder()
        .status(status)
        .header("x-upstream", st.name.as_str());
    if let Some(n) = num("sse") {
        let interval = Duration::from_millis(num("interval_ms").unwrap_or(300));
        let stream = futures_util::stream::unfold(0u64, move |i| async move {
            if i >= n {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {i}\n\n"))),
                i + 1,
            ))
        });
        return builder
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    if q("echo").is_some() {
        return builder.body(Body::from(body.unwrap_or_default())).unwrap();
    }
    builder.body(Body::from(st.name.clone())).unwrap()
}

/// A TCP server that accepts connections and closes them at once (an upstream that resets).
pub struct ClosingServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ClosingServer {
    /// Starts it on `127.0.0.1:0`.
    pub async fn start() -> ClosingServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                // Read a little so the request is on the wire, then close.
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
                drop(s);
            }
        });
        ClosingServer {
            addr,
            accepted,
            task,
        }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
