//! The HTTP client of `mcp` (Streamable HTTP) targets.
//!
//! Why not rmcp's built-in client: it is written against reqwest 0.13, which in this workspace
//! has no TLS (cargo unifies features across the workspace, and the only TLS features left
//! either panic in every process without a default rustls `CryptoProvider` or need a C build),
//! and it opens a new connection per request. [`McpHttpClient`] implements rmcp's
//! [`StreamableHttpClient`] on hyper directly, ported from rmcp 3.11's reqwest client: same
//! headers (`Accept`, `Mcp-Session-Id`, `Last-Event-Id`, bearer auth, the target's own
//! headers), same answers (JSON, SSE, 202/204, 404 = session expired, 401/403 challenges,
//! 429/5xx metadata), same byte limits, same-origin 307/308 redirects. rmcp's helpers for this
//! are crate-private, so the small ones (media-type check, bounded body reads, SSE event size
//! limit) are written here.
//!
//! Connections are pooled and acknowledge at once, and TLS trusts the built-in roots plus
//! `SSL_CERT_FILE`: both are netkit's ([`netkit::connector`], [`netkit::tls`]). The pool is
//! [`netkit::inline`]'s: a call's POST is written and its answer read by the caller's own
//! task, with no connection task in between (no channel or thread hop per call).

mod answer;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backend_auth::BackendAuth;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use netkit::{InlineBody, InlineClient};
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, ServerJsonRpcMessage,
};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID,
    JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

pub(crate) use netkit::{error_chain, ClientBuildError};

#[cfg(test)]
use answer::scope_of;
use answer::{
    auth_challenge, content_length, error_for_status, http_status_error, media_type_is,
    read_bounded, read_prefix, sse_events, truncate,
};
#[cfg(test)]
use netkit::sse::EventSize;

/// `Accept` of every request: a POST may be answered with JSON or an SSE stream.
const ACCEPT_BOTH: &str = "text/event-stream, application/json";
/// Same-origin 307/308 redirects followed per request (rmcp's default client's limit).
const MAX_REDIRECTS: usize = 10;
/// Longest `Retry-After` value kept (rmcp's limit).
const MAX_RETRY_AFTER_BYTES: usize = 128;
/// Bytes of an unusable JSON body quoted in an error.
const BODY_PREVIEW: usize = 256;
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections kept per target: enough for bursts of concurrent calls.
const POOL_MAX_IDLE: usize = 256;

type PostResult = Result<StreamableHttpPostResponse, StreamableHttpError<HttpError>>;
type SseEvents = BoxStream<'static, Result<Sse, SseError>>;

/// A failure of the HTTP exchange itself, with its whole cause chain (see [`error_chain`]).
#[derive(Debug)]
pub(crate) struct HttpError {
    message: String,
    /// The request surely never reached the server: no connection could be made, or the
    /// connection closed before the request was written (netkit's `InlineError::unsent`).
    unsent: bool,
}

