//! The Streamable HTTP endpoint of a virtual MCP server, both eras, plus the
//! legacy HTTP+SSE transport at `…/sse` ([`legacy_sse`]).
//!
//! Written for the gateway rather than taken from rmcp's `StreamableHttpService`
//! for three reasons:
//! * Sessions are sealed ids ([`session`]), not in-memory state, so replicas
//!   sharing `sessionKey` serve each other's sessions and an idle session costs
//!   no memory at all.
//! * A request is one task and one upstream call: no per-session worker, no
//!   channel hops, and a plain JSON response unless the request actually
//!   produces notifications, in which case the response turns into an SSE
//!   stream at the first one ([`body`]).
//! * Errors are the gateway's: JSON-RPC bodies with the spec's codes and statuses.
//!
//! A target's questions (elicitation, sampling) reach a legacy client on the
//! response stream of the call that caused them; its answer is a POST of its
//! own, matched by [`crate::front::answers`].
//!
//! A legacy session's `GET` stream carries the list changes of the merged
//! server ([`Multiplexer::list_changes`]), and the targets' log messages and
//! resource updates the session asked for ([`interest`]).
//!
//! A legacy session's streams carry event ids, and a client whose stream broke
//! resumes it with `GET` and `Last-Event-ID` ([`resume`]). Clients of the
//! 2026-07-28 era hear list changes and resource updates on a
//! `subscriptions/listen` stream ([`listen`]).

mod body;
mod downstream;
mod era;
mod host;
mod inflight;
mod interest;
mod legacy_sse;
mod listen;
pub(crate) mod mrtr;
mod origin;
mod prefs;
mod reply;
mod resume;
#[cfg(test)]
mod rng_tests;
pub mod session;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use rmcp::model::GetMeta as _;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, DiscoverResult, ErrorData,
    InitializeRequestParams, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::ServerHandler as _;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use body::ResponseBody;
use era::{Era, Refusal};
pub use host::ListenAddr;
use reply::{
    accepted, json_reply, jsonrpc_refusal, plain, respond, result_reply, sse_reply, CallFuture,
    Finish, Reply,
};
use session::Rng;
pub use session::{RngError, SessionClaims, SessionSealer};

use crate::core::context::{CallContext, CallRecord, RecordSlot};
use crate::core::mux::Multiplexer;
use crate::core::tool_limit::ToolLimit;
use crate::front::answers::{Delivery, PendingAnswers};
use crate::policy::Caller;
use crate::upstream::logging::LogInterest;
use downstream::{CallRounds, ResponseStream};

/// Settings of one endpoint.
#[derive(Debug, Clone)]
pub struct HttpFrontConfig {
    /// Browser origins allowed (`https://app.example`, `http://localhost:*`, `*`).
    pub allowed_origins: Vec<String>,
    /// `Host` values allowed (`mcp.example.com`, `localhost:8080`); empty: only loopback
    /// names when the request arrived on a loopback address ([`ListenAddr`]), else any.
    pub allowed_hosts: Vec<String>,
    /// Seals session ids; replicas with the same key share sessions. `None`: a
    /// random key, so sessions live only as long as this process.
    pub session_key: Option<[u8; 32]>,
    /// How long a session id stays valid after `initialize`.
    pub session_max_age: Duration,
    /// Names this endpoint (route and backend): an id minted here is refused elsewhere.
    pub scope: String,
}

impl Default for HttpFrontConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            session_key: None,
            session_max_age: Duration::from_secs(24 * 3600),
            scope: String::new(),
        }
    }
}

/// Serves the MCP endpoint of one virtual server.
pub struct HttpFront {
    mux: Multiplexer,
    origins: origin::OriginPolicy,
    hosts: host::HostPolicy,
    sessions: SessionSealer,
    /// Makes the ids of legacy SSE sessions.
    rng: Rng,
    inflight: Arc<inflight::Inflight>,
    answers: Arc<PendingAnswers>,
    sse_sessions: Arc<legacy_sse::SseSessions>,
    parked: Arc<mrtr::ParkedCalls>,
    prefs: Arc<prefs::SessionPrefs>,
    replays: Arc<resume::Replays>,
}

impl HttpFront {
    /// An endpoint serving `mux`. Fails when the system's random generator does (a key,
    /// nonces and ids are made from it, and from nothing weaker): the endpoint would be
    /// unable to start a session.
    pub fn new(mux: Multiplexer, config: HttpFrontConfig) -> Result<Self, RngError> {
        Self::with_rng(mux, config, Rng::system())
    }

