//! The shared-session load: one MCP session, opened once (`initialize`, then
//! `notifications/initialized`), whose `Mcp-Session-Id` every request reuses, with N concurrent
//! `tools/call` requests spread over N keep-alive HTTP/1.1 connections (closed loop, one request
//! in flight per connection).
//!
//! This is how an IDE or an agent framework calls tools in parallel within one session, and it
//! is a different load for a gateway than one session per worker: every call lands on the same
//! session state. The rmcp client cannot fan one session over many connections, so this is a
//! raw hyper 1 client that writes the JSON-RPC itself and reads either answer shape (a JSON body
//! or an SSE stream). Each answer is checked: the echoed text must be the one sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::load::McpLoad;
use crate::client::connect;

/// The protocol version the session negotiates: a 2025 version, so neither the target nor the
/// gateway asks for the per-request headers and `_meta` of later versions.
const PROTOCOL_VERSION: &str = "2025-06-18";
/// Bound on one exchange outside the measured window (probe, initialize, close).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

type Sender = SendRequest<Full<Bytes>>;

/// An open session, shared by every connection of the load.
pub struct SharedSession {
    addr: SocketAddr,
    /// `host:port`, for the `Host` header.
    host: String,
    path: String,
    /// The `Mcp-Session-Id` the server gave; `None` for a stateless server, which gives none.
    session: Option<String>,
    /// The `Authorization` header sent with every request, if the endpoint wants one.
    authorization: Option<String>,
    /// JSON-RPC ids: unique over the whole session, since all connections share it and a
    /// server or gateway may key in-flight requests by id.
    next_id: AtomicU64,
}

impl SharedSession {
    /// Opens a session on the MCP endpoint `url` (`http://ip:port/path`), sending
    /// `authorization` as the `Authorization` header of every request if given.
    pub async fn open(url: &str, authorization: Option<&str>) -> Result<Arc<Self>> {
        let uri: http::Uri = url.parse().with_context(|| format!("URL {url:?}"))?;
        let host = uri
            .authority()
            .with_context(|| format!("URL {url:?} has no host:port"))?
            .as_str()
            .to_owned();
        let addr: SocketAddr = host
            .parse()
            .with_context(|| format!("URL {url:?} is not an IP address and port"))?;
        let mut s = Self {
            addr,
            host,
            path: uri.path().to_owned(),
            session: None,
            authorization: authorization.map(str::to_owned),
            next_id: AtomicU64::new(1),
        };
        let mut conn = connect(addr).await.context("connecting")?;
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "bench-mcp-shared", "version": "1"}}});
        let (status, headers, body) = s.exchange(&mut conn, Method::POST, Some(&init)).await?;
        if status != StatusCode::OK {
            bail!("initialize: HTTP {status}: {}", snippet(&body));
        }
        answer_to(&headers, &body, 0).context("initialize")?;
        s.session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, body) = s.exchange(&mut conn, Method::POST, Some(&done)).await?;
        if !status.is_success() {
            bail!(
                "notifications/initialized: HTTP {status}: {}",
                snippet(&body)
            );
        }
        Ok(Arc::new(s))
    }

    /// Whether the server gave a session id (a stateless target gives none).
    pub fn has_id(&self) -> bool {
        self.session.is_some()
    }

    /// One checked `tools/call` of `tool` on a fresh connection, before the clock starts, so a
    /// broken target fails loudly.
    pub async fn probe(&self, tool: &str) -> Result<()> {
        let mut conn = connect(self.addr).await.context("connecting")?;
        tokio::time::timeout(EXCHANGE_TIMEOUT, self.call(&mut conn, tool))
            .await
            .context("timed out")?
    }

    /// Ends the session (`DELETE` with its id), as a client does when it is done; errors are
    /// ignored, the session expires anyway.
    pub async fn close(&self) {
        if self.session.is_none() {
            return;
        }
        if let Ok(mut conn) = connect(self.addr).await {
            let _ = tokio::time::timeout(
                EXCHANGE_TIMEOUT,
                self.exchange(&mut conn, Method::DELETE, None),
            )
            .await;
        }
    }

    /// One request on `conn`, the whole answer read.
    async fn exchange(
        &self,
        conn: &mut Sender,
        method: Method,
        body: Option<&Value>,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.path.as_str())
            .header(HOST, self.host.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        if let Some(id) = &self.session {
            req = req.header("mcp-session-id", id.as_str());
        }
        if let Some(auth) = &self.authorization {
            req = req.header(http::header::AUTHORIZATION, auth.as_str());
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = req.body(Full::new(body))?;
        conn.ready().await.context("connection closed")?;
        let resp = conn.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }

    /// One `tools/call` of `tool` (an echo tool) on `conn`; the answer must echo the text sent.
    async fn call(&self, conn: &mut Sender, tool: &str) -> Result<()> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let want = format!("ping {id}");
        let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": want}}});
        let (status, headers, body) = self.exchange(conn, Method::POST, Some(&req)).await?;
        if status != StatusCode::OK {
            bail!("tools/call: HTTP {status}: {}", snippet(&body));
        }
        let answer = answer_to(&headers, &body, id)?;
        let result = answer
            .get("result")
            .with_context(|| format!("tools/call: no result: {answer}"))?;
        let got = result.pointer("/content/0/text").and_then(Value::as_str);
        if result.get("isError") == Some(&Value::Bool(true)) || got != Some(want.as_str()) {
            bail!("tools/call {tool}: unexpected answer {result}");
        }
        Ok(())
    }
}

