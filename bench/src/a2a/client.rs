//! The client side: where a target's A2A endpoint is, keep-alive HTTP/1.1 connections to it
//! (hyper 1, `TCP_NODELAY`), and the one-off requests of the probes.
//!
//! One raw hyper connection per worker, as in [`crate::client`], rather than a pooled client:
//! each worker keeps exactly one connection with one request in flight, so the numbers measure
//! the gateway and not connection setup, and a dropped keep-alive shows up as a reconnect.
//! Its own copy because [`crate::client::connect`] is typed for bodiless GETs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::agent::{CARD_PATH, RPC_PATH};
use super::proto::Dialect;

/// A sender on one keep-alive connection.
pub type Conn = SendRequest<Full<Bytes>>;

/// An A2A agent as a client sees it: directly, or through the gateway under a route prefix.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `direct` or `switchboard`.
    pub name: &'static str,
    pub addr: SocketAddr,
    /// The agent's base path: empty directly, the route prefix through the gateway.
    pub base: String,
}

impl Endpoint {
    /// The agent's base URL, which clients resolve the card from.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.base)
    }

    /// Path of the JSON-RPC endpoint.
    pub fn rpc_path(&self) -> String {
        format!("{}{RPC_PATH}", self.base)
    }

    pub fn card_path(&self) -> String {
        format!("{}{CARD_PATH}", self.base)
    }

    /// A JSON-RPC POST of `body` in `dialect` (with `A2A-Version` for 1.0); `stream` asks for
    /// `text/event-stream`.
    pub fn rpc_request(&self, dialect: Dialect, stream: bool, body: Bytes) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(self.rpc_path())
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            // Read by the gateway only with `--owners` (`callerHeader: x-caller`).
            .header("x-caller", "bench")
            .header(
                ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        if let Some(v) = dialect.version_header() {
            b = b.header("a2a-version", v);
        }
        b.body(Full::new(body)).expect("static request parts")
    }
}

/// Opens one keep-alive connection with Nagle off. Its driver runs as a task that ends when the
/// sender is dropped.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn> {
    tokio::time::timeout(timeout, async {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        anyhow::Ok(sender)
    })
    .await
    .map_err(|_| anyhow!("connecting to {addr} timed out after {timeout:?}"))?
    .with_context(|| format!("connecting to {addr}"))
}

/// Whether a response is an SSE stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// Sends `req` on a fresh connection and reads the whole answer, within `timeout`.
pub async fn once(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let what = format!("{} http://{addr}{}", req.method(), req.uri());
    tokio::time::timeout(timeout, async {
        let mut c = connect(addr, timeout).await?;
        let resp = c.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        anyhow::Ok((parts.status, parts.headers, bytes))
    })
    .await
    .map_err(|_| anyhow!("{what} timed out after {timeout:?}"))?
    .with_context(|| what)
}

/// `GET path` on a fresh connection; the JSON body of a 200.
pub async fn get_json(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let req = Request::get(path)
        .header(HOST, addr.to_string())
        .body(Full::new(Bytes::new()))?;
    let (status, _, body) = once(addr, req, timeout).await?;
    if status != StatusCode::OK {
        bail!(
            "GET http://{addr}{path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("GET http://{addr}{path}: not JSON"))
}

/// Reads the next data frame of a response body (trailers are skipped); `None` at its end.
pub async fn next_data(body: &mut Incoming) -> Result<Option<Bytes>> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}