    /// [`HttpFront::new`] with the random generator `rng` (tests make it fail).
    pub(crate) fn with_rng(
        mux: Multiplexer,
        config: HttpFrontConfig,
        rng: Rng,
    ) -> Result<Self, RngError> {
        let key = match config.session_key {
            Some(k) => k,
            None => rng.key()?,
        };
        let inflight = Arc::new(inflight::Inflight::new(mux.metrics().clone()));
        Ok(Self {
            mux,
            origins: origin::OriginPolicy::new(&config.allowed_origins),
            hosts: host::HostPolicy::new(&config.allowed_hosts),
            sessions: SessionSealer::with_rng(
                key,
                &config.scope,
                config.session_max_age,
                rng.clone(),
            ),
            inflight,
            answers: Arc::default(),
            sse_sessions: Arc::default(),
            parked: Arc::new(mrtr::ParkedCalls::new(rng.clone())),
            prefs: Arc::default(),
            replays: Arc::new(resume::Replays::new(&rng)?),
            rng,
        })
    }

    /// Calls in flight that a client can cancel by notification (what the
    /// `calls_in_flight` metric reports): zero when nothing runs.
    pub fn calls_in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The virtual server behind this endpoint.
    pub fn multiplexer(&self) -> &Multiplexer {
        &self.mux
    }

    /// Serves one HTTP request whose body has been read (and size-limited) by the caller.
    pub async fn serve(&self, req: Request<Bytes>) -> Reply {
        let listen = req.extensions().get::<ListenAddr>().map(|a| a.0);
        if let Err(host) = self.hosts.check(req.headers(), req.uri(), listen) {
            self.mux.metrics().refused("host");
            tracing::info!(%host, "MCP request refused: host not allowed (DNS rebinding protection; see allowedHosts)");
            return plain(
                StatusCode::MISDIRECTED_REQUEST,
                "Misdirected Request: Host not allowed",
            );
        }
        if let Err(origin) = self.origins.check(req.headers()) {
            self.mux.metrics().refused("origin");
            tracing::info!(%origin, "MCP request refused: origin not allowed");
            return plain(StatusCode::FORBIDDEN, "Forbidden: Origin not allowed");
        }
        match *req.method() {
            Method::GET if legacy_sse::is_stream_path(req.uri()) => self.sse_open(),
            Method::POST if legacy_sse::session_param(req.uri()).is_some() => {
                let session = legacy_sse::session_param(req.uri()).unwrap_or_default();
                self.sse_post(
                    session,
                    req.body(),
                    ToolLimit::of(req.extensions()),
                    Caller::of(&req),
                )
            }
            Method::POST => self.post(req).await,
            Method::DELETE => self.delete(req.headers()),
            Method::GET => self.get(req.headers()),
            _ => {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
                r
            }
        }
    }

    /// The GET stream of a legacy session: the virtual server's list changes, as they
    /// happen, for as long as the client keeps it open, plus the log messages and resource
    /// updates the session asked for (see [`interest`]). Clients of the 2026-07-28 era have
    /// no session and no GET stream.
    fn get(&self, headers: &http::HeaderMap) -> Reply {
        if !headers.contains_key(era::SESSION_ID) {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed: GET opens a session's stream and needs Mcp-Session-Id",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            return r;
        }
        if let Err(reply) = self.session(headers) {
            return *reply;
        }
        if !accepts(headers, "text/event-stream") {
            return jsonrpc_refusal(
                StatusCode::NOT_ACCEPTABLE,
                None,
                ErrorData::invalid_request(
                    "Not Acceptable: the Accept header must list text/event-stream",
                    None,
                ),
            );
        }
        let session = header_str(headers, &era::SESSION_ID).unwrap_or_default();
        if let Some(last) = header_str(headers, &era::LAST_EVENT_ID) {
            return match self.replays.resume(session, last) {
                Ok((backlog, events)) => sse_reply(body::SseStream::events(backlog, events)),
                Err(e) => {
                    tracing::info!(error = %e, "MCP stream not resumed");
                    jsonrpc_refusal(
                        StatusCode::BAD_REQUEST,
                        None,
                        ErrorData::invalid_request(format!("Bad Request: {e}"), None),
                    )
                }
            };
        }
        let (replay, events) = self.replays.open(session);
        self.relay_notices(
            interest::NoticeStream::Replay(self.replays.clone(), replay),
            interest::Reader::Session(Arc::from(session)),
        );
        sse_reply(body::SseStream::events(VecDeque::new(), events))
    }