/// Runs `connections` keep-alive connections, each calling `tool` in a closed loop on
/// `session` from now until `end`, counting requests that start at or after `measure_start`.
pub async fn run_load(
    session: Arc<SharedSession>,
    tool: Arc<str>,
    connections: usize,
    measure_start: Instant,
    end: Instant,
) -> Result<McpLoad> {
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (session, tool) = (session.clone(), tool.clone());
        tasks.push(tokio::spawn(async move {
            connection_loop(&session, &tool, measure_start, end).await
        }));
    }
    let mut total = McpLoad::new()?;
    for t in tasks {
        total.merge(t.await.context("load task")??)?;
    }
    Ok(total)
}

/// One connection's closed loop. A failed connection is opened again (and the failure counted
/// if it was in the window); a request still running at `end` is given 10 s, then dropped.
async fn connection_loop(
    session: &SharedSession,
    tool: &str,
    measure_start: Instant,
    end: Instant,
) -> Result<McpLoad> {
    let mut res = McpLoad::new()?;
    let mut conn: Option<Sender> = None;
    let deadline = end + EXCHANGE_TIMEOUT;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let c = match &mut conn {
            Some(c) => c,
            None => match tokio::time::timeout_at(end, connect(session.addr)).await {
                Ok(Ok(c)) => conn.insert(c),
                Ok(Err(e)) => {
                    let r = Err(e.context(format!("connect to {}", session.addr)));
                    res.record((t0, Instant::now()), (measure_start, end), r);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        let r = match tokio::time::timeout_at(deadline, session.call(c, tool)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("tools/call timed out")),
        };
        if r.is_err() {
            // The connection may be broken or mid-response; start the next call on a new one.
            conn = None;
        }
        res.record((t0, Instant::now()), (measure_start, end), r);
    }
    Ok(res)
}

/// The JSON-RPC message answering request `id`, from a JSON body or from the events of an SSE
/// stream (where notifications or a priming event may come first).
fn answer_to(headers: &HeaderMap, body: &[u8], id: u64) -> Result<Value> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is_answer = |m: &Value| m.get("id").and_then(Value::as_u64) == Some(id);
    if ct.starts_with("application/json") {
        let m: Value = serde_json::from_slice(body)
            .with_context(|| format!("answer is not JSON: {}", snippet(body)))?;
        if is_answer(&m) {
            return Ok(m);
        }
        bail!("JSON answer is not for request {id}: {m}");
    }
    if ct.starts_with("text/event-stream") {
        let text = std::str::from_utf8(body).context("SSE stream is not UTF-8")?;
        for data in sse_data(text) {
            if let Ok(m) = serde_json::from_str::<Value>(&data) {
                if is_answer(&m) {
                    return Ok(m);
                }
            }
        }
        bail!(
            "no answer to request {id} in the SSE stream: {}",
            snippet(body)
        );
    }
    bail!("answer has content type {ct:?}: {}", snippet(body))
}

