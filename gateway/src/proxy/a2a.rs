//! The `a2a` route policy on the data path.
//!
//! Requests: agent-card fetches are marked for rewriting; JSON-RPC calls are read (up to the
//! body limit) for their method, ids and push-notification URLs, so bad calls are answered with
//! the right JSON-RPC error, webhooks are checked against SSRF rules, and task ownership is
//! enforced; HTTP+JSON calls are classified by verb and path. Everything else passes as on a
//! plain route. Responses: cards are rewritten to point at the gateway; JSON results and SSE
//! events are read for the task id and state (ownership, access log), streams frame by frame
//! without delaying them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use a2a::events::{inspect_event_data, inspect_result, EventInfo};
use a2a::{A2aMethod, Dialect, HttpRequestKind, RpcError};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use netkit::sse::EventFeed;

use super::error::text_response;
use crate::body::{full, Body, BoxError};
use crate::model::matcher::{PathMatcher, RequestMatch};
use crate::model::policy::A2aRelay;
use crate::model::route::Route;

/// Largest agent card or JSON result the relay reads whole.
const MAX_INSPECTED_BODY: usize = 8 << 20;
/// Largest single SSE event the stream inspector keeps while waiting for its end.
const MAX_EVENT: usize = 1 << 20;

/// What the access log says about an A2A exchange.
#[derive(Debug, Default, Clone)]
pub struct A2aFields {
    /// The operation (1.0 name).
    pub method: Option<&'static str>,
    /// Task id from the request or the response.
    pub task_id: Option<String>,
    /// Context id.
    pub context_id: Option<String>,
    /// The last task state seen.
    pub state: Option<String>,
}

/// Shared between the request, the response inspectors and the access log.
pub type SharedFields = Arc<Mutex<A2aFields>>;

/// What the request side learned, for the response side.
pub struct Exchange {
    relay: Arc<A2aRelay>,
    kind: Kind,
    caller: Option<String>,
    /// Fields for the access log.
    pub fields: SharedFields,
    rewrite: Option<a2a::RewriteOptions>,
}

enum Kind {
    Card,
    Call(A2aMethod),
    Other,
}

/// The request side's outcome.
pub enum Prepared {
    /// Answer now with this response (an error in the caller's protocol).
    Answer(Response<Body>),
    /// Forward, with the body when it was read.
    Forward(Exchange, Option<Bytes>),
}

/// Where the request is going, as the card rewrite needs it.
pub struct Target<'a> {
    /// The route.
    pub route: &'a Route,
    /// The match that selected it (its prefix is the public path).
    pub matched: &'a RequestMatch,
    /// `http://upstream` plus the path the route's prefix maps to.
    pub upstream_base: &'a str,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// The caller, when the route's authentication policy found one.
    pub identity: Option<&'a authn::Identity>,
}

/// Who owns the tasks a request creates and may touch the tasks it names; `None`: ownership
/// is not enforced. On a route that authenticates, the authenticated caller (so no header can
/// claim another caller's tasks); anonymous requests that `optional` or `permissive` mode lets
/// through are owned by `callerHeader`'s value when it is set, else all share one anonymous
/// owner, and never match an authenticated caller. On a route without authentication,
/// `callerHeader`'s value (empty when absent), when it is set. The prefixes keep the three
/// kinds apart: a header saying `apiKey:ci` is not the API key `ci`.
fn task_owner(relay: &A2aRelay, target: &Target<'_>, headers: &http::HeaderMap) -> Option<String> {
    if let Some(identity) = target.identity {
        return Some(match identity.jwt() {
            // `sub` is unique per issuer only.
            Some(jwt) => format!(
                "jwt:{} {}",
                jwt.issuer,
                jwt.subject.as_deref().unwrap_or("")
            ),
            None => format!("{}:{}", identity.method_name(), identity.subject()),
        });
    }
    let header = relay.caller_header.as_ref().map(|h| {
        let value = headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("");
        format!("header:{value}")
    });
    let authenticates = target
        .route
        .plan
        .request
        .iter()
        .any(|p| matches!(p, crate::model::plan::RoutePhase::Authenticate(_)));
    if authenticates {
        return Some(header.unwrap_or_else(|| "anonymous".to_string()));
    }
    header
}