    async fn post(&self, req: Request<Bytes>) -> Reply {
        let caller = Caller::of(&req);
        let (parts, bytes) = req.into_parts();
        if !accepts_json_and_sse(&parts.headers) {
            return jsonrpc_refusal(
                StatusCode::NOT_ACCEPTABLE,
                None,
                ErrorData::invalid_request(
                    "Not Acceptable: the Accept header must list application/json and text/event-stream",
                    None,
                ),
            );
        }
        let message = match parse(&bytes) {
            Ok(m) => m,
            Err(error) => return jsonrpc_refusal(StatusCode::BAD_REQUEST, None, error),
        };
        let record = Arc::new(record_of(&message));
        if let Some(slot) = parts.extensions.get::<RecordSlot>() {
            let _ = slot.0.set(record.clone());
        }
        match message {
            ClientJsonRpcMessage::Request(r) => {
                let limit = ToolLimit::of(&parts.extensions);
                self.request(&parts.headers, r.id, r.request, &record, limit, caller)
                    .await
            }
            ClientJsonRpcMessage::Notification(n) => {
                self.notification(&parts.headers, n.notification)
            }
            ClientJsonRpcMessage::Response(r) => self.answer(&parts.headers, r.id, Ok(r.result)),
            ClientJsonRpcMessage::Error(e) => match e.id {
                Some(id) => self.answer(&parts.headers, id, Err(e.error)),
                None => {
                    tracing::info!(error = %e.error.message, "MCP client sent an error for no request");
                    accepted()
                }
            },
        }
    }

    async fn request(
        &self,
        headers: &http::HeaderMap,
        id: RequestId,
        request: ClientRequest,
        record: &Arc<CallRecord>,
        tool_limit: Option<ToolLimit>,
        caller: Option<Arc<Caller>>,
    ) -> Reply {
        let era = match era::classify(headers, &request) {
            Ok(e) => e,
            Err(Refusal { status, error }) => return jsonrpc_refusal(status, Some(id), error),
        };
        match (era, request) {
            (Era::Legacy, ClientRequest::InitializeRequest(init)) => {
                Box::pin(self.initialize(id, init.params)).await
            }
            (Era::Modern(_), ClientRequest::DiscoverRequest(_)) => {
                let config = Box::pin(self.mux.server_config()).await;
                let result = DiscoverResult::from_server_info(era::supported_versions(), config);
                json_reply(
                    StatusCode::OK,
                    &ServerJsonRpcMessage::response(ServerResult::DiscoverResult(result), id),
                )
            }
            (Era::Legacy, request) => {
                let claims = match self.session(headers) {
                    Ok(c) => c,
                    Err(reply) => return *reply,
                };
                let session_id = header_str(headers, &era::SESSION_ID).unwrap_or_default();
                let ctx = CallContext {
                    cancel: CancellationToken::new(),
                    progress_token: request.get_meta().get_progress_token(),
                    downstream: None,
                    protocol_version: claims.version(),
                    client_capabilities: Arc::new(claims.capabilities),
                    record: Some(record.clone()),
                    log_interest: self.prefs.log_interest(session_id),
                    tool_limit,
                    caller,
                };
                // Boxed, and only for the few requests it serves: its future is as large as a
                // call's, and would otherwise be part of every request's (see `dispatch`).
                if interest::concerns_session(&request) {
                    let own = Box::pin(interest::session_request(
                        &self.prefs,
                        &self.mux,
                        session_id,
                        &request,
                        &ctx,
                    ))
                    .await;
                    if let Some(result) = own {
                        return result_reply(&Era::Legacy, id, result);
                    }
                }
                let session_id = Arc::<str>::from(session_id);
                // Held by the call's task: the entry lives as long as the call, past the
                // first notification of a streamed response and whether or not the client
                // stays (see `inflight`).
                let registration =
                    (ctx.progress_token.is_some() || may_take_long(&request)).then(|| {
                        self.inflight
                            .register(session_id.clone(), id.clone(), ctx.cancel.clone())
                    });
                let answers = Some((self.answers.clone(), session_id));
                self.dispatch(Era::Legacy, id, request, ctx, answers, registration)
                    .await
            }
            (era @ Era::Modern(_), request) => {
                if let ClientRequest::SubscriptionsListenRequest(listen) = request {
                    return Box::pin(self.listen(id, listen.params, record, caller)).await;
                }
                if let Some((token, responses)) = mrtr_retry(&request) {
                    if mrtr::is_gateway_token(token) {
                        return Box::pin(self.resume(&era, id, token, responses)).await;
                    }
                }
                let meta = request.get_meta();
                // 2026-07-28: the level travels with each request, and without it no log
                // messages are sent.
                let log_interest = match meta.log_level() {
                    Some(level) => {
                        self.mux.set_level(level).await;
                        LogInterest::AtLeast(level)
                    }
                    None => LogInterest::Off,
                };
                let ctx = CallContext {
                    cancel: CancellationToken::new(),
                    progress_token: meta.get_progress_token(),
                    downstream: None,
                    protocol_version: match &era {
                        Era::Modern(v) => v.clone(),
                        Era::Legacy => unreachable!("matched Modern"),
                    },
                    client_capabilities: Arc::new(meta.client_capabilities().unwrap_or_default()),
                    record: Some(record.clone()),
                    log_interest,
                    tool_limit,
                    caller,
                };
                self.dispatch(era, id, request, ctx, None, None).await
            }
        }
    }

