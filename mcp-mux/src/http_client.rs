//! The HTTP client of `mcp` (Streamable HTTP) targets, and the reqwest client builder shared
//! with the legacy `sse` client.
//!
//! Why not rmcp's built-in client: it is written against reqwest 0.13, which in this workspace
//! has no TLS, so `https://` targets could not be reached. Turning on a TLS feature of reqwest
//! 0.13 is not an option: cargo unifies features across the workspace, and the only TLS
//! features left (`rustls-no-provider`, `rustls` with aws-lc-rs) either panic in every process
//! that has no default rustls `CryptoProvider` or need a C build. So [`McpHttpClient`]
//! implements rmcp's [`StreamableHttpClient`] on the workspace's reqwest 0.12 (rustls + ring,
//! Mozilla roots via webpki-roots), ported from rmcp 3.11's reqwest client: same headers
//! (`Accept`, `Mcp-Session-Id`, `Last-Event-Id`, bearer auth, the target's own headers),
//! same answers (JSON, SSE, 202/204, 404 = session expired, 401/403 challenges, 429/5xx
//! metadata), same byte limits. rmcp's helpers for this are crate-private, so the small ones
//! (media-type check, bounded body reads, SSE event size limit) are copied here.
//!
//! Private CAs: `SSL_CERT_FILE`, when set, names a PEM bundle whose certificates are trusted
//! *in addition to* the built-in roots (unlike OpenSSL, which replaces its bundle with it).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorData, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID,
    JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, SseError, StreamableHttpClient,
    StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::{Sse, SseStream};

/// The environment variable naming extra trusted root certificates (PEM).
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// `Accept` of every request: a POST may be answered with JSON or an SSE stream.
const ACCEPT_BOTH: &str = "text/event-stream, application/json";
/// Same-origin 307/308 redirects followed per request (rmcp's default client's limit).
const MAX_REDIRECTS: usize = 10;
/// Longest `Retry-After` value kept (rmcp's limit).
const MAX_RETRY_AFTER_BYTES: usize = 128;
/// Bytes of an unusable JSON body quoted in an error.
const BODY_PREVIEW: usize = 256;

type PostResult = Result<StreamableHttpPostResponse, StreamableHttpError<HttpError>>;
type SseEvents = BoxStream<'static, Result<Sse, SseError>>;

/// The reqwest client could not be built; usually `SSL_CERT_FILE` could not be used, and
/// connecting fails rather than silently trusting fewer roots than configured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientBuildError {
    #[error("{SSL_CERT_FILE}={path}: {reason}")]
    ExtraRoots { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// A reqwest 0.12 client builder with what every MCP client of this crate wants: TCP_NODELAY
/// (requests are small and latency-bound) and the certificates of `SSL_CERT_FILE` as extra
/// roots. Callers add their own redirect, pool and timeout settings.
pub(crate) fn client_builder() -> Result<reqwest::ClientBuilder, ClientBuildError> {
    let path = std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty());
    with_extra_roots(
        reqwest::Client::builder().tcp_nodelay(true),
        path.as_deref().map(Path::new),
    )
}

fn with_extra_roots(
    mut builder: reqwest::ClientBuilder,
    path: Option<&Path>,
) -> Result<reqwest::ClientBuilder, ClientBuildError> {
    let Some(path) = path else {
        return Ok(builder);
    };
    let fail = |reason: String| ClientBuildError::ExtraRoots {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(error_chain(&e)))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in the file".into()));
    }
    static LOGGED: Once = Once::new();
    LOGGED.call_once(|| {
        tracing::info!(
            file = %path.display(),
            certificates = certs.len(),
            "trusting the certificates of {SSL_CERT_FILE} in addition to the built-in roots"
        );
    });
    for cert in certs {
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

/// Builds the client from [`client_builder`]'s result, naming the file when a certificate in
/// it is rejected (reqwest only parses the DER when the client is built).
pub(crate) fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, ClientBuildError> {
    builder.build().map_err(|e| {
        let reason = error_chain(&e);
        match std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty()) {
            Some(path) => ClientBuildError::ExtraRoots {
                path: Path::new(&path).display().to_string(),
                reason: format!("cannot build the HTTP client: {reason}"),
            },
            None => ClientBuildError::Build(reason),
        }
    })
}