/// Reads what the policy needs from the request. `body` is read only for JSON-RPC calls and
/// HTTP+JSON calls that may carry a push-notification config.
pub async fn prepare(
    relay: &Arc<A2aRelay>,
    target: &Target<'_>,
    parts: &mut http::request::Parts,
    body: Body,
    limit: u64,
    metrics: &crate::metrics::Metrics,
    fields: SharedFields,
) -> Result<(Prepared, Option<Body>), String> {
    a2a::headers::copy_query_version_to_header(&mut parts.headers, parts.uri.query());
    let caller = task_owner(relay, target, &parts.headers);
    let mut exchange = Exchange {
        relay: relay.clone(),
        kind: Kind::Other,
        caller,
        fields,
        rewrite: None,
    };
    let classified = a2a::classify_http(&parts.method, parts.uri.path());
    let rest = classified.is_some();
    let (method, dialect, task_id, push_urls, id, read) = match classified {
        Some(HttpRequestKind::PublicCard { .. }) => {
            exchange.kind = Kind::Card;
            exchange.rewrite = Some(rewrite_options(relay, target, parts)?);
            // The card is rewritten as text: ask for it uncompressed.
            parts.headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            return Ok((Prepared::Forward(exchange, None), Some(body)));
        }
        Some(HttpRequestKind::Rest(peek)) => {
            if peek.method == A2aMethod::GetExtendedAgentCard {
                exchange.rewrite = Some(rewrite_options(relay, target, parts)?);
            }
            if peek.method.may_carry_push_config() && parts.method == Method::POST {
                let bytes = match read_body(body, limit).await {
                    Ok(b) => b,
                    Err(resp) => return Ok((Prepared::Answer(resp), None)),
                };
                let body_peek = rest_body_peek(peek.method, &bytes);
                let task_id = peek
                    .task_id
                    .or_else(|| body_peek.as_ref().and_then(|p| p.task_id.clone()));
                let urls = body_peek.map(|p| p.push_urls).unwrap_or_default();
                (peek.method, Dialect::V1, task_id, urls, None, Some(bytes))
            } else {
                exchange.kind = Kind::Call(peek.method);
                record_request(
                    &exchange,
                    peek.method,
                    peek.task_id.as_deref(),
                    None,
                    target.route,
                    metrics,
                );
                if let Some(resp) = check_owner(
                    &exchange,
                    peek.method,
                    peek.task_id.as_deref(),
                    None,
                    Dialect::V1,
                    true,
                ) {
                    return Ok((Prepared::Answer(resp), None));
                }
                return Ok((Prepared::Forward(exchange, None), Some(body)));
            }
        }
        None if parts.method == Method::POST => {
            let bytes = match read_body(body, limit).await {
                Ok(b) => b,
                Err(resp) => return Ok((Prepared::Answer(resp), None)),
            };
            match a2a::peek_request(&bytes, usize::try_from(limit).unwrap_or(usize::MAX)) {
                Ok(peek) => {
                    if peek.method == A2aMethod::GetExtendedAgentCard {
                        exchange.rewrite = Some(rewrite_options(relay, target, parts)?);
                    }
                    let ctx = peek.context_id.clone();
                    exchange.fields.lock().map(|mut f| f.context_id = ctx).ok();
                    (
                        peek.method,
                        peek.dialect,
                        peek.task_id,
                        peek.push_urls,
                        peek.id,
                        Some(bytes),
                    )
                }
                Err(e) => {
                    return Ok((
                        Prepared::Answer(json_response(StatusCode::OK, e.to_response_bytes())),
                        None,
                    ))
                }
            }
        }
        None => return Ok((Prepared::Forward(exchange, None), Some(body))),
    };
    exchange.kind = Kind::Call(method);
    record_request(
        &exchange,
        method,
        task_id.as_deref(),
        None,
        target.route,
        metrics,
    );
    for url in &push_urls {
        if let Err(e) = relay.push_guard.check_url(url).await {
            tracing::info!(route = %target.route.key, error = %e, "push-notification webhook refused");
            let err = RpcError::invalid_params(e.to_string()).for_dialect(dialect);
            return Ok((
                Prepared::Answer(error_response(&err, id.as_ref(), rest)),
                None,
            ));
        }
    }
    if let Some(resp) = check_owner(
        &exchange,
        method,
        task_id.as_deref(),
        id.as_ref(),
        dialect,
        rest,
    ) {
        return Ok((Prepared::Answer(resp), None));
    }
    Ok((Prepared::Forward(exchange, read), None))
}