    async fn initialize(&self, id: RequestId, params: InitializeRequestParams) -> Reply {
        self.mux.server_config().await;
        let result = match self.mux.negotiate_initialize(&params) {
            Ok(r) => r,
            Err(e) => return json_reply(StatusCode::OK, &ServerJsonRpcMessage::error(e, Some(id))),
        };
        let session = match self
            .sessions
            .mint(&result.protocol_version, &params.capabilities)
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "MCP session not started: no session id can be sealed");
                return jsonrpc_refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(id),
                    ErrorData::internal_error(
                        "Internal error: the gateway cannot make a session id now",
                        None,
                    ),
                );
            }
        };
        tracing::debug!(version = %result.protocol_version, client = %params.client_info.name, "MCP session started");
        let mut reply = json_reply(
            StatusCode::OK,
            &ServerJsonRpcMessage::response(ServerResult::InitializeResult(result), id),
        );
        if let Ok(v) = HeaderValue::from_str(&session) {
            reply.headers_mut().insert(era::SESSION_ID, v);
        }
        reply
    }

    /// Runs `request` (on this task until its response starts, see [`respond`]) and answers
    /// with JSON, or with SSE as soon as the request produces a notification. The call
    /// holds its `registration` (its in-flight entry) until it has ended; a client that goes
    /// away cancels it upstream (the upstream engine withdraws a request whose future is
    /// dropped) instead of abandoning it.
    async fn dispatch(
        &self,
        era: Era,
        id: RequestId,
        request: ClientRequest,
        mut ctx: CallContext,
        answers: Option<(Arc<PendingAnswers>, Arc<str>)>,
        registration: Option<inflight::Registration>,
    ) -> Reply {
        let (messages, notes) = mpsc::unbounded_channel::<ServerJsonRpcMessage>();
        let (result_tx, result) = oneshot::channel::<ServerJsonRpcMessage>();
        let guard = ctx.cancel.clone().drop_guard();
        // A legacy session's streams are resumable (2026-07-28 requests are re-sent instead).
        let session = answers.as_ref().map(|(_, session)| session.clone());
        let resumable = session.clone().map(|s| (&self.replays, s));
        let finish = match &era {
            Era::Legacy => {
                ctx.downstream = Some(Arc::new(ResponseStream { messages, answers }));
                Finish::Direct(result_tx, id)
            }
            Era::Modern(_) => {
                let rounds = mrtr::Rounds::new(
                    id,
                    messages,
                    result_tx,
                    ctx.cancel.clone(),
                    self.parked.clone(),
                );
                ctx.downstream = Some(Arc::new(CallRounds(rounds.clone())));
                Finish::Rounds(rounds)
            }
        };
        let mux = self.mux.clone();
        let prefs = self.prefs.clone();
        let task_era = era.clone();
        // Boxed: the call's future is several KiB, and it may move to a task of its own
        // (see `respond`); this way only the box's pointer is moved.
        let call: CallFuture = Box::pin(async move {
            let outcome = mux.handle(request, &ctx).await;
            drop(ctx);
            // The call is over: nothing is left to cancel.
            drop(registration);
            if let Some(session) = session {
                interest::note_created_task(&prefs, &mux, &session, &outcome);
            }
            finish.send(move |id| match outcome {
                Ok(mut r) => {
                    era::shape_result(&mut r, &task_era);
                    ServerJsonRpcMessage::response(r, id)
                }
                Err(mut e) => {
                    era::shape_error(&mut e, &task_era);
                    ServerJsonRpcMessage::error(e, Some(id))
                }
            });
        });
        respond(&era, notes, result, guard, resumable, Some(call)).await
    }

    /// A 2026-07-28 client's retry of a call the gateway parked for its input.
    async fn resume(
        &self,
        era: &Era,
        id: RequestId,
        token: &str,
        responses: Option<&rmcp::model::InputResponses>,
    ) -> Reply {
        let (notes_tx, notes) = mpsc::unbounded_channel::<ServerJsonRpcMessage>();
        let (terminal, result) = oneshot::channel::<ServerJsonRpcMessage>();
        match self
            .parked
            .resume(token, responses, id.clone(), notes_tx, terminal)
        {
            Ok(call) => respond(era, notes, result, call.drop_guard(), None, None).await,
            Err(e) => json_reply(
                era::error_status(e.code, era),
                &ServerJsonRpcMessage::error(e, Some(id)),
            ),
        }
    }

    fn notification(&self, headers: &http::HeaderMap, n: ClientNotification) -> Reply {
        if headers.contains_key(era::SESSION_ID) {
            if let Err(reply) = self.session(headers) {
                return *reply;
            }
        }
        if let ClientNotification::CancelledNotification(c) = n {
            if let (Some(session), Some(request_id)) =
                (header_str(headers, &era::SESSION_ID), c.params.request_id)
            {
                if self.inflight.cancel(session, request_id) {
                    tracing::debug!("MCP request cancelled by the client");
                }
            }
        }
        accepted()
    }

    /// A client's answer to a question asked on one of its response streams.
    fn answer(
        &self,
        headers: &http::HeaderMap,
        id: RequestId,
        answer: Result<rmcp::model::ClientResult, ErrorData>,
    ) -> Reply {
        if let Err(reply) = self.session(headers) {
            return *reply;
        }
        let session = header_str(headers, &era::SESSION_ID).unwrap_or_default();
        match self.answers.answer(session, id, answer) {
            Delivery::Delivered => accepted(),
            Delivery::Unknown => {
                tracing::info!("MCP client answered a question this replica is not waiting for");
                jsonrpc_refusal(
                    StatusCode::BAD_REQUEST,
                    None,
                    ErrorData::invalid_request(
                        "Bad Request: no question with this id is waiting for an answer here (it was answered, its call ended, or another replica asked it)",
                        None,
                    ),
                )
            }
        }
    }

    fn delete(&self, headers: &http::HeaderMap) -> Reply {
        match self.session(headers) {
            Ok(claims) => {
                if let Some(id) = header_str(headers, &era::SESSION_ID) {
                    self.sessions.revoke(id, &claims);
                    self.forget_session(id);
                }
                // 200: clients (the Python SDK among them) take only 200/204 as terminated.
                Response::new(ResponseBody::empty())
            }
            Err(reply) => *reply,
        }
    }

    /// The legacy session the request names, or the reply refusing it.
    fn session(&self, headers: &http::HeaderMap) -> Result<SessionClaims, Box<Reply>> {
        let Some(id) = header_str(headers, &era::SESSION_ID) else {
            return Err(Box::new(jsonrpc_refusal(
                StatusCode::BAD_REQUEST,
                None,
                ErrorData::invalid_request(
                    "Bad Request: Mcp-Session-Id header is required (send initialize first, or use the 2026-07-28 protocol with per-request _meta)",
                    None,
                ),
            )));
        };
        self.sessions.open(id).map_err(|e| {
            tracing::debug!(error = %e, "MCP session refused");
            Box::new(jsonrpc_refusal(
                StatusCode::NOT_FOUND,
                None,
                ErrorData::invalid_request(
                    format!("Session not found: {e}; initialize again"),
                    None,
                ),
            ))
        })
    }
}