/// The `data` of each event of an SSE stream (multi-line data joined with `\n`), skipping
/// events without data (priming events carry only an `id` and `retry`).
fn sse_data(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            if let Some(d) = cur.take() {
                if !d.is_empty() {
                    out.push(d);
                }
            }
        } else if let Some(v) = line.strip_prefix("data:") {
            let v = v.strip_prefix(' ').unwrap_or(v);
            match &mut cur {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => cur = Some(v.to_owned()),
            }
        }
    }
    if let Some(d) = cur.filter(|d| !d.is_empty()) {
        out.push(d);
    }
    out
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, http::HeaderValue::from_static(v));
        h
    }

    #[test]
    fn answers_are_found_in_json_and_in_sse_after_a_priming_event() {
        let json = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#;
        let m = answer_to(&ct("application/json"), json, 7).expect("json answer");
        assert_eq!(m["id"], 7);
        assert!(answer_to(&ct("application/json"), json, 8).is_err());

        let sse = "id: 0\nretry: 3000\ndata:\n\n\
                   data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                   id: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\r\ndata: \"result\":{}}\r\n\r\n";
        let m = answer_to(&ct("text/event-stream"), sse.as_bytes(), 7).expect("sse answer");
        assert_eq!(m["id"], 7);
        assert!(answer_to(&ct("text/event-stream"), sse.as_bytes(), 9).is_err());
        assert!(answer_to(&ct("text/plain"), json, 7).is_err());
    }

    /// The shared session against both kinds of real rmcp server: one session, several
    /// connections calling at once, every answer checked and every call reaching the server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_session_over_many_connections_against_sse_and_json_targets() {
        use crate::mcp::server::{McpServers, ServerKind, ECHO};
        let servers = McpServers::start().expect("server thread");
        for (kind, stateful) in [(ServerKind::Sse, true), (ServerKind::Json, false)] {
            let url = servers.add(kind).expect("server");
            let session = SharedSession::open(&url, None).await.expect("initialize");
            assert_eq!(session.has_id(), stateful, "{kind:?}: session id");
            session.probe(ECHO).await.expect("probe call");
            let calls0 = servers.calls();
            let start = Instant::now();
            let (measure_start, end) = (start, start + Duration::from_millis(400));
            let load = run_load(session.clone(), Arc::from(ECHO), 4, measure_start, end)
                .await
                .expect("load");
            assert_eq!(load.errors, 0, "{kind:?}: {:?}", load.first_error);
            assert!(load.ok >= 8, "{kind:?}: only {} calls", load.ok);
            // Every counted answer was a real call on the server (plus those cut off at `end`).
            assert!(
                servers.calls() - calls0 >= load.ok,
                "{kind:?}: calls not at the server"
            );
            // A tool the server does not have is an error, not a success.
            let mut conn = connect(session.addr).await.expect("connect");
            assert!(session.call(&mut conn, "nope").await.is_err(), "{kind:?}");
            session.close().await;
        }
    }

    #[test]
    fn sse_data_skips_dataless_events_and_joins_lines() {
        assert_eq!(
            sse_data("id: 1\n\ndata: a\ndata: b\n\ndata: c"),
            vec!["a\nb", "c"]
        );
    }
}
