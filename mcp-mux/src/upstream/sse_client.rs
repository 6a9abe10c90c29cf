//! The legacy HTTP+SSE client transport (MCP 2024-11-05) for `sse` targets.
//!
//! rmcp dropped its SSE transports in 0.11, so this is a small one of our own, exposed as an
//! rmcp [`Transport<RoleClient>`](rmcp::transport::Transport):
//!
//! 1. `GET <url>` with `Accept: text/event-stream` (and the target's headers) opens the stream;
//! 2. its first `endpoint` event names where to POST, relative to the SSE URL (Python SDK:
//!    `/messages/?session_id=…`, TypeScript SDK: `/message?sessionId=…`); an endpoint on
//!    another origin is refused, so the target's headers never leave for a host that was not
//!    configured;
//! 3. every outgoing message is POSTed there (answer 2xx, normally 202), with the same headers;
//! 4. every `message` event on the stream is an incoming message.
//!
//! The protocol has no resumption: when the stream ends or fails, [`receive`] returns `None`,
//! rmcp closes the session, and mcp-mux opens a fresh one (new GET, new `initialize`) on the
//! next use. A POST answered 404 or 410 (the server forgot the session, e.g. after a restart
//! whose stream loss we have not seen yet) ends the stream the same way.
//!
//! [`receive`]: rmcp::transport::Transport::receive

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use backend_auth::{AuthError, BackendAuth};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use netkit::sse::{EventSize, Eventsource as _};
use reqwest::Url;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::upstream::http_client;

/// Largest SSE event accepted (the stream is dropped past it), like rmcp's limit on a
/// Streamable HTTP response.
const MAX_EVENT_BYTES: usize = 16 << 20;
/// Bound on one POST (the server only queues the message and answers 202).
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// Incoming messages read ahead of rmcp (the socket applies backpressure past it).
const INCOMING_BUFFER: usize = 64;
/// How much of an error response's body goes into the error message.
const ERROR_BODY_LIMIT: usize = 300;