impl HttpError {
    fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            message: error_chain(e),
            unsent: false,
        }
    }

    /// Whether the request surely never reached the server, so sending it again is safe.
    pub(crate) fn unsent(&self) -> bool {
        self.unsent
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

// No `source()`: the chain is already in the message, and printing it twice helps nobody.
impl std::error::Error for HttpError {}

fn client_err(e: &(dyn std::error::Error + 'static)) -> StreamableHttpError<HttpError> {
    StreamableHttpError::Client(HttpError::of(e))
}

fn invalid(message: String) -> StreamableHttpError<HttpError> {
    StreamableHttpError::Client(HttpError {
        message,
        unsent: true,
    })
}

/// rmcp's [`StreamableHttpClient`] on hyper (see the module docs for why).
#[derive(Clone)]
pub(crate) struct McpHttpClient {
    http: InlineClient<Full<Bytes>>,
    /// The session rmcp's transport opened, once it has (see [`SessionRoute`]).
    route: Arc<std::sync::Mutex<Option<Arc<SessionRoute>>>>,
    /// The target's `backendAuth`: a header set on every request.
    auth: Option<BackendAuth>,
}

/// Where and how to POST within the session that rmcp's transport opened, so that a call
/// can be sent straight from the caller's task (`upstream::direct`). Recorded from the
/// `notifications/initialized` POST, which carries everything a request of the session does:
/// the session id and the negotiated `MCP-Protocol-Version` (among the custom headers).
pub(crate) struct SessionRoute {
    uri: Arc<str>,
    session_id: Option<Arc<str>>,
    auth_header: Option<String>,
    headers: HashMap<HeaderName, HeaderValue>,
    /// The URL and the complete headers of a POST in the session, built once: a call only
    /// copies them.
    post_uri: Uri,
    post_headers: HeaderMap,
}

impl McpHttpClient {
    /// `connect_timeout` bounds each TCP (+TLS) connect; the target's timeout bounds the rest.
    /// Building one does no I/O: `SSL_CERT_FILE` is read on the first `https` connect.
    pub(crate) fn new(connect_timeout: Duration, auth: Option<BackendAuth>) -> Self {
        let http = InlineClient::new(netkit::HyperOptions {
            connect_timeout,
            pool_idle_timeout: POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: POOL_MAX_IDLE,
            server_name: None,
            // MCP servers often leave Nagle on: see netkit's connector docs.
            quick_ack: true,
        });
        Self {
            http,
            route: Arc::default(),
            auth,
        }
    }

    /// The session rmcp's transport opened, once its handshake is done.
    pub(crate) fn session_route(&self) -> Option<Arc<SessionRoute>> {
        self.route.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets the session (it expired): calls go through rmcp's transport until it has
    /// opened a new one.
    pub(crate) fn forget_session(&self) {
        *self.route.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// POSTs `message` within `route`'s session.
    pub(crate) async fn post_in_session(
        &self,
        route: &SessionRoute,
        message: ClientJsonRpcMessage,
    ) -> PostResult {
        let body = encode(&message)?;
        let response = self
            .send(
                Method::POST,
                route.post_uri.clone(),
                route.post_headers.clone(),
                body,
            )
            .await?;
        let limits = StreamableHttpResponseLimits::default();
        let session_was_attached = route.session_id.is_some();
        self.post_answer(response, &message, session_was_attached, limits)
            .await
    }

    /// Resumes a response stream of `route`'s session after `last_event_id`.
    pub(crate) async fn resume_in_session(
        &self,
        route: &SessionRoute,
        last_event_id: &str,
    ) -> Result<SseEvents, StreamableHttpError<HttpError>> {
        self.get(
            route.uri.clone(),
            route.session_id.clone(),
            Some(last_event_id.to_owned()),
            route.auth_header.clone(),
            route.headers.clone(),
            StreamableHttpResponseLimits::default().max_sse_event_size,
        )
        .await
    }

    /// Records the session of a `notifications/initialized` POST (see [`SessionRoute`]).
    fn record_session(
        &self,
        uri: &Arc<str>,
        message: &ClientJsonRpcMessage,
        session_id: &Option<Arc<str>>,
        auth_header: &Option<String>,
        headers: &HashMap<HeaderName, HeaderValue>,
    ) {
        let initialized = matches!(message, ClientJsonRpcMessage::Notification(n)
            if matches!(n.notification, ClientNotification::InitializedNotification(_)));
        if !initialized {
            return;
        }
        // A session whose headers or URL cannot be built is not recorded: its calls go
        // through rmcp's transport, which reports the problem.
        let Ok(mut post_headers) =
            request_headers(auth_header.clone(), headers.clone(), session_id.as_deref())
        else {
            return;
        };
        post_headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_MIME_TYPE));
        let Ok(post_uri) = parse_uri(uri) else {
            return;
        };
        let route = SessionRoute {
            uri: uri.clone(),
            session_id: session_id.clone(),
            auth_header: auth_header.clone(),
            headers: headers.clone(),
            post_uri,
            post_headers,
        };
        *self.route.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(route));
    }

    /// Sends `method uri` with `headers` and `body`, following same-origin 307/308 redirects
    /// as rmcp's default client does: they keep the method and body. A 301/302/303 would turn
    /// the POST into a bodyless GET, and another origin would receive the session id and the
    /// target's headers, so those responses are returned as they are and fail the request as
    /// an unexpected answer.
    ///
    /// With `backendAuth`, its credential is set on the request (an `aws` signature covers
    /// the first URL: a redirect elsewhere on the origin is refused by a signing service);
    /// a token the target answers 401 to is replaced and the request sent once more.
    async fn send(
        &self,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<InlineBody>, StreamableHttpError<HttpError>> {
        let Some(auth) = &self.auth else {
            return self.send_following(&method, uri, headers, body).await;
        };
        let credential = self
            .credential(auth, &method, &uri, &mut headers, &body)
            .await?;
        let response = self
            .send_following(&method, uri.clone(), headers.clone(), body.clone())
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED || !auth.rejected(&credential) {
            return Ok(response);
        }
        self.credential(auth, &method, &uri, &mut headers, &body)
            .await?;
        self.send_following(&method, uri, headers, body).await
    }

    /// Sets `auth`'s credential in `headers` (an `aws` signature of the request); a failure
    /// to get one (the token endpoint is down) fails the request before it is sent.
    async fn credential(
        &self,
        auth: &BackendAuth,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        body: &Bytes,
    ) -> Result<backend_auth::Credential, StreamableHttpError<HttpError>> {
        let request = backend_auth::Outgoing {
            method,
            uri,
            headers,
            body: Some(body),
        };
        auth.authorize(request).await.map_err(|e| {
            StreamableHttpError::Client(HttpError {
                message: e.to_string(),
                unsent: true,
            })
        })
    }

    async fn send_following(
        &self,
        method: &Method,
        mut uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<InlineBody>, StreamableHttpError<HttpError>> {
        for _ in 0..=MAX_REDIRECTS {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let response = self.http.request(request).await.map_err(|e| {
                StreamableHttpError::Client(HttpError {
                    unsent: e.unsent(),
                    ..HttpError::of(&e)
                })
            })?;
            let keeps_body = matches!(
                response.status(),
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            let next = keeps_body
                .then(|| same_origin_location(&uri, response.headers()))
                .flatten();
            match next {
                Some(next) => {
                    tracing::debug!(status = %response.status(), to = next.path(), "following same-origin redirect");
                    uri = next;
                }
                None => return Ok(response),
            }
        }
        Err(invalid(format!("exceeded {MAX_REDIRECTS} redirects")))
    }
}

/// The target URL, parsed (a bad one fails the request before anything is sent).
fn parse_uri(uri: &str) -> Result<Uri, StreamableHttpError<HttpError>> {
    uri.parse()
        .map_err(|e| invalid(format!("invalid target URL {uri:?}: {e}")))
}

/// The JSON body of `message`.
fn encode(message: &ClientJsonRpcMessage) -> Result<Bytes, StreamableHttpError<HttpError>> {
    serde_json::to_vec(message)
        .map(Bytes::from)
        .map_err(|e| invalid(format!("cannot encode the message: {e}")))
}

/// Where a redirect from `from` points, if that is the same origin (scheme, host and port).
fn same_origin_location(from: &Uri, headers: &HeaderMap) -> Option<Uri> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    if location.starts_with('/') && !location.starts_with("//") {
        let mut parts = from.clone().into_parts();
        parts.path_and_query = Some(location.parse().ok()?);
        return Uri::from_parts(parts).ok();
    }
    let to: Uri = location.parse().ok()?;
    let port = |u: &Uri| {
        u.port_u16().or_else(|| match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    };
    let same = to.scheme() == from.scheme()
        && to
            .host()
            .is_some_and(|h| from.host().is_some_and(|f| f.eq_ignore_ascii_case(h)))
        && port(&to) == port(from);
    same.then_some(to)
}

/// The headers of every request: `Accept`, the bearer token, the target's own headers
/// (refusing those the transport sets itself, as rmcp does; `MCP-Protocol-Version` passes
/// because rmcp's worker injects it this way), and the session id.
fn request_headers(
    auth_header: Option<String>,
    custom: HashMap<HeaderName, HeaderValue>,
    session_id: Option<&str>,
) -> Result<HeaderMap, StreamableHttpError<HttpError>> {
    let mut headers = HeaderMap::with_capacity(custom.len() + 4);
    headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_BOTH));
    if let Some(token) = auth_header {
        let value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| invalid("the bearer token is not a valid header value".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    for (name, value) in custom {
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
        headers.append(name, value);
    }
    if let Some(session_id) = session_id {
        let value = HeaderValue::from_str(session_id)
            .map_err(|_| invalid("the session id is not a valid header value".into()))?;
        headers.insert(HEADER_SESSION_ID, value);
    }
    Ok(headers)
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
        let headers = request_headers(auth_header, headers, Some(&session_id))?;
        let response = self
            .send(Method::DELETE, parse_uri(&uri)?, headers, Bytes::new())
            .await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!("the server does not support deleting sessions");
            return Ok(());
        }
        error_for_status(response.status())
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
        let mut headers = request_headers(auth_header, headers, session_id.as_deref())?;
        if let Some(last_event_id) = last_event_id {
            let value = HeaderValue::try_from(last_event_id)
                .map_err(|_| invalid("the last event id is not a valid header value".into()))?;
            headers.insert(HEADER_LAST_EVENT_ID, value);
        }
        let response = self
            .send(Method::GET, parse_uri(&uri)?, headers, Bytes::new())
            .await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        auth_challenge(&response)?;
        if let Some(error) = http_status_error(response.status(), response.headers()) {
            return Err(error.into());
        }
        error_for_status(response.status())?;
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
        self.record_session(&uri, &message, &session_id, &auth_header, &headers);
        let session_was_attached = session_id.is_some();
        let mut headers = request_headers(auth_header, headers, session_id.as_deref())?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_MIME_TYPE));
        let body = encode(&message)?;
        let response = self
            .send(Method::POST, parse_uri(&uri)?, headers, body)
            .await?;
        self.post_answer(response, &message, session_was_attached, limits)
            .await
    }

    /// What a POST's `response` says, for `message`.
    async fn post_answer(
        &self,
        response: Response<InlineBody>,
        message: &ClientJsonRpcMessage,
        session_was_attached: bool,
        limits: StreamableHttpResponseLimits,
    ) -> PostResult {
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
        if status.is_success() && content_length(&response) == Some(0) && awaits_no_response {
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
                                message,
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
            if let Some(r) = legacy_discover_response(message, session_was_attached, status, &body)
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
                match crate::jsonrpc_parse::server_message(&body) {
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

#[cfg(test)]
mod tests;