/// `error: cause: cause…`: reqwest's own message says only "error sending request", while the
/// reason (refused, certificate `UnknownIssuer`…) is further down the chain.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// A reqwest error shown with its whole cause chain (see [`error_chain`]).
#[derive(Debug)]
pub(crate) struct HttpError(reqwest::Error);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&error_chain(&self.0))
    }
}

// No `source()`: the chain is already in the message, and printing it twice helps nobody.
impl std::error::Error for HttpError {}

fn client_err(e: reqwest::Error) -> StreamableHttpError<HttpError> {
    StreamableHttpError::Client(HttpError(e))
}

/// rmcp's [`StreamableHttpClient`] on reqwest 0.12 (see the module docs for why).
#[derive(Clone)]
pub(crate) struct McpHttpClient {
    http: reqwest::Client,
}

impl McpHttpClient {
    /// `connect_timeout` bounds each TCP (+TLS) connect; the target's timeout bounds the rest.
    pub(crate) fn new(connect_timeout: Duration) -> Result<Self, ClientBuildError> {
        let builder = client_builder()?
            .connect_timeout(connect_timeout)
            // No connection pooling, as in rmcp's default client, and on purpose: upstream
            // servers often leave Nagle on (axum::serve does), and a reused connection then
            // stalls ~40 ms per request on the client's delayed ACK. A fresh connection per
            // request is far cheaper than that on the paths MCP targets live on.
            .pool_max_idle_per_host(0)
            .redirect(same_origin_redirects());
        Ok(Self {
            http: build(builder)?,
        })
    }
}

/// rmcp's default redirect policy: follow only same-origin 307/308 (they keep the method and
/// body), up to [`MAX_REDIRECTS`]. A 301/302/303 would turn the POST into a bodyless GET, and
/// another origin would receive the session id and the target's headers, so those responses
/// are returned as they are and fail the request as an unexpected answer.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !keeps_body || !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("exceeded {MAX_REDIRECTS} redirects"))
        } else {
            tracing::debug!(status = %attempt.status(), to = attempt.url().path(), "following same-origin redirect");
            attempt.follow()
        }
    })
}

/// Adds the target's headers, refusing those the transport sets itself (as rmcp does;
/// `MCP-Protocol-Version` passes because rmcp's worker injects it this way).
fn custom_headers(
    mut request: reqwest::RequestBuilder,
    headers: HashMap<HeaderName, HeaderValue>,
) -> Result<reqwest::RequestBuilder, StreamableHttpError<HttpError>> {
    for (name, value) in headers {
        let reserved = [ACCEPT.as_str(), HEADER_SESSION_ID, HEADER_LAST_EVENT_ID]
            .iter()
            .any(|r| name.as_str().eq_ignore_ascii_case(r));
        if reserved
            && !name
                .as_str()
                .eq_ignore_ascii_case(HEADER_MCP_PROTOCOL_VERSION)
        {
            return Err(StreamableHttpError::ReservedHeaderConflict(
                name.to_string(),
            ));
        }
        request = request.header(name, value);
    }
    Ok(request)
}

/// A 401 or 403 with a `WWW-Authenticate` challenge becomes rmcp's auth errors.
fn auth_challenge(response: &reqwest::Response) -> Result<(), StreamableHttpError<HttpError>> {
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return Ok(());
    }
    let Some(header) = response.headers().get(WWW_AUTHENTICATE) else {
        return Ok(());
    };
    let header = header.to_str().map_err(|_| {
        StreamableHttpError::UnexpectedServerResponse(
            "invalid www-authenticate header value".into(),
        )
    })?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            header.to_owned(),
        )));
    }
    Err(StreamableHttpError::InsufficientScope(
        InsufficientScopeError::new(header.to_owned(), scope_of(header)),
    ))
}