fn record_request(
    ex: &Exchange,
    method: A2aMethod,
    task_id: Option<&str>,
    _ctx: Option<&str>,
    route: &Route,
    metrics: &crate::metrics::Metrics,
) {
    metrics.a2a_request(&route.key, method.as_str());
    if let Ok(mut f) = ex.fields.lock() {
        f.method = Some(method.as_str());
        f.task_id = task_id.map(str::to_string);
    }
}

/// Refuses task operations on a task another caller created (as TaskNotFound, so task ids of
/// other callers are not revealed).
fn check_owner(
    ex: &Exchange,
    method: A2aMethod,
    task_id: Option<&str>,
    id: Option<&serde_json::Value>,
    dialect: Dialect,
    rest: bool,
) -> Option<Response<Body>> {
    let caller = ex.caller.as_deref()?;
    // A message into an existing task (`message.taskId`) touches that task too.
    let continues_task = matches!(
        method,
        A2aMethod::SendMessage | A2aMethod::SendStreamingMessage
    );
    let task_id = task_id.filter(|_| method.targets_existing_task() || continues_task)?;
    let err = ex.relay.owners.authorize(task_id, caller).err()?;
    tracing::info!(task_id, caller, "task belongs to another caller");
    Some(error_response(&err.to_rpc().for_dialect(dialect), id, rest))
}

fn error_response(err: &RpcError, id: Option<&serde_json::Value>, rest: bool) -> Response<Body> {
    if rest {
        let (status, body) = err.to_rest();
        json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
        )
    } else {
        json_response(StatusCode::OK, err.to_response_bytes(id))
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Whether the request was a recognised A2A call (not a card fetch or other traffic).
pub fn is_call(fields: &SharedFields) -> bool {
    fields.lock().map(|f| f.method.is_some()).unwrap_or(false)
}

/// A failure of the gateway or the agent's connection, as a JSON-RPC internal error with the
/// gateway's HTTP status (502, 503, 504).
pub fn gateway_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, RpcError::internal(message).to_response_bytes(None))
}

/// A request the route's rules refuse, as a JSON-RPC invalid-request error with the
/// gateway's HTTP status (403).
pub fn forbidden(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        RpcError::invalid_request(message).to_response_bytes(None),
    )
}

/// The answer to a body over the route's limit: 413 with a JSON-RPC error body.
pub fn body_too_large(limit: u64) -> Response<Body> {
    let err = RpcError::body_too_large(usize::try_from(limit).unwrap_or(usize::MAX));
    json_response(StatusCode::PAYLOAD_TOO_LARGE, err.to_response_bytes(None))
}

/// Reads a request body up to `limit`; over it, a 413 with a JSON-RPC error body.
async fn read_body(body: Body, limit: u64) -> Result<Bytes, Response<Body>> {
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if crate::body::is_body_too_large(e.as_ref()).is_some() {
                return Err(body_too_large(limit));
            }
            if crate::body::is_body_read_timeout(e.as_ref()).is_some() {
                let err = RpcError::invalid_request(e.to_string());
                return Err(json_response(
                    StatusCode::REQUEST_TIMEOUT,
                    err.to_response_bytes(None),
                ));
            }
            let err = RpcError::invalid_request(format!("cannot read the request body: {e}"));
            Err(json_response(
                StatusCode::BAD_REQUEST,
                err.to_response_bytes(None),
            ))
        }
    }
}

/// What an HTTP+JSON body says (task id, push-notification URLs), read with the JSON-RPC reader
/// by wrapping the body as the params of the equivalent 1.0 call.
fn rest_body_peek(method: A2aMethod, body: &[u8]) -> Option<a2a::JsonRpcPeek> {
    let name = method.jsonrpc_name(Dialect::V1)?;
    let params = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let envelope = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": name, "params": params});
    let bytes = serde_json::to_vec(&envelope).ok()?;
    a2a::peek_request(&bytes, bytes.len() + 1).ok()
}

fn rewrite_options(
    relay: &A2aRelay,
    target: &Target<'_>,
    parts: &http::request::Parts,
) -> Result<a2a::RewriteOptions, String> {
    let scheme = if target.tls { "https" } else { "http" };
    let host = crate::model::host::request_authority(parts).unwrap_or("");
    let prefix = match &target.matched.path {
        PathMatcher::Prefix(p) => p.as_str(),
        _ => "",
    };
    let public = a2a::public_base_url(relay.public_url.as_deref(), scheme, host, prefix)
        .map_err(|e| e.to_string())?;
    let mut opts = a2a::RewriteOptions::new(public.as_str(), target.upstream_base)
        .map_err(|e| e.to_string())?;
    opts.signed_cards = relay.signed_cards;
    Ok(opts)
}