/// What the access log says about `message` before it is served.
fn record_of(message: &ClientJsonRpcMessage) -> CallRecord {
    match message {
        ClientJsonRpcMessage::Request(r) => {
            let name = match &r.request {
                ClientRequest::CallToolRequest(c) => Some(c.params.name.to_string()),
                ClientRequest::GetPromptRequest(g) => Some(g.params.name.clone()),
                ClientRequest::ReadResourceRequest(rr) => Some(rr.params.uri.clone()),
                _ => None,
            };
            CallRecord::new(r.request.method(), name)
        }
        ClientJsonRpcMessage::Notification(n) => {
            let method = match &n.notification {
                ClientNotification::CancelledNotification(_) => "notifications/cancelled",
                ClientNotification::ProgressNotification(_) => "notifications/progress",
                ClientNotification::InitializedNotification(_) => "notifications/initialized",
                ClientNotification::RootsListChangedNotification(_) => {
                    "notifications/roots/list_changed"
                }
                _ => "notification",
            };
            CallRecord::new(method, None)
        }
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => {
            CallRecord::new("response", None)
        }
    }
}

/// The `requestState` and `inputResponses` of a retried MRTR request.
fn mrtr_retry(request: &ClientRequest) -> Option<(&str, Option<&rmcp::model::InputResponses>)> {
    let (state, responses) = match request {
        ClientRequest::CallToolRequest(r) => (&r.params.request_state, &r.params.input_responses),
        ClientRequest::GetPromptRequest(r) => (&r.params.request_state, &r.params.input_responses),
        ClientRequest::ReadResourceRequest(r) => {
            (&r.params.request_state, &r.params.input_responses)
        }
        _ => return None,
    };
    Some((state.as_deref()?, responses.as_ref()))
}