/// What can go wrong opening or using an SSE session. Header values (credentials) never
/// appear in these messages.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SseTransportError {
    #[error("invalid SSE url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(transparent)]
    Client(#[from] http_client::ClientBuildError),
    #[error("GET {url}: {}", http_client::error_chain(source))]
    Get {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}{body}")]
    GetStatus {
        url: Url,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url}: no `endpoint` event within {timeout:?}")]
    EndpointTimeout { url: Url, timeout: Duration },
    #[error("GET {url}: the stream ended before the `endpoint` event")]
    NoEndpoint { url: Url },
    #[error("GET {url}: {message}")]
    Read { url: Url, message: String },
    #[error("bad `endpoint` event {data:?}: {reason}")]
    Endpoint { data: String, reason: String },
    #[error("POST {url}: {}", http_client::error_chain(source))]
    Post {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("POST {url}: HTTP {status}{body}")]
    PostStatus {
        url: Url,
        status: StatusCode,
        body: String,
    },
    #[error("cannot encode the message: {0}")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// One open SSE session with a target.
pub(crate) struct SseClientTransport {
    http: reqwest::Client,
    /// Where messages are POSTed (from the `endpoint` event).
    endpoint: Url,
    headers: HeaderMap,
    /// The target's `backendAuth`, set on the GET and on every POST.
    auth: Option<BackendAuth>,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    /// Stops the stream reader (close, drop, or a POST that found the session gone).
    stop: CancellationToken,
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<netkit::sse::Event, String>> + Send>>;

impl SseClientTransport {
    /// Opens the stream at `url` and waits for its `endpoint` event. `timeout` bounds the TCP
    /// connect and the whole wait (the MCP handshake that follows has its own bound).
    pub(crate) async fn connect(
        target: &str,
        url: &str,
        headers: HeaderMap,
        auth: Option<BackendAuth>,
        timeout: Duration,
    ) -> Result<Self, SseTransportError> {
        let invalid = |reason: String| SseTransportError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let sse_url = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(sse_url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https".into()));
        }
        // netkit's trust (the extra roots of `SSL_CERT_FILE`), as for `mcp` targets; no
        // redirects, since one could carry the target's headers elsewhere.
        let http = netkit::reqwest_client(netkit::ReqwestOptions {
            connect_timeout: timeout,
            ..Default::default()
        })?;
        let deadline = tokio::time::Instant::now() + timeout;
        let request = http
            .get(sse_url.clone())
            .headers(headers.clone())
            .header(
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            )
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let endpoint_timeout = || SseTransportError::EndpointTimeout {
            url: sse_url.clone(),
            timeout,
        };
        let response =
            tokio::time::timeout_at(deadline, backend_auth::send(auth.as_ref(), request))
                .await
                .map_err(|_| endpoint_timeout())??
                .map_err(|source| SseTransportError::Get {
                    url: sse_url.clone(),
                    source,
                })?;
        let status = response.status();
        if !status.is_success() {
            return Err(SseTransportError::GetStatus {
                url: sse_url,
                status,
                body: error_body(response).await,
            });
        }
        let mut events: Events = Box::pin(
            bounded(Box::pin(response.bytes_stream()))
                .eventsource()
                .map(|r| r.map_err(|e| e.to_string())),
        );
        let endpoint = tokio::time::timeout_at(deadline, async {
            while let Some(item) = events.next().await {
                match item {
                    Ok(ev) if ev.event == "endpoint" => return resolve_endpoint(&sse_url, &ev.data),
                    Ok(ev) => {
                        tracing::debug!(mcp_target = %target, event = %ev.event, "SSE event before `endpoint` ignored");
                    }
                    Err(message) => {
                        return Err(SseTransportError::Read {
                            url: sse_url.clone(),
                            message,
                        })
                    }
                }
            }
            Err(SseTransportError::NoEndpoint {
                url: sse_url.clone(),
            })
        })
        .await
        .map_err(|_| endpoint_timeout())??;
        tracing::debug!(mcp_target = %target, %endpoint, "SSE session open");
        let (tx, incoming) = mpsc::channel(INCOMING_BUFFER);
        let stop = CancellationToken::new();
        tokio::spawn(read_messages(events, tx, stop.clone(), target.to_owned()));
        Ok(Self {
            http,
            endpoint,
            headers,
            auth,
            incoming,
            stop,
        })
    }
}

impl rmcp::transport::Transport<RoleClient> for SseClientTransport {
    type Error = SseTransportError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let http = self.http.clone();
        let url = self.endpoint.clone();
        let headers = self.headers.clone();
        let auth = self.auth.clone();
        let stop = self.stop.clone();
        async move {
            let body = serde_json::to_vec(&item).map_err(SseTransportError::Encode)?;
            let request = http
                .post(url.clone())
                .headers(headers)
                .header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )
                .timeout(POST_TIMEOUT)
                .body(body);
            let response = backend_auth::send(auth.as_ref(), request)
                .await?
                .map_err(|source| SseTransportError::Post {
                    url: url.clone(),
                    source,
                })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
                // The server no longer knows the session: end the stream so the session
                // closes and the next use opens a new one.
                stop.cancel();
            }
            Err(SseTransportError::PostStatus {
                url,
                status,
                body: error_body(response).await,
            })
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        tokio::select! {
            m = self.incoming.recv() => m,
            () = self.stop.cancelled() => None,
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.stop.cancel();
        self.incoming.close();
        Ok(())
    }
}

/// Forwards each `message` event's JSON-RPC message(s) until the stream ends, fails, or
/// `stop` fires; dropping `tx` then makes `receive` return `None`.
async fn read_messages(
    mut events: Events,
    tx: mpsc::Sender<RxJsonRpcMessage<RoleClient>>,
    stop: CancellationToken,
    target: String,
) {
    loop {
        let item = tokio::select! {
            item = events.next() => item,
            () = stop.cancelled() => return,
        };
        let ev = match item {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                tracing::info!(mcp_target = %target, error = %e, "SSE stream failed; the session is closed");
                return;
            }
            None => {
                tracing::info!(mcp_target = %target, "SSE stream ended; the session is closed");
                return;
            }
        };
        match decode_event(&ev.event, &ev.data) {
            Ok(messages) => {
                for m in messages {
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(mcp_target = %target, error = %e, "SSE `message` event is not a JSON-RPC message; ignored");
            }
        }
    }
}

/// The JSON-RPC messages of one SSE event: `message` events carry one message (or a batch, as
/// 2024-11-05 allowed); other events (a repeated `endpoint`, extensions) carry none.
pub(crate) fn decode_event(
    event: &str,
    data: &str,
) -> Result<Vec<RxJsonRpcMessage<RoleClient>>, serde_json::Error> {
    let data = data.trim();
    if event != "message" || data.is_empty() {
        return Ok(Vec::new());
    }
    if data.starts_with('[') {
        return serde_json::from_str(data);
    }
    serde_json::from_str(data).map(|m| vec![m])
}

/// The POST URL an `endpoint` event names, resolved against the SSE URL; it must have the same
/// origin (scheme, host, port).
pub(crate) fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, SseTransportError> {
    let data = data.trim();
    let bad = |reason: &str| SseTransportError::Endpoint {
        data: data.to_owned(),
        reason: reason.to_owned(),
    };
    if data.is_empty() {
        return Err(bad("it is empty"));
    }
    let url = sse_url.join(data).map_err(|e| bad(&e.to_string()))?;
    if url.origin() != sse_url.origin() {
        return Err(bad("it points to another origin than the SSE URL"));
    }
    Ok(url)
}

/// The start of an error response's body, for the error message.
async fn error_body(response: reqwest::Response) -> String {
    let text = tokio::time::timeout(Duration::from_secs(2), response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut cut = text.len().min(ERROR_BODY_LIMIT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(": {}", &text[..cut])
}

/// `stream` with an error once an SSE event grows past [`MAX_EVENT_BYTES`]
/// (`eventsource-stream` itself buffers an event without limit), counted by netkit's
/// [`EventSize`], the one event-size bound of the workspace.
fn bounded<S>(stream: S) -> Bounded<S> {
    Bounded {
        inner: stream,
        size: EventSize::new(MAX_EVENT_BYTES),
    }
}

struct Bounded<S> {
    inner: S,
    size: EventSize,
}

impl<S> Stream for Bounded<S>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(if this.size.observe(&chunk) {
                Ok(chunk)
            } else {
                Err(format!(
                    "an SSE event is larger than {MAX_EVENT_BYTES} bytes"
                ))
            })),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.to_string()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{JsonRpcMessage, ServerNotification, ServerResult};

    fn sse() -> Url {
        Url::parse("http://127.0.0.1:3002/mcp/sse?x=1").unwrap()
    }

    #[test]
    fn endpoints_resolve_against_the_sse_url() {
        let cases = [
            (
                "/messages/?session_id=ab12",
                "http://127.0.0.1:3002/messages/?session_id=ab12",
            ),
            (
                "/message?sessionId=1-2",
                "http://127.0.0.1:3002/message?sessionId=1-2",
            ),
            ("messages?s=1", "http://127.0.0.1:3002/mcp/messages?s=1"),
            ("  /m\n", "http://127.0.0.1:3002/m"),
            (
                "http://127.0.0.1:3002/other?s=2",
                "http://127.0.0.1:3002/other?s=2",
            ),
        ];
        for (data, want) in cases {
            assert_eq!(
                resolve_endpoint(&sse(), data).unwrap().as_str(),
                want,
                "{data}"
            );
        }
        let https = Url::parse("https://mcp.example.com/sse").unwrap();
        assert_eq!(
            resolve_endpoint(&https, "https://mcp.example.com:443/m")
                .unwrap()
                .as_str(),
            "https://mcp.example.com/m",
            "the default port is the same origin"
        );
    }

    #[test]
    fn endpoints_on_another_origin_are_refused() {
        for data in [
            "http://evil.example/messages",
            "//evil.example/messages",
            "https://127.0.0.1:3002/messages",
            "http://127.0.0.1:3003/messages",
            "http://localhost:3002/messages",
            "",
            "   ",
        ] {
            let err = resolve_endpoint(&sse(), data).expect_err(data);
            assert!(
                matches!(err, SseTransportError::Endpoint { .. }),
                "{data}: {err}"
            );
        }
    }

    #[test]
    fn message_events_decode_to_json_rpc_messages() {
        let result =
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
        let m = decode_event("message", result).unwrap();
        assert_eq!(m.len(), 1);
        assert!(
            matches!(&m[0], JsonRpcMessage::Response(r) if matches!(r.result, ServerResult::CallToolResult(_)))
        );

        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":0,"progress":1}}"#;
        let m = decode_event("message", progress).unwrap();
        assert!(matches!(&m[0], JsonRpcMessage::Notification(n)
            if matches!(n.notification, ServerNotification::ProgressNotification(_))));

        let elicit = r#"{"jsonrpc":"2.0","id":"q1","method":"elicitation/create","params":{"message":"ok?","requestedSchema":{"type":"object","properties":{}}}}"#;
        assert!(matches!(
            &decode_event("message", elicit).unwrap()[0],
            JsonRpcMessage::Request(_)
        ));

        let batch = format!("[{result},{progress}]");
        assert_eq!(decode_event("message", &batch).unwrap().len(), 2);

        assert!(decode_event("endpoint", "/messages/?session_id=1")
            .unwrap()
            .is_empty());
        assert!(decode_event("message", "").unwrap().is_empty());
        assert!(decode_event("message", "not json").is_err());
    }

    /// The frames as the Python and TypeScript SDKs write them (CRLF and LF, comments as
    /// keep-alives, data split across chunks) parse into the expected events.
    #[tokio::test]
    async fn frames_parse_across_chunk_boundaries() {
        let wire = "event: endpoint\r\ndata: /messages/?session_id=9\r\n\r\n: ping - 2025\r\n\r\n\
                    event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n\
                    event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\
                    \"params\":{\"progressToken\":0,\"progress\":1}}\n\n";
        let chunks: Vec<reqwest::Result<Bytes>> = wire
            .as_bytes()
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let events: Vec<_> = bounded(futures_util::stream::iter(chunks))
            .eventsource()
            .collect()
            .await;
        let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["endpoint", "message", "message"]);
        assert_eq!(events[0].data, "/messages/?session_id=9");
        let decoded: Vec<_> = events
            .iter()
            .flat_map(|e| decode_event(&e.event, &e.data).unwrap())
            .collect();
        assert_eq!(decoded.len(), 2);
    }

    /// Many events of 1 MiB pass (each ended by a blank line in one of the three line-end
    /// styles); one event of many 1 MiB lines but no blank line ends the stream with an error
    /// once it passes [`MAX_EVENT_BYTES`], before it is all read.
    #[tokio::test]
    async fn the_stream_fails_at_one_event_over_the_limit_not_at_many_small_ones() {
        let line = Bytes::from(vec![b'x'; 1 << 20]);
        let data = || Ok(Bytes::from_static(b"data: "));
        let mut small: Vec<reqwest::Result<Bytes>> = Vec::new();
        // A CR last would wait for the byte after it (it may start a CRLF): LF last.
        for end in ["\r\r", "\r\n\r\n", "\n\n"] {
            for _ in 0..10 {
                small.extend([
                    data(),
                    Ok(line.clone()),
                    Ok(Bytes::from_static(end.as_bytes())),
                ]);
            }
        }
        let events: Vec<_> = bounded(futures_util::stream::iter(small))
            .eventsource()
            .collect()
            .await;
        assert_eq!(events.len(), 30);
        assert!(events.iter().all(Result::is_ok));

        let mut big: Vec<reqwest::Result<Bytes>> = Vec::new();
        for _ in 0..20 {
            big.extend([data(), Ok(line.clone()), Ok(Bytes::from_static(b"\r\n"))]);
        }
        big.push(Ok(Bytes::from_static(b"\r\n")));
        let mut read = 0;
        let mut chunks = bounded(futures_util::stream::iter(big));
        let err = loop {
            match chunks.next().await {
                Some(Ok(_)) => read += 1,
                Some(Err(e)) => break e,
                None => panic!("a 20 MiB event passed"),
            }
        };
        assert!(err.contains("larger than"), "{err}");
        assert!(read < 3 * 17, "cut just past 16 MiB, after {read} chunks");
    }
}
