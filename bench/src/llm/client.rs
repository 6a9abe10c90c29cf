//! The client side of `bench-llm`: where each path's chat-completions endpoint is, and one
//! checked request on a keep-alive connection, JSON or streamed.
//!
//! Connections are [`crate::a2a::client`]'s (raw hyper 1, `TCP_NODELAY`, one request in flight
//! each), so the numbers measure the path and not connection setup.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;

use super::wire::{completion_content, reply_text, request_body, StreamState};
use crate::a2a::client::{is_event_stream, next_data, Conn};
use crate::a2a::sse::SseParser;

/// One path to the provider, as a client sees it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `direct`, `switchboard` or `litellm`: the report's row names.
    pub name: &'static str,
    pub addr: SocketAddr,
    /// The OpenAI base path: `/v1` directly and through LiteLLM, `/llm/v1` through the gateway.
    pub base: String,
    /// Sent as `Authorization: Bearer ...` (LiteLLM's master key; harmless elsewhere).
    pub key: String,
}

impl Endpoint {
    pub fn url(&self) -> String {
        format!("http://{}{}/chat/completions", self.addr, self.base)
    }

    /// A chat-completions POST of `body`.
    pub fn request(&self, body: Bytes, stream: bool) -> Request<Full<Bytes>> {
        Request::builder()
            .method(Method::POST)
            .uri(format!("{}/chat/completions", self.base))
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(
                ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .header(AUTHORIZATION, format!("Bearer {}", self.key))
            .body(Full::new(body))
            .expect("static request parts")
    }
}

/// Reads an error answer's start for the message.
async fn error_of(status: StatusCode, body: hyper::body::Incoming) -> anyhow::Error {
    let text = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return anyhow::anyhow!("HTTP {status}, body unreadable: {e}"),
    };
    anyhow::anyhow!(
        "HTTP {status}: {}",
        String::from_utf8_lossy(&text[..text.len().min(300)])
    )
}

/// One non-streamed completion on `conn`, checked to carry the provider's reply; returns its
/// content.
pub async fn complete(conn: &mut Conn, ep: &Endpoint, tokens: usize) -> Result<String> {
    let req = ep.request(request_body(false, tokens), false);
    let resp = conn.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    if parts.status != StatusCode::OK {
        return Err(error_of(parts.status, body).await);
    }
    let bytes = body.collect().await?.to_bytes();
    let content = completion_content(&bytes)?;
    if content != reply_text(tokens) {
        bail!("the completion carried {content:?}, not the provider's reply");
    }
    Ok(content)
}

/// What one stream showed.
#[derive(Debug, Clone)]
pub struct StreamSample {
    /// Request written → the first chunk with content parsed.
    pub first_token: Duration,
    /// Request written → `[DONE]`.
    pub total: Duration,
    /// What it carried (checked against the reply).
    pub state: StreamState,
}

/// One streamed completion on `conn` with usage asked for, timed to its first content chunk and
/// checked in full (content, usage chunk, `[DONE]`).
pub async fn stream(conn: &mut Conn, ep: &Endpoint, tokens: usize) -> Result<StreamSample> {
    let req = ep.request(request_body(true, tokens), true);
    let t0 = Instant::now();
    let resp = conn.send_request(req).await?;
    let (parts, mut body) = resp.into_parts();
    if parts.status != StatusCode::OK {
        return Err(error_of(parts.status, body).await);
    }
    if !is_event_stream(&parts.headers) {
        bail!(
            "expected text/event-stream, got {:?}",
            parts.headers.get(CONTENT_TYPE)
        );
    }
    let mut parser = SseParser::new();
    let mut state = StreamState::default();
    let mut first_token = None;
    while let Some(chunk) = next_data(&mut body).await? {
        let now = Instant::now();
        for ev in parser.push(&chunk) {
            if state.take(&ev)? && first_token.is_none() {
                first_token = Some(now - t0);
            }
        }
    }
    let total = t0.elapsed();
    if parser.has_partial() {
        bail!("the stream ended inside an event");
    }
    state.check(tokens)?;
    let Some(first_token) = first_token else {
        bail!("the stream carried no content");
    };
    Ok(StreamSample {
        first_token,
        total,
        state,
    })
}