/// The `scope=` parameter of a `WWW-Authenticate` value, quoted or not.
fn scope_of(header: &str) -> Option<String> {
    let start = header.to_ascii_lowercase().find("scope=")? + "scope=".len();
    let value = &header[start..];
    if let Some(quoted) = value.strip_prefix('"') {
        return quoted.find('"').map(|end| quoted[..end].to_owned());
    }
    let end = value
        .find(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .unwrap_or(value.len());
    (end > 0).then(|| value[..end].to_owned())
}

/// 429 and 5xx keep only their status and a bounded `Retry-After`.
fn http_status_error(status: StatusCode, headers: &HeaderMap) -> Option<HttpStatusError> {
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .filter(|v| v.as_bytes().len() <= MAX_RETRY_AFTER_BYTES)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Some(HttpStatusError::new(status.as_u16(), retry_after))
}

/// Whether a `Content-Type` value's essence is `expected` (case-insensitive, parameters ignored).
fn media_type_is(value: &[u8], expected: &str) -> bool {
    value
        .split(|b| *b == b';')
        .next()
        .and_then(|essence| std::str::from_utf8(essence).ok())
        .is_some_and(|essence| {
            essence
                .trim_matches([' ', '\t'])
                .eq_ignore_ascii_case(expected)
        })
}

/// The whole body, or `ResponseBodyTooLarge` past `max` bytes (counted, not trusted from
/// `Content-Length`).
async fn read_bounded(
    response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, StreamableHttpError<HttpError>> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
    }
    let mut stream = std::pin::pin!(response.bytes_stream());
    let mut body = Vec::new();
    while let Some(chunk) = stream.try_next().await.map_err(client_err)? {
        if chunk.len() > max - body.len() {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `max` bytes of a diagnostic body; the rest is not read.
async fn read_prefix(response: reqwest::Response, max: usize) -> String {
    let mut stream = std::pin::pin!(response.bytes_stream());
    let mut body = Vec::new();
    while body.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let n = chunk.len().min(max - body.len());
                body.extend_from_slice(&chunk[..n]);
            }
            Some(Err(_)) => return "<failed to read response body>".to_owned(),
            None => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// rmcp's fallback for servers that reject `server/discover` (a sessionless 4xx other than
/// 401/403): answer it with a JSON-RPC error the client lifecycle can classify, so it falls
/// back to `initialize`.
fn legacy_discover_response(
    message: &ClientJsonRpcMessage,
    session_was_attached: bool,
    status: StatusCode,
    body: &str,
) -> Option<StreamableHttpPostResponse> {
    if session_was_attached
        || !status.is_client_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = match serde_json::from_str::<ServerJsonRpcMessage>(body) {
        Ok(ServerJsonRpcMessage::Error(error)) => error.error,
        _ => ErrorData::invalid_request(
            format!("server/discover rejected with HTTP {status}: {body}"),
            None,
        ),
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

impl StreamableHttpClient for McpHttpClient {
    type Error = HttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> PostResult {
        let limits = StreamableHttpResponseLimits::default();
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> PostResult {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> PostResult {
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<HttpError>> {
        let mut request = self.http.delete(uri.as_ref());
        if let Some(token) = auth_header {
            request = request.bearer_auth(token);
        }
        request = request.header(HEADER_SESSION_ID, session_id.as_ref());
        let response = custom_headers(request, headers)?
            .send()
            .await
            .map_err(client_err)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!("the server does not support deleting sessions");
            return Ok(());
        }
        response.error_for_status().map_err(client_err)?;
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<SseEvents, StreamableHttpError<HttpError>> {
        let max = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.get(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<SseEvents, StreamableHttpError<HttpError>> {
        self.get(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        )
        .await
    }
}

impl McpHttpClient {
    /// The standalone SSE stream (`GET`), or a resumption of a response stream.
    async fn get(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max_event: usize,
    ) -> Result<SseEvents, StreamableHttpError<HttpError>> {
        let mut request = self.http.get(uri.as_ref()).header(ACCEPT, ACCEPT_BOTH);
        if let Some(session_id) = session_id {
            request = request.header(HEADER_SESSION_ID, session_id.as_ref());
        }
        if let Some(last_event_id) = last_event_id {
            request = request.header(HEADER_LAST_EVENT_ID, last_event_id);
        }
        if let Some(token) = auth_header {
            request = request.bearer_auth(token);
        }
        let response = custom_headers(request, headers)?
            .send()
            .await
            .map_err(client_err)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        auth_challenge(&response)?;
        if let Some(error) = http_status_error(response.status(), response.headers()) {
            return Err(error.into());
        }
        let response = response.error_for_status().map_err(client_err)?;
        match response.headers().get(CONTENT_TYPE) {
            Some(ct)
                if media_type_is(ct.as_bytes(), EVENT_STREAM_MIME_TYPE)
                    || media_type_is(ct.as_bytes(), JSON_MIME_TYPE) => {}
            ct => {
                return Err(StreamableHttpError::UnexpectedContentType(
                    ct.map(|ct| String::from_utf8_lossy(ct.as_bytes()).into_owned()),
                ))
            }
        }
        Ok(sse_events(response, max_event))
    }

    /// One message out; the answer as JSON, an SSE stream, or "accepted".
    async fn post(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> PostResult {
        let mut request = self.http.post(uri.as_ref()).header(ACCEPT, ACCEPT_BOTH);
        if let Some(token) = auth_header {
            request = request.bearer_auth(token);
        }
        request = custom_headers(request, headers)?;
        let session_was_attached = session_id.is_some();
        if let Some(session_id) = session_id {
            request = request.header(HEADER_SESSION_ID, session_id.as_ref());
        }
        let response = request.json(&message).send().await.map_err(client_err)?;
        auth_challenge(&response)?;
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_was_attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|ct| String::from_utf8_lossy(ct.as_bytes()).into_owned());
        let is_json = content_type
            .as_deref()
            .is_some_and(|ct| media_type_is(ct.as_bytes(), JSON_MIME_TYPE));
        // 429 and non-JSON 5xx fail on their status alone; a JSON 5xx may carry a JSON-RPC
        // error worth keeping, so it is read first.
        let status_error = match (http_status_error(status, response.headers()), is_json) {
            (Some(error), is_json) if !is_json || status == StatusCode::TOO_MANY_REQUESTS => {
                return Err(error.into());
            }
            (error, _) => error,
        };
        let session_id = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Notifications, responses and errors await no answer: nothing in the body matters.
        let awaits_no_response = !matches!(message, ClientJsonRpcMessage::Request(_));
        if status.is_success() && response.content_length() == Some(0) && awaits_no_response {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if !status.is_success() {
            let is_auth = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            let body = if is_json && !is_auth {
                match read_bounded(response, limits.max_json_response_size).await {
                    Ok(raw) => {
                        let body = String::from_utf8_lossy(&raw);
                        if let Ok(error @ ServerJsonRpcMessage::Error(_)) =
                            serde_json::from_str::<ServerJsonRpcMessage>(&body)
                        {
                            if let Some(r) = legacy_discover_response(
                                &message,
                                session_was_attached,
                                status,
                                &body,
                            ) {
                                return Ok(r);
                            }
                            return Ok(StreamableHttpPostResponse::Json(error, session_id));
                        }
                        tracing::warn!("HTTP {status}: the JSON body is not a JSON-RPC error");
                        truncate(&body, limits.max_error_response_size).to_owned()
                    }
                    Err(e @ StreamableHttpError::ResponseBodyTooLarge { .. }) => {
                        return Err(status_error.map(Into::into).unwrap_or(e));
                    }
                    Err(_) => "<failed to read response body>".to_owned(),
                }
            } else {
                read_prefix(response, limits.max_error_response_size).await
            };
            if let Some(r) = legacy_discover_response(&message, session_was_attached, status, &body)
            {
                return Ok(r);
            }
            if let Some(error) = status_error {
                return Err(error.into());
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: {body}"),
            )));
        }
        match content_type.as_deref() {
            Some(ct) if media_type_is(ct.as_bytes(), EVENT_STREAM_MIME_TYPE) => {
                Ok(StreamableHttpPostResponse::Sse(
                    sse_events(response, limits.max_sse_event_size),
                    session_id,
                ))
            }
            Some(ct) if media_type_is(ct.as_bytes(), JSON_MIME_TYPE) => {
                let body = read_bounded(response, limits.max_json_response_size).await?;
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(parsed) => Ok(StreamableHttpPostResponse::Json(parsed, session_id)),
                    Err(e) if awaits_no_response => {
                        tracing::warn!(
                            "unparsable JSON answer to a notification, treated as accepted: {e}"
                        );
                        Ok(StreamableHttpPostResponse::Accepted)
                    }
                    Err(e) => {
                        let body = String::from_utf8_lossy(&body);
                        let preview = truncate(&body, BODY_PREVIEW);
                        Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                            format!("could not parse JSON response as ServerJsonRpcMessage: {e}: {preview}"),
                        )))
                    }
                }
            }
            // Some servers answer a notification with 200 and no (or any) content type.
            _ if awaits_no_response => Ok(StreamableHttpPostResponse::Accepted),
            _ => Err(StreamableHttpError::UnexpectedContentType(content_type)),
        }
    }
}

/// The response body as SSE events (parsed by `sse-stream`, as rmcp does), failing once an
/// event grows past `max_event` bytes.
fn sse_events(response: reqwest::Response, max_event: usize) -> SseEvents {
    let mut size = EventSize::new(max_event);
    let bytes = response
        .bytes_stream()
        .map(move |chunk| match chunk {
            Ok(chunk) if size.observe(&chunk) => Ok(chunk),
            Ok(_) => Err(EventStreamError::EventTooLarge(max_event)),
            Err(e) => Err(EventStreamError::Body(HttpError(e))),
        })
        // Nothing after the first error: the stream is cut there.
        .scan(false, |failed, item| {
            let item = (!*failed).then_some(item);
            *failed = item.as_ref().is_some_and(Result::is_err);
            futures_util::future::ready(item)
        });
    SseStream::from_bytes_stream(bytes).boxed()
}

#[derive(Debug, thiserror::Error)]
enum EventStreamError {
    #[error(transparent)]
    Body(HttpError),
    #[error("SSE event exceeded the maximum size of {0} bytes")]
    EventTooLarge(usize),
}

/// Counts the bytes an SSE parser would retain for the current event (field lines joined by
/// newlines; comments and the blank line ending the event do not count), like rmcp.
struct EventSize {
    max: usize,
    retained: usize,
    line: usize,
    comment: bool,
    after_cr: bool,
}

impl EventSize {
    fn new(max: usize) -> Self {
        Self {
            max,
            retained: 0,
            line: 0,
            comment: false,
            after_cr: false,
        }
    }

    /// False once the current event is over the limit.
    fn observe(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    if self.line == 0 {
                        self.retained = 0;
                    } else if !self.comment {
                        self.retained = self.retained.saturating_add(self.line + 1);
                    }
                    self.line = 0;
                    self.comment = false;
                    self.after_cr = byte == b'\r';
                }
                _ => {
                    if self.line == 0 {
                        self.comment = byte == b':';
                    }
                    self.line += 1;
                }
            }
            if self.retained.saturating_add(self.line) > self.max {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