/// Applies the policy to the upstream's response.
pub async fn respond(ex: Exchange, mut parts: http::response::Parts, body: Body) -> Response<Body> {
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if a2a::headers::is_event_stream(parts.headers.get(header::CONTENT_TYPE)) {
        let idle = ex.relay.stream_idle_timeout;
        let inspected = SseInspector::new(crate::body::IdleTimeout::new(body, idle).boxed(), ex);
        return Response::from_parts(parts, inspected.boxed());
    }
    let wants_body = ex.rewrite.is_some()
        || (ex.caller.is_some()
            && matches!(
                ex.kind,
                Kind::Call(A2aMethod::SendMessage | A2aMethod::ListTasks)
            ));
    if !parts.status.is_success() || !is_json || !wants_body {
        return Response::from_parts(parts, body);
    }
    let bytes = match collect_capped(body, MAX_INSPECTED_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return text_response(
                StatusCode::BAD_GATEWAY,
                &format!("cannot read the agent's response: {e}"),
            )
        }
    };
    let bytes = match &ex.rewrite {
        Some(opts) => match rewrite_card_body(&bytes, opts, &ex.kind) {
            Ok(b) => b,
            Err(e) => {
                return text_response(
                    StatusCode::BAD_GATEWAY,
                    &format!("the agent's card cannot be relayed: {e}"),
                )
            }
        },
        None => bytes,
    };
    let bytes = ex.observe_json(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    if parts.headers.remove(header::ETAG).is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("W/\"{:016x}\"", fnv1a(&bytes))) {
            parts.headers.insert(header::ETAG, v);
        }
    }
    Response::from_parts(parts, full(bytes))
}

/// Reads a whole body of at most `cap` bytes.
async fn collect_capped(mut body: Body, cap: usize) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > cap {
                return Err(format!("larger than {cap} bytes"));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out.freeze())
}

fn rewrite_card_body(
    bytes: &[u8],
    opts: &a2a::RewriteOptions,
    kind: &Kind,
) -> Result<Bytes, a2a::CardError> {
    let rewritten = match kind {
        Kind::Call(_)
            if serde_json::from_slice::<serde_json::Value>(bytes)
                .is_ok_and(|v| v.get("jsonrpc").is_some()) =>
        {
            a2a::rewrite_card_jsonrpc_response(bytes, opts)?
        }
        _ => a2a::rewrite_card(bytes, opts)?,
    };
    let report = &rewritten.report;
    if !matches!(report.signatures, a2a::card::SignatureAction::Unsigned) {
        tracing::info!(signatures = ?report.signatures, "signed agent card: signatures handled per policy");
    }
    for d in &report.dropped {
        tracing::info!(url = %d.url, binding = %d.binding, reason = ?d.reason, "agent card interface not relayed");
    }
    Ok(Bytes::from(rewritten.body))
}