/// Requests a client may want to cancel: the ones that run a target's code.
fn may_take_long(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::CallToolRequest(_)
            | ClientRequest::GetPromptRequest(_)
            | ClientRequest::ReadResourceRequest(_)
    )
}

/// Parses one JSON-RPC message, telling a parse error (-32700) from valid JSON
/// that is not a message this server accepts (-32600, or -32602 for bad params).
fn parse(bytes: &[u8]) -> Result<ClientJsonRpcMessage, ErrorData> {
    if let Ok(m) = crate::jsonrpc_parse::client_message(bytes) {
        return Ok(m);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ErrorData::parse_error(format!("Parse error: {e}"), None))?;
    if value.is_array() {
        return Err(ErrorData::invalid_request(
            "Invalid Request: JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message per POST",
            None,
        ));
    }
    let is_message = value.get("jsonrpc").and_then(|j| j.as_str()) == Some("2.0")
        && (value.get("method").is_some_and(|m| m.is_string())
            || value.get("result").is_some()
            || value.get("error").is_some());
    if !is_message {
        return Err(ErrorData::invalid_request(
            "Invalid Request: expected a JSON-RPC 2.0 message with \"jsonrpc\": \"2.0\" and a method",
            None,
        ));
    }
    let method = value.get("method").and_then(|m| m.as_str()).unwrap_or("?");
    let detail = serde_json::from_value::<ClientJsonRpcMessage>(value.clone())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Err(ErrorData::invalid_params(
        format!("Invalid params for {method}: {detail}"),
        None,
    ))
}

fn accepts_json_and_sse(headers: &http::HeaderMap) -> bool {
    accepts(headers, "application/json") && accepts(headers, "text/event-stream")
}

/// Whether the Accept header lists `media` (`type/subtype`, lowercase), itself or by a
/// wildcard. Media types compare case-insensitively (RFC 9110).
fn accepts(headers: &http::HeaderMap, media: &str) -> bool {
    let main_type = media.split('/').next().unwrap_or(media);
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| item.split(';').next().unwrap_or("").trim())
        .any(|m| {
            m == "*/*"
                || m.eq_ignore_ascii_case(media)
                || m.strip_suffix("/*")
                    .is_some_and(|t| t.eq_ignore_ascii_case(main_type))
        })
}

fn header_str<'a>(headers: &'a http::HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod accept_tests {
    use super::*;

    fn accept(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            http::HeaderValue::from_str(value).expect("value"),
        );
        headers
    }

    #[test]
    fn accept_lists_match_by_type_wildcard_and_any_case() {
        let both = accept("Application/JSON; q=0.9, TEXT/Event-Stream");
        assert!(accepts_json_and_sse(&both));
        assert!(accepts_json_and_sse(&accept("*/*")));
        assert!(accepts_json_and_sse(&accept("application/*, Text/*")));
        assert!(!accepts_json_and_sse(&accept("application/json")));
        assert!(!accepts_json_and_sse(&accept(
            "application/jsonx, text/event-stream"
        )));
        assert!(!accepts_json_and_sse(&http::HeaderMap::new()));
    }
}