impl Exchange {
    /// Records what a JSON result says (owner, ids, state); filters `ListTasks` to the caller.
    fn observe_json(&self, bytes: Bytes) -> Bytes {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return bytes;
        };
        let info = if v.get("jsonrpc").is_some() {
            a2a::inspect_response(&v)
        } else {
            inspect_result(&v)
        };
        self.observe(&info);
        match (&self.kind, &self.caller) {
            (Kind::Call(A2aMethod::ListTasks), Some(caller)) => {
                match self.relay.owners.filter_list_response(&bytes, caller) {
                    Ok((filtered, _)) => Bytes::from(filtered),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot filter the task list; returning none");
                        Bytes::from_static(b"{}")
                    }
                }
            }
            _ => bytes,
        }
    }

    fn observe(&self, info: &EventInfo) {
        if let (Some(task), Some(caller)) = (&info.task_id, &self.caller) {
            if matches!(
                self.kind,
                Kind::Call(A2aMethod::SendMessage | A2aMethod::SendStreamingMessage)
            ) {
                self.relay.owners.record(task, caller);
            }
        }
        if let Ok(mut f) = self.fields.lock() {
            if info.task_id.is_some() {
                f.task_id.clone_from(&info.task_id);
            }
            if info.context_id.is_some() {
                f.context_id.clone_from(&info.context_id);
            }
            if let Some(s) = info.state {
                f.state = Some(format!("{s:?}"));
            }
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pin_project_lite::pin_project! {
    /// Passes an SSE body through frame by frame, reading a copy of each complete event on the
    /// side (netkit's [`EventFeed`]): a frame is never held back waiting for its event's end,
    /// and an event over [`MAX_EVENT`] is skipped, not buffered.
    struct SseInspector {
        #[pin]
        inner: Body,
        feed: EventFeed,
        exchange: Exchange,
    }
}

impl SseInspector {
    fn new(inner: Body, exchange: Exchange) -> Self {
        SseInspector {
            inner,
            feed: EventFeed::new(MAX_EVENT),
            exchange,
        }
    }
}

impl HttpBody for SseInspector {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let skipped = this.feed.skipped();
                for event in this.feed.push(data) {
                    if let Some(info) = inspect_event_data(&event.event, &event.data) {
                        this.exchange.observe(&info);
                    }
                }
                if this.feed.skipped() > skipped {
                    tracing::debug!(
                        max_bytes = MAX_EVENT,
                        "an A2A stream event is too large to inspect; relayed unread"
                    );
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::StreamBody;

    use super::*;

    /// A streamed `SendStreamingMessage` response: the first event split across frames with
    /// CRLF line ends, a keep-alive, an event over the inspection limit, then the final status.
    /// Every frame is relayed as it came, and the events on both sides of the big one are read
    /// (its task recorded for its caller, its last state logged).
    #[tokio::test]
    async fn sse_events_are_read_from_the_relayed_frames_one_by_one() {
        let relay = Arc::new(A2aRelay {
            public_url: None,
            signed_cards: a2a::SignedCards::Strip,
            caller_header: Some(header::HeaderName::from_static("x-caller")),
            push_guard: a2a::PushGuard::new(a2a::PushGuardConfig::default()),
            owners: a2a::OwnershipStore::new(16, Duration::from_secs(60), a2a::UnknownTasks::Allow),
            stream_idle_timeout: Duration::from_secs(5),
        });
        let fields = SharedFields::default();
        let exchange = Exchange {
            relay: relay.clone(),
            kind: Kind::Call(A2aMethod::SendStreamingMessage),
            caller: Some("alice".into()),
            fields: fields.clone(),
            rewrite: None,
        };
        let working = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"task\":\
                       {\"id\":\"t1\",\"contextId\":\"c1\",\"status\":{\"state\":\"TASK_STATE_WORKING\"}}}}\r\n\r\n";
        let big = format!(
            "data: {{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"statusUpdate\":{{\"taskId\":\"t1\",\
             \"status\":{{\"state\":\"TASK_STATE_FAILED\"}},\"pad\":\"{}\"}}}}}}\n\n",
            "x".repeat(MAX_EVENT)
        );
        let completed = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"statusUpdate\":\
                         {\"taskId\":\"t1\",\"status\":{\"state\":\"TASK_STATE_COMPLETED\"}}}}\n\n";
        let (half, rest) = working.split_at(70);
        let frames: Vec<Bytes> = vec![
            Bytes::copy_from_slice(half.as_bytes()),
            Bytes::from(format!("{rest}: ping\r\n\r\n")),
            Bytes::copy_from_slice(&big.as_bytes()[..big.len() / 2]),
            Bytes::from(format!("{}{completed}", &big[big.len() / 2..])),
        ];
        let body = StreamBody::new(futures_util::stream::iter(
            frames
                .clone()
                .into_iter()
                .map(|b| Ok::<_, BoxError>(Frame::data(b))),
        ))
        .boxed();
        let mut inspected = SseInspector::new(body, exchange);
        let mut relayed = Vec::new();
        while let Some(frame) = inspected.frame().await {
            let frame = frame.expect("relayed");
            let data = frame.into_data().expect("a data frame");
            relayed.push(data);
            if relayed.len() == 2 {
                let f = fields.lock().expect("fields").clone();
                assert_eq!(f.task_id.as_deref(), Some("t1"), "read as its frame passed");
                assert_eq!(f.state.as_deref(), Some("Working"));
            }
        }
        assert_eq!(relayed, frames, "every frame relayed as it came");
        let f = fields.lock().expect("fields").clone();
        assert_eq!(f.context_id.as_deref(), Some("c1"));
        assert_eq!(
            f.state.as_deref(),
            Some("Completed"),
            "the event after the oversized one is read"
        );
        assert!(relay.owners.authorize("t1", "alice").is_ok());
        assert!(
            relay.owners.authorize("t1", "bob").is_err(),
            "the streamed task is recorded as alice's"
        );
    }
}
